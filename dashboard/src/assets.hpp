// The page's files, compiled into the program (nothing is read from disk or
// fetched when it runs).
#pragma once

#include <string_view>

namespace loads::dashboard::assets {
extern const std::string_view index_html, dashboard_js, dashboard_css;
extern const std::string_view uplot_js, uplot_css;  // uPlot from npm (web/)
}  // namespace loads::dashboard::assets
