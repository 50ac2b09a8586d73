#include "cookie_jar.hpp"

#include "loads/loads.hpp"

#include <algorithm>

namespace loads {

void CookieJar::store(std::string_view s) {
    std::string_view pair = s.substr(0, s.find(';'));
    auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return;
    std::string name(pair.substr(0, eq));
    std::string value(pair.substr(eq + 1));
    // Max-Age=0 (or negative) deletes the cookie.
    bool expired = false;
    for (std::size_t p = s.find(';'); p != std::string_view::npos; p = s.find(';', p + 1)) {
        std::string_view attr = s.substr(p + 1);
        while (!attr.empty() && attr.front() == ' ') attr.remove_prefix(1);
        if (attr.size() >= 8 && detail::iequals(attr.substr(0, 8), "max-age=")) {
            std::string_view n = attr.substr(8, attr.find(';') == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : attr.find(';') - 8);
            expired = !n.empty() && (n.front() == '-' || n == "0");
        }
    }
    auto it = std::find_if(cookies_.begin(), cookies_.end(), [&](auto& c) { return c.first == name; });
    if (expired) {
        if (it != cookies_.end()) cookies_.erase(it);
    } else if (it != cookies_.end()) {
        it->second = std::move(value);
    } else {
        cookies_.emplace_back(std::move(name), std::move(value));
    }
}

std::string CookieJar::get(std::string_view name) const {
    for (auto& [k, v] : cookies_)
        if (k == name) return v;
    return {};
}

std::string CookieJar::header() const {
    std::string jar;
    for (std::size_t i = 0; i < cookies_.size(); ++i) {
        if (i) jar.append("; ");
        jar.append(cookies_[i].first).append("=").append(cookies_[i].second);
    }
    return jar;
}

}  // namespace loads
