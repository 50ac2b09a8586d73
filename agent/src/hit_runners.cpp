// The hit runners: a library test, and the zero-code URL tests.
#include "hit_runner.hpp"

#include "run_state.hpp"
#include "virtual_user.hpp"

#include <algorithm>
#include <exception>

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
class UrlHttpHit final : public HitRunner {
public:
    UrlHttpHit(const RunState& run, VirtualUser& user)
        : run_(run), user_(user), label_(user.io().stats().label(run.label)),
          timeout_(std::chrono::duration_cast<Clock::duration>(run.spec.client.timeout)),
          request_{run.spec.test.method, &run.target, &run.headers, run.spec.test.body, true},
          data_(std::max(1u, run.spec.client.streams)), calls_(data_.size()) {
        for (std::size_t i = 0; i < data_.size(); ++i) {
            data_[i].keep_headers = false;
            data_[i].keep_cookies = false;
            data_[i].keep_body = !run.spec.test.expect.empty();
            calls_[i].request = &request_;
            calls_[i].out = &data_[i];
        }
    }
    void run_hit() override {
        user_.http().send(calls_, label_, timeout_);
        for (const auto& d : data_) check(d);
    }

private:
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
    HttpRequest request_;
    std::vector<ResponseData> data_;  // one per stream
    std::vector<Call> calls_;
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
