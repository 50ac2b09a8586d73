// The test-case API: all a test library includes.
//
//   #include <loads/loads.hpp>
//
//   class WebSite : public loads::TestCase {
//   public:
//       void test_home() {
//           auto r = session().get("/");
//           check(r.status() == 200, "home page answers 200");
//           check(r.text().find("Hello") != std::string::npos, "home page greets");
//       }
//   };
//   LOADS_TEST(WebSite, test_home)
//
// Test code is written blocking-style: a call such as session().get() suspends
// only the virtual user that made it, while the thread runs thousands of
// others. The engine that implements the interfaces below lives in the process
// that loads the library (loads-runner or loads-agent); a test library needs
// nothing but this header, and Boost.JSON for JSON bodies (r.json(),
// post_json): loads_add_test_library() links it (the loads::api target
// carries it).
#pragma once

#include "loads/data.hpp"
#include "loads/error_kind.hpp"
#include "loads/metric_kind.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loads {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Seconds = std::chrono::duration<double>;

// --- outcomes --------------------------------------------------------------

// Thrown by check() when a check does not hold: the hit counts as a failure.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Thrown by the engine when a request, socket or stream cannot complete
// (connect refused, timeout, reset, ...). Uncaught, the hit counts as an
// error of this kind; a test may catch it to handle the failure itself.
struct RequestError : std::runtime_error {
    RequestError(ErrorKind k, const std::string& what) : std::runtime_error(what), kind(k) {}
    ErrorKind kind;
};

// --- HTTP ----------------------------------------------------------------------

struct RequestOptions {
    Headers headers;                        // added to the session's default headers
    std::string body;                       // request body (POST, PUT, PATCH)
    std::string name;                       // statistics row; default "METHOD /path"
    std::optional<bool> allow_redirects;    // default: follow (like Requests)
    std::optional<Seconds> timeout;         // default: the run's --timeout
};

// One request of Session::parallel.
struct ParallelRequest {
    std::string method = "GET";
    std::string url;
    RequestOptions options;  // allow_redirects is ignored: parallel requests are not redirected
};

namespace detail {
// ASCII case-insensitive equality (header names).
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}
}  // namespace detail

class Response {
public:
    // The status code. Reading it marks the response as looked at: a 5xx
    // response nobody looked at makes the hit an error of kind `status`.
    int status() const {
        if (!checked_ && unchecked_5xx_ && *unchecked_5xx_ > 0) --*unchecked_5xx_;
        checked_ = true;
        return status_;
    }
    bool ok() const { return status() < 400; }
    const std::string& text() const { return body_; }
    const std::string& body() const { return body_; }
    const Headers& headers() const { return headers_; }
    // The value of the first header called `name` (any case), or "".
    std::string_view header(std::string_view name) const {
        for (auto& [k, v] : headers_)
            if (detail::iequals(k, name)) return v;
        return {};
    }
    // The body parsed as JSON (Boost.JSON: `r.json().at("items").as_int64()`,
    // `r.json().as_object()`). A body that is not one JSON text (empty, a
    // syntax error, extra data after it) throws a Failure saying where, so
    // the hit counts as a failure: "response of URL (HTTP 500) is not JSON:
    // syntax error at byte 0 of 29 ...". Reading the value wrongly (at() of a
    // missing key, as_string() of a number) throws Boost.JSON's exception: an
    // error of kind `exception`.
    boost::json::value json() const {
        boost::json::stream_parser p;
        boost::system::error_code ec;
        const std::size_t at = p.write(body_.data(), body_.size(), ec);
        if (!ec) p.finish(ec);
        if (!ec) return p.release();
        std::string what = "response of " + url_ + " (HTTP " + std::to_string(status_) + ") is not JSON: ";
        if (body_.empty()) throw Failure(what + "the body is empty");
        what += ec.message() + " at byte " + std::to_string(at) + " of " + std::to_string(body_.size()) + ": \"";
        const std::size_t from = at > 20 ? at - 20 : 0;
        for (char c : std::string_view(body_).substr(from, 60)) what += (c == '\n' || c == '\r') ? ' ' : c;
        throw Failure(what + (from + 60 < body_.size() ? "...\"" : "\""));
    }
    // Time from sending the request to the last byte of the response.
    std::chrono::nanoseconds elapsed() const { return elapsed_; }
    // The URL that answered (after redirects).
    const std::string& url() const { return url_; }

