#include "http_simple.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace loads {

namespace {

// One pass over the header: the name's bytes must be tchars up to the colon
// (a table lookup per byte), the value's bytes field-vchars or SP/HTAB up to
// the CR (sixteen at a time where SSE2 is there: values are most of a header).
struct Tables {
    bool token[256] = {};  // RFC 9110 tchar
    bool value[256] = {};  // HTAB, SP, VCHAR, obs-text
    constexpr Tables() {
        for (int c = 0; c < 256; ++c) {
            token[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            value[c] = c == '\t' || (c >= 0x20 && c != 0x7f);
        }
        for (char c : std::string_view("!#$%&'*+-.^_`|~")) token[static_cast<unsigned char>(c)] = true;
    }
};
constexpr Tables kTables;

bool is_tchar(char c) { return kTables.token[static_cast<unsigned char>(c)]; }
bool is_vchar(char c) { return kTables.value[static_cast<unsigned char>(c)]; }

// Walks value bytes from `p`; returns where they stop (a CR, a bad byte, or
// `end`).
const char* skip_value(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i below_space = _mm_set1_epi8(0x1f);
    const __m128i del = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, below_space), x);  // x <= 0x1f, unsigned
        const int stop = _mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(x, del)));
        if (stop == 0) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(static_cast<unsigned>(stop));
        if (*p != '\t') return p;
        ++p;
    }
#endif
    while (p < end && is_vchar(*p)) ++p;
    return p;
}

// `name`, a validated token, against a literal of lower-case letters and
// '-': OR-ing 0x20 into a tchar yields one of those only from itself or its
// upper case, so the comparison is exact, eight bytes at a time.
bool is_named(std::string_view name, std::string_view lower) {
    const std::size_t n = name.size();
    if (n != lower.size()) return false;
    if (n < 8) {
        for (std::size_t i = 0; i < n; ++i)
            if ((static_cast<unsigned char>(name[i]) | 0x20) != static_cast<unsigned char>(lower[i])) return false;
        return true;
    }
    constexpr std::uint64_t fold = 0x2020202020202020;
    auto word = [](const char* at) {
        std::uint64_t w;
        std::memcpy(&w, at, 8);
        return w;
    };
    for (std::size_t i = 0; i + 8 < n; i += 8)
        if ((word(name.data() + i) | fold) != word(lower.data() + i)) return false;
    return (word(name.data() + n - 8) | fold) == word(lower.data() + n - 8);  // the last eight, overlapping
}

