// ZmqTransport — ROUTER in, one DEALER out per peer, CurveZMQ with a ZAP
// handler. See uepool/transport/zmq_transport.hpp.
#include "uepool/transport/zmq_transport.hpp"

#include <zmq.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "uepool/wire/codec.hpp"

namespace uepool::transport {

namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// decode_key — a Z85 key of 40 characters as 32 bytes, or nothing.
std::optional<std::string> decode_key(const std::string& z85) {
  if (z85.size() != 40) return std::nullopt;
  std::array<std::uint8_t, 32> bin{};
  if (zmq_z85_decode(bin.data(), z85.c_str()) == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(bin.data()), bin.size());
}

void common_options(zmq::socket_t& s, const ZmqOptions& o) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::heartbeat_ivl, o.heartbeat_ms);
  s.set(zmq::sockopt::heartbeat_timeout, o.heartbeat_timeout_ms);
  s.set(zmq::sockopt::heartbeat_ttl, o.heartbeat_timeout_ms);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The monitor events a DEALER reports: a refused handshake (libzmq gives
// the connection up). Only these: a monitor event is built on libzmq's I/O
// thread, and in the normal course none is (a frame the DEALER accepts says
// the connection is up: the wait starts over then, in send).
constexpr int kMonitorEvents = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;

}  // namespace

Result<CurveKeys> make_curve_keys() {
  std::array<char, 41> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0)
    return Status(StatusCode::kFailedPrecondition, "this libzmq has no CURVE support");
  return CurveKeys{std::string(pub.data(), 40), std::string(sec.data(), 40)};
}

ZmqTransport::ZmqTransport(const ZmqOptions& options) : options_(options) {}

Result<std::unique_ptr<ZmqTransport>> ZmqTransport::create(const ZmqOptions& options) {
  if (options.curve && (!decode_key(options.keys.public_key) || !decode_key(options.keys.secret_key)))
    return Status(StatusCode::kInvalidArgument, "CURVE key is not 40 characters of Z85");
  std::unique_ptr<ZmqTransport> t(new ZmqTransport(options));
  try {
    t->ctx_ = std::make_unique<zmq::context_t>(1);
    if (options.curve) {
      // The ZAP handler is bound before the ROUTER: no connection is ever
      // admitted without it.
      auto rep = std::make_unique<zmq::socket_t>(*t->ctx_, zmq::socket_type::rep);
      rep->set(zmq::sockopt::linger, 0);
      rep->bind(kZapEndpoint);
      t->zap_ = std::thread([self = t.get(), sock = std::move(rep)]() mutable {
        // The socket moves to this thread (thread start is a full barrier)
        // and is used and closed here only.
        while (true) {
          std::vector<zmq::message_t> req;
          try {
            if (!zmq::recv_multipart(*sock, std::back_inserter(req))) continue;
          } catch (const zmq::error_t&) {
            break;  // the context is shutting down
          }
          // ZAP request: version, request id, domain, address, identity,
          // mechanism, credentials (CURVE: the client's 32-byte public key).
          std::string status = "400", text = "unknown key", user;
          if (req.size() == 7 && req[5].to_string() == "CURVE" && req[6].size() == 32) {
            const std::lock_guard<std::mutex> lock(self->mu_);
            auto it = self->keys_.find(req[6].to_string());
            if (it != self->keys_.end()) {
              status = "200";
              text = "OK";
              user = std::to_string(it->second);
            } else {
              ++self->auth_denied_;
            }
          } else {
            const std::lock_guard<std::mutex> lock(self->mu_);
            ++self->auth_denied_;
          }
          try {
            // Every buffer points into a string that outlives the send.
            const std::string request_id = req.size() > 1 ? req[1].to_string() : std::string();
            std::array<zmq::const_buffer, 6> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                                      zmq::buffer(status),    zmq::buffer(text),
                                                      zmq::buffer(user),      zmq::str_buffer("")};
            (void)zmq::send_multipart(*sock, reply);
          } catch (const zmq::error_t&) {
            break;
          }
        }
        sock->close();
      });
    }
    // Configured peers: their keys are admitted before the ROUTER binds (a
    // peer that connects at once is never refused for being early).
    for (const PeerEndpoint& p : options.peers) {
      const Status s = t->add_peer(p);
      if (!s.ok()) return s;
    }
    t->router_ = std::make_unique<zmq::socket_t>(*t->ctx_, zmq::socket_type::router);
    zmq::socket_t& r = *t->router_;
    common_options(r, options);
    r.set(zmq::sockopt::rcvhwm, options.recv_hwm);
    r.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(wire::kMaxFrameBytes));
    if (options.curve) {
      r.set(zmq::sockopt::zap_domain, "uepool");
      r.set(zmq::sockopt::curve_server, 1);
      r.set(zmq::sockopt::curve_secretkey, options.keys.secret_key);
    }
    r.bind(options.bind);
    t->bound_ = r.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status(StatusCode::kInvalidArgument, "ZeroMQ refused the transport's options (the bind endpoint?)")
        .with_number(static_cast<std::uint64_t>(e.num()), "errno");
  }
  return t;
}

