#include "loads/arrivals.hpp"

#include <algorithm>
#include <cmath>

namespace loads {

namespace {
double secs(Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

RateCurve::RateCurve(double from, double to, Duration ramp, Duration length)
    : from_(from), to_(to), ramp_(std::min(secs(ramp), secs(length))), length_(secs(length)) {
    if (ramp_ <= 0) from_ = to_;
}

RateCurve RateCurve::of_cycle(const Plan& plan, std::size_t index) {
    const Cycle& c = plan.cycles.at(index);
    double from = index == 0 ? 0.0 : plan.cycles[index - 1].rate;
    return RateCurve(from, c.rate, plan.ramp, c.duration.value_or(Duration::zero()));
}

double RateCurve::rate_at(double t) const {
    if (t < 0 || t > length_) return 0;
    if (t < ramp_) return from_ + (to_ - from_) * t / ramp_;
    return to_;
}

double RateCurve::arrivals_until(double t) const {
    t = std::clamp(t, 0.0, length_);
    if (t <= ramp_) return from_ * t + (to_ - from_) * t * t / (2 * ramp_);
    const double at_ramp = ramp_ > 0 ? (from_ + to_) * ramp_ / 2 : 0.0;
    return at_ramp + to_ * (t - ramp_);
}

std::optional<double> RateCurve::time_of(double x) const {
    if (x < 0) x = 0;
    if (x >= total()) return std::nullopt;
    const double at_ramp = ramp_ > 0 ? (from_ + to_) * ramp_ / 2 : 0.0;
    if (ramp_ > 0 && x < at_ramp) {
        // from*t + a*t^2 = x with a = (to - from) / (2 ramp): the root written
        // as 2x / (b + sqrt(b^2 + 4ax)), stable for a of either sign and a = 0.
        const double a = (to_ - from_) / (2 * ramp_);
        const double disc = std::max(0.0, from_ * from_ + 4 * a * x);
        const double den = from_ + std::sqrt(disc);
        return den > 0 ? 2 * x / den : 0.0;
    }
    return ramp_ + (x - at_ramp) / to_;
}

ArrivalStream::ArrivalStream(const RateCurve& curve, Arrivals kind, std::uint64_t stride,
                             std::uint64_t offset, std::uint64_t seed)
    : curve_(curve), kind_(kind), stride_(double(std::max<std::uint64_t>(1, stride))),
      position_(double(offset)), rng_(seed) {
    if (kind_ == Arrivals::poisson) {
        std::exponential_distribution<double> step(1.0);
        position_ = step(rng_) * stride_;
    }
}

std::optional<double> ArrivalStream::next() {
    auto t = curve_.time_of(position_);
    if (!t) return std::nullopt;
    if (kind_ == Arrivals::uniform) {
        position_ += stride_;
    } else {
        std::exponential_distribution<double> step(1.0);
        position_ += step(rng_) * stride_;
    }
    return t;
}

}  // namespace loads
