// The hit runners: a library test, and the zero-code URL tests.
#include "hit_runner.hpp"

#include "run_state.hpp"
#include "virtual_user.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace loads {
namespace {

// A test from a library: per user, a fresh instance of each class the run's
// tasks come from; per hit, one task (tasks.hpp) with setUp and tearDown.
class LibraryHit final : public HitRunner {
public:
    LibraryHit(const TaskPlan& plan, VirtualUser& user) : plan_(plan), user_(user) {
        for (const auto& cls : plan.classes) {
            auto t = std::find_if(plan.tasks.begin(), plan.tasks.end(),
                                  [&](const Task& task) { return task.class_name == cls; });
            tests_.emplace_back(t->entry->create());
            tests_.back()->bind(&user);
        }
    }
    void start() override {
        for (auto& t : tests_) {
            ++started_;
            t->on_start();
        }
    }
    // on_stop of every instance whose on_start was called (even one that
    // threw, as loads.hpp's lifecycle says); the first exception is passed
    // on once all have run.
    void stop() override {
        std::exception_ptr first;
        for (std::size_t i = 0; i < started_; ++i) {
            try {
                tests_[i]->on_stop();
            } catch (...) {
                if (!first) first = std::current_exception();
            }
        }
        started_ = 0;
        if (first) std::rethrow_exception(first);
    }
    void run_hit() override {
        const Task& task = plan_.tasks.size() == 1 ? plan_.tasks.front() : plan_.pick(user_.user_id(), user_.hit_index());
        last_ = &task;
        TestCase& test = *tests_[task.instance];
        test.setUp();
        try {
            task.entry->run(test);
        } catch (...) {
            try {
                test.tearDown();
            } catch (...) {
                // the test's own outcome is the one that counts
            }
            throw;
        }
        test.tearDown();
    }
    const Task* last_task() const override { return last_; }

private:
    const TaskPlan& plan_;
    VirtualUser& user_;
    std::vector<std::unique_ptr<TestCase>> tests_;  // one per class, as plan_.classes
    std::size_t started_ = 0;
    const Task* last_ = nullptr;
};

// URL mode over HTTP: one request per hit, or with --streams N (HTTP/2) N
// requests at once, one stream each; nothing of a response is kept unless
// --expect needs the body. The request is the same for every hit, so the
// connection may keep what it made of it.
//
// With --follow-redirects each stream follows its redirects as a session's
// request does (docs/protocol.md, follow_redirects): each hop a request of
// its own, counted in the row of its own URL; the stream's last response is
// the one checked. The hops a user met are kept (URL, request, row), so a
// hit along a known chain parses no URL and looks up no row again; a hop's
// request is serialised afresh (in the connection's reused buffer).
class UrlHttpHit final : public HitRunner {
public:
    UrlHttpHit(const RunState& run, VirtualUser& user)
        : run_(run), user_(user), label_(user.io().stats().label(run.label)),
          timeout_(std::chrono::duration_cast<Clock::duration>(run.spec.client.timeout)),
          follow_(run.spec.client.follow_redirects), max_redirects_(run.spec.client.max_redirects),
          request_{run.spec.test.method, &run.target, &run.headers, run.spec.test.body, true},
          data_(std::max(1u, run.spec.client.streams)), calls_(data_.size()) {
        for (std::size_t i = 0; i < data_.size(); ++i) {
            data_[i].keep_headers = false;
            data_[i].keep_cookies = false;
            data_[i].keep_body = !run.spec.test.expect.empty();
            calls_[i].request = &request_;
            calls_[i].out = &data_[i];
        }
        if (follow_) {
            current_.resize(data_.size());
            hop_calls_.reserve(data_.size());
        }
    }
    void run_hit() override {
        HttpSession& http = user_.http();
        http.send(calls_, label_, timeout_);
        if (follow_) follow(http);
        for (const auto& d : data_) check(d);
    }

private:
    // A redirect met: from which request, to which Location, and the
    // request it leads to.
    struct Hop {
        const HttpRequest* from = nullptr;
        bool as_get = false;
        std::string location;
        Url url;
        HttpRequest request;
        LabelStats* label = nullptr;
    };
    // Hops kept at most; past it, forgotten at the start of the next hit
    // that redirects (a server that redirects to ever new URLs).
    static constexpr std::size_t kMaxHops = 64;

