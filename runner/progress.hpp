// The progress bar of the Loads runner, on a terminal only:
// [==========================>                       ]  54%  650 hits  3.2 s
#pragma once

#include "loads/engine.hpp"

#include <cstdio>

namespace loads::runner {

class ProgressBar {
public:
    // Draws on `out` only when it is a terminal and `enabled`.
    ProgressBar(std::FILE* out, bool enabled);
    void update(const Progress& p, std::uint64_t errors);
    // Draws 100% (or where it stopped) and ends the line.
    void finish(const Progress& p, std::uint64_t errors);
    bool active() const { return active_; }

private:
    void draw(const Progress& p, std::uint64_t errors, double fraction);
    std::FILE* out_;
    bool active_;
};

}  // namespace loads::runner
