// uepool/transport/external_transport.hpp — frames between members moved by
// the embedding's own network (an SMF with a transport of its own, through
// the C API's uepool_feed / uepool_take): bytes in, bytes out.
//
//   ExternalTransport t(self_id);
//   t.feed(bytes);                       // what arrived from a peer (a frame or a fragment)
//   ExternalTransport::Outgoing o;
//   std::size_t need = 0;
//   while (t.take(o, 65536, need) == ExternalTransport::Take::kTaken) send_to(o.to, o.bytes);
//
// The bytes are the wire format (wire/codec.hpp): a frame, or above 64 KiB
// its fragments, each one message of the embedding's network. The network
// may lose, repeat or reorder them (the channel above copes); it must say
// who sent them: this transport cannot check the sender (ZmqTransport does,
// by the CURVE key), so it trusts the frame's `from` as the embedding's
// network delivered it.
//
// Threading: send / receive on the member's message thread; feed / take
// from any one thread each (a mutex guards the two queues).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <vector>

#include "uepool/transport/transport.hpp"
#include "uepool/wire/codec.hpp"

namespace uepool::transport {

class ExternalTransport final : public Transport {
 public:
  struct Outgoing {
    std::uint32_t to = 0;             // the member to send to (its id)
    std::vector<std::uint8_t> bytes;  // one message of the embedding's network
  };
  // kMaxQueued — messages waiting either way; beyond, send drops (counted)
  // and feed refuses: an embedding that stopped taking costs bounded memory.
  static constexpr std::size_t kMaxQueued = 1 << 16;

  explicit ExternalTransport(std::uint32_t self) : self_(self) {}

  bool send(const set::Frame& frame) override;
  Status receive(int timeout_ms, std::vector<set::Frame>& out) override;
  [[nodiscard]] TransportCounters counters() const override;

  // feed — bytes that arrived (a frame, or a fragment of one). Bad bytes
  // (corrupt, truncated, addressed to another member, a flood while the
  // message loop does not run) are refused with the reason and counted;
  // nothing held is lost.
  Status feed(std::span<const std::uint8_t> bytes);
  // take — the next message to send, if it fits in `capacity` bytes
  // (checked and taken under one lock: takers may race). kTaken; kNone
  // (nothing waits); kTooSmall (it stays; `need` says its size).
  enum class Take : std::uint8_t { kTaken, kNone, kTooSmall };
  Take take(Outgoing& out, std::size_t capacity, std::size_t& need);

 private:
  const std::uint32_t self_;
  mutable std::mutex mu_;
  std::vector<set::Frame> in_;     // decoded, for receive; guarded by mu_
  std::deque<Outgoing> out_;       // guarded by mu_
  TransportCounters c_;            // guarded by mu_
  wire::Reassembler reassembler_;  // guarded by mu_ (feed)
  std::uint64_t message_id_ = 0;   // message thread (send)
};

}  // namespace uepool::transport
