// Logging setup shared by the three programs: every logger writes to stderr
// (stdout belongs to summaries, JSON and readiness lines), at one level.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace loads {

// Sets the level of every logger ("trace", "debug", "info", "warn", "error",
// "critical", "off"). Returns false, changing nothing, for an unknown level.
bool setup_logging(std::string_view level);

// The named logger, created on first use; thread-safe.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

}  // namespace loads
