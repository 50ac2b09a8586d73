// A virtual user's cookies: what the Set-Cookie fields of its responses set,
// sent back as one Cookie field on every request of its session. Names are
// case-sensitive; a cookie keeps the place it was first set in. Only the
// name, the value and Max-Age are read (Max-Age=0 or negative deletes the
// cookie); Domain, Path, Expires and Secure are not (a session talks to the
// hosts its test names).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loads {

class CookieJar {
public:
    // One Set-Cookie field's value: "name=value; Max-Age=60; Path=/". A value
    // without '=' or with an empty name is ignored.
    void store(std::string_view set_cookie);
    // The cookie's value, "" when there is none.
    std::string get(std::string_view name) const;
    void clear() { cookies_.clear(); }
    bool empty() const { return cookies_.empty(); }
    // The Cookie field's value: "a=1; b=2" in the order first set.
    std::string header() const;

private:
    std::vector<std::pair<std::string, std::string>> cookies_;
};

}  // namespace loads
