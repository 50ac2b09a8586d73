// The HTTP/1.1 client of one virtual user: a Requests-like Session with
// keep-alive connections per origin, a cookie jar, redirects, TLS, and the
// counting of every request into the worker's statistics.
//
// Responses are parsed in one pass by parse_simple_response (http_simple.hpp)
// when they are the common kind, by Beast's basic_parser otherwise, into
// reusable buffers; requests are serialised by hand into a reusable string:
// after the first
// request on a connection, a request allocates nothing unless the test asks
// for the response's headers.
#pragma once

#include "loads/loads.hpp"
#include "url.hpp"
#include "user_io.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loads {

class HttpConnection;

// What is kept of a response; reused from one request to the next.
struct ResponseData {
    int status = 0;
    bool keep_headers = true;  // copy every header into `headers`
    bool keep_body = true;     // copy the body into `body`
    bool keep_cookies = true;  // collect Set-Cookie values
    Headers headers;
    std::string body;
    std::string location;                 // Location header, for redirects
    std::vector<std::string> set_cookies;  // raw Set-Cookie values

    void clear() {
        status = 0;
        headers.clear();
        body.clear();
        location.clear();
        set_cookies.clear();
    }
};

class HttpSession final : public Session {
public:
    // `base` (may be null) resolves relative URLs; `follow_redirects` is the
    // default when a request does not say.
    HttpSession(UserIo& io, const Url* base, bool follow_redirects);
    ~HttpSession() override;

    Response request(std::string_view method, std::string_view url,
                     const RequestOptions& options) override;
    void set_header(std::string_view name, std::string_view value) override;
    std::string cookie(std::string_view name) const override;
    void clear_cookies() override;

    // Sends `request_bytes` (a whole serialised request) to `url`'s origin and
    // reads the response into `out` (what it keeps is up to `out`'s flags).
    // Counts the request under `label`; returns its latency. Throws
    // RequestError when no response could be had (already counted). URL mode
    // calls this directly with bytes serialised once for the run.
    Clock::duration send_raw(const Url& url, std::string_view request_bytes, bool head,
                             LabelStats& label, ResponseData& out, Clock::duration timeout);

    // 5xx responses handed to the test whose status() nobody read: the hit
    // is an error of kind `status` unless this is 0 at its end.
    int unchecked_5xx = 0;

    // Closes every connection of the session.
    void close();

private:
    HttpConnection& connection_for(const Url& url);
    void serialize(std::string_view method, const Url& url, const RequestOptions& options,
                   std::string_view body);
    void store_cookies(const ResponseData& r);

    UserIo& io_;
    const Url* base_;
    bool follow_redirects_;
    Headers default_headers_;
    std::vector<std::pair<std::string, std::string>> cookies_;
    std::vector<std::unique_ptr<HttpConnection>> connections_;  // one per origin
    std::string request_;                                       // serialisation buffer
    ResponseData response_;
};

}  // namespace loads