    // Filled in by the engine.
    int status_ = 0;
    std::string body_;
    Headers headers_;
    std::chrono::nanoseconds elapsed_{0};
    std::string url_;
    mutable bool checked_ = false;
    int* unchecked_5xx_ = nullptr;  // the hit's count of 5xx responses nobody looked at
};

// A Requests-like session: one per virtual user, kept across its hits, with
// keep-alive connections and a cookie jar. Relative URLs ("/login", "")
// resolve against --server-url.
class Session {
public:
    virtual ~Session() = default;
    virtual Response request(std::string_view method, std::string_view url,
                             const RequestOptions& options = {}) = 0;
    // Headers sent with every request of this session.
    virtual void set_header(std::string_view name, std::string_view value) = 0;
    // The value of a cookie in the jar, or "".
    virtual std::string cookie(std::string_view name) const = 0;
    virtual void clear_cookies() = 0;
    // HTTP/2 (or back to HTTP/1.1) for this session's requests: prior
    // knowledge (h2c) on http://, ALPN "h2" on https:// (HTTP/1.1 when the
    // server picks it). A change closes the session's open connections.
    // loads-runner --http2 makes it every session's default.
    //   session().http2(true).get("/");
    virtual void set_http2(bool on) = 0;
    // Sends every request at once and returns the responses in order: over
    // HTTP/2 one stream each on one connection, over HTTP/1.1 one after the
    // other. All go to one origin (else std::invalid_argument), 1 to 1000 of
    // them; redirects are not followed. Each is counted under its name; when
    // one gets no response, its RequestError is thrown once all are counted.
    //   auto rs = session().http2(true).parallel({{"GET", "/a"}, {"GET", "/b"}});
    virtual std::vector<Response> parallel(const std::vector<ParallelRequest>& requests) = 0;
    Session& http2(bool on) {
        set_http2(on);
        return *this;
    }

    Response get(std::string_view url, const RequestOptions& o = {}) { return request("GET", url, o); }
    Response head(std::string_view url, const RequestOptions& o = {}) { return request("HEAD", url, o); }
    Response del(std::string_view url, const RequestOptions& o = {}) { return request("DELETE", url, o); }
    Response post(std::string_view url, std::string body, RequestOptions o = {}) {
        o.body = std::move(body);
        return request("POST", url, o);
    }
    Response put(std::string_view url, std::string body, RequestOptions o = {}) {
        o.body = std::move(body);
        return request("PUT", url, o);
    }
    Response patch(std::string_view url, std::string body, RequestOptions o = {}) {
        o.body = std::move(body);
        return request("PATCH", url, o);
    }
    // `value` serialised as the body, with Content-Type: application/json
    // (unless `o.headers` has a Content-Type):
    //   session().post_json("/cart", {{"sku", "A1"}, {"qty", 2}});
    Response post_json(std::string_view url, const boost::json::value& value, RequestOptions o = {}) {
        return send_json("POST", url, value, std::move(o));
    }
    Response put_json(std::string_view url, const boost::json::value& value, RequestOptions o = {}) {
        return send_json("PUT", url, value, std::move(o));
    }
    Response patch_json(std::string_view url, const boost::json::value& value, RequestOptions o = {}) {
        return send_json("PATCH", url, value, std::move(o));
    }

private:
    Response send_json(std::string_view method, std::string_view url, const boost::json::value& value,
                       RequestOptions o) {
        o.body = boost::json::serialize(value);
        bool typed = false;
        for (const auto& [k, v] : o.headers) typed |= detail::iequals(k, "content-type");
        if (!typed) o.headers.emplace_back("Content-Type", "application/json");
        return request(method, url, o);
    }
};

// --- WebSocket -----------------------------------------------------------------