// Walks token bytes from `p`; returns where they stop (the colon, a bad
// byte, or `end`). Names are letters, digits and '-' sixteen at a time;
// other tchars go through the table.
const char* skip_token(const char* p, const char* end) {
#if defined(__SSE2__)
    auto in = [](__m128i x, char lo, char hi) {  // lo <= x <= hi, unsigned
        return _mm_cmpeq_epi8(_mm_max_epu8(_mm_min_epu8(x, _mm_set1_epi8(hi)), _mm_set1_epi8(lo)), x);
    };
    while (end - p >= 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i letter = in(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z');
        const __m128i common = _mm_or_si128(_mm_or_si128(letter, in(x, '0', '9')), _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
        const unsigned other = ~static_cast<unsigned>(_mm_movemask_epi8(common)) & 0xffffu;
        if (other == 0) {
            p += 16;
            continue;
        }
        p += __builtin_ctz(other);
        if (!is_tchar(*p)) return p;
        ++p;
    }
#endif
    while (p < end && is_tchar(*p)) ++p;
    return p;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

// Connection tokens; false for a list we leave to Beast (upgrade, or not a
// list of tokens).
bool connection_tokens(std::string_view value, bool& keep_alive) {
    while (!value.empty()) {
        auto comma = value.find(',');
        auto token = trim(value.substr(0, comma));
        for (char c : token)
            if (!is_tchar(c)) return false;  // Beast rejects such lists
        if (is_named(token, "close")) keep_alive = false;
        else if (is_named(token, "keep-alive")) keep_alive = true;
        else if (is_named(token, "upgrade")) return false;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return true;
}

SimpleResponse parse(std::string_view data, ResponseData& out, std::uint64_t body_limit) {
    constexpr SimpleResponse declined{SimpleResponse::declined, 0, false};
    constexpr SimpleResponse need_more{SimpleResponse::need_more, 0, false};
    const char* p = data.data();
    const char* const end = p + data.size();

    // Status line: HTTP/1.x SP 3DIGIT SP reason CRLF (the reason may be empty).
    if (data.size() < 13)  // too short to tell, unless it is not HTTP/1 at all
        return data.substr(0, 7) == std::string_view("HTTP/1.").substr(0, std::min<std::size_t>(data.size(), 7))
                   ? need_more
                   : declined;
    if (data.substr(0, 7) != "HTTP/1." || (p[7] != '0' && p[7] != '1') || p[8] != ' ' || p[9] < '1' ||
        p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || p[12] != ' ')
        return declined;
    const int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 200 || status == 204 || status == 304) return declined;
    bool keep_alive = p[7] == '1';
    p += 13;
    const char* eol = skip_value(p, end);  // reason-phrase
    if (end - eol < 2) return need_more;
    if (eol[0] != '\r' || eol[1] != '\n') return declined;
    p = eol + 2;

    std::optional<std::uint64_t> length;
    for (;;) {
        if (end - p < 2) return need_more;
        if (p[0] == '\r' && p[1] == '\n') {
            p += 2;
            break;
        }
        const char* colon = skip_token(p, end);
        if (colon == end) return need_more;
        // An empty or invalid name, obs-fold (a line starting with SP), a
        // field value with control bytes (a bare LF): Beast's to judge.
        if (*colon != ':' || colon == p) return declined;
        eol = skip_value(colon + 1, end);
        if (end - eol < 2) return need_more;
        if (eol[0] != '\r' || eol[1] != '\n') return declined;
        const std::string_view name(p, static_cast<std::size_t>(colon - p));
        const auto value = [&] { return trim({colon + 1, static_cast<std::size_t>(eol - colon - 1)}); };
        p = eol + 2;

        switch (name.size()) {  // the names that matter, by length first
        case 8:
            if (is_named(name, "location")) out.location.assign(value());
            break;
        case 10:
            if (is_named(name, "connection")) {
                if (!connection_tokens(value(), keep_alive)) return declined;
            } else if (out.keep_cookies && is_named(name, "set-cookie")) {
                out.set_cookies.emplace_back(value());
            }
            break;
        case 14:
            if (is_named(name, "content-length")) {
                const auto digits = value();
                if (length || digits.empty() || digits.size() > 18) return declined;
                std::uint64_t n = 0;
                for (char c : digits) {
                    if (c < '0' || c > '9') return declined;
                    n = n * 10 + static_cast<std::uint64_t>(c - '0');
                }
                length = n;
            }
            break;
        case 17:
            if (is_named(name, "transfer-encoding")) return declined;
            break;
        default:
            break;
        }
        if (out.keep_headers) out.headers.emplace_back(std::string(name), std::string(value()));
    }
    if (!length || *length > body_limit) return declined;
    if (static_cast<std::uint64_t>(end - p) < *length) return need_more;
    const auto body_start = static_cast<std::size_t>(p - data.data());
    if (out.keep_body) out.body.assign(p, static_cast<std::size_t>(*length));
    out.status = status;
    return {SimpleResponse::done, body_start + static_cast<std::size_t>(*length), keep_alive};
}

}  // namespace

SimpleResponse parse_simple_response(std::string_view data, ResponseData& out, std::uint64_t body_limit) {
    auto r = parse(data, out, body_limit);
    if (r.result != SimpleResponse::done) out.clear();
    return r;
}

}  // namespace loads
