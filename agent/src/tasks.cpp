#include "tasks.hpp"

#include "test_library.hpp"

#include <algorithm>
#include <cctype>

namespace loads {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string class_of(std::string_view test_name) {
    auto dot = test_name.rfind('.');
    return std::string(dot == std::string_view::npos ? test_name : test_name.substr(0, dot));
}

}  // namespace

Parsed<std::vector<TaskItem>> parse_task_selection(std::string_view text) {
    using R = Parsed<std::vector<TaskItem>>;
    std::vector<TaskItem> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto comma = text.find(',', pos);
        std::string_view raw = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
        std::string_view item = trim(raw);
        const std::string quoted = "\"" + std::string(item) + "\"";
        if (item.empty()) return R{{}, "an empty test name in \"" + std::string(text) + "\" (a stray comma?)"};
        TaskItem t;
        if (auto at = item.find('@'); at != std::string_view::npos) {
            auto think = parse_sleep(trim(item.substr(at + 1)));
            if (!think) return R{{}, "task " + quoted + ": think time: " + think.error};
            t.think = think.value;
            item = trim(item.substr(0, at));
        }
        // A weight is what follows the last single ':' ("ns::Shop.buy" is a name).
        if (auto colon = item.rfind(':'); colon != std::string_view::npos && (colon == 0 || item[colon - 1] != ':')) {
            std::string_view w = trim(item.substr(colon + 1));
            if (!all_digits(w) || w.size() > 6 || std::stoul(std::string(w)) < 1 ||
                std::stoul(std::string(w)) > kMaxTaskWeight)
                return R{{}, "task " + quoted + ": the weight after ':' is a whole number from 1 to " +
                                 std::to_string(kMaxTaskWeight)};
            t.weight = static_cast<std::uint32_t>(std::stoul(std::string(w)));
            item = trim(item.substr(0, colon));
        }
        if (item.empty()) return R{{}, "task " + quoted + ": no test name (Class.method or Class)"};
        t.name = std::string(item);
        if (t.name.find('.') == std::string::npos && t.weight)
            return R{{}, "task " + quoted + ": a whole class takes its tests' declared weights (LOADS_TASK); "
                                            "give weights to Class.method items"};
        out.push_back(std::move(t));
    }
    return R{std::move(out), {}};
}

std::vector<std::uint16_t> interleave(const std::vector<std::uint32_t>& weights) {
    std::uint64_t total = 0;
    for (auto w : weights) total += w;
    std::vector<std::int64_t> current(weights.size(), 0);
    std::vector<std::uint16_t> out;
    out.reserve(total);
    for (std::uint64_t n = 0; n < total; ++n) {
        std::size_t best = 0;
        for (std::size_t i = 0; i < weights.size(); ++i) {
            current[i] += weights[i];
            if (current[i] > current[best]) best = i;
        }
        current[best] -= static_cast<std::int64_t>(total);
        out.push_back(static_cast<std::uint16_t>(best));
    }
    return out;
}

Parsed<TaskPlan> resolve_tasks(std::string_view selection, const TestLibrary& library) {
    using R = Parsed<TaskPlan>;
    auto items = parse_task_selection(selection);
    if (!items) return R{{}, items.error};
    TaskPlan plan;
    auto add = [&](const detail::TestEntry& e, std::optional<std::uint32_t> weight,
                   const std::optional<SleepRange>& think) -> std::string {
        for (const auto& t : plan.tasks)
            if (t.name == e.name) return "task \"" + t.name + "\" is named twice";
        Task t;
        t.entry = &e;
        t.name = e.name;
        t.class_name = class_of(e.name);
        t.weight = weight.value_or(e.weight ? e.weight : 1);
        if (t.weight > kMaxTaskWeight)
            return "task \"" + t.name + "\": weight " + std::to_string(t.weight) + " above " +
                   std::to_string(kMaxTaskWeight);
        t.think = think;
        auto it = std::find(plan.classes.begin(), plan.classes.end(), t.class_name);
        t.instance = static_cast<std::size_t>(it - plan.classes.begin());
        if (it == plan.classes.end()) plan.classes.push_back(t.class_name);
        plan.tasks.push_back(std::move(t));
        return {};
    };
    for (const auto& item : items.value) {
        if (item.name.find('.') != std::string::npos) {
            auto entry = library.find(item.name);
            if (!entry) return R{{}, entry.error};
            if (auto err = add(*entry.value, item.weight, item.think); !err.empty()) return R{{}, err};
            continue;
        }
        bool any = false;
        for (const auto& e : library.entries()) {
            if (class_of(e.name) != item.name) continue;
            any = true;
            if (auto err = add(e, std::nullopt, item.think); !err.empty()) return R{{}, err};
        }
        if (!any) {
            auto none = library.find(item.name);  // its message lists the tests there are
            return R{{}, "no class \"" + item.name + "\" in \"" + library.path() + "\"" +
                             none.error.substr(none.error.find(';') == std::string::npos ? none.error.size()
                                                                                           : none.error.find(';'))};
        }
    }
    if (plan.tasks.size() > kMaxTasks)
        return R{{}, std::to_string(plan.tasks.size()) + " tasks, at most " + std::to_string(kMaxTasks)};
    std::vector<std::uint32_t> weights;
    for (const auto& t : plan.tasks) weights.push_back(t.weight);
    plan.order = interleave(weights);
    return R{std::move(plan), {}};
}

std::vector<TaskInfo> describe(const TaskPlan& plan) {
    std::vector<TaskInfo> out;
    for (const auto& t : plan.tasks) out.push_back(TaskInfo{t.name, t.weight, t.think});
    return out;
}

}  // namespace loads