// A socket reads what the server pushes as it arrives, whether or not the
// user is waiting, and counts every message in the run's statistics.
struct WsOptions {
    Headers headers;
    std::string subprotocol;
    // Called for every message that arrives while no receive() is waiting
    // (text or binary payload, is_binary). Without it, messages wait in a
    // queue for receive(), in order, up to 100,000: beyond that the oldest
    // is dropped, and every drop is counted in the run's messages
    // ("WebSocket: message dropped, ...").
    //
    // Its life: it runs on the user's own thread, on the socket's reader
    // (while the user's code is suspended elsewhere, e.g. in sleep() or a
    // request), one message at a time, never after the WebSocket object is
    // destroyed or close() has returned (messages that arrive during close()
    // still reach it). So it may capture locals of the function that owns
    // the WebSocket object by reference, as long as they outlive that object.
    // It must not wait: send() and send_binary() from it (to this socket or
    // another of the user's) are queued and written in order without
    // waiting (a failed write closes the socket: its next call says why);
    // a request, sleep(), receive(), close() or create_ws() from it throws
    // std::logic_error. What it throws (a failed check(), `throw 42`) is
    // rethrown by the user's next send(), receive() or close() on that
    // socket, so the hit in progress ends by it (failure or error); if the
    // socket is destroyed first, it goes to the run's messages.
    std::function<void(const std::string&, bool)> on_message;
    std::optional<Seconds> timeout;  // receive/handshake; default: the run's --timeout
};

struct WsMessage {
    std::string data;
    bool binary = false;
};

class WebSocket {
public:
    virtual ~WebSocket() = default;
    virtual void send(std::string_view text) = 0;
    virtual void send_binary(std::string_view bytes) = 0;
    // Waits for the next message (suspending only this user). Queued
    // messages come first, even after the socket has closed. Throws
    // RequestError(timeout) after the timeout, RequestError(closed) when the
    // socket is closed and nothing is queued.
    virtual WsMessage receive(std::optional<Seconds> timeout = std::nullopt) = 0;
    // The close handshake: sends the close frame and returns when the peer
    // has answered it (or dropped the connection, or after the timeout).
    // Messages the peer sent before its answer are still read meanwhile:
    // they go to on_message, or to the queue for receive(), and are counted.
    // Destroying the socket without close() drops the connection without a
    // handshake: the queue is lost and messages still in flight are not read.
    virtual void close() = 0;
    virtual bool is_open() const = 0;
};

// --- raw TCP -------------------------------------------------------------------

struct TcpOptions {
    bool tls = false;
    std::optional<Seconds> timeout;  // every operation; default: the run's --timeout
};

class TcpStream {
public:
    virtual ~TcpStream() = default;
    virtual void send(std::string_view bytes) = 0;
    // Reads until `delimiter` has arrived; returns the data including it.
    virtual std::string recv_until(std::string_view delimiter) = 0;
    virtual std::string recv_exactly(std::size_t n) = 0;
    // Whatever is available (at least one byte); "" when the peer closed.
    virtual std::string recv_some() = 0;
    virtual void close() = 0;
};

// --- what a test can reach -----------------------------------------------------

// A small space shared by the users of one run in one process, for users
// that cooperate (bots that talk to each other). Waiting never blocks the
// thread, only the waiting user.
class SharedSpace {
public:
    virtual ~SharedSpace() = default;
    virtual void set(std::string_view key, std::string value) = 0;
    // The value of key, waiting up to `timeout` for someone to set it.
    virtual std::optional<std::string> get(std::string_view key, Seconds timeout) = 0;
    virtual void push(std::string_view queue, std::string value) = 0;
    // Pops the oldest value of `queue`, waiting up to `timeout` for one.
    virtual std::optional<std::string> pop(std::string_view queue, Seconds timeout) = 0;
};

// Implemented by the engine, one per virtual user.
class UserContext {
public:
    virtual ~UserContext() = default;
    virtual Session& session() = 0;
    virtual std::unique_ptr<WebSocket> create_ws(std::string_view url, WsOptions options) = 0;
    virtual std::unique_ptr<TcpStream> tcp_connect(std::string_view host, unsigned port,
                                                   TcpOptions options) = 0;
    virtual SharedSpace& shared() = 0;
    virtual void sleep(Seconds s) = 0;
    // Records a timed exchange under `name` (its own row in the statistics).
    virtual void record(std::string_view name, std::chrono::nanoseconds elapsed, bool ok) = 0;
    virtual const std::string& server_url() const = 0;
    virtual std::uint32_t user_id() const = 0;      // unique in the run
    virtual std::uint64_t hit_index() const = 0;    // 0-based, for this user
    virtual std::uint32_t cycle() const = 0;        // 0-based cycle index

