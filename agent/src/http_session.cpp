// The session: connections per origin, cookies, redirects, counting. No
// wire format here (http_connection.hpp).
#include "http_session.hpp"

#include "record.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace loads {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace

HttpSession::HttpSession(UserIo& io, const Url* base, bool follow_redirects, bool http2)
    : io_(io), base_(base), follow_redirects_(follow_redirects), http2_(http2) {}

HttpSession::~HttpSession() = default;

void HttpSession::close() {
    connections_.clear();
}

HttpConnection& HttpSession::connection_for(const Url& url) {
    for (auto& c : connections_)
        if (c->serves(url)) return *c;
    connections_.push_back(http2_ ? make_http2_connection(io_, url) : make_http1_connection(io_, url));
    return *connections_.back();
}

void HttpSession::set_header(std::string_view name, std::string_view value) {
    for (auto& [k, v] : default_headers_)
        if (iequals(k, name)) {
            v = value;
            return;
        }
    default_headers_.emplace_back(name, value);
}

std::string HttpSession::cookie(std::string_view name) const { return cookies_.get(name); }

void HttpSession::clear_cookies() { cookies_.clear(); }

void HttpSession::store_cookies(const ResponseData& r) {
    for (const auto& raw : r.set_cookies) cookies_.store(raw);
}

void HttpSession::set_http2(bool on) {
    if (on != http2_) close();
    http2_ = on;
}

void HttpSession::build_headers(std::string_view method, const RequestOptions& options, std::string_view body) {
    auto check = [](std::string_view s, const char* what) {
        if (s.find_first_of("\r\n") != std::string_view::npos)
            throw std::invalid_argument(std::string(what) + " contains a line break");
    };
    check(method, "method");
    headers_.clear();
    bool has_ua = false, has_accept = false;
    auto add = [&](const std::string& k, const std::string& v) {
        check(k, "header name");
        check(v, "header value");
        has_ua |= iequals(k, "user-agent");
        has_accept |= iequals(k, "accept");
        headers_.emplace_back(k, v);
    };
    for (auto& [k, v] : default_headers_) add(k, v);
    for (auto& [k, v] : options.headers) add(k, v);
    if (!has_ua) headers_.emplace_back("User-Agent", "loads/0.1");
    if (!has_accept) headers_.emplace_back("Accept", "*/*");
    if (!cookies_.empty()) headers_.emplace_back("Cookie", cookies_.header());
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
        headers_.emplace_back("Content-Length", std::to_string(body.size()));
}

namespace {

// Counts one request that got a response (a 5xx is an error of its row).
void count_response(Stats& stats, LabelStats& label, const ResponseData& r, Clock::duration took,
                    std::size_t sent, std::uint64_t received) {
    ++stats.requests;
    stats.bytes_sent += sent;
    stats.bytes_received += received;
    stats.count_status(static_cast<unsigned>(r.status));
    record_latency(stats, label, took, r.status >= 500 ? Outcome::error : Outcome::ok);
}

// Counts one request that got no response (record.hpp: a timeout is timed).
void count_no_response(Stats& stats, LabelStats& label, std::size_t sent, const RequestError& e,
                       Clock::duration took) {
    ++stats.request_errors;
    stats.bytes_sent += sent;
    record_latency(stats, label, took, error_outcome(e.kind));
}

}  // namespace

bool is_redirect(const ResponseData& r) {
    const int s = r.status;
    return (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) && !r.location.empty();
}

bool redirect_turns_get(int status, std::string_view method) {
    return status == 303 || ((status == 301 || status == 302) && method != "GET" && method != "HEAD");
}

Url redirect_target(const Url& from, std::string_view location) {
    auto next = resolve_url(from, location);
    if (!next) throw RequestError(ErrorKind::protocol, "bad redirect: " + next.error);
    if (next.value.scheme != "http" && next.value.scheme != "https")
        throw RequestError(ErrorKind::protocol, "bad redirect: " + next.value.str() + " is not http(s)");
    return std::move(next.value);
}

RequestError too_many_redirects(unsigned max, const Url& from) {
    return RequestError(ErrorKind::protocol,
                        "too many redirects (more than " + std::to_string(max) + ") from " + from.str());
}

