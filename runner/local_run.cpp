#include "local_run.hpp"

#include "interrupts.hpp"
#include "progress.hpp"

namespace loads::runner {
namespace {

class LocalObserver final : public RunObserver {
public:
    LocalObserver(ProgressBar& bar, Duration interval) : bar_(bar), series_(interval) {}
    void on_interval(std::uint32_t cycle, const Stats& delta, const Progress& p) override {
        errors_ += delta.errors + delta.failures;
        last_ = p;
        series_.add(p.elapsed, cycle, delta, p.users_alive, p.users_busy);
        bar_.update(p, errors_);
    }
    const Progress& last() const { return last_; }
    std::uint64_t errors() const { return errors_; }
    SeriesBuilder& series() { return series_; }

private:
    ProgressBar& bar_;
    SeriesBuilder series_;
    Progress last_;
    std::uint64_t errors_ = 0;
};

}  // namespace

Report run_local(const Options& options, Interrupts& interrupts) {
    Engine engine(options.threads);
    ProgressBar bar(stdout, !options.quiet && options.output == OutputFormat::text);
    LocalObserver observer(bar, options.spec.interval);
    RunSpec spec = options.spec;
    // The bar wants frequent updates; collecting is cheap (one copy of each
    // worker's counters).
    if (bar.active()) spec.interval = std::min<Duration>(spec.interval, std::chrono::milliseconds(200));
    interrupts.on_interrupt([&engine] { engine.stop(); });
    Report report;
    report.result = engine.run(spec, observer);
    report.series = observer.series().finish(report.result.elapsed);
    interrupts.on_interrupt(nullptr);
    bar.finish(observer.last(), observer.errors());
    return report;
}

}  // namespace loads::runner
