// The open model's schedule: when each arrival of a cycle is due.
//
// A cycle's rate r(t) ramps linearly from `from` to `to` over `ramp`, then
// holds `to` until the cycle's `length`. Its cumulative arrivals are
// L(t) = integral of r from 0 to t. The run's arrivals are numbered
// g = 0, 1, 2... over all agents and workers together:
//   uniform: arrival g is due at the t where L(t) = g, so the merged arrivals
//            of the whole run are evenly spaced in L (and in time at a
//            constant rate);
//   poisson: every stream is a Poisson process of its share of the rate
//            (unit exponential steps in L, scaled by the stream count), so
//            the merge of the streams is a Poisson process at r(t).
// A run with A agents and S streams (workers with users) on one agent gives
// that agent's stream w the arrivals g = (m*S + w)*A + a, m = 0, 1...:
// stride A*S, offset w*A + a. Streams never talk to each other, and their
// union is exactly the run's schedule.
#pragma once

#include "loads/plan.hpp"

#include <cstdint>
#include <optional>
#include <random>

namespace loads {

class RateCurve {
public:
    RateCurve(double from, double to, Duration ramp, Duration length);
    // The curve of cycle `index` of an open plan.
    static RateCurve of_cycle(const Plan& plan, std::size_t index);

    double rate_at(double t) const;        // arrivals per second at t seconds
    double arrivals_until(double t) const;  // L(t), clamped to [0, length]
    // The t with L(t) = x, or nullopt when x is at or past L(length).
    std::optional<double> time_of(double x) const;
    double length() const { return length_; }
    double total() const { return arrivals_until(length_); }

private:
    double from_, to_, ramp_, length_;
};

class ArrivalStream {
public:
    ArrivalStream(const RateCurve& curve, Arrivals kind, std::uint64_t stride, std::uint64_t offset,
                  std::uint64_t seed);
    // Seconds from the cycle start to this stream's next arrival, in order;
    // nullopt once the cycle has no more.
    std::optional<double> next();

private:
    RateCurve curve_;
    Arrivals kind_;
    double stride_;
    double position_;  // in L units: the next arrival's L
    std::mt19937_64 rng_;
};

}  // namespace loads