    // Sends the next hop of every stream whose last response is a
    // redirect, until none is.
    void follow(HttpSession& http) {
        if (std::none_of(data_.begin(), data_.end(), [](const ResponseData& d) { return is_redirect(d); }))
            return;
        if (hops_.size() > kMaxHops) hops_.clear();
        std::fill(current_.begin(), current_.end(), &request_);
        for (unsigned hop = 0;; ++hop) {
            hop_calls_.clear();
            for (std::size_t i = 0; i < data_.size(); ++i) {
                if (!is_redirect(data_[i])) continue;
                if (hop >= max_redirects_) throw too_many_redirects(max_redirects_, *current_[i]->url);
                const Hop& next = hop_from(*current_[i], data_[i]);
                current_[i] = &next.request;
                hop_calls_.push_back(Call{&next.request, &data_[i], {}, next.label});
            }
            if (hop_calls_.empty()) return;
            send_by_origin(http);
        }
    }

    // The hop a redirect `r` to `from` leads to, made the first time.
    const Hop& hop_from(const HttpRequest& from, const ResponseData& r) {
        const bool as_get = redirect_turns_get(r.status, from.method);
        for (const auto& h : hops_)
            if (h->from == &from && h->as_get == as_get && h->location == r.location) return *h;
        auto h = std::make_unique<Hop>();
        h->from = &from;
        h->as_get = as_get;
        h->location = r.location;
        h->url = redirect_target(*from.url, r.location);
        h->request = as_get ? HttpRequest{"GET", &h->url, &run_.get_headers, {}}
                            : HttpRequest{from.method, &h->url, from.headers, from.body};
        h->label = &user_.io().stats().label(std::string(h->request.method) + " " + std::string(h->url.path()));
        hops_.push_back(std::move(h));
        return *hops_.back();
    }

    // Sends hop_calls_, one exchange per origin.
    void send_by_origin(HttpSession& http) {
        std::span<Call> rest(hop_calls_);
        while (!rest.empty()) {
            const Url* origin = rest.front().request->url;
            auto mid = std::partition(rest.begin(), rest.end(),
                                      [&](const Call& c) { return same_origin(*c.request->url, *origin); });
            const auto n = static_cast<std::size_t>(mid - rest.begin());
            http.send(rest.first(n), *rest.front().label, timeout_);
            rest = rest.subspan(n);
        }
    }

    void check(const ResponseData& d) const {
        if (d.status >= 500) throw RequestError(ErrorKind::status, "HTTP " + std::to_string(d.status));
        if (d.status >= 400) throw Failure("HTTP " + std::to_string(d.status));
        if (d.keep_body && d.body.find(run_.spec.test.expect) == std::string::npos)
            throw Failure("response body does not contain the expected text");
    }

    const RunState& run_;
    VirtualUser& user_;
    LabelStats& label_;
    Clock::duration timeout_;
    bool follow_;
    unsigned max_redirects_;
    HttpRequest request_;
    std::vector<ResponseData> data_;  // one per stream
    std::vector<Call> calls_;
    std::vector<const HttpRequest*> current_;  // per stream, the request its data_ answers
    std::vector<Call> hop_calls_;              // the hops of one round
    std::vector<std::unique_ptr<Hop>> hops_;   // the hops met, kept
};

}  // namespace

std::unique_ptr<HitRunner> make_ws_url_hit(const RunState& run, VirtualUser& user);
std::unique_ptr<HitRunner> make_tcp_url_hit(const RunState& run, VirtualUser& user);

std::unique_ptr<HitRunner> make_hit_runner(const RunState& run, VirtualUser& user) {
    if (run.spec.test.kind == TestSpec::Kind::library)
        return std::make_unique<LibraryHit>(run.tasks, user);
    const auto& scheme = run.target.scheme;
    if (scheme == "http" || scheme == "https") return std::make_unique<UrlHttpHit>(run, user);
    if (scheme == "ws" || scheme == "wss") return make_ws_url_hit(run, user);
    return make_tcp_url_hit(run, user);
}

}  // namespace loads