ZmqTransport::~ZmqTransport() {
  peers_.clear();  // each closes with linger 0
  router_.reset();
  if (ctx_) ctx_->shutdown();  // the ZAP thread's blocking receive returns ETERM
  if (zap_.joinable()) zap_.join();
  ctx_.reset();
}

Status ZmqTransport::add_peer(const PeerEndpoint& peer) {
  if (peer.id == options_.id) return Status(StatusCode::kInvalidArgument, "a member is not its own peer");
  std::optional<std::string> key;
  if (options_.curve) {
    key = decode_key(peer.public_key);
    if (!key)
      return Status(StatusCode::kInvalidArgument, "peer key is not 40 characters of Z85")
          .with_number(peer.id, "member");
    // Admitted before we connect: the peer may connect back at once.
    const std::lock_guard<std::mutex> lock(mu_);
    keys_[*key] = peer.id;
  }
  Peer& p = peers_[peer.id];
  p.endpoint = peer;
  p.wait_ms = options_.reconnect_ms;
  p.remake_at_ms = -1;
  try {
    connect_peer(p);
  } catch (const zmq::error_t& e) {
    peers_.erase(peer.id);
    return Status(StatusCode::kInvalidArgument, "ZeroMQ refused the peer's endpoint")
        .with_number(static_cast<std::uint64_t>(e.num()), "errno");
  }
  return Status::ok_status();
}

void ZmqTransport::connect_peer(Peer& p) {
  if (p.dealer) (void)zmq_socket_monitor(p.dealer->handle(), nullptr, 0);
  p.dealer.reset();  // linger 0
  p.monitor.reset();
  auto d = std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::dealer);
  common_options(*d, options_);
  d->set(zmq::sockopt::immediate, 1);
  d->set(zmq::sockopt::sndhwm, options_.send_hwm);
  d->set(zmq::sockopt::reconnect_ivl, options_.reconnect_ms);
  // No routing id: the ROUTER names each connection itself, so a peer that
  // restarts and reconnects never clashes with its stale connection. Who
  // sent a frame is the key's member (ZAP User-Id), not a routing id.
  if (options_.curve) {
    d->set(zmq::sockopt::curve_serverkey, p.endpoint.public_key);
    d->set(zmq::sockopt::curve_publickey, options_.keys.public_key);
    d->set(zmq::sockopt::curve_secretkey, options_.keys.secret_key);
  }
  // The monitor is attached, and its reader connected, before the DEALER
  // connects: no event of this connection is missed.
  const std::string ep = "inproc://uepool.monitor." + std::to_string(p.endpoint.id) + "." + std::to_string(p.made++);
  if (zmq_socket_monitor(d->handle(), ep.c_str(), kMonitorEvents) != 0) throw zmq::error_t();
  auto m = std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::pair);
  m->set(zmq::sockopt::linger, 0);
  m->connect(ep);
  d->connect(p.endpoint.endpoint);
  p.dealer = std::move(d);
  p.monitor = std::move(m);
}

