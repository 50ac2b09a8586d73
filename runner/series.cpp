#include "series.hpp"

#include <algorithm>

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
    if (gauge_cycle_ != cycle) {
        gauge_cycle_ = cycle;
        cycle_users_ = cycle_busy_ = 0;
    }
    if (users > 0) {
        cycle_users_ = users;
        cycle_busy_ = users_busy;
    } else if (d.hits > 0 || d.requests > 0) {
        // Hits ended in this span, so users were alive in it: the gauge of
        // the span is the last one the cycle's users showed.
        users = cycle_users_;
        users_busy = std::max(users_busy, cycle_busy_);
    }
    if (!current_) {
        if (!rows_.empty() && rows_.back().cycle == cycle && t - last_end_ < 0.25 * secs(interval_)) {
            // A short tail (a cycle's last delta): it goes into the row before,
            // rather than making a row whose rate means nothing.
            current_ = std::move(rows_.back());
            rows_.pop_back();
        } else {
            current_.emplace();
            current_->start_s = last_end_;
        }
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
    r.users = std::max(r.users, users);
    r.users_busy = std::max(r.users_busy, users_busy);
    r.latency.merge(d.latency);
    r.latency_from_schedule.merge(d.latency_from_schedule);
    r.end_s = std::max(r.end_s, t);
    last_end_ = r.end_s;
    dirty_ = true;
    // A row spans the deltas of about one interval (a delta covers the time
    // since the previous one); the small margin absorbs timer jitter.
    if (r.end_s - r.start_s >= 0.95 * secs(interval_)) close(r.end_s);
}

std::vector<SeriesRow> SeriesBuilder::finish(Duration elapsed) {
    (void)elapsed;
    if (current_ && dirty_) close(current_->end_s);
    return std::move(rows_);
}

}  // namespace loads::runner
