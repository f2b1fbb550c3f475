// uepool/transport/pump.hpp — one round of a member's message thread over a
// Transport: frames in to the member, the member's timers, frames out.
//
// The node (node::Node::step), the simulator (one endpoint per member and
// incarnation on its simulated network) and testing::LoopbackSet all drive
// their members through these two calls, so the code between a member and
// its network is the same in production, simulation and tests.
//
//   PumpCounters c;
//   pump_in(member, transport, wait_ms, [&] { return clock(); }, scratch, c);  // arrived -> on_frame
//   std::size_t n = pump_out(member, transport, now, c);                        // on_tick; outgoing -> send
//
// Threading: the member's message thread (as Member::on_frame / on_tick).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "uepool/set/member.hpp"
#include "uepool/transport/transport.hpp"

namespace uepool::transport {

// PumpCounters — what went through the pump (the node's metrics).
struct PumpCounters {
  std::uint64_t frames_sent = 0, frames_received = 0;            // frames_sent: accepted by the transport
  std::uint64_t records_sent = 0, records_received = 0;          // channel records in data frames
  std::uint64_t data_frames_sent = 0, data_frames_received = 0;  // data frames carrying records
};

// count — one frame's share of the counters (`sent`: outgoing).
inline void count(const set::Frame& f, bool sent, PumpCounters& c) {
  const set::frame::Data* d = f.data();
  const bool records = d != nullptr && !d->records.empty();
  if (sent) {
    ++c.frames_sent;
    if (records) ++c.data_frames_sent, c.records_sent += d->records.size();
  } else {
    ++c.frames_received;
    if (records) ++c.data_frames_received, c.records_received += d->records.size();
  }
}

// InboxTransport — a transport whose frames arrive by the harness putting
// them in `inbox` (the simulator's network, LoopbackSet): receive hands them
// over at once. Subclasses send, counting in c_.
class InboxTransport : public Transport {
 public:
  Status receive(int /*timeout_ms*/, std::vector<set::Frame>& out) override {
    c_.received += inbox.size();
    for (set::Frame& f : inbox) out.push_back(std::move(f));
    inbox.clear();
    return Status::ok_status();
  }
  [[nodiscard]] TransportCounters counters() const override { return c_; }

  std::vector<set::Frame> inbox;

 protected:
  TransportCounters c_;
};

// pump_in — every frame that arrives within `wait_ms` (0: none are waited
// for) goes to the member, in arrival order, at time now() read after the
// wait. `in` is scratch (cleared; its frames stay there for the caller).
// Returns the transport's status: an error is a lost round (the channel
// retransmits), never a lost member.
template <class Now>
Status pump_in(set::Member& m, Transport& t, int wait_ms, Now&& now, std::vector<set::Frame>& in, PumpCounters& c) {
  in.clear();
  const Status s = t.receive(wait_ms, in);
  if (in.empty()) return s;
  const std::uint64_t at = now();
  for (const set::Frame& f : in) {
    count(f, false, c);
    m.on_frame(f, at);
  }
  return s;
}

// pump_out — the member's timers run at `now`, then every frame it has to
// send goes to the transport (a refused one is the transport's count).
// Returns: the frames the member handed out (sent or not).
inline std::size_t pump_out(set::Member& m, Transport& t, std::uint64_t now, PumpCounters& c) {
  m.on_tick(now);
  std::vector<set::Frame> out = m.take_outgoing();
  for (const set::Frame& f : out)
    if (t.send(f)) count(f, true, c);
  return out.size();
}

}  // namespace uepool::transport
