// uepool/transport/transport.hpp — moving the set layer's frames between
// members, at most once (DESIGN.md section 3: `transport`).
//
// A transport delivers a frame once or not at all: no retransmission, no
// ordering promise, no deduplication — the set layer's channel does those.
// The interface is what the member's message thread needs: queue a frame
// for its destination without blocking, and collect what arrived.
//
//   ZmqTransport (zmq_transport.hpp) implements it over ZeroMQ and TCP, the
//   simulator's network (sim::Simulator, one endpoint per member and
//   incarnation) and testing::LoopbackSet in memory; all three drive their
//   members through the same pump (pump.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/set/messages.hpp"

namespace uepool::transport {

// TransportCounters — what a transport saw, for metrics.
struct TransportCounters {
  std::uint64_t sent = 0;               // frames handed to the network
  std::uint64_t send_dropped = 0;       // not sent: no such peer, not connected, or its queue is full
  std::uint64_t send_refused = 0;       // not sent: the frame cannot be encoded (too large, a bad field)
  std::uint64_t received = 0;           // frames delivered to the caller
  std::uint64_t decode_errors = 0;      // bytes that are no frame (corrupt, truncated, hostile)
  std::uint64_t impostors = 0;          // a frame whose sender is not the member its key belongs to
  std::uint64_t wrong_destination = 0;  // a frame addressed to another member
  std::uint64_t auth_denied = 0;        // connections refused: a key not in the configuration
  std::uint64_t handshake_failed = 0;   // our connections a peer refused (its ZAP said no, or the handshake broke)
  std::uint64_t bytes_sent = 0;         // encoded frame bytes handed to the network (fragments included)
  std::uint64_t bytes_received = 0;     // message bytes that arrived, before any check
};

class Transport {
 public:
  virtual ~Transport() = default;
  // send — queue `frame` for member frame.to without blocking. false: it was
  // dropped (counted); the channel above retransmits what matters.
  virtual bool send(const set::Frame& frame) = 0;
  // receive — wait up to `timeout_ms` (0: do not wait) for frames and append
  // every frame that arrived to `out`. An error status only when the
  // transport itself failed; bad input from the network is counted, never
  // returned.
  virtual Status receive(int timeout_ms, std::vector<set::Frame>& out) = 0;
  [[nodiscard]] virtual TransportCounters counters() const = 0;
};

}  // namespace uepool::transport
