// loads-runner --dashboard HOST:PORT: the dashboard's page and /metrics for a
// local run, fed from the engine's observer (same page, same metrics as
// loads-dashboard on a broker's stream).
#pragma once

#include "loads/engine.hpp"

#include <memory>
#include <string>

namespace loads::dashboard {
class Board;
class Server;
}  // namespace loads::dashboard

namespace loads::runner {

class LocalDashboard {
public:
    // Binds at once: throws std::runtime_error when it cannot.
    LocalDashboard(const std::string& listen, const std::string& test, const RunSpec& spec);
    ~LocalDashboard();
    std::string address() const;

    void started();
    void interval(std::uint32_t cycle, const Stats& delta, const Progress& p);
    // The summary, then up to two seconds for open pages to receive it.
    void finished(const RunResult& result);

private:
    std::unique_ptr<dashboard::Board> board_;
    std::unique_ptr<dashboard::Server> server_;
    std::string run_, test_;
    std::uint64_t seq_ = 0;
};

}  // namespace loads::runner
