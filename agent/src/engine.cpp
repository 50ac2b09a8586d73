// The run loop: cycles, interval collection, duration deadlines and stops.
#include "loads/engine.hpp"

#include "coroutine_stacks.hpp"
#include "data_file.hpp"
#include "load_model.hpp"
#include "tasks.hpp"
#include "run_state.hpp"
#include "shared_space.hpp"
#include "worker.hpp"

#include "loads/log.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>

#include <sys/resource.h>

namespace loads {

double Progress::fraction() const {
    double f = 0;
    if (hits_total && *hits_total > 0) f = double(hits_done) / double(*hits_total);
    else if (duration_total && duration_total->count() > 0)
        f = double(elapsed.count()) / double(duration_total->count());
    return std::clamp(f, 0.0, 1.0);
}

struct Engine::Impl {
    std::vector<std::unique_ptr<Worker>> workers;
    std::mutex mu;
    std::condition_variable cv;
    std::size_t workers_busy = 0;       // workers whose users have not all finished
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> running{false};
    AllowList allow;  // empty: no check

    void wait_until(Clock::time_point t) {
        std::unique_lock lock(mu);
        cv.wait_until(lock, t, [&] { return workers_busy == 0 || stop_requested.load(); });
    }

    // What the cycles of one run share.
    struct Cycles {
        const Plan& plan;
        RunObserver& observer;
        std::unique_ptr<LoadModel> model;
        Clock::time_point run_start;
        Clock::duration interval;
        Progress progress{};
    };

    // One cycle: started on every worker, its intervals reported, cancelled
    // at its deadline plus the graceful stop (or on a stop), collected.
    CycleResult run_cycle(Cycles& run, std::uint32_t ci) {
        const Cycle& cycle = run.plan.cycles[ci];
        run.observer.on_cycle_start(ci, cycle);
        CycleState cs;
        cs.index = ci;
        cs.hits = cycle.hits;
        cs.timed = cycle.duration.has_value();
        cs.started = Clock::now();
        if (cs.timed) cs.deadline = cs.started + std::chrono::duration_cast<Clock::duration>(*cycle.duration);
        begin_cycle(run, cs);

        CycleResult cr;
        cr.index = ci;
        cr.users = cycle.users;
        cr.rate = cycle.rate;
        auto next_tick = cs.started + run.interval;
        bool cancelled = false;
        const auto cancel_at = cs.timed ? cs.deadline + std::chrono::duration_cast<Clock::duration>(run.plan.graceful_stop)
                                        : Clock::time_point::max();
        for (;;) {
            wait_until(std::min(next_tick, cancel_at));
            bool done;
            {
                std::lock_guard lock(mu);
                done = workers_busy == 0;
            }
            auto now = Clock::now();
            const bool failed = std::any_of(workers.begin(), workers.end(), [](const auto& w) { return w->failed(); });
            if (failed) stop_requested = true;  // no further cycle; the result says stopped
            if (!cancelled && (stop_requested || now >= cancel_at)) {
                for (auto& w : workers) w->cancel();
                cancelled = true;
            }
            if (done) break;
            if (now >= next_tick) {
                report_interval(run, ci, cr, now);
                next_tick += run.interval;
                if (next_tick < now) next_tick = now + run.interval;
            }
        }
        cr.elapsed = std::chrono::duration_cast<Duration>(Clock::now() - cs.started);
        if (run.plan.open()) {
            // The open model's users are its pool: report its peak (the sum of
            // the workers' peaks).
            cr.users = 0;
            for (auto& w : workers) cr.users += w->users_peak();
        }
        report_interval(run, ci, cr, Clock::now());
        return cr;
    }

    void begin_cycle(Cycles& run, const CycleState& cs) {
        const std::size_t n = workers.size();
        auto parts = run.model->start_cycle(cs, static_cast<unsigned>(n));
        {
            std::lock_guard lock(mu);
            workers_busy = n;
        }
        for (std::size_t i = 0; i < n; ++i)
            workers[i]->begin_cycle(cs, std::move(parts[i]), [this] {
                std::lock_guard lock(mu);
                if (--workers_busy == 0) cv.notify_all();
            });
    }

    // The workers' figures since the last interval, into the cycle's and to
    // the observer with the progress so far.
    void report_interval(Cycles& run, std::uint32_t ci, CycleResult& cr, Clock::time_point now) {
        Stats delta;
        for (auto& w : workers) delta.merge(w->collect());
        cr.stats.merge(delta);
        Progress& p = run.progress;
        p.hits_done = 0;
        p.users_busy = p.users_alive = 0;
        for (auto& w : workers) {
            p.hits_done += w->hits_done();
            p.users_busy += w->users_busy();
            p.users_alive += w->users_alive();
        }
        p.elapsed = std::chrono::duration_cast<Duration>(now - run.run_start);
        p.cycle = ci;
        run.observer.on_interval(ci, delta, p);
    }
};

namespace {
// Every user holds a socket or more: lift the soft descriptor limit (often
// 1024) to the hard one, as wrk users expect 10,000 connections to work.
void raise_descriptor_limit() {
    static std::once_flag once;
    std::call_once(once, [] {
        rlimit r{};
        if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max) return;
        const auto before = r.rlim_cur;
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) == 0)
            get_logger("engine")->debug("descriptor limit raised from {} to {}", before, r.rlim_cur);
    });
}
}  // namespace

