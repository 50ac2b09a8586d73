// The hit runners: a library test, and the zero-code URL tests.
#include "hit_runner.hpp"

#include "run_state.hpp"
#include "virtual_user.hpp"

namespace loads {
namespace {

// A test from a library: a fresh TestCase per user, setUp/test/tearDown per hit.
class LibraryHit final : public HitRunner {
public:
    LibraryHit(const detail::TestEntry& entry, VirtualUser& user)
        : entry_(entry), test_(entry.create()) {
        test_->bind(&user);
    }
    void start() override { test_->on_start(); }
    void stop() override { test_->on_stop(); }
    void run_hit() override {
        test_->setUp();
        try {
            entry_.run(*test_);
        } catch (...) {
            try {
                test_->tearDown();
            } catch (...) {
                // the test's own outcome is the one that counts
            }
            throw;
        }
        test_->tearDown();
    }

private:
    const detail::TestEntry& entry_;
    std::unique_ptr<TestCase> test_;
};

// URL mode over HTTP: the request serialised once for the run; nothing of
// the response is kept unless --expect needs the body.
class UrlHttpHit final : public HitRunner {
public:
    UrlHttpHit(const RunState& run, VirtualUser& user)
        : run_(run), user_(user), label_(user.io().stats().label(run.label)),
          timeout_(std::chrono::duration_cast<Clock::duration>(run.spec.client.timeout)) {
        data_.keep_headers = false;
        data_.keep_cookies = false;
        data_.keep_body = !run.spec.test.expect.empty();
    }
    void run_hit() override {
        auto& session = user_.http();
        session.send_raw(run_.target, run_.request, run_.head, label_, data_, timeout_);
        if (data_.status >= 500)
            throw RequestError(ErrorKind::status, "HTTP " + std::to_string(data_.status));
        if (data_.status >= 400) throw Failure("HTTP " + std::to_string(data_.status));
        if (data_.keep_body && data_.body.find(run_.spec.test.expect) == std::string::npos)
            throw Failure("response body does not contain the expected text");
    }

private:
    const RunState& run_;
    VirtualUser& user_;
    LabelStats& label_;
    Clock::duration timeout_;
    ResponseData data_;
};

}  // namespace

std::unique_ptr<HitRunner> make_ws_url_hit(const RunState& run, VirtualUser& user);
std::unique_ptr<HitRunner> make_tcp_url_hit(const RunState& run, VirtualUser& user);

std::unique_ptr<HitRunner> make_hit_runner(const RunState& run, VirtualUser& user) {
    if (run.spec.test.kind == TestSpec::Kind::library)
        return std::make_unique<LibraryHit>(*run.entry, user);
    const auto& scheme = run.target.scheme;
    if (scheme == "http" || scheme == "https") return std::make_unique<UrlHttpHit>(run, user);
    if (scheme == "ws" || scheme == "wss") return make_ws_url_hit(run, user);
    return make_tcp_url_hit(run, user);
}

}  // namespace loads
