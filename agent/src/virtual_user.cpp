#include "virtual_user.hpp"

#include "coroutine_stacks.hpp"
#include "hit_outcome.hpp"
#include "record.hpp"
#include "socket_clients.hpp"

#include "loads/log.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

namespace loads {

VirtualUser::VirtualUser(WorkerIo& worker, const RunState& run, const CycleState& cycle, CycleLoad& load,
                         std::uint32_t id, Clock::duration start_delay)
    : io_(worker), run_(run), cycle_(cycle), load_(load), id_(id), start_delay_(start_delay),
      server_url_(run.spec.server_url), timer_(worker.io()), timer_registration_(worker, &timer_) {}

VirtualUser::~VirtualUser() = default;

Session& VirtualUser::session() {
    if (!session_) {
        bool follow = run_.spec.test.kind == TestSpec::Kind::library || io_.options().follow_redirects;
        session_ = std::make_unique<HttpSession>(io_, run_.base_url ? &*run_.base_url : nullptr, follow,
                                                 io_.options().http2);
    }
    return *session_;
}

std::unique_ptr<WebSocket> VirtualUser::create_ws(std::string_view url_text, WsOptions options) {
    // Relative URLs resolve against --server-url with its scheme swapped:
    // http -> ws, https -> wss.
    Parsed<Url> url;
    if (url_text.find("://") == std::string_view::npos && run_.base_url) {
        Url base = *run_.base_url;
        base.scheme = base.secure() ? "wss" : "ws";
        url = resolve_url(base, url_text);
    } else {
        url = parse_url(url_text);
    }
    if (!url) throw std::invalid_argument(url.error);
    return open_websocket(io_, url.value, std::move(options), kSocketStack);
}

std::unique_ptr<TcpStream> VirtualUser::tcp_connect(std::string_view host, unsigned port,
                                                    TcpOptions options) {
    if (port == 0 || port > 65535) throw std::invalid_argument("tcp_connect: bad port " + std::to_string(port));
    return open_tcp_stream(io_, std::string(host), static_cast<std::uint16_t>(port), options);
}

SharedSpace& VirtualUser::shared() {
    if (!run_.shared) throw std::logic_error("no shared space in this run");
    if (!shared_) shared_ = std::make_unique<UserSharedSpace>(*run_.shared, io_);
    return *shared_;
}

void VirtualUser::wait(Clock::duration d) {
    if (d <= Clock::duration::zero()) return;
    timer_.timer_.expires_after(d);
    boost::system::error_code ec;
    timer_.timer_.async_wait(io_.yield()[ec]);
}

void VirtualUser::sleep(Seconds s) {
    wait(std::chrono::duration_cast<Clock::duration>(s));
    if (io_.stopping()) throw RequestError(ErrorKind::other, "stopped");
}

void VirtualUser::record(std::string_view name, std::chrono::nanoseconds elapsed, bool ok) {
    Stats& s = io_.stats();
    record_latency(s, s.label(name), elapsed, ok ? Outcome::ok : Outcome::error);
}

void VirtualUser::record_group(std::string_view name, std::chrono::nanoseconds elapsed, bool ok) {
    std::string row = "group ";
    row += name;
    Stats& s = io_.stats();
    record_latency(s, s.label(row), elapsed, ok ? Outcome::ok : Outcome::error, Scope::label);
}

void VirtualUser::add_metric(MetricKind kind, std::string_view name, double value) {
    auto bad = [&](const std::string& why) {
        throw std::invalid_argument("custom metric \"" + std::string(name) + "\": " + why);
    };
    if (name.empty() || name.size() > Stats::kMaxMetricName)
        bad("a name is 1 to " + std::to_string(Stats::kMaxMetricName) + " bytes");
    if (!std::isfinite(value)) bad("the value is not a finite number");
    if (value < 0 && (kind == MetricKind::counter || kind == MetricKind::trend))
        bad(std::string("a ") + std::string(to_string(kind)) + " takes values >= 0, not " + std::to_string(value));
    MetricStats* m = io_.stats().metric(name, kind);
    if (!m) bad("already used as a " + std::string(to_string(io_.stats().metrics.find(name)->second.kind)) +
                ", cannot be used as a " + std::string(to_string(kind)));
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    m->add(value, now.count());
}

const DataSet& VirtualUser::data(std::string_view name) const {
    if (const DataSet* d = run_.data_set(name)) return *d;
    std::string known;
    for (const auto& d : run_.data) known += (known.empty() ? "" : ", ") + d.name();
    throw std::invalid_argument("no data set \"" + std::string(name) + "\" in this run (give it with --data " +
                                std::string(name) + "=FILE" + (known.empty() ? ")" : "; the run has: " + known + ")"));
}

DataRow VirtualUser::user_row(std::string_view name) const {
    const DataSet& d = data(name);
    if (id_ < d.size()) return d.row(id_);
    if (run_.spec.data_exhausted == DataExhaustion::wrap) return d.row(id_ % d.size());
    throw DataExhausted("data set \"" + d.name() + "\" has " + std::to_string(d.size()) + " rows: none left for user " +
                        std::to_string(id_) + " (--data-exhausted stop)");
}

std::optional<SleepRange> VirtualUser::task_think() const {
    const Task* t = runner_ ? runner_->last_task() : nullptr;
    return t ? t->think : std::nullopt;
}

void VirtualUser::stop_for_data(const DataExhausted& e) {
    // Not the target's doing: no hit, no error; the user just goes. The
    // message is one per data set (user ids left out), so it counts users.
    out_of_data_ = true;
    if (io_.stopping()) return;
    Stats& stats = io_.stats();
    ++stats.users_out_of_data;
    // Closed model with -c: the hits it will not make (the one in progress
    // included) are skipped, so hits + skipped + interrupted stays the plan's.
    stats.skipped += load_.hits_left(*this, 0);
    std::string what = e.what();
    if (auto cut = what.find(": none left"); cut != std::string::npos) what.resize(cut);
    stats.note("out of data: " + what + " (--data-exhausted stop)");
}

std::optional<Clock::time_point> VirtualUser::park() {
    parked_due_.reset();
    timer_.timer_.expires_at(Clock::time_point::max());
    boost::system::error_code ec;
    timer_.timer_.async_wait(io_.yield()[ec]);
    return std::exchange(parked_due_, std::nullopt);
}

void VirtualUser::unpark(std::optional<Clock::time_point> due) {
    parked_due_ = due;
    timer_.timer_.cancel();
}

void VirtualUser::count_failed_start(const HitOutcome& why) {
    // A user that cannot start counts one hit (the one it was about to make)
    // ended as `why`; the rest of its hits in this cycle are skipped.
    if (io_.stopping()) return;
    Stats& stats = io_.stats();
    ++stats.start_failures;
    stats.note("on_start: " + why.note());
    auto ticket = load_.next_hit(*this);
    if (!ticket) return;
    ++stats.hits;
    if (why.failure) ++stats.failures;
    else stats.count_error(why.kind);
    stats.skipped += load_.hits_left(*this, 1);
    if (ticket->from_schedule) {
        auto now = Clock::now();
        stats.latency_from_schedule.record(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - ticket->scheduled).count()));
    }
    io_.worker().hit_done();
}

