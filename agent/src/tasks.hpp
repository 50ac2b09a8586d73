// Weighted tasks: which tests of a library a run mixes, and which one each
// hit runs (Locust's @task(weight), k6's mixed scenarios).
//
// The test part of LIBRARY.so:SELECTION is a comma list of items:
//   Class.method[:WEIGHT][@THINK]   one test; WEIGHT 1..10000 (default: the
//                                   weight LOADS_TASK declared, else 1)
//   Class[@THINK]                   every test of the class, with their
//                                   declared weights (1 for LOADS_TEST)
// THINK is the think time after a hit of that task, as --sleep takes it
// ("0.5", "200ms", "1s:3s"), in place of --sleep (closed model only).
//
// Each hit picks its task from a fixed interleaving of the tasks, W long
// (W = the sum of the weights), in which task i appears weight_i times, as
// evenly spread as nginx's smooth weighted round-robin spreads them. User u's
// hit h runs the task at position (u + h) mod W. So any W consecutive hits
// of a user run each task exactly its weight times, users start at
// different places (one hit each still mixes), and the run's counts are
// within one per user of the weights (exact when each user's hits are a
// multiple of W). No randomness: the same plan gives the same counts.
#pragma once

#include "loads/engine.hpp"
#include "loads/loads.hpp"
#include "loads/units.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loads {

class TestLibrary;

inline constexpr std::uint32_t kMaxTaskWeight = 10'000;
inline constexpr std::size_t kMaxTasks = 100;

// One item of a selection, as typed.
struct TaskItem {
    std::string name;                     // "Class.method" or "Class"
    std::optional<std::uint32_t> weight;  // given with ':'
    std::optional<SleepRange> think;      // given with '@'
};

// Parses the SELECTION text. Errors name the item.
Parsed<std::vector<TaskItem>> parse_task_selection(std::string_view text);

// A task of a run, resolved against its library.
struct Task {
    const detail::TestEntry* entry = nullptr;
    std::string name;                 // "Class.method"
    std::string class_name;           // "Class"
    std::uint32_t weight = 1;
    std::optional<SleepRange> think;
    std::size_t instance = 0;         // which of a user's test instances (one per class) runs it
};

struct TaskPlan {
    std::vector<Task> tasks;
    std::vector<std::string> classes;  // one test instance per user for each, in order
    std::vector<std::uint16_t> order;  // the interleaving: task indexes, W long
    // The task of user `user`'s hit `hit`.
    const Task& pick(std::uint64_t user, std::uint64_t hit) const {
        return tasks[order[(user + hit) % order.size()]];
    }
};

// Resolves a selection against a library: expands classes, applies declared
// weights, checks every name, duplicates and the limits (at most 100 tasks).
Parsed<TaskPlan> resolve_tasks(std::string_view selection, const TestLibrary& library);

// The smooth weighted round-robin sequence of these weights (each >= 1).
std::vector<std::uint16_t> interleave(const std::vector<std::uint32_t>& weights);

// For the report: the tasks as TaskInfo.
std::vector<TaskInfo> describe(const TaskPlan& plan);

}  // namespace loads
