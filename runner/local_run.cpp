#include "local_run.hpp"

#include "interrupts.hpp"
#include "progress.hpp"

#include <functional>
#include <iostream>

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
};

}  // namespace

Report run_local(const Options& options, Interrupts& interrupts) {
    Engine engine(options.threads);
    ProgressBar bar(stdout, !options.quiet && options.output == OutputFormat::text);
    AbortWatch watch(options.thresholds, options.abort_on_fail, options.spec.plan.open());
    LocalObserver observer(bar, options.spec.interval, watch, [&engine] { engine.stop(); });
    RunSpec spec = options.spec;
    // The bar wants frequent updates; collecting is cheap (one copy of each
    // worker's counters).
    if (bar.active()) spec.interval = std::min<Duration>(spec.interval, std::chrono::milliseconds(200));
    interrupts.on_interrupt([&engine] { engine.stop(); });
    Report report;
    report.result = engine.run(spec, observer);
    report.series = observer.series().finish(report.result.elapsed);
    report.aborted = watch.fired();
    interrupts.on_interrupt(nullptr);
    bar.finish(observer.last(), observer.errors());
    return report;
}

}  // namespace loads::runner
