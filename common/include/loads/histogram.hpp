// A mergeable log-linear latency histogram (HdrHistogram-style).
//
// Values are nanoseconds. Values below 256 ns have a bucket each; above,
// every power of two is cut into 128 equal buckets, so a bucket is at most
// 1/128 of its lowest value wide. A percentile is reported as the highest
// value of its bucket (clamped to the exact max), so it is never below the
// true sample of that rank and above it by less than 0.8%. Values above one hour are clamped to one hour
// (and counted in `clamped()`); the exact min, max and sum are kept apart.
//
// Two histograms merge by adding bucket counts, so the histogram of a union of
// samples is exactly the merge of the histograms of its parts: this is how
// threads, agents and the broker combine latencies without ever averaging
// percentiles.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace loads {

class Histogram {
public:
    static constexpr int kSubBucketBits = 8;                          // 256 linear buckets at the bottom
    static constexpr std::uint64_t kMaxValue = 3'600'000'000'000ULL;  // 1 h in ns
    static const std::size_t kBucketCount;                           // buckets to cover [0, kMaxValue]

    Histogram();

    // Records one value (ns). Never allocates.
    void record(std::uint64_t value_ns) noexcept { record_n(value_ns, 1); }
    void record_n(std::uint64_t value_ns, std::uint64_t count) noexcept;

    // Adds every count of `other` to this one.
    void merge(const Histogram& other) noexcept;
    void reset() noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
    std::uint64_t max() const noexcept { return max_; }
    std::uint64_t sum() const noexcept { return sum_; }     // saturates instead of wrapping
    std::uint64_t clamped() const noexcept { return clamped_; }
    double mean() const noexcept { return count_ ? double(sum_) / double(count_) : 0.0; }
    bool empty() const noexcept { return count_ == 0; }

    // The value at quantile q in [0, 1]: the highest value of the bucket
    // holding the sample of rank ceil(q * count) (rank 1 for q = 0), clamped
    // to [min, max]. Never below that sample; above it by < 1/128.
    // 0 for an empty histogram.
    std::uint64_t value_at_quantile(double q) const noexcept;

    // Bucket arithmetic, public so that encoders and tests can use it.
    static std::size_t bucket_of(std::uint64_t value_ns) noexcept;
    static std::uint64_t bucket_low(std::size_t index) noexcept;   // lowest value in bucket
    static std::uint64_t bucket_high(std::size_t index) noexcept;  // highest value in bucket

    // Sparse form for the wire: (bucket index, count) for every non-empty
    // bucket, in increasing index order. from_sparse rejects out-of-range or
    // unordered indexes and zero counts by returning false and leaving *this empty.
    std::vector<std::pair<std::uint32_t, std::uint64_t>> to_sparse() const;
    bool from_sparse(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets,
                     std::uint64_t min, std::uint64_t max, std::uint64_t sum,
                     std::uint64_t clamped);

    friend bool operator==(const Histogram& a, const Histogram& b) noexcept;

private:
    std::vector<std::uint64_t> counts_;  // kBucketCount entries, allocated once
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t clamped_ = 0;  // values recorded above kMaxValue
};

}  // namespace loads
