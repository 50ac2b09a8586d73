#include "loads/units.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace loads {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Splits "1.5ms" into 1.5 and "ms". Returns false when there is no number.
bool split_number(std::string_view text, double& number, std::string_view& unit) {
    std::size_t i = 0;
    bool digits = false;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) {
        digits |= text[i] != '.';
        ++i;
    }
    if (!digits) return false;
    const std::string num(text.substr(0, i));
    char* end = nullptr;
    number = std::strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size() || !std::isfinite(number)) return false;
    unit = text.substr(i);
    return true;
}

std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.append(1, '\'').append(s).append(1, '\'');
    return out;
}

}  // namespace

Parsed<Duration> parse_duration(std::string_view text) {
    const std::string_view t = trim(text);
    double n = 0;
    std::string_view unit;
    if (t.empty()) return {{}, "empty duration"};
    if (t.front() == '-') return {{}, "negative duration " + quoted(t)};
    if (!split_number(t, n, unit))
        return {{}, "bad duration " + quoted(t) + " (expected e.g. 500ms, 1.5s, 2m, 1h)"};
    double scale = 0;
    if (unit.empty() || unit == "s") scale = 1e9;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "us") scale = 1e3;
    else if (unit == "ns") scale = 1;
    else if (unit == "m" || unit == "min") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else return {{}, "bad duration " + quoted(t) + ": unknown unit " + quoted(unit) + " (use ns, us, ms, s, m, h)"};
    const double ns = n * scale;
    if (!std::isfinite(ns) || ns > 1e18) return {{}, "duration " + quoted(t) + " is too large"};
    return {Duration(static_cast<std::int64_t>(std::llround(ns))), {}};
}

Parsed<std::uint64_t> parse_count(std::string_view text) {
    const std::string_view t = trim(text);
    double n = 0;
    std::string_view unit;
    if (t.empty()) return {0, "empty count"};
    if (t.front() == '-') return {0, "negative count " + quoted(t)};
    if (!split_number(t, n, unit)) return {0, "bad count " + quoted(t) + " (expected e.g. 20, 10k, 2M)"};
    double scale = 0;
    if (unit.empty()) scale = 1;
    else if (unit == "k" || unit == "K") scale = 1e3;
    else if (unit == "M") scale = 1e6;
    else if (unit == "G") scale = 1e9;
    else return {0, "bad count " + quoted(t) + ": unknown suffix " + quoted(unit) + " (use k, M or G)"};
    const double v = n * scale;
    if (v > 9007199254740992.0) return {0, "count " + quoted(t) + " is too large"};
    if (v != std::floor(v)) return {0, "count " + quoted(t) + " is not a whole number"};
    return {static_cast<std::uint64_t>(v), {}};
}

Parsed<double> parse_rate(std::string_view text) {
    std::string_view t = trim(text);
    if (t.size() > 2 && t.substr(t.size() - 2) == "/s") t.remove_suffix(2);
    double n = 0;
    std::string_view unit;
    if (t.empty()) return {0, "empty rate"};
    if (t.front() == '-') return {0, "negative rate " + quoted(t)};
    if (!split_number(t, n, unit)) return {0, "bad rate " + quoted(t) + " (expected e.g. 500, 0.5, 10k, 2M)"};
    double scale = 0;
    if (unit.empty()) scale = 1;
    else if (unit == "k" || unit == "K") scale = 1e3;
    else if (unit == "M") scale = 1e6;
    else return {0, "bad rate " + quoted(t) + ": unknown suffix " + quoted(unit) + " (use k or M)"};
    const double v = n * scale;
    if (!(v > 0)) return {0, "rate " + quoted(t) + " must be more than 0"};
    if (v > 1e8) return {0, "rate " + quoted(t) + " is too large (at most 100M/s)"};
    return {v, {}};
}

namespace {
// Splits "a:b:c" and parses each item with `parse`.
template <class T, class F>
Parsed<std::vector<T>> parse_list(std::string_view text, F parse) {
    Parsed<std::vector<T>> out;
    const std::string_view t = trim(text);
    if (t.empty()) {
        out.error = "empty list";
        return out;
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t colon = t.find(':', start);
        const std::string_view item = t.substr(start, colon == std::string_view::npos ? t.npos : colon - start);
        if (trim(item).empty()) {
            out.error = "empty item in list " + quoted(t);
            out.value.clear();
            return out;
        }
        auto c = parse(item);
        if (!c) {
            out.error = c.error + " in list " + quoted(t);
            out.value.clear();
            return out;
        }
        out.value.push_back(c.value);
        if (colon == std::string_view::npos) break;
        start = colon + 1;
    }
    return out;
}
}  // namespace

Parsed<std::vector<std::uint64_t>> parse_count_list(std::string_view text) {
    return parse_list<std::uint64_t>(text, parse_count);
}

Parsed<std::vector<double>> parse_rate_list(std::string_view text) {
    return parse_list<double>(text, parse_rate);
}

Parsed<SleepRange> parse_sleep(std::string_view text) {
    const std::string_view t = trim(text);
    const std::size_t colon = t.find(':');
    if (colon == std::string_view::npos) {
        auto d = parse_duration(t);
        if (!d) return {{}, d.error};
        return {{d.value, d.value}, {}};
    }
    auto lo = parse_duration(t.substr(0, colon));
    if (!lo) return {{}, lo.error};
    auto hi = parse_duration(t.substr(colon + 1));
    if (!hi) return {{}, hi.error};
    if (hi.value < lo.value) return {{}, "bad range " + quoted(t) + ": max is below min"};
    return {{lo.value, hi.value}, {}};
}

std::string format_duration(Duration d) {
    const double ns = static_cast<double>(d.count());
    char buf[64];
    const double a = std::fabs(ns);
    if (a >= 1e9) std::snprintf(buf, sizeof buf, "%.2f s", ns / 1e9);
    else if (a >= 1e6) std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
    else if (a >= 1e3) std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
    else std::snprintf(buf, sizeof buf, "%.0f ns", ns);
    return buf;
}

std::string format_bytes(std::uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[64];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
    return buf;
}

}  // namespace loads
