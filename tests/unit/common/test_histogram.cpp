// The histogram's promises: ≤1% relative error against exact percentiles,
// merge equals the histogram of the union, and a lossless sparse form.
#include "loads/histogram.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using loads::Histogram;

namespace {

// The exact value at quantile q by the same rank rule: the ceil(q*n)-th smallest.
std::uint64_t exact_quantile(std::vector<std::uint64_t> sorted, double q) {
    std::size_t rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

std::vector<std::uint64_t> lognormal_samples(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> dist(13.0, 2.0);  // median ~0.44 ms, wide spread
    std::vector<std::uint64_t> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        v.push_back(std::min<std::uint64_t>(static_cast<std::uint64_t>(dist(rng)) + 1000, Histogram::kMaxValue));
    return v;
}

}  // namespace

TEST_CASE("bucket bounds tile the value range without gaps") {
    for (std::size_t i = 0; i + 1 < Histogram::kBucketCount; ++i) {
        REQUIRE(Histogram::bucket_low(i) <= Histogram::bucket_high(i));
        REQUIRE(Histogram::bucket_high(i) + 1 == Histogram::bucket_low(i + 1));
        REQUIRE(Histogram::bucket_of(Histogram::bucket_low(i)) == i);
        REQUIRE(Histogram::bucket_of(Histogram::bucket_high(i)) == i);
    }
    REQUIRE(Histogram::bucket_of(Histogram::kMaxValue) == Histogram::kBucketCount - 1);
}

TEST_CASE("every bucket is at most 1% of its values wide") {
    for (std::size_t i = 256; i < Histogram::kBucketCount; ++i) {
        double width = double(Histogram::bucket_high(i) - Histogram::bucket_low(i) + 1);
        REQUIRE(width / double(Histogram::bucket_low(i)) <= 1.0 / 128 + 1e-12);
    }
}

TEST_CASE("percentiles are at or above the exact percentiles of random samples, within 0.8%") {
    for (unsigned seed : {1u, 2u, 3u}) {
        auto samples = lognormal_samples(200'000, seed);
        Histogram h;
        for (auto v : samples) h.record(v);
        std::sort(samples.begin(), samples.end());
        REQUIRE(h.count() == samples.size());
        REQUIRE(h.min() == samples.front());
        REQUIRE(h.max() == samples.back());
        for (double q : {0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0}) {
            const double exact = double(exact_quantile(samples, q));
            const double got = double(h.value_at_quantile(q));
            INFO("seed " << seed << " q " << q << " exact " << exact << " got " << got);
            REQUIRE(got >= exact);
            REQUIRE(got - exact <= exact / 128.0);
        }
    }
}

TEST_CASE("small values below 256 ns are exact") {
    Histogram h;
    for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
    REQUIRE(h.value_at_quantile(0.5) == 127);
    REQUIRE(h.value_at_quantile(1.0) == 255);
    REQUIRE(h.value_at_quantile(0.0) == 0);
}

TEST_CASE("merge equals the histogram of the union") {
    auto a = lognormal_samples(50'000, 7);
    auto b = lognormal_samples(30'000, 8);
    Histogram ha, hb, all;
    for (auto v : a) { ha.record(v); all.record(v); }
    for (auto v : b) { hb.record(v); all.record(v); }
    Histogram merged;
    merged.merge(ha);
    merged.merge(hb);
    REQUIRE(merged == all);
    REQUIRE(merged.value_at_quantile(0.99) == all.value_at_quantile(0.99));
    // Order does not matter.
    Histogram other;
    other.merge(hb);
    other.merge(ha);
    REQUIRE(other == all);
}

TEST_CASE("values above one hour are clamped and counted") {
    Histogram h;
    h.record(Histogram::kMaxValue * 2);
    h.record(5);
    REQUIRE(h.count() == 2);
    REQUIRE(h.clamped() == 1);
    REQUIRE(h.max() == Histogram::kMaxValue);
}

TEST_CASE("the sparse form round-trips and rejects bad input") {
    auto s = lognormal_samples(10'000, 11);
    Histogram h;
    for (auto v : s) h.record(v);
    auto sparse = h.to_sparse();
    Histogram back;
    REQUIRE(back.from_sparse(sparse, h.min(), h.max(), h.sum(), h.clamped()));
    REQUIRE(back == h);

    Histogram empty, empty_back;
    REQUIRE(empty_back.from_sparse(empty.to_sparse(), 0, 0, 0, 0));
    REQUIRE(empty_back == empty);

    Histogram bad;
    auto unordered = sparse;
    std::swap(unordered.front(), unordered.back());
    REQUIRE_FALSE(bad.from_sparse(unordered, h.min(), h.max(), h.sum(), 0));
    REQUIRE(bad.empty());
    auto out_of_range = sparse;
    out_of_range.back().first = static_cast<std::uint32_t>(Histogram::kBucketCount);
    REQUIRE_FALSE(bad.from_sparse(out_of_range, h.min(), h.max(), h.sum(), 0));
    auto zero = sparse;
    zero.front().second = 0;
    REQUIRE_FALSE(bad.from_sparse(zero, h.min(), h.max(), h.sum(), 0));
    REQUIRE_FALSE(bad.from_sparse(sparse, h.max(), h.min(), h.sum(), 0));  // min > max
    REQUIRE_FALSE(bad.from_sparse(sparse, 0, h.max(), h.sum(), 0));        // min outside its bucket
    REQUIRE(bad.empty());
}
