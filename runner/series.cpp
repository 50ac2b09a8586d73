#include "series.hpp"

#include <cmath>

namespace loads::runner {

namespace {
double secs(Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

void SeriesBuilder::close(double end_s) {
    if (!current_) return;
    current_->end_s = end_s;
    rows_.push_back(std::move(*current_));
    current_.reset();
    dirty_ = false;
}

void SeriesBuilder::add(Duration elapsed, std::uint32_t cycle, const Stats& d, std::uint32_t users,
                        std::uint32_t users_busy) {
    const double t = secs(elapsed);
    const double step = std::max(secs(interval_), 1e-3);
    // Rows are [k*step, (k+1)*step); a delta belongs to the row its end falls in.
    if (current_ && t > current_->start_s + step) close(current_->start_s + step);
    if (!current_) {
        current_.emplace();
        double k = std::floor(t / step);
        if (k * step == t && k > 0) k -= 1;  // a delta ending on a boundary closes the row before it
        current_->start_s = k * step;
    }
    SeriesRow& r = *current_;
    r.cycle = cycle;
    r.hits += d.hits;
    r.successes += d.successes;
    r.errors += d.errors;
    r.failures += d.failures;
    r.requests += d.requests;
    r.scheduled += d.scheduled;
    r.dropped += d.dropped;
    r.late += d.late;
    r.interrupted += d.interrupted;
    r.users = users;
    r.users_busy = users_busy;
    r.latency.merge(d.latency);
    r.latency_from_schedule.merge(d.latency_from_schedule);
    dirty_ = true;
    r.end_s = t;
}

std::vector<SeriesRow> SeriesBuilder::finish(Duration elapsed) {
    if (current_ && dirty_) close(std::max(current_->end_s, std::min(secs(elapsed), current_->start_s + secs(interval_))));
    return std::move(rows_);
}

}  // namespace loads::runner
