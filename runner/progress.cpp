#include "progress.hpp"

#include <unistd.h>

#include <string>

namespace loads::runner {

ProgressBar::ProgressBar(std::FILE* out, bool enabled)
    : out_(out), active_(enabled && ::isatty(::fileno(out))) {}

void ProgressBar::draw(const Progress& p, std::uint64_t errors, double fraction) {
    if (!active_) return;
    constexpr int kWidth = 50;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::fprintf(out_, "\r[%s] %3d%%  %llu hits", bar.c_str(), static_cast<int>(fraction * 100),
                 static_cast<unsigned long long>(p.hits_done));
    if (errors) std::fprintf(out_, "  %llu errors", static_cast<unsigned long long>(errors));
    std::fprintf(out_, "  %.1f s  cycle %u/%u ", std::chrono::duration<double>(p.elapsed).count(),
                 p.cycle + 1, p.cycles);
    std::fflush(out_);
}

void ProgressBar::update(const Progress& p, std::uint64_t errors) { draw(p, errors, p.fraction()); }

void ProgressBar::finish(const Progress& p, std::uint64_t errors) {
    if (!active_) return;
    draw(p, errors, p.fraction());
    std::fputc('\n', out_);
    std::fflush(out_);
}

}  // namespace loads::runner
