// The HTTP client of one virtual user: a Requests-like Session with a
// keep-alive connection per origin, a cookie jar, redirects, and the counting
// of every request into the worker's statistics. The wire is the
// connection's business (http_connection.hpp): HTTP/1.1, or HTTP/2 when the
// run or the test asks for it.
#pragma once

#include "loads/loads.hpp"
#include "cookie_jar.hpp"
#include "http_connection.hpp"
#include "url.hpp"
#include "user_io.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loads {

// Redirects as the run's `follow_redirects` says (docs/protocol.md): the
// rules a session's request and a URL-mode hit share.
// Whether `r` is a redirect to follow: 301, 302, 303, 307 or 308 with a Location.
bool is_redirect(const ResponseData& r);
// Whether the next hop after a redirect of `status` to a request of
// `method` goes on as GET without body (303; 301 and 302 after a method
// other than GET or HEAD).
bool redirect_turns_get(int status, std::string_view method);
// Where a redirect from `from` to `location` leads; a RequestError of kind
// `protocol` when it leads nowhere an HTTP client can go.
Url redirect_target(const Url& from, std::string_view location);
// The error of one redirect more than `max` in one request.
RequestError too_many_redirects(unsigned max, const Url& from);

class HttpSession final : public Session {
public:
    // `base` (may be null) resolves relative URLs; `follow_redirects` is the
    // default when a request does not say.
    // `http2`: new connections speak HTTP/2 (h2c on http, ALPN on https).
    HttpSession(UserIo& io, const Url* base, bool follow_redirects, bool http2);
    ~HttpSession() override;

    Response request(std::string_view method, std::string_view url,
                     const RequestOptions& options) override;
    void set_header(std::string_view name, std::string_view value) override;
    std::string cookie(std::string_view name) const override;
    void clear_cookies() override;

    // Sends every call (all to one origin) on that origin's connection and
    // counts each request under `label`, with its latency. Throws the first
    // call's RequestError when one got no response (all are counted first).
    void send(std::span<Call> calls, LabelStats& label, Clock::duration timeout);
    // One request; returns its latency.
    Clock::duration send(const HttpRequest& request, LabelStats& label, ResponseData& out,
                         Clock::duration timeout) {
        Call call{&request, &out, {}};
        send(std::span<Call>(&call, 1), label, timeout);
        return call.result.took;
    }

    // Whether connections opened from now on speak HTTP/2.
    void set_http2(bool on) override;
    std::vector<Response> parallel(const std::vector<ParallelRequest>& requests) override;

    // 5xx responses handed to the test whose status() nobody read: the hit
    // is an error of kind `status` unless this is 0 at its end.
    int unchecked_5xx = 0;

    // Closes every connection of the session.
    void close();

private:
    HttpConnection& connection_for(const Url& url);
    void build_headers(std::string_view method, const RequestOptions& options, std::string_view body);
    Parsed<Url> resolve(std::string_view url_text) const;
    Response make_response(ResponseData& data, const Url& url, Clock::duration took);
    void store_cookies(const ResponseData& r);

    UserIo& io_;
    const Url* base_;
    bool follow_redirects_;
    bool http2_;
    Headers default_headers_;
    CookieJar cookies_;
    std::vector<std::unique_ptr<HttpConnection>> connections_;  // one per origin
    Headers headers_;                                           // the request's fields, reused
    ResponseData response_;
};

}  // namespace loads
