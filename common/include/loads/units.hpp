// Parsing of the values people type: durations ("500ms", "2m", "1.5s", "10"
// = seconds), counts ("10k", "2M", "1200"), and colon lists of either
// ("10:20:30", "1k:2k"). Every parser returns an error message that names the
// bad input instead of throwing, so the CLI can print it and exit 2.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loads {

template <class T>
struct Parsed {
    T value{};
    std::string error;  // empty on success
    explicit operator bool() const { return error.empty(); }
};

using Duration = std::chrono::nanoseconds;

// "250us", "500ms", "1.5s", "2m", "1h", "10" (seconds). Negative, empty,
// non-finite or unknown-unit input is an error.
Parsed<Duration> parse_duration(std::string_view text);

// "1200", "10k" (10,000), "2M" (2,000,000), "1.5k" (1,500). Must be a whole
// number >= 0 after scaling; larger than 2^53 is an error.
Parsed<std::uint64_t> parse_count(std::string_view text);

// A rate in events per second: "500", "0.5", "10k", "1.5k", "2M", with an
// optional "/s". Must be finite and > 0.
Parsed<double> parse_rate(std::string_view text);
// "500:1k:2k" -> {500, 1000, 2000}.
Parsed<std::vector<double>> parse_rate_list(std::string_view text);

// "10:20:30" -> {10, 20, 30}. Every item must parse; empty items are an error.
Parsed<std::vector<std::uint64_t>> parse_count_list(std::string_view text);

// Think time: "0.01" (fixed, seconds), "100ms", or "min:max" (uniform).
struct SleepRange {
    Duration min{0};
    Duration max{0};
};
Parsed<SleepRange> parse_sleep(std::string_view text);

// "1.50 s", "12.3 ms", "850 us", "120 ns": a human rendering of a duration.
std::string format_duration(Duration d);
// "1.2 KiB", "3.4 MiB".
std::string format_bytes(std::uint64_t bytes);

}  // namespace loads