void HttpSession::send(std::span<Call> calls, LabelStats& label, Clock::duration timeout) {
    connection_for(*calls.front().request->url).exchange(calls, timeout);
    if (io_.stopping()) throw RequestError(ErrorKind::other, "stopped");
    const RequestError* first = nullptr;
    for (auto& call : calls) {
        const Exchange& x = call.result;
        LabelStats& l = call.label ? *call.label : label;
        if (x.error) {
            count_no_response(io_.stats(), l, x.bytes_sent, *x.error, x.took);
            if (!first) first = &*x.error;
        } else {
            count_response(io_.stats(), l, *call.out, x.took, x.bytes_sent, x.bytes_read);
        }
    }
    if (first) throw *first;
}

Parsed<Url> HttpSession::resolve(std::string_view url_text) const {
    Parsed<Url> url = base_ ? resolve_url(*base_, url_text) : parse_url(url_text);
    if (!url) throw std::invalid_argument(url.error);
    if (url.value.scheme != "http" && url.value.scheme != "https")
        throw std::invalid_argument("session requests take http(s) URLs, not " + url.value.str());
    return url;
}

Response HttpSession::make_response(ResponseData& data, const Url& url, Clock::duration took) {
    Response result;
    result.status_ = data.status;
    result.body_ = std::move(data.body);
    result.headers_ = std::move(data.headers);
    result.elapsed_ = std::chrono::duration_cast<std::chrono::nanoseconds>(took);
    result.url_ = url.str();
    if (result.status_ >= 500) {
        result.unchecked_5xx_ = &unchecked_5xx;
        ++unchecked_5xx;
    }
    return result;
}

std::vector<Response> HttpSession::parallel(const std::vector<ParallelRequest>& requests) {
    if (requests.empty() || requests.size() > 1000)
        throw std::invalid_argument("parallel takes 1 to 1000 requests, not " + std::to_string(requests.size()));
    const std::size_t n = requests.size();
    std::vector<Url> urls;
    std::vector<Headers> fields(n);
    std::vector<HttpRequest> reqs;
    std::vector<ResponseData> outs(n);
    std::vector<Call> calls(n);
    urls.reserve(n);
    reqs.reserve(n);
    Clock::duration timeout = Clock::duration::zero();
    for (std::size_t i = 0; i < n; ++i) {
        const ParallelRequest& r = requests[i];
        urls.push_back(resolve(r.url).value);
        if (urls[i].origin() != urls[0].origin())
            throw std::invalid_argument("parallel requests go to one origin: " + urls[i].origin() + " is not " +
                                        urls[0].origin());
        build_headers(r.method, r.options, r.options.body);
        fields[i] = std::move(headers_);
        reqs.push_back(HttpRequest{r.method, &urls[i], &fields[i], r.options.body});
        std::string name = r.options.name.empty() ? r.method + " " + std::string(urls[i].path()) : r.options.name;
        calls[i] = Call{&reqs[i], &outs[i], {}, &io_.stats().label(name)};
        timeout = std::max(timeout, std::chrono::duration_cast<Clock::duration>(
                                        r.options.timeout ? *r.options.timeout : io_.options().timeout));
    }
    send(calls, *calls[0].label, timeout);
    std::vector<Response> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        store_cookies(outs[i]);
        out.push_back(make_response(outs[i], urls[i], calls[i].result.took));
    }
    return out;
}

Response HttpSession::request(std::string_view method, std::string_view url_text,
                              const RequestOptions& options) {
    Parsed<Url> url = resolve(url_text);

    bool follow = options.allow_redirects.value_or(follow_redirects_);
    std::string current_method(method);
    std::string_view body = options.body;
    auto timeout = options.timeout
                       ? std::chrono::duration_cast<Clock::duration>(*options.timeout)
                       : std::chrono::duration_cast<Clock::duration>(io_.options().timeout);

    for (unsigned hop = 0;; ++hop) {
        build_headers(current_method, options, body);
        HttpRequest req{current_method, &url.value, &headers_, body};
        std::string name = options.name;
        if (name.empty()) name = current_method + " " + std::string(url.value.path());
        LabelStats& label = io_.stats().label(name);
        response_.keep_headers = response_.keep_body = response_.keep_cookies = true;
        auto took = send(req, label, response_, timeout);
        store_cookies(response_);
        if (follow && is_redirect(response_)) {
            if (hop >= io_.options().max_redirects) throw too_many_redirects(io_.options().max_redirects, url.value);
            Url next = redirect_target(url.value, response_.location);
            if (redirect_turns_get(response_.status, current_method)) {
                current_method = "GET";
                body = {};
            }
            url.value = std::move(next);
            continue;
        }
        return make_response(response_, url.value, took);
    }
}

}  // namespace loads
