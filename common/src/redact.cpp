#include "loads/redact.hpp"

#include <cctype>

namespace loads {

namespace {

bool scheme_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// Ends a URL in free text.
bool url_end(char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' || c == '>' ||
           c == '`';
}

}  // namespace

std::string redact_url(std::string_view url) {
    std::string out;
    auto sep = url.find("://");
    std::string_view rest = url;
    if (sep != std::string_view::npos) {
        out.append(url.substr(0, sep + 3));
        rest = url.substr(sep + 3);
        // Authority: up to the first '/', '?' or '#'; userinfo ends at its last '@'.
        auto auth_end = rest.find_first_of("/?#");
        std::string_view auth = rest.substr(0, auth_end);
        if (auto at = auth.rfind('@'); at != std::string_view::npos) auth = auth.substr(at + 1);
        out.append(auth);
        rest = auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
    }
    // Path as it is, then the query's values, then the fragment.
    auto q = rest.find_first_of("?#");
    out.append(rest.substr(0, q));
    if (q == std::string_view::npos) return out;
    rest = rest.substr(q);
    if (rest.front() == '?') {
        out += '?';
        rest.remove_prefix(1);
        auto hash = rest.find('#');
        std::string_view query = rest.substr(0, hash);
        rest = hash == std::string_view::npos ? std::string_view() : rest.substr(hash);
        bool first = true;
        while (true) {
            auto amp = query.find('&');
            std::string_view param = query.substr(0, amp);
            if (!first) out += '&';
            first = false;
            if (auto eq = param.find('='); eq != std::string_view::npos) {
                out.append(param.substr(0, eq + 1));
                out.append(kRedacted);
            } else if (!param.empty()) {
                out.append(kRedacted);  // a bare value may be the secret itself
            }
            if (amp == std::string_view::npos) break;
            query.remove_prefix(amp + 1);
        }
    }
    if (!rest.empty() && rest.front() == '#') {
        out += '#';
        if (rest.size() > 1) out.append(kRedacted);
    }
    return out;
}

std::string redact_urls(std::string_view text) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        auto sep = text.find("://", i);
        if (sep == std::string_view::npos) break;
        // The scheme: letters, digits, + - . back from "://", starting with a letter.
        std::size_t start = sep;
        while (start > i && scheme_char(text[start - 1])) --start;
        while (start < sep && !std::isalpha(static_cast<unsigned char>(text[start]))) ++start;
        std::size_t end = sep + 3;
        while (end < text.size() && !url_end(text[end])) ++end;
        out.append(text.substr(i, start - i));
        if (start == sep) {
            out.append(text.substr(sep, end - sep));  // "://" without a scheme: not a URL
        } else {
            out.append(redact_url(text.substr(start, end - start)));
        }
        i = end;
    }
    out.append(text.substr(i));
    return out;
}

}  // namespace loads