void ZmqTransport::watch_peers() {
  const std::int64_t now = now_ms();
  for (auto& [id, p] : peers_) {
    if (!p.monitor) continue;
    while (true) {
      std::vector<zmq::message_t> ev;
      if (!zmq::recv_multipart(*p.monitor, std::back_inserter(ev), zmq::recv_flags::dontwait)) break;
      if (ev.empty() || ev[0].size() < sizeof(std::uint16_t)) continue;
      std::uint16_t event = 0;
      std::memcpy(&event, ev[0].data(), sizeof event);
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        ++c_.handshake_failed;  // libzmq gave this connection up: make it anew after a wait
        if (p.remake_at_ms < 0) {
          p.remake_at_ms = now + p.wait_ms;
          p.wait_ms = std::min(2 * p.wait_ms, std::max(options_.reconnect_max_ms, options_.reconnect_ms));
        }
      }
    }
    if (p.remake_at_ms >= 0 && now >= p.remake_at_ms) {
      p.remake_at_ms = -1;
      try {
        connect_peer(p);
      } catch (const zmq::error_t&) {
        p.remake_at_ms = now + p.wait_ms;  // tried again later; sends to it are dropped and counted
      }
    }
  }
}

bool ZmqTransport::send(const set::Frame& frame) {
  auto it = peers_.find(frame.to);
  if (it == peers_.end() || !it->second.dealer) {
    ++c_.send_dropped;
    return false;
  }
  auto pieces = wire::encode_fragments(frame, ++message_id_);
  if (!pieces.ok()) {
    ++c_.send_refused;
    return false;
  }
  try {
    for (const std::vector<std::uint8_t>& b : pieces.value()) {
      zmq::message_t msg(b.data(), b.size());
      if (!it->second.dealer->send(msg, zmq::send_flags::dontwait)) {
        ++c_.send_dropped;  // not connected (IMMEDIATE) or its queue is full: the rest is useless
        return false;
      }
      c_.bytes_sent += b.size();
    }
  } catch (const zmq::error_t&) {
    ++c_.send_dropped;
    return false;
  }
  it->second.wait_ms = options_.reconnect_ms;  // IMMEDIATE: the connection is up
  ++c_.sent;
  return true;
}

Status ZmqTransport::receive(int timeout_ms, std::vector<set::Frame>& out) {
  try {
    watch_peers();
    std::array<zmq::pollitem_t, 1> items = {{{router_->handle(), 0, ZMQ_POLLIN, 0}}};
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(timeout_ms));
    while (true) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(*router_, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
      if (parts.size() != 2) {  // [routing id][frame] from a DEALER; anything else is not ours
        ++c_.decode_errors;
        continue;
      }
      const zmq::message_t& m = parts[1];
      const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(m.data()), m.size());
      c_.bytes_received += m.size();
      // Bytes that are no frame at all (a wrong version, a length that is not
      // theirs) are a decode error, whatever bytes 8..11 happen to say.
      const auto u32 = [&](std::size_t at) {
        return static_cast<std::uint32_t>(bytes[at]) | (static_cast<std::uint32_t>(bytes[at + 1]) << 8) |
               (static_cast<std::uint32_t>(bytes[at + 2]) << 16) | (static_cast<std::uint32_t>(bytes[at + 3]) << 24);
      };
      if (bytes.size() < wire::kHeaderBytes + wire::kChecksumBytes || bytes[0] != wire::kVersion ||
          u32(4) != bytes.size()) {
        ++c_.decode_errors;
        continue;
      }
      if (options_.curve) {
        // The sender named in the header (bytes 8..11) must be the member
        // the connection's key belongs to, before a piece is kept.
        const char* uid = zmq_msg_gets(m.handle(), "User-Id");
        const std::uint32_t from = u32(8);
        if (uid == nullptr || std::to_string(from) != uid) {
          ++c_.impostors;
          continue;
        }
      }
      auto f = reassembler_.take(bytes);
      if (!f.ok()) {
        ++c_.decode_errors;
        continue;
      }
      if (!f.value().has_value()) continue;  // a piece of a larger message
      if (f.value()->to != options_.id) {
        ++c_.wrong_destination;
        continue;
      }
      ++c_.received;
      out.push_back(std::move(*f.value()));
    }
  } catch (const zmq::error_t& e) {
    return Status(StatusCode::kUnavailable, "ZeroMQ receive failed")
        .with_number(static_cast<std::uint64_t>(e.num()), "errno");
  }
  return Status::ok_status();
}

TransportCounters ZmqTransport::counters() const {
  TransportCounters c = c_;
  const std::lock_guard<std::mutex> lock(mu_);
  c.auth_denied = auth_denied_;
  return c;
}

}  // namespace uepool::transport