void VirtualUser::stop_runner() {
    try {
        runner_->stop();
    } catch (...) {
        if (!io_.stopping()) io_.stats().note("on_stop: " + describe_current_exception().note());
    }
}

void VirtualUser::run(asio::yield_context yield) {
    io_.set_yield(&yield);
    wait(start_delay_);
    if (!load_.may_start(*this)) return;
    // The lifecycle (loads.hpp, TestCase): on_start once; if it throws, one
    // errored hit and the rest skipped; on_stop once for every user whose
    // on_start was called, whatever happened.
    bool started = false, ready = false;
    try {
        runner_ = make_hit_runner(run_, *this);  // the test's constructor may throw too
        started = true;
        runner_->start();
        ready = true;
    } catch (const DataExhausted& e) {
        stop_for_data(e);
    } catch (...) {
        count_failed_start(describe_current_exception());
    }
    if (ready) {
        while (auto ticket = load_.next_hit(*this)) {
            run_one_hit(*ticket);
            if (out_of_data_) break;
            ++hit_;
        }
    }
    if (started) stop_runner();
    runner_.reset();
    if (session_) session_->close();
}

void VirtualUser::run_one_hit(const HitTicket& ticket) {
    Stats& stats = io_.stats();
    const auto started = Clock::now();
    io_.worker().user_busy(+1);
    if (session_) session_->unchecked_5xx = 0;
    enum class Outcome { success, failure, error } outcome = Outcome::success;
    HitOutcome why;
    try {
        runner_->run_hit();
        if (session_ && session_->unchecked_5xx > 0) {
            outcome = Outcome::error;
            why.kind = ErrorKind::status;
            why.message = "HTTP 5xx response not checked by the test";
        }
    } catch (const DataExhausted& e) {
        io_.worker().user_busy(-1);
        stop_for_data(e);
        // The arrival this user took will never be served.
        if (io_.stopping()) ++stats.interrupted;
        else if (ticket.from_schedule) ++stats.dropped;
        return;
    } catch (...) {
        why = describe_current_exception();
        outcome = why.failure ? Outcome::failure : Outcome::error;
    }
    io_.worker().user_busy(-1);
    // A hit cut short by a stop neither succeeded nor failed: it is counted
    // as interrupted, not as a hit.
    if (io_.stopping()) {
        ++stats.interrupted;
        return;
    }
    ++stats.hits;
    if (ticket.from_schedule) {
        const auto now = Clock::now();
        stats.latency_from_schedule.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - ticket.scheduled).count()));
        if (started - ticket.scheduled > Stats::kLateAfter) ++stats.late;
    }
    // A weighted-task run: the task's own row.
    if (const Task* task = runner_->last_task(); task && run_.tasks.tasks.size() > 1) {
        TaskStats& ts = stats.task(task->name);
        ++ts.count;
        ts.failures += outcome == Outcome::failure;
        ts.errors += outcome == Outcome::error;
        ts.duration.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count()));
    }
    switch (outcome) {
        case Outcome::success: ++stats.successes; break;
        case Outcome::failure:
            ++stats.failures;
            stats.note(why.note());
            break;
        case Outcome::error:
            stats.count_error(why.kind);
            stats.note(why.note());
            break;
    }
    io_.worker().hit_done();
}

}  // namespace loads
