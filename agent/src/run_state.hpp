// What every user of a run shares, read-only while the run goes: the spec,
// the loaded test, the parsed URLs and, in URL mode, the request's header
// fields, made once for every hit.
#pragma once

#include "loads/data.hpp"
#include "loads/engine.hpp"
#include "tasks.hpp"
#include "test_library.hpp"
#include "url.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace loads {

class SharedSpaceImpl;

struct RunState {
    RunSpec spec;

    // Kind::library
    std::shared_ptr<TestLibrary> library;
    TaskPlan tasks;  // one task for "Class.method"; several for weighted tasks

    // --server-url, parsed (absent when not given).
    std::optional<Url> base_url;

    // Kind::url
    Url target;                // the URL hit
    Headers headers;           // HTTP: every field but Host, checked once
    Headers get_headers;       // HTTP: the same without Content-Length, for a redirect followed as GET
    std::string label;         // statistics row, e.g. "GET /"

    SharedSpaceImpl* shared = nullptr;  // the run's shared space (thread-safe)
    const AllowList* allow = nullptr;   // where users may connect; nullptr: anywhere

    // --data: every data set, parsed once, read by every user.
    std::vector<DataSet> data;
    // The data set called `name`, or nullptr.
    const DataSet* data_set(std::string_view name) const {
        for (const auto& d : data)
            if (d.name() == name) return &d;
        return nullptr;
    }
};

// What a worker needs to know of the running cycle.
struct CycleState {
    std::uint32_t index = 0;
    std::uint64_t hits = 1;  // per user, count mode
    bool timed = false;      // duration mode
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point deadline;  // duration mode: no hit starts after it
};

// Builds the run state: parses URLs, opens the library, finds the test,
// makes the URL-mode request's fields, loads the data files. Returns an error sentence on bad input.
Parsed<std::shared_ptr<RunState>> prepare_run(const RunSpec& spec);

}  // namespace loads
