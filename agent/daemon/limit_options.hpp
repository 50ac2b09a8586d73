// loads-agent's options of what it agrees to do (issue 16): --allow,
// --max-users, --max-duration. Kept apart from main.cpp's other options.
#pragma once

#include "agent.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace loads::agent {

struct LimitOptions {
    std::vector<std::string> allow;
    std::string max_duration;

    void add_to(CLI::App& app, Options& o) {
        app.add_option("--allow", allow,
                       "Hosts its virtual users may connect to: ADDRESS, CIDR, NAME or *, each with an optional "
                       ":PORT or :LOW-HIGH ([IPv6]:PORT); repeatable or comma-separated (default: 127.0.0.0/8,::1)");
        app.add_option("--max-users", o.max_users, "Refuse runs with more users at once on this agent")
            ->check(CLI::Range(1u, 100000000u));
        app.add_option("--max-duration", max_duration,
                       "Refuse runs planned to last longer; stop runs of counted hits after this long (e.g. 10m)");
    }

    // After parsing: throws CLI::ValidationError on a bad value (exit 2).
    void apply(Options& o) const {
        if (!allow.empty()) {
            o.allow = {};
            for (const auto& a : allow)
                if (auto err = o.allow.add(a); !err.empty()) throw CLI::ValidationError(err);
        }
        if (!max_duration.empty()) {
            auto d = parse_duration(max_duration);
            if (!d || d.value.count() <= 0)
                throw CLI::ValidationError("--max-duration",
                                           "expected a duration like 10m, got '" + max_duration + "'");
            o.max_duration = d.value;
        }
    }
};

}  // namespace loads::agent
