// Ctrl-C and SIGTERM, turned into a call on a normal thread: block the
// signals before any thread starts, then a watcher thread sigwait()s for them.
// The first asks the run to stop (the summary still prints); the second ends
// the process at once.
#pragma once

#include <functional>
#include <mutex>
#include <thread>

namespace loads::runner {

class Interrupts {
public:
    Interrupts();   // blocks SIGINT/SIGTERM in this and every later thread
    ~Interrupts();
    // What the first signal does. Replaces the previous handler.
    void on_interrupt(std::function<void()> fn);
    bool interrupted() const;

private:
    mutable std::mutex mu_;
    std::function<void()> handler_;
    bool interrupted_ = false;
    std::thread watcher_;
};

}  // namespace loads::runner