    // --data NAME=FILE: the data set `name` (every row, shared by all users).
    // Throws std::invalid_argument when the run has no data set of that name.
    virtual const DataSet& data(std::string_view name) const = 0;
    // This user's own row of data set `name`: row user_id(). User ids are
    // unique over the run (every cycle, agent and load model), so each row
    // goes to one user only while the rows last. Past the last row:
    // --data-exhausted wrap (the default) gives row user_id() % size();
    // stop throws DataExhausted, which ends this user.
    virtual DataRow user_row(std::string_view name) const = 0;

    // The value of --param KEY=VALUE, or null when the run has no such key.
    virtual const std::string* find_param(std::string_view key) const = 0;

    // Records a group (TestCase::group) under the row "group NAME": its own
    // row only, not the total histogram, which holds the requests inside it.
    virtual void record_group(std::string_view name, std::chrono::nanoseconds elapsed, bool ok) = 0;

    // Adds one value to the custom metric `name` of kind `kind` (see
    // TestCase::metric_counter and the others). Throws std::invalid_argument
    // for a name already used with another kind, an empty or over-long name,
    // a value that is not finite, and a negative counter or trend value.
    virtual void add_metric(MetricKind kind, std::string_view name, double value) = 0;
};

// Handles on a test's custom metrics (TestCase::metric_counter() and the
// others): cheap to make, may be kept as members (they read the user's
// context when used, so one made in the constructor works).
class MetricHandle {
public:
    MetricHandle(UserContext* const* ctx, MetricKind kind, std::string_view name)
        : ctx_(ctx), kind_(kind), name_(name) {}
    const std::string& name() const { return name_; }

protected:
    void add_value(double v) const { (*ctx_)->add_metric(kind_, name_, v); }

private:
    UserContext* const* ctx_;
    MetricKind kind_;
    std::string name_;
};

// A sum that only grows (k6's Counter): items added to carts, bytes parsed.
// The summary shows the total and its rate per second of the run.
struct CounterMetric : MetricHandle {
    using MetricHandle::MetricHandle;
    void add(double n = 1) const { add_value(n); }
};
// A value that goes up and down (k6's Gauge): the last value set (the
// latest by wall clock over the cluster), with its min and max.
struct GaugeMetric : MetricHandle {
    using MetricHandle::MetricHandle;
    void set(double v) const { add_value(v); }
};
// The share of true among yes/no outcomes (k6's Rate): a cache hit, a page
// with an ad.
struct RateMetric : MetricHandle {
    using MetricHandle::MetricHandle;
    void add(bool yes) const { add_value(yes ? 1.0 : 0.0); }
};
// A distribution (k6's Trend): count, min, mean, max and percentiles, from a
// histogram that merges exactly across threads and agents. Values are >= 0
// in the unit of the test's choosing, kept to 0.001 (percentiles within
// 0.8%; a value above 3.6e9 counts as 3.6e9). A duration is added in ms.
struct TrendMetric : MetricHandle {
    using MetricHandle::MetricHandle;
    void add(double v) const { add_value(v); }
    template <class Rep, class Period>
    void add(std::chrono::duration<Rep, Period> d) const {
        add_value(std::chrono::duration<double, std::milli>(d).count());
    }
};

// --- the base class of tests ---------------------------------------------------

