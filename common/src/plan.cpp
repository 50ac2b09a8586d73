#include "loads/plan.hpp"

namespace loads {

std::optional<std::uint64_t> Plan::total_hits() const {
    std::uint64_t total = 0;
    for (const auto& c : cycles) {
        if (c.duration) return std::nullopt;
        total += c.users * c.hits;
    }
    return total;
}

std::optional<Duration> Plan::total_duration() const {
    Duration total{0};
    for (const auto& c : cycles) {
        if (!c.duration) return std::nullopt;
        total += *c.duration;
    }
    return total;
}

Parsed<Plan> make_plan(const PlanInput& in) {
    Parsed<Plan> out;
    auto fail = [&](std::string message) {
        out.value = Plan{};
        out.error = std::move(message);
        return out;
    };

    auto users = parse_count_list(in.users);
    if (!users) return fail("-u/--users: " + users.error);
    for (auto u : users.value) {
        if (u == 0) return fail("-u/--users: every cycle needs at least one user (got '" + in.users + "')");
        if (u > 1'000'000) return fail("-u/--users: at most 1,000,000 users per cycle (got '" + in.users + "')");
    }
    if (users.value.size() > 10'000) return fail("-u/--users: at most 10,000 cycles");

    const bool has_hits = !in.hits.empty();
    const bool has_duration = !in.duration.empty();
    if (has_hits && has_duration) return fail("-c/--hits and -d/--duration cannot be combined");

    std::vector<std::uint64_t> hits{1};
    if (has_hits) {
        auto h = parse_count_list(in.hits);
        if (!h) return fail("-c/--hits: " + h.error);
        if (h.value.size() != 1 && h.value.size() != users.value.size())
            return fail("-c/--hits: " + std::to_string(h.value.size()) + " values for " +
                        std::to_string(users.value.size()) + " cycles (give one, or one per cycle)");
        for (auto v : h.value)
            if (v == 0) return fail("-c/--hits: each user needs at least one hit (got '" + in.hits + "')");
        hits = h.value;
    }

    std::optional<Duration> duration;
    if (has_duration) {
        auto d = parse_duration(in.duration);
        if (!d) return fail("-d/--duration: " + d.error);
        if (d.value <= Duration::zero()) return fail("-d/--duration: must be longer than zero");
        duration = d.value;
    }

    auto sleep = parse_sleep(in.sleep);
    if (!sleep) return fail("--sleep: " + sleep.error);
    auto startup = parse_duration(in.startup_delay);
    if (!startup) return fail("--startup-delay: " + startup.error);
    auto graceful = parse_duration(in.graceful_stop);
    if (!graceful) return fail("--graceful-stop: " + graceful.error);

    Plan plan;
    for (std::size_t i = 0; i < users.value.size(); ++i) {
        Cycle c;
        c.users = static_cast<std::uint32_t>(users.value[i]);
        c.hits = hits.size() == 1 ? hits[0] : hits[i];
        c.duration = duration;
        plan.cycles.push_back(c);
    }
    plan.sleep = sleep.value;
    plan.startup_delay = startup.value;
    plan.graceful_stop = graceful.value;
    out.value = std::move(plan);
    return out;
}

}  // namespace loads
