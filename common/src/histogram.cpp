#include "loads/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loads {

namespace {
constexpr int kLinear = 1 << Histogram::kSubBucketBits;       // 256 one-wide buckets
constexpr int kHalf = kLinear / 2;                            // 128 buckets per power of two

constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < static_cast<std::uint64_t>(kLinear)) return static_cast<std::size_t>(v);
    const int e = static_cast<int>(std::bit_width(v)) - 1;  // v in [2^e, 2^(e+1)), e >= 8
    const std::uint64_t sub = v >> (e - (Histogram::kSubBucketBits - 1));  // in [128, 256)
    return static_cast<std::size_t>(kLinear + (e - Histogram::kSubBucketBits) * kHalf +
                                    static_cast<int>(sub - kHalf));
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    std::uint64_t r = a + b;
    return r < a ? UINT64_MAX : r;
}
}  // namespace

const std::size_t Histogram::kBucketCount = index_of(Histogram::kMaxValue) + 1;

Histogram::Histogram() : counts_(kBucketCount, 0) {}

std::size_t Histogram::bucket_of(std::uint64_t value_ns) noexcept {
    return index_of(std::min(value_ns, kMaxValue));
}

std::uint64_t Histogram::bucket_low(std::size_t index) noexcept {
    if (index < static_cast<std::size_t>(kLinear)) return index;
    const std::size_t j = index - kLinear;
    const int e = kSubBucketBits + static_cast<int>(j / kHalf);
    const std::uint64_t sub = j % kHalf + kHalf;
    return sub << (e - (kSubBucketBits - 1));
}

std::uint64_t Histogram::bucket_high(std::size_t index) noexcept {
    if (index < static_cast<std::size_t>(kLinear)) return index;
    const std::size_t j = index - kLinear;
    const int e = kSubBucketBits + static_cast<int>(j / kHalf);
    return bucket_low(index) + (std::uint64_t{1} << (e - (kSubBucketBits - 1))) - 1;
}

void Histogram::record_n(std::uint64_t value_ns, std::uint64_t count) noexcept {
    if (count == 0) return;
    if (value_ns > kMaxValue) {
        clamped_ += count;
        value_ns = kMaxValue;
    }
    counts_[index_of(value_ns)] += count;
    count_ += count;
    min_ = std::min(min_, value_ns);
    max_ = std::max(max_, value_ns);
    std::uint64_t product = 0;
    if (__builtin_mul_overflow(value_ns, count, &product)) product = UINT64_MAX;
    sum_ = saturating_add(sum_, product);
}

void Histogram::merge(const Histogram& other) noexcept {
    if (other.count_ == 0) return;
    for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ = saturating_add(sum_, other.sum_);
    clamped_ += other.clamped_;
}

void Histogram::reset() noexcept {
    if (count_ != 0) std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    min_ = UINT64_MAX;
    max_ = 0;
    sum_ = 0;
    clamped_ = 0;
}

std::uint64_t Histogram::value_at_quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    if (!(q >= 0.0)) q = 0.0;  // also catches NaN
    if (q > 1.0) q = 1.0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            // The bucket's highest value, as HdrHistogram reports: never below
            // the true sample, and above it by less than one bucket width.
            return std::clamp(bucket_high(i), min_, max_);
        }
    }
    return max_;
}

std::vector<std::pair<std::uint32_t, std::uint64_t>> Histogram::to_sparse() const {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> out;
    if (count_ == 0) return out;
    for (std::size_t i = 0; i < kBucketCount; ++i)
        if (counts_[i] != 0) out.emplace_back(static_cast<std::uint32_t>(i), counts_[i]);
    return out;
}

bool Histogram::from_sparse(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets,
                            std::uint64_t min, std::uint64_t max, std::uint64_t sum,
                            std::uint64_t clamped) {
    reset();
    std::uint64_t total = 0;
    std::int64_t previous = -1;
    for (const auto& [index, count] : buckets) {
        if (index >= kBucketCount || static_cast<std::int64_t>(index) <= previous || count == 0 ||
            total + count < total) {
            reset();
            return false;
        }
        previous = index;
        total += count;
        counts_[index] = count;
    }
    if (total == 0) {
        // An empty histogram carries no extremes.
        std::fill(counts_.begin(), counts_.end(), 0);
        return min == 0 && max == 0 && sum == 0 && clamped == 0 ? true : (reset(), false);
    }
    if (min > max || max > kMaxValue || bucket_of(min) != static_cast<std::size_t>(buckets.front().first) ||
        bucket_of(max) != static_cast<std::size_t>(buckets.back().first) || clamped > total) {
        reset();
        return false;
    }
    count_ = total;
    min_ = min;
    max_ = max;
    sum_ = sum;
    clamped_ = clamped;
    return true;
}

bool operator==(const Histogram& a, const Histogram& b) noexcept {
    return a.count_ == b.count_ && a.min() == b.min() && a.max_ == b.max_ && a.sum_ == b.sum_ &&
           a.clamped_ == b.clamped_ && a.counts_ == b.counts_;
}

}  // namespace loads