// The life of a virtual user, the same locally and on agents:
//
//   constructor, on_start()                         once per user
//   setUp(), the test method, tearDown()            once per hit
//   on_stop()                                       once per user whose on_start ran
//
// A hit ends as a success, a failure (a check did not hold: Failure) or an
// error (RequestError: its kind; anything else, std::exception or not, even
// `throw 42`: kind `exception`, the message naming what was thrown). A
// failed hit does not end the user: its next hit runs. tearDown() runs after
// a test method that threw too.
//
// If on_start() (or the constructor) throws, the user counts one hit ended by
// that exception ("on_start: ..." in the summary), makes no other hit in
// its cycle (with -c, they are counted as skipped: the summary's Skipped
// line), and on_stop() still runs, so a half-done login can be undone. The
// next cycle starts fresh users, with their own on_start. In the open
// model (--rate) the pool replaces such a user for the next arrival.
class TestCase {
public:
    virtual ~TestCase() = default;
    // Called before and after each hit (each run of the test method).
    virtual void setUp() {}
    virtual void tearDown() {}
    // Called once per virtual user, before its first hit and after its last
    // (on_stop also after a failed on_start, and at a stop).
    virtual void on_start() {}
    virtual void on_stop() {}

    // Set by the engine before anything else is called.
    void bind(UserContext* ctx) { ctx_ = ctx; }

protected:
    Session& session() { return ctx_->session(); }
    UserContext& context() { return *ctx_; }
    SharedSpace& shared() { return ctx_->shared(); }
    const std::string& server_url() const { return ctx_->server_url(); }
    std::uint32_t user_id() const { return ctx_->user_id(); }
    std::uint64_t hit_index() const { return ctx_->hit_index(); }
    const DataSet& data(std::string_view name) const { return ctx_->data(name); }
    DataRow user_row(std::string_view name) const { return ctx_->user_row(name); }

    // The run's --param KEY=VALUE (given to loads-runner, or in --config;
    // the same on every agent). A key the run was not given throws
    // std::invalid_argument naming it: the hit (or on_start) ends as an error
    // of kind `exception`. The second form returns `fallback` instead.
    const std::string& param(std::string_view key) const {
        if (const std::string* v = ctx_->find_param(key)) return *v;
        throw std::invalid_argument("this run has no --param " + std::string(key) + "=VALUE");
    }
    std::string param(std::string_view key, std::string_view fallback) const {
        const std::string* v = ctx_->find_param(key);
        return v ? *v : std::string(fallback);
    }

    std::unique_ptr<WebSocket> create_ws(std::string_view url, WsOptions o = {}) {
        return ctx_->create_ws(url, std::move(o));
    }
    std::unique_ptr<TcpStream> tcp_connect(std::string_view host, unsigned port, TcpOptions o = {}) {
        return ctx_->tcp_connect(host, port, std::move(o));
    }
    void sleep(double seconds) { ctx_->sleep(Seconds(seconds)); }

    // Times `fn` and records it under `name`: a RequestError or Failure
    // thrown by fn is recorded as not ok and passed on.
    template <class F>
    auto timed(std::string_view name, F&& fn) -> decltype(fn()) {
        return measured(&UserContext::record, name, std::forward<F>(fn));
    }

    // A step of the hit made of several exchanges, timed as a whole (k6's
    // group): its wall time goes to the per-name row "group NAME", counted
    // not ok when fn throws (the exception is passed on). The requests inside
    // keep their own rows and the total histogram; the group's row is not
    // added to the total, so nothing is counted twice.
    //   group("checkout", [&] { session().post("/cart", ...); session().post("/checkout", ""); });
    template <class F>
    auto group(std::string_view name, F&& fn) -> decltype(fn()) {
        return measured(&UserContext::record_group, name, std::forward<F>(fn));
    }

    // Custom metrics, k6-style: declared by using them, merged over the
    // whole run (every user, thread and agent), shown in the summary's
    // "Custom metrics" table and the JSON report, carried by the result
    // stream, and usable by thresholds (--threshold 'cart_items:count>=100',
    // 'render_ms:p95<250', 'cache_hit:rate>0.9', 'queue:max<50').
    //   metric_counter("cart_items").add(3);
    //   metric_trend("render_ms").add(12.5);
    // A name is 1 to 100 bytes and keeps the kind it was first used with; a
    // run keeps up to 100 names (later ones fold into "(other KIND)").
    CounterMetric metric_counter(std::string_view name) const { return {&ctx_, MetricKind::counter, name}; }
    GaugeMetric metric_gauge(std::string_view name) const { return {&ctx_, MetricKind::gauge, name}; }
    RateMetric metric_rate(std::string_view name) const { return {&ctx_, MetricKind::rate, name}; }
    TrendMetric metric_trend(std::string_view name) const { return {&ctx_, MetricKind::trend, name}; }

