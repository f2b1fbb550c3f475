// The node: Member + transport (ZeroMQ, or the embedding's) + generation file. See uepool/node/node.hpp.
#include "uepool/node/node.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

namespace uepool::node {

std::uint32_t FileGenerationStore::load() {
  std::ifstream in(path_);
  std::uint64_t g = 0;
  if (!(in >> g) || g > UINT32_MAX) return 0;
  return static_cast<std::uint32_t>(g);
}

bool FileGenerationStore::save(std::uint32_t generation) {
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::string text = std::to_string(generation) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(tmp.c_str(), path_.c_str()) != 0) return false;
  const std::string dir = path_.find('/') == std::string::npos ? "." : path_.substr(0, path_.rfind('/'));
  const int dfd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return false;
  const bool synced = ::fsync(dfd) == 0;
  ::close(dfd);
  return synced;
}

Result<std::unique_ptr<Node>> Node::create(const NodeOptions& o) {
  const MemberConfig* self = o.config.member(o.member);
  if (self == nullptr) return Status(StatusCode::kNotFound, "no member of that name in the configuration");
  if (o.data_dir.empty()) return Status(StatusCode::kInvalidArgument, "no data folder for the generation file");
  if (::access(o.data_dir.c_str(), W_OK | X_OK) != 0)
    return Status(StatusCode::kFailedPrecondition, "the data folder does not exist or cannot be written");
  std::unique_ptr<Node> n(new Node());
  n->self_ = *self;
  n->config_ = o.config;
  n->control_stats_ = std::make_unique<ControlStats>(o.config.pools.size());
  n->start_ = std::chrono::steady_clock::now();
  n->stats_.started_ms = 1;  // now() at the start
  n->generations_ = std::make_unique<FileGenerationStore>(o.data_dir + "/generation");
  const bool ran_before = n->generations_->load() != 0;

  if (o.transport) {
    n->transport_ = o.transport;
  } else if (Status st = n->open_zmq(o, *self); !st.ok()) {
    return st;
  }

  set::MemberOptions mo;
  mo.id = self->id;
  mo.plan = o.config.plan;
  mo.pools = o.config.pools;
  mo.fresh = o.fresh && !ran_before;
  std::random_device rd;
  mo.nonce = (std::uint64_t{rd()} << 32) ^ rd() ^ static_cast<std::uint64_t>(n->start_.time_since_epoch().count());
  mo.lease = o.config.lease_ms;
  mo.generations = n->generations_.get();
  if (o.store != nullptr || o.session_store) {
    if (o.store == nullptr) n->held_lists_ = std::make_unique<HeldListStore>();
    mo.store = o.store != nullptr ? o.store : n->held_lists_.get();
    mo.audit_interval = o.config.audit_interval_ms;
    mo.audit_grace = o.config.audit_grace_ms;
  }
  auto m = set::Member::create(mo);
  if (!m.ok()) return m.status();
  n->member_ = std::move(m.value());
  n->worker_ = n->member_->create_worker();
  n->control_worker_ = n->member_->create_worker();
  return n;
}

Status Node::open_zmq(const NodeOptions& o, const MemberConfig& self) {
  transport::ZmqOptions to;
  to.id = self.id;
  to.bind = self.endpoint;
  to.curve = o.config.curve;
  if (o.config.curve) {
    std::string secret = o.secret_key;
    if (secret.empty()) {
      if (self.secret_key_file.empty())
        return Status(StatusCode::kInvalidArgument,
                      "curve is on: the member needs secret_key_file (or uepool node --secret-key-file)");
      std::ifstream in(self.secret_key_file);
      if (!(in >> secret)) return Status(StatusCode::kNotFound, "secret key file cannot be read");
    }
    to.keys = {self.public_key, secret};
  }
  // The peers go in with the options: their keys are admitted before the
  // node listens, so none is refused for connecting early.
  for (const MemberConfig& m : o.config.members)
    if (m.id != self.id) to.peers.push_back({m.id, m.endpoint, m.public_key});
  auto t = transport::ZmqTransport::create(to);
  if (!t.ok()) return t.status();
  zmq_ = t.value().get();
  transport_ = std::move(t.value());
  return Status::ok_status();
}

std::uint64_t Node::now() const noexcept {
  return static_cast<std::uint64_t>(
             std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count()) +
         1;
}

void Node::step(int timeout_ms) {
  in_.clear();
  // A busy loop does not sleep: after a round that moved frames the next
  // poll does not wait (what workers queued meanwhile goes out at once, not
  // after up to `timeout_ms`); an idle one waits for a frame or the timeout.
  // (Not while workers starve for a window: cut off from its peers, a
  // member would spin a core for nothing.)
  const int wait = busy_ ? 0 : timeout_ms;
  // A transport error is a dropped round: the channel retransmits.
  (void)transport::pump_in(
      *member_, *transport_, wait, [this] { return now(); }, in_, stats_);
  const std::size_t out = transport::pump_out(*member_, *transport_, now(), stats_);
  busy_ = !in_.empty() || out != 0;
  const set::MemberPhase phase = member_->phase();
  if (phase != last_phase_) {
    ++stats_.phase_changes;
    if (phase == set::MemberPhase::kReady && stats_.ready_ms == 0) stats_.ready_ms = now();
    last_phase_ = phase;
  }
  if (steps_ % 64 == 0) {
    for (const set::MemberView::PeerFacts& pf : member_->peer_facts()) {
      std::uint64_t& seen = retransmit_seen_[pf.id];
      // A channel restarts from 0 when the peer restarts: count what it did since.
      stats_.retransmitted += pf.retransmitted >= seen ? pf.retransmitted - seen : pf.retransmitted;
      seen = pf.retransmitted;
    }
  }
  ++steps_;
  run_calls();
}

bool Node::run(std::function<void()> fn) {
  Call call{std::move(fn)};
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return false;
  calls_.push_back(&call);
  cv_.wait(lock, [&] { return call.done; });
  return call.ran;
}

void Node::run_calls() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!calls_.empty()) {
    Call* c = calls_.front();
    calls_.pop_front();
    lock.unlock();
    c->fn();  // outside the lock: a call may take a while (a state view)
    lock.lock();
    c->done = c->ran = true;
  }
  lock.unlock();
  cv_.notify_all();
}

void Node::close_calls() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  for (Call* c : calls_) c->done = true;  // ran stays false
  calls_.clear();
  cv_.notify_all();
}

}  // namespace uepool::node
