// The protocol's timing and the bounds of what a side keeps waiting
// (docs/protocol.md sections 5.4, 6 and 8): each value once, for the broker,
// the agent, the runner and the dashboard alike. The spec states the same
// numbers; change both.
#pragma once

#include <chrono>
#include <cstddef>

namespace loads::proto {

// WELCOME{heartbeat_ms, liveness_ms}: the broker's --heartbeat and --liveness
// unless given (section 6).
inline constexpr std::chrono::milliseconds kDefaultHeartbeat{1000};
inline constexpr std::chrono::milliseconds kDefaultLiveness{5000};
// The shortest heartbeat: an agent heartbeats no faster whatever WELCOME says
// (the broker takes no shorter --heartbeat), and keeps a liveness of at least
// two heartbeats.
inline constexpr std::chrono::milliseconds kMinHeartbeat{10};

// A runner following a run takes the broker for gone after the longer of
// this, its --broker-timeout and the broker's liveness_ms (section 5.4).
inline constexpr std::chrono::seconds kRunnerMinLiveness{5};
// A runner re-attaches for max(kMinReattach, kReattachLivenesses x its liveness).
inline constexpr std::chrono::seconds kMinReattach{30};
inline constexpr int kReattachLivenesses = 3;
// How often an agent sends REGISTER until WELCOME, and a re-attaching runner
// ATTACH until SUBMITTED (section 5.4).
inline constexpr std::chrono::seconds kRetryEvery{1};

// What an agent keeps of a run's RESULTs the broker has not acknowledged;
// past it the oldest are dropped (section 5.4).
inline constexpr std::size_t kMaxUnackedBytes = std::size_t(256) << 20;

// Messages a socket keeps queued per peer (ZeroMQ's send and receive
// high-water marks): past it a PUB drops for that subscriber, a DEALER or
// ROUTER blocks or fails its send (section 8).
inline constexpr int kQueuedMessages = 100000;

}  // namespace loads::proto