    // A check that does not hold ends the hit as a failure.
    void check(bool condition, std::string_view message = "check failed") {
        if (!condition) throw Failure(std::string(message));
    }
    template <class A, class B>
    void check_equal(const A& actual, const B& expected, std::string_view what = "value") {
        if (!(actual == expected)) {
            std::ostringstream os;
            os << what << ": expected " << printable(expected) << ", got " << printable(actual);
            throw Failure(os.str());
        }
    }

private:
    // Runs fn, and records its wall time with `record` (ok unless it threw).
    template <class F>
    auto measured(void (UserContext::*record)(std::string_view, std::chrono::nanoseconds, bool),
                  std::string_view name, F&& fn) -> decltype(fn()) {
        auto t0 = std::chrono::steady_clock::now();
        try {
            if constexpr (std::is_void_v<decltype(fn())>) {
                fn();
                (ctx_->*record)(name, std::chrono::steady_clock::now() - t0, true);
            } else {
                auto r = fn();
                (ctx_->*record)(name, std::chrono::steady_clock::now() - t0, true);
                return r;
            }
        } catch (...) {
            (ctx_->*record)(name, std::chrono::steady_clock::now() - t0, false);
            throw;
        }
    }

    template <class T>
    static const T& printable(const T& v) { return v; }
    static std::string printable(const std::string& s) { return '"' + s + '"'; }
    static std::string printable(std::string_view s) { return '"' + std::string(s) + '"'; }
    static std::string printable(const char* s) { return '"' + std::string(s) + '"'; }

    UserContext* ctx_ = nullptr;
};

// --- registration ----------------------------------------------------------------

namespace detail {

struct TestEntry {
    const char* name;                          // "Class.method"
    TestCase* (*create)();                     // new instance of the class
    void (*run)(TestCase&);                    // calls the method on it
    unsigned weight = 0;                       // LOADS_TASK's weight; 0 for LOADS_TEST (weight 1)
};

struct Registry {
    // Bump kAbiVersion when this header changes: 3 added custom metrics
    // (UserContext::add_metric), 4 HTTP/2 (Session::set_http2 and
    // Session::parallel, after Session's other virtuals). An engine loads
    // libraries built against kOldestAbiVersion..kAbiVersion (the interfaces
    // only grew at their end).
    static constexpr unsigned kAbiVersion = 4;
    static constexpr unsigned kOldestAbiVersion = 2;
    unsigned abi_version = kAbiVersion;
    std::vector<TestEntry> tests;
};

inline Registry& registry() {
    static Registry r;
    return r;
}

struct Registrar {
    explicit Registrar(TestEntry e) { registry().tests.push_back(e); }
};

}  // namespace detail
}  // namespace loads

// The one symbol the engine looks up in a test library (dlsym).
extern "C" __attribute__((visibility("default"), used)) inline const loads::detail::Registry*
loads_registry_v1() {
    return &loads::detail::registry();
}

#define LOADS_DETAIL_CAT2(a, b) a##b
#define LOADS_DETAIL_CAT(a, b) LOADS_DETAIL_CAT2(a, b)

// Registers Class::method as the test "Class.method".
#define LOADS_TEST(Class, Method) LOADS_TASK(Class, Method, 0)

// Registers Class::method as a task of weight `Weight` (1 to 10000), like
// Locust's @task(3): `loads-runner lib.so:Class` runs every test of Class,
// each hit picking one by weight (LOADS_TEST ones weigh 1). A run can also
// name tasks and weights itself: lib.so:Shop.browse:3,Shop.buy:1.
#define LOADS_TASK(Class, Method, Weight)                                                \
    static ::loads::detail::Registrar LOADS_DETAIL_CAT(loads_registrar_, __COUNTER__){   \
        ::loads::detail::TestEntry{                                                      \
            #Class "." #Method, []() -> ::loads::TestCase* { return new Class(); },      \
            [](::loads::TestCase& t) { static_cast<Class&>(t).Method(); }, (Weight)}};