Engine::Engine(unsigned threads) : Engine(EngineOptions{threads, {}}) {}

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
    raise_descriptor_limit();
    unsigned threads = options.threads;
    if (!options.allow.allows_everything()) impl_->allow = std::move(options.allow);
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) impl_->workers.push_back(std::make_unique<Worker>(i, kUserStack));
}

Engine::~Engine() = default;

unsigned Engine::threads() const { return static_cast<unsigned>(impl_->workers.size()); }

std::string Engine::check(const TestSpec& test) {
    RunSpec spec;
    spec.test = test;
    spec.plan.cycles.push_back(Cycle{});
    auto state = prepare_run(spec);
    return state ? std::string() : state.error;
}

std::string Engine::check_allowed(const RunSpec& spec, const AllowList& allow) {
    if (allow.empty() || allow.allows_everything()) return {};
    auto outside = [&](const std::string& text) -> std::string {
        auto url = parse_url(text);
        if (!url) return {};  // check() says what is wrong with it
        const Url& u = url.value;
        if (allow.allows_name(u.host, u.port)) return {};
        IpAddress a;
        bool any = false;
        if (IpAddress::parse(u.host, a)) {
            any = allow.allows(u.host, a, u.port);
        } else {
            auto addrs = resolve_addresses(u.host);
            if (addrs.empty()) return {};  // not resolvable here: connecting fails (or is checked) later
            for (const auto& x : addrs) any = any || allow.allows(u.host, x, u.port);
        }
        return any ? std::string() : text + " is outside this agent's --allow (" + allow.describe() + ")";
    };
    if (spec.test.kind == TestSpec::Kind::url)
        if (auto why = outside(spec.test.url); !why.empty()) return why;
    if (!spec.server_url.empty())
        if (auto why = outside(spec.server_url); !why.empty()) return "--server-url " + why;
    return {};
}

std::string Engine::check_data(const std::vector<DataSource>& data) { return check_data_sources(data); }

Parsed<std::vector<std::string>> Engine::list_tests(const std::string& library_path) {
    auto lib = TestLibrary::open(library_path);
    if (!lib) return {{}, lib.error};
    std::vector<std::string> names;
    for (const auto& e : lib.value->entries())
        names.push_back(e.weight ? std::string(e.name) + ":" + std::to_string(e.weight) : std::string(e.name));
    return {names, {}};
}

Parsed<std::vector<TaskInfo>> Engine::tasks(const TestSpec& test) {
    if (test.kind != TestSpec::Kind::library) return {{}, "a URL test has no tasks"};
    auto lib = TestLibrary::open(test.library_path);
    if (!lib) return {{}, lib.error};
    auto plan = resolve_tasks(test.test_name, *lib.value);
    if (!plan) return {{}, plan.error};
    return {describe(plan.value), {}};
}

std::vector<std::string> Engine::request_names(const TestSpec& test) {
    if (test.kind != TestSpec::Kind::url) return {};
    RunSpec spec;
    spec.test = test;
    spec.plan.cycles.push_back(Cycle{});
    auto state = prepare_run(spec);
    if (!state) return {};
    std::vector<std::string> names{state.value->label};
    const Url& u = state.value->target;
    // ws_client.cpp's row for the handshake.
    if (u.scheme == "ws" || u.scheme == "wss") names.push_back("WS connect " + std::string(u.path()));
    return names;
}

void Engine::stop() {
    impl_->stop_requested = true;
    std::lock_guard lock(impl_->mu);
    impl_->cv.notify_all();
}

RunResult Engine::run(const RunSpec& spec, RunObserver& observer) {
    auto& im = *impl_;
    RunResult result;
    result.started = std::chrono::system_clock::now();
    auto prepared = prepare_run(spec);
    if (!prepared) throw std::invalid_argument(prepared.error);
    SharedSpaceImpl shared;
    prepared.value->shared = &shared;
    prepared.value->allow = im.allow.empty() ? nullptr : &im.allow;
    std::shared_ptr<const RunState> state = prepared.value;

    std::random_device rd;
    for (auto& w : im.workers) w->begin_run(state, (std::uint64_t(rd()) << 32) | rd());

    const Plan& plan = spec.plan;
    Impl::Cycles cycles{plan, observer, make_load_model(state->spec), Clock::now(),
                        std::max<Clock::duration>(std::chrono::duration_cast<Clock::duration>(spec.interval),
                                                  std::chrono::milliseconds(50))};
    cycles.progress.hits_total = plan.total_hits();
    cycles.progress.duration_total = plan.total_duration();
    cycles.progress.cycles = static_cast<std::uint32_t>(plan.cycles.size());
    for (std::uint32_t ci = 0; ci < plan.cycles.size() && !im.stop_requested; ++ci) {
        CycleResult cr = im.run_cycle(cycles, ci);
        result.total.merge(cr.stats);
        observer.on_cycle_end(cr);
        result.cycles.push_back(std::move(cr));
    }
    for (auto& w : im.workers) w->end_run();
    result.stopped = im.stop_requested.exchange(false);
    result.elapsed = std::chrono::duration_cast<Duration>(Clock::now() - cycles.run_start);
    return result;
}

}  // namespace loads
