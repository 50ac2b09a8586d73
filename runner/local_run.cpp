#include "local_run.hpp"

#include "cluster_run.hpp"
#include "interrupts.hpp"
#include "local_dashboard.hpp"
#include "progress.hpp"

#include <functional>
#include <iostream>
#include <cstdio>
#include <memory>

namespace loads::runner {
namespace {

class LocalObserver final : public RunObserver {
public:
    LocalObserver(ProgressBar& bar, Duration interval, AbortWatch& watch, std::function<void()> abort)
        : bar_(bar), series_(interval), watch_(watch), abort_(std::move(abort)) {}
    void on_interval(std::uint32_t cycle, const Stats& delta, const Progress& p) override {
        errors_ += delta.errors + delta.failures;
        last_ = p;
        series_.add(p.elapsed, cycle, delta, p.users_alive, p.users_busy);
        bar_.update(p, errors_);
        if (dashboard_) dashboard_->interval(cycle, delta, p);
        // --abort-on-fail: stop as Ctrl-C does (engine.stop() only flags the
        // run; it is safe on this thread).
        if (watch_.add(delta, p.elapsed)) {
            if (bar_.active()) {
                std::fputc('\n', stdout);
                std::fflush(stdout);
            }
            std::cerr << "loads-runner: stopping: " << watch_.describe() << " (--abort-on-fail)\n";
            abort_();
        }
    }
    void feed(LocalDashboard* d) { dashboard_ = d; }
    const Progress& last() const { return last_; }
    std::uint64_t errors() const { return errors_; }
    SeriesBuilder& series() { return series_; }

private:
    ProgressBar& bar_;
    SeriesBuilder series_;
    AbortWatch& watch_;
    std::function<void()> abort_;
    Progress last_;
    std::uint64_t errors_ = 0;
    LocalDashboard* dashboard_ = nullptr;
};

}  // namespace

Report run_local(const Options& options, Interrupts& interrupts) {
    Engine engine(options.threads);
    ProgressBar bar(stdout, !options.quiet && options.output == OutputFormat::text);
    AbortWatch watch(options.thresholds, options.abort_on_fail, options.spec.plan.open());
    LocalObserver observer(bar, options.spec.interval, watch, [&engine] { engine.stop(); });
    RunSpec spec = options.spec;
    // The bar (and the dashboard) want frequent updates; collecting is cheap (one copy of each
    // worker's counters).
    if (bar.active() || !options.dashboard.empty())
        spec.interval = std::min<Duration>(spec.interval, std::chrono::milliseconds(200));
    std::unique_ptr<LocalDashboard> dashboard;
    if (!options.dashboard.empty()) {
        try {
            dashboard = std::make_unique<LocalDashboard>(options.dashboard, options.test_argument, spec);
        } catch (const std::exception& e) {
            throw UsageError(std::string("--dashboard: ") + e.what());
        }
        std::fprintf(stderr, "loads-runner: dashboard on http://%s/\n", dashboard->address().c_str());
        observer.feed(dashboard.get());
        dashboard->started();
    }
    interrupts.on_interrupt([&engine] { engine.stop(); });
    Report report;
    report.result = engine.run(spec, observer);
    if (dashboard) dashboard->finished(report.result);
    report.series = observer.series().finish(report.result.elapsed);
    report.aborted = watch.fired();
    interrupts.on_interrupt(nullptr);
    bar.finish(observer.last(), observer.errors());
    return report;
}

}  // namespace loads::runner
