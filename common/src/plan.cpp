#include "loads/plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace loads {

std::string_view to_string(LoadModelKind k) { return k == LoadModelKind::open ? "open" : "closed"; }
std::string_view to_string(Arrivals a) { return a == Arrivals::poisson ? "poisson" : "uniform"; }

namespace {
std::string rate_text(double r) {
    char buf[32];
    if (r == std::floor(r) && r < 1e15) std::snprintf(buf, sizeof buf, "%.0f/s", r);
    else std::snprintf(buf, sizeof buf, "%.3g/s", r);
    return buf;
}
}  // namespace

std::string describe_rate_split(const Plan& plan, std::uint32_t agents) {
    if (!plan.open()) return {};
    std::string out;
    for (std::size_t i = 0; i < plan.cycles.size(); ++i) {
        if (i) out += " : ";
        double r = plan.cycles[i].rate;
        out += rate_text(r);
        if (agents > 1) out += " (" + std::to_string(agents) + " agents x " + rate_text(r / agents) + ")";
    }
    return out;
}

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

namespace {

Parsed<Plan> make_open_plan(const PlanInput& in) {
    Parsed<Plan> out;
    auto fail = [&](std::string message) {
        out.value = Plan{};
        out.error = std::move(message);
        return out;
    };
    if (in.users_given) return fail("--rate (the open model) and -u/--users (the closed model) cannot be combined");
    if (!in.hits.empty()) return fail("--rate takes -d/--duration, not -c/--hits");
    if (in.duration.empty()) return fail("--rate needs -d/--duration: how long each rate cycle lasts");
    auto rates = parse_rate_list(in.rate);
    if (!rates) return fail("--rate: " + rates.error);
    if (rates.value.size() > 10'000) return fail("--rate: at most 10,000 cycles");
    auto d = parse_duration(in.duration);
    if (!d) return fail("-d/--duration: " + d.error);
    if (d.value <= Duration::zero()) return fail("-d/--duration: must be longer than zero");
    auto sleep = parse_sleep(in.sleep);
    if (!sleep) return fail("--sleep: " + sleep.error);
    if (sleep.value.max > Duration::zero())
        return fail("--sleep is think time between the hits of one user (closed model, -u); with --rate "
                    "the arrival rate sets the pace");
    auto startup = parse_duration(in.startup_delay);
    if (!startup) return fail("--startup-delay: " + startup.error);
    if (startup.value > Duration::zero()) return fail("--startup-delay goes with -u (closed model), not --rate; use --ramp");
    auto graceful = parse_duration(in.graceful_stop);
    if (!graceful) return fail("--graceful-stop: " + graceful.error);

    Plan plan;
    plan.model = LoadModelKind::open;
    plan.graceful_stop = graceful.value;
    if (!in.ramp.empty()) {
        auto r = parse_duration(in.ramp);
        if (!r) return fail("--ramp: " + r.error);
        if (r.value > d.value)
            return fail("--ramp: " + format_duration(r.value) + " is longer than a cycle (-d " +
                        format_duration(d.value) + ")");
        plan.ramp = r.value;
    }
    if (!in.arrival_window.empty()) {
        auto w = parse_duration(in.arrival_window);
        if (!w) return fail("--arrival-window: " + w.error);
        if (w.value > std::chrono::milliseconds(100)) return fail("--arrival-window: at most 100ms");
        plan.arrival_window = w.value;
    }
    if (in.arrivals == "uniform") plan.arrivals = Arrivals::uniform;
    else if (in.arrivals == "poisson") plan.arrivals = Arrivals::poisson;
    else return fail("--arrivals: expected uniform or poisson (got '" + in.arrivals + "')");

    const std::uint32_t agents = std::max<std::uint32_t>(1, in.agents);
    if (in.max_users.empty()) {
        plan.max_users = 1000u * std::min<std::uint32_t>(agents, 1000);
    } else {
        auto m = parse_count(in.max_users);
        if (!m) return fail("--max-users: " + m.error);
        if (m.value == 0 || m.value > 1'000'000) return fail("--max-users: between 1 and 1,000,000");
        if (m.value < agents)
            return fail("--max-users " + std::to_string(m.value) + " is below the " + std::to_string(agents) +
                        " agents: each agent needs at least one user");
        plan.max_users = static_cast<std::uint32_t>(m.value);
    }
    for (double r : rates.value) {
        Cycle c;
        c.users = 0;
        c.hits = 0;
        c.duration = d.value;
        c.rate = r;
        plan.cycles.push_back(c);
    }
    out.value = std::move(plan);
    return out;
}

}  // namespace

Parsed<Plan> make_plan(const PlanInput& in) {
    if (!in.rate.empty()) return make_open_plan(in);
    Parsed<Plan> out;
    auto fail = [&](std::string message) {
        out.value = Plan{};
        out.error = std::move(message);
        return out;
    };
    if (!in.ramp.empty()) return fail("--ramp goes with --rate (the open model)");
    if (!in.max_users.empty()) return fail("--max-users goes with --rate (the open model); -u sets the users");
    if (in.arrivals != "uniform") return fail("--arrivals goes with --rate (the open model)");
    if (!in.arrival_window.empty()) return fail("--arrival-window goes with --rate (the open model)");

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
