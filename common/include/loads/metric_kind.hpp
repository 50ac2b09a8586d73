// Kinds of a test's custom metric (k6's four). Shared by the test-case API,
// the statistics, the wire protocol and the reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace loads {

enum class MetricKind : std::uint8_t {
    counter,  // a sum that only grows
    gauge,    // the last value set, with min and max
    rate,     // the share of non-zero values among all added
    trend,    // a distribution: percentiles from a histogram
};
inline constexpr std::size_t kMetricKindCount = 4;

constexpr std::string_view to_string(MetricKind k) {
    constexpr std::string_view names[kMetricKindCount] = {"counter", "gauge", "rate", "trend"};
    const auto i = static_cast<std::size_t>(k);
    return i < kMetricKindCount ? names[i] : std::string_view("counter");
}

inline std::optional<MetricKind> metric_kind_from_string(std::string_view s) {
    for (std::size_t i = 0; i < kMetricKindCount; ++i)
        if (to_string(static_cast<MetricKind>(i)) == s) return static_cast<MetricKind>(i);
    return std::nullopt;
}

}  // namespace loads
