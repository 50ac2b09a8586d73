#include "interrupts.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace loads::runner {

namespace {
sigset_t watched() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);  // used to wake the watcher at exit
    return set;
}
}  // namespace

Interrupts::Interrupts() {
    sigset_t set = watched();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    watcher_ = std::thread([this] {
        sigset_t s = watched();
        for (;;) {
            int sig = 0;
            if (sigwait(&s, &sig) != 0) continue;
            if (sig == SIGUSR2) return;
            std::function<void()> fn;
            {
                std::lock_guard lock(mu_);
                if (interrupted_) {
                    std::fputs("\nloads-runner: interrupted twice, exiting now\n", stderr);
                    ::_exit(130);
                }
                interrupted_ = true;
                fn = handler_;
            }
            std::fputs("\nloads-runner: stopping (Ctrl-C again to quit at once)\n", stderr);
            if (fn) fn();
        }
    });
}

Interrupts::~Interrupts() {
    pthread_kill(watcher_.native_handle(), SIGUSR2);
    watcher_.join();
}

void Interrupts::on_interrupt(std::function<void()> fn) {
    bool call_now;
    {
        std::lock_guard lock(mu_);
        handler_ = std::move(fn);
        call_now = interrupted_;
    }
    if (call_now && handler_) handler_();
}

bool Interrupts::interrupted() const {
    std::lock_guard lock(mu_);
    return interrupted_;
}

}  // namespace loads::runner
