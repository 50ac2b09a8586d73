#include "loads/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <mutex>

namespace loads {

namespace {
std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

bool setup_logging(std::string_view level) {
    static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 8> kLevels{{
        {"trace", spdlog::level::trace},
        {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},
        {"warning", spdlog::level::warn},
        {"error", spdlog::level::err},
        {"critical", spdlog::level::critical},
        {"off", spdlog::level::off},
    }};
    for (auto [name, lvl] : kLevels) {
        if (name == level) {
            std::lock_guard lock(g_mutex);
            g_level = lvl;
            spdlog::set_level(lvl);
            return true;
        }
    }
    return false;
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) {
    std::lock_guard lock(g_mutex);
    if (auto l = spdlog::get(name)) return l;
    auto l = spdlog::stderr_color_mt(name);
    l->set_level(g_level);
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
    return l;
}

}  // namespace loads
