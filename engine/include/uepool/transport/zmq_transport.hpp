// uepool/transport/zmq_transport.hpp — the Transport over ZeroMQ (libzmq
// 4.3 through cppzmq) and TCP, with CurveZMQ authentication.
//
//   ZmqOptions o;
//   o.id = 1;  o.bind = "tcp://0.0.0.0:7101";  o.keys = my_keys;  // Z85 key pair
//   auto t = ZmqTransport::create(o).value();
//   t->add_peer({2, "tcp://10.0.0.2:7101", peer2_public_key});
//   t->send(frame);                       // frame.to == 2
//   std::vector<set::Frame> in;  t->receive(10, in);
//
// Sockets: one ROUTER bound at `bind` receives from every peer; one DEALER
//   per peer, connected to the peer's ROUTER, sends to it. (PUB/SUB would
//   drop silently; ROUTER/DEALER refuses visibly.) Options, on both kinds:
//   * ZMQ_IMMEDIATE on DEALERs: a frame is queued only on a connection that
//     is up, so a frame for a peer that is down is dropped and counted at
//     once rather than queued for later (the channel retransmits). This is
//     what ROUTER_MANDATORY gives a sending ROUTER; here the ROUTER only
//     receives.
//   * ZMTP heartbeats (ZMQ_HEARTBEAT_IVL / _TIMEOUT / _TTL): a dead TCP
//     connection is noticed and reconnected.
//   * Bounded high-water marks (send_hwm, recv_hwm) and ZMQ_MAXMSGSIZE of
//     one frame (wire::kMaxFrameBytes): a peer sending more is disconnected.
//     A larger message (a bulk copy) goes as fragments of one frame each
//     (wire::encode_fragments) and is put together by a wire::Reassembler;
//     a piece dropped on the way loses the message (the channel resends).
//   * ZMQ_LINGER 0: closing never blocks.
// Authentication (curve = true): every member has a CurveZMQ key pair; the
//   ROUTER is a CURVE server, each DEALER a client of its peer's public key.
//   A ZAP handler (its own thread, inproc://zeromq.zap.01) admits only the
//   public keys of configured peers and names each connection by the
//   member id its key belongs to (the ZMQ User-Id). A frame whose `from`
//   is not that member is dropped and counted (impostors). With curve off
//   (the local demo only) every connection is admitted and `from` is
//   trusted.
// Refused handshakes: libzmq ends a connection whose handshake the peer
//   refused (ZAP status 400, a CURVE error) for good; it never reconnects
//   it. A peer refuses while it does not know our key yet: it has bound but
//   not yet read its peers, or we are a member it has not been told of.
//   So every DEALER has a socket monitor (an inproc PAIR read in receive)
//   and one refused is made anew after reconnect_ms, the wait doubling up
//   to reconnect_max_ms while it is refused again (handshake_failed counts
//   them). Peers given in ZmqOptions::peers have their keys admitted before
//   the ROUTER binds, so no configured peer is ever refused for being early.
// Threading: one thread at a time calls send / receive / add_peer (the
//   member's message thread); the ZAP thread only reads the key table under
//   a mutex. No exception escapes: ZeroMQ errors become a Status or a count.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/transport/transport.hpp"
#include "uepool/wire/codec.hpp"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace uepool::transport {

// CurveKeys — a CurveZMQ key pair, each key 40 characters of Z85.
struct CurveKeys {
  std::string public_key;
  std::string secret_key;
};
// make_curve_keys — a new random key pair (zmq_curve_keypair).
Result<CurveKeys> make_curve_keys();

struct PeerEndpoint {
  std::uint32_t id = 0;
  std::string endpoint;    // e.g. "tcp://10.0.0.2:7101"
  std::string public_key;  // Z85; ignored with curve off
};

struct ZmqOptions {
  std::uint32_t id = 0;
  std::string bind = "tcp://127.0.0.1:*";  // "*" as port: any free one (bound_endpoint says which)
  bool curve = true;
  CurveKeys keys;  // this member's pair (curve on)
  int send_hwm = 1000;
  int recv_hwm = 10000;
  int heartbeat_ms = 1000;
  int heartbeat_timeout_ms = 3000;
  int reconnect_ms = 100;
  int reconnect_max_ms = 5000;      // the longest wait before a refused connection is made again
  std::vector<PeerEndpoint> peers;  // admitted before the ROUTER binds, then connected (as add_peer)
};

class ZmqTransport final : public Transport {
 public:
  // create — binds; kInvalidArgument names a bad option (a key that is not
  // Z85 of 40 characters, an endpoint ZeroMQ refuses).
  static Result<std::unique_ptr<ZmqTransport>> create(const ZmqOptions& options);
  ~ZmqTransport() override;
  ZmqTransport(const ZmqTransport&) = delete;
  ZmqTransport& operator=(const ZmqTransport&) = delete;

  // add_peer — admit the peer's key and connect to it (again, if known).
  Status add_peer(const PeerEndpoint& peer);
  // bound_endpoint — where the ROUTER listens (the port chosen for "*").
  [[nodiscard]] const std::string& bound_endpoint() const noexcept { return bound_; }

  bool send(const set::Frame& frame) override;
  Status receive(int timeout_ms, std::vector<set::Frame>& out) override;
  [[nodiscard]] TransportCounters counters() const override;

 private:
  // Peer — one peer's outgoing connection and the monitor that tells when
  // libzmq gave it up.
  struct Peer {
    PeerEndpoint endpoint;
    std::unique_ptr<zmq::socket_t> dealer;
    std::unique_ptr<zmq::socket_t> monitor;  // PAIR, events of `dealer`
    std::int64_t remake_at_ms = -1;          // >= 0: a refused connection is made again then
    int wait_ms = 0;                         // the wait before the next remake
    std::uint64_t made = 0;                  // connections made so far (names the monitor endpoint)
  };

  explicit ZmqTransport(const ZmqOptions& options);
  // connect_peer — (re)make p's DEALER and its monitor. Throws zmq::error_t.
  void connect_peer(Peer& p);
  // watch_peers — read the monitors; remake connections that are due.
  void watch_peers();

  ZmqOptions options_;
  std::unique_ptr<zmq::context_t> ctx_;
  std::unique_ptr<zmq::socket_t> router_;
  std::map<std::uint32_t, Peer> peers_;
  std::string bound_;
  mutable std::mutex mu_;                      // guards keys_ and the ZAP thread's counter
  std::map<std::string, std::uint32_t> keys_;  // binary public key (32 bytes) -> member id
  std::uint64_t auth_denied_ = 0;              // under mu_
  std::thread zap_;
  TransportCounters c_;
  wire::Reassembler reassembler_;  // messages above one frame arrive in pieces
  std::uint64_t message_id_ = 0;
};

}  // namespace uepool::transport
