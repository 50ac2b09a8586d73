// The page's files, compiled into the program (nothing is read from disk or
// fetched when it runs): dashboard/web/ and uPlot from npm (web/).
#pragma once

#include <loads_dashboard_assets.hpp>
#include <loads_web_assets.hpp>

namespace loads::dashboard::assets {
using loads::web::uplot_css;
using loads::web::uplot_js;
}  // namespace loads::dashboard::assets
