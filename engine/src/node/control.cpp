// The control interface: the LEASE token, the held-list store, the request
// lines and the Unix socket server. See uepool/node/control.hpp.
#include "uepool/node/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <set>

#include "uepool/node/node.hpp"
#include "uepool/wire/codec.hpp"

namespace uepool::node {

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) noexcept {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// split — the words of a line (separated by spaces or tabs).
std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > b) out.push_back(line.substr(b, i - b));
  }
  return out;
}

std::string err(const char* reason, std::string_view text) {
  std::string s = "err ";
  s += reason;
  s += ' ';
  s += text;
  return s;
}

const char* phase_word(set::MemberPhase p) {
  switch (p) {
    case set::MemberPhase::kQueryingGeneration: return "querying_generation";
    case set::MemberPhase::kRecovering: return "recovering";
    case set::MemberPhase::kRebuilding: return "rebuilding";
    case set::MemberPhase::kReady: return "ready";
    case set::MemberPhase::kSuperseded: return "superseded";
    case set::MemberPhase::kRetired: return "retired";
  }
  return "unknown";
}

// A completed held list not read within this long is dropped: the member
// stopped asking (its audit ended), and a later read must not get a list
// older than its request.
constexpr std::chrono::seconds kMaxListAge{2};

}  // namespace

std::string format_lease(const set::Lease& l) {
  std::string s;
  s.reserve(64);
  s += std::to_string(l.pool);
  for (const std::uint64_t v : {l.unit, std::uint64_t{l.tag.generation}, std::uint64_t{l.tag.window}, l.claim,
                                std::uint64_t{l.serial}, l.nonce}) {
    s += '.';
    s += std::to_string(v);
  }
  return s;
}

Result<set::Lease> parse_lease(std::string_view token) noexcept {
  std::string_view f[7];
  std::size_t n = 0;
  while (n < 7) {
    const std::size_t dot = token.find('.');
    f[n++] = token.substr(0, dot);
    if (dot == std::string_view::npos) {
      token = {};
      break;
    }
    token.remove_prefix(dot + 1);
    if (n == 7) return Status(StatusCode::kInvalidArgument, "a lease has 7 fields: more given");
  }
  if (n != 7) return Status(StatusCode::kInvalidArgument, "a lease has 7 fields: fewer given");
  set::Lease l;
  std::uint32_t serial = 0;
  if (!parse_number(f[0], l.pool) || !parse_number(f[1], l.unit) || !parse_number(f[2], l.tag.generation) ||
      !parse_number(f[3], l.tag.window) || !parse_number(f[4], l.claim) || !parse_number(f[5], serial) ||
      !parse_number(f[6], l.nonce))
    return Status(StatusCode::kInvalidArgument, "a lease field is not a decimal number of its size");
  if (serial > 255) return Status(StatusCode::kOutOfRange, "a lease's serial is above 255");
  l.serial = static_cast<std::uint8_t>(serial);
  return l;
}

// ---- HeldListStore ----

bool HeldListStore::read_held(std::uint32_t owner, const set::Plan& plan, std::vector<set::Lease>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket_ != 0 && complete_) {
    if (std::chrono::steady_clock::now() - completed_at_ <= kMaxListAge) {
      for (const set::Lease& l : list_)
        if (l.pool < plan.pool_count() && l.unit < plan.units(l.pool) && plan.owner(l.pool, l.unit) == owner)
          out.push_back(l);
      ticket_ = 0;
      complete_ = false;
      list_.clear();
      lists_read_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    ticket_ = 0;  // too old: ask again
  }
  if (ticket_ == 0) {
    ticket_ = next_ticket_++;
    complete_ = false;
    list_.clear();
  }
  return false;
}

std::optional<std::uint64_t> HeldListStore::wanted() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket_ == 0 || complete_) return std::nullopt;
  return ticket_;
}

Status HeldListStore::add(std::uint64_t ticket, const std::vector<set::Lease>& leases) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket == 0 || ticket != ticket_ || complete_)
    return Status(StatusCode::kFailedPrecondition, "not the ticket the member waits for (late, or never issued)");
  list_.insert(list_.end(), leases.begin(), leases.end());
  return Status();
}

Status HeldListStore::end(std::uint64_t ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket == 0 || ticket != ticket_ || complete_)
    return Status(StatusCode::kFailedPrecondition, "not the ticket the member waits for (late, or never issued)");
  complete_ = true;
  completed_at_ = std::chrono::steady_clock::now();
  return Status();
}

// ---- Control ----

Control::Control(Node& node, HeldListStore* store) : node_(node), store_(store), worker_(&node.control_worker()) {}

std::optional<std::uint32_t> Control::pool_of(std::string_view token) const {
  const auto& pools = node_.config().pools;
  for (std::size_t i = 0; i < pools.size(); ++i)
    if (pools[i].name == token) return static_cast<std::uint32_t>(i);
  std::uint32_t index = 0;
  if (parse_number(token, index) && index < pools.size()) return index;
  return std::nullopt;
}

std::string Control::lease_reply(const set::MemberAllocation& a) const {
  const core::PoolConfig& pc = node_.config().pools[a.lease.pool];
  auto prefix = pc.prefix.nth(pc.unit_length, a.lease.unit);
  return format_lease(a.lease) + ' ' + (prefix.ok() ? prefix.value().to_string() : std::string("?"));
}

std::string Control::execute(std::string_view line) {
  std::string reply = run(line);
  if (reply.starts_with("err bad_") || reply.starts_with("err no_such_pool") || reply.starts_with("err out_of_range") ||
      reply.starts_with("err not_static"))
    node_.control_stats().bad_requests.fetch_add(1, std::memory_order_relaxed);
  return reply;
}

std::string Control::run(std::string_view line) {
  ControlStats& stats = node_.control_stats();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::vector<std::string_view> w = split(line);
  if (w.empty()) return err("bad_request", "an empty line (try: help)");
  const std::string_view cmd = w[0];
  set::Member& m = node_.member();

  auto failure = [&](set::MemberStatus s) -> std::string {
    switch (s) {
      case set::MemberStatus::kNotReady: {
        stats.not_ready.fetch_add(1, std::memory_order_relaxed);
        std::string reason = "not ready";
        (void)node_.run([&] {
          reason = m.not_ready_reason();
          if (reason.empty()) reason = "no window a quorum of peers acknowledged yet (replication stalled or starting)";
        });
        return err("not_ready", reason);
      }
      case set::MemberStatus::kNoneFree:
        stats.none_free.fetch_add(1, std::memory_order_relaxed);
        return err("none_free", "every unit this member owns in the pool is in use");
      case set::MemberStatus::kNoSuchPool: return err("no_such_pool", "no such pool");
      case set::MemberStatus::kNotStatic: return err("not_static", "the unit is not in a static range");
      case set::MemberStatus::kOutOfRange: return err("out_of_range", "the unit is beyond the pool");
      case set::MemberStatus::kOk: break;
    }
    return err("internal", "unexpected status");
  };
  auto need = [&](std::size_t args, const char* usage) -> std::optional<std::string> {
    if (w.size() != args + 1) return err("bad_request", std::string("usage: ") + usage);
    return std::nullopt;
  };

  if (cmd == "allocate") {
    if (auto e = need(1, "allocate POOL")) return *e;
    const auto pool = pool_of(w[1]);
    if (!pool) return err("no_such_pool", std::string("no pool named or numbered '") + std::string(w[1]) + "'");
    const set::MemberAllocation a = m.allocate(*worker_, *pool);
    if (!a.ok()) return failure(a.status);
    stats.allocations[*pool].fetch_add(1, std::memory_order_relaxed);
    return "ok " + lease_reply(a);
  }
  if (cmd == "allocate-dual") {
    if (auto e = need(2, "allocate-dual POOL POOL")) return *e;
    const auto a = pool_of(w[1]);
    const auto b = pool_of(w[2]);
    if (!a || !b) return err("no_such_pool", "no pool of that name or number");
    if (*a == *b) return err("bad_request", "allocate-dual needs two different pools");
    const auto [x, y] = m.allocate_dual(*worker_, *a, *b);
    if (!x.ok()) return failure(x.status);
    if (!y.ok()) return failure(y.status);
    stats.allocations[*a].fetch_add(1, std::memory_order_relaxed);
    stats.allocations[*b].fetch_add(1, std::memory_order_relaxed);
    return "ok " + lease_reply(x) + ' ' + lease_reply(y);
  }
  if (cmd == "release") {
    if (auto e = need(1, "release LEASE")) return *e;
    auto l = parse_lease(w[1]);
    if (!l.ok()) return err("bad_lease", l.status().reason());
    if (l.value().pool >= node_.config().pools.size())
      return err("no_such_pool", "the lease names no pool of this set");
    if (l.value().unit >= node_.config().plan->units(l.value().pool))
      return err("out_of_range", "the lease names a unit beyond its pool");
    m.release(*worker_, l.value());
    stats.releases.fetch_add(1, std::memory_order_relaxed);
    return "ok";
  }
  if (cmd == "claim") {
    if (auto e = need(2, "claim POOL PREFIX")) return *e;
    const auto pool = pool_of(w[1]);
    if (!pool) return err("no_such_pool", std::string("no pool named or numbered '") + std::string(w[1]) + "'");
    auto p = net::Prefix::parse(w[2]);
    if (!p.ok()) return err("bad_prefix", p.status().reason());
    const core::PoolConfig& pc = node_.config().pools[*pool];
    auto unit = pc.prefix.index_of(pc.unit_length, p.value());
    if (!unit.ok()) return err("bad_prefix", "not a unit of the pool (its length or its range)");
    set::Lease lease;
    const set::MemberStatus s = m.claim(*worker_, *pool, unit.value(), &lease);
    if (s != set::MemberStatus::kOk) return failure(s);
    stats.claims.fetch_add(1, std::memory_order_relaxed);
    return "ok " + format_lease(lease);
  }
  if (cmd == "state") {
    if (auto e = need(0, "state")) return *e;
    std::string out;
    const bool ran = node_.run([&] {
      const set::MemberView v = m.view();
      std::uint64_t owned = 0, in_use = 0, held_down = 0, wrap_held = 0, quarantined = 0;
      for (const auto& pf : v.pools) {
        owned += pf.owned_units, in_use += pf.in_use, held_down += pf.held_down;
        wrap_held += pf.wrap_held, quarantined += pf.quarantined;
      }
      std::size_t acking = 0;
      for (const auto& pf : v.peers) acking += pf.acks_us ? 1 : 0;
      out = "ok member=" + std::to_string(m.id()) + " phase=" + phase_word(v.phase) +
            " generation=" + std::to_string(v.incarnation.generation) +
            " nonce=" + std::to_string(v.incarnation.nonce) + " owned=" + std::to_string(owned) +
            " in_use=" + std::to_string(in_use) + " held_down=" + std::to_string(held_down) +
            " wrap_held=" + std::to_string(wrap_held) + " quarantined=" + std::to_string(quarantined) +
            " windows=" + std::to_string(v.windows.size()) + " peers_acking=" + std::to_string(acking) + "/" +
            std::to_string(v.peers.size()) + " audits=" + std::to_string(v.counters.audits) +
            " audit_freed=" + std::to_string(v.counters.audit_freed) +
            " rebuilds=" + std::to_string(v.counters.rebuilds) +
            " stale_releases=" + std::to_string(v.counters.stale_releases) + " auditing=" + (m.auditing() ? "1" : "0") +
            " epoch=" + std::to_string(v.epoch) + " target_epoch=" + std::to_string(v.target_epoch) +
            " settled=" + (m.settled() ? "1" : "0") + " pending_blocks=" + std::to_string(v.pending_blocks) +
            " blocks_moved=" + std::to_string(v.counters.blocks_moved) +
            " blocks_lost=" + std::to_string(v.counters.blocks_lost) +
            " reason=" + (v.phase == set::MemberPhase::kReady ? "" : v.not_ready_reason);
    });
    if (!ran) return err("stopping", "the node is stopping");
    return out;
  }
  if (cmd == "held-wanted") {
    if (auto e = need(0, "held-wanted")) return *e;
    if (store_ == nullptr) return err("no_session_store", "the node runs without --session-store");
    const auto t = store_->wanted();
    return t ? "ok " + std::to_string(*t) : std::string("ok none");
  }
  if (cmd == "held" || cmd == "held-end") {
    if (store_ == nullptr) return err("no_session_store", "the node runs without --session-store");
    if (w.size() < 2 || (cmd == "held-end" && w.size() != 2))
      return err("bad_request", cmd == "held" ? "usage: held TICKET LEASE..." : "usage: held-end TICKET");
    std::uint64_t ticket = 0;
    if (!parse_number(w[1], ticket)) return err("bad_request", "the ticket is not a number");
    if (cmd == "held-end") {
      const Status s = store_->end(ticket);
      if (!s.ok()) return err("stale_ticket", s.reason());
      return "ok";
    }
    std::vector<set::Lease> leases;
    leases.reserve(w.size() - 2);
    for (std::size_t i = 2; i < w.size(); ++i) {
      auto l = parse_lease(w[i]);
      if (!l.ok())
        return err("bad_lease", "lease " + std::to_string(i - 1) + " ('" + std::string(w[i]) +
                                    "'): " + l.status().reason() + " (nothing of this line was taken)");
      leases.push_back(l.value());
    }
    const Status s = store_->add(ticket, leases);
    if (!s.ok()) return err("stale_ticket", s.reason());
    stats.held_leases.fetch_add(leases.size(), std::memory_order_relaxed);
    return "ok " + std::to_string(leases.size());
  }
  if (cmd == "audit") {
    if (auto e = need(0, "audit")) return *e;
    Status s;
    if (!node_.run([&] { s = m.audit_now(); })) return err("stopping", "the node is stopping");
    if (!s.ok()) return err("no_session_store", s.reason());
    return "ok";
  }
  if (cmd == "dump") {
    if (auto e = need(0, "dump")) return *e;
    std::string out;
    const bool ran = node_.run([&] {
      set::Frame f;
      f.from = f.to = m.id();
      f.from_inc = f.to_inc = m.view().incarnation;
      f.body = set::frame::RecoverAnswer{.complete = true, .snapshot = m.snapshot()};
      auto pieces = wire::encode_fragments(f, 1);
      if (!pieces.ok()) {
        out = err("too_large", pieces.status().reason());
        return;
      }
      static constexpr char kHex[] = "0123456789abcdef";
      out = "ok ";
      for (const std::vector<std::uint8_t>& piece : pieces.value())
        for (const std::uint8_t b : piece) {
          out.push_back(kHex[b >> 4]);
          out.push_back(kHex[b & 15]);
        }
    });
    if (!ran) return err("stopping", "the node is stopping");
    return out;
  }
  if (cmd == "membership") {
    // membership EPOCH NAME=WEIGHT... — the next membership epoch: every
    // member of the set by name, with its weight (0: standby). The set's
    // members are fixed; a join gives a standby a weight, a leave sets 0.
    // NAME=retired: the member is gone for good (set::MemberSpec::retired):
    // its blocks are taken from the session store, its frames dropped.
    const auto& members = node_.config().members;
    if (w.size() != members.size() + 2)
      return err("bad_request", "usage: membership EPOCH NAME=WEIGHT|NAME=retired... (every member of the set, " +
                                    std::to_string(members.size()) + ")");
    std::uint64_t epoch = 0;
    if (!parse_number(w[1], epoch)) return err("bad_membership", "the epoch is not a number");
    std::vector<set::MemberSpec> specs;
    std::set<std::string_view> named;
    for (std::size_t i = 2; i < w.size(); ++i) {
      const auto eq = w[i].find('=');
      std::uint32_t weight = 0;
      const bool retired = eq != std::string_view::npos && w[i].substr(eq + 1) == "retired";
      if (eq == std::string_view::npos || (!retired && !parse_number(w[i].substr(eq + 1), weight)))
        return err("bad_membership", "'" + std::string(w[i]) + "' is not NAME=WEIGHT or NAME=retired");
      const std::string_view name = w[i].substr(0, eq);
      auto it = std::find_if(members.begin(), members.end(), [&](const MemberConfig& mc) { return mc.name == name; });
      if (it == members.end()) return err("bad_membership", "no member named '" + std::string(name) + "' in the set");
      if (!named.insert(name).second) return err("bad_membership", "member '" + std::string(name) + "' named twice");
      specs.push_back({it->id, weight, retired});
    }
    Status s;
    std::uint64_t target = 0;
    if (!node_.run([&] {
          auto plan = m.plan().reweighted(epoch, specs);
          if (!plan.ok()) {
            s = plan.status();
            return;
          }
          s = m.set_membership(std::make_shared<const set::Plan>(std::move(plan.value())));
          target = m.target_epoch();
        }))
      return err("stopping", "the node is stopping");
    if (!s.ok()) return err("bad_membership", std::string(s.reason()));
    return "ok target_epoch=" + std::to_string(target);
  }
  if (cmd == "help") {
    return "ok allocate allocate-dual release claim state held-wanted held held-end audit dump membership help";
  }
  return err("bad_request", "unknown command '" + std::string(cmd) + "' (try: help)");
}

// ---- ControlServer ----

Result<std::unique_ptr<ControlServer>> ControlServer::start(Node& node, HeldListStore* store, const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Status(StatusCode::kInvalidArgument, "the control socket's path is empty or longer than 107 bytes");
  std::unique_ptr<ControlServer> s(new ControlServer(node, store));
  s->path_ = path;
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0) return Status(StatusCode::kUnavailable, "cannot make a Unix socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status(StatusCode::kAlreadyExists, "the control path exists and is no socket");
    ::unlink(path.c_str());  // a socket left by a killed node
  }
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return Status(StatusCode::kUnavailable, "cannot bind the control socket (its folder missing or not writable?)");
  ::chmod(path.c_str(), 0660);
  if (::listen(s->listen_fd_, 16) != 0) return Status(StatusCode::kUnavailable, "cannot listen on the control socket");
  if (::pipe2(s->wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0) return Status(StatusCode::kUnavailable, "cannot make a pipe");
  s->thread_ = std::thread([p = s.get()] { p->serve(); });
  return s;
}

ControlServer::~ControlServer() {
  if (thread_.joinable()) {
    const char c = 'x';
    (void)!::write(wake_fd_[1], &c, 1);
    thread_.join();
  }
  for (const int fd : {listen_fd_, wake_fd_[0], wake_fd_[1]})
    if (fd >= 0) ::close(fd);
  if (listen_fd_ >= 0) ::unlink(path_.c_str());
}

void ControlServer::serve() {
  struct Client {
    int fd;
    std::string in, out;
    bool skipping = false;  // discarding the rest of a too-long line
  };
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  char buf[65536];
  struct Closer {
    std::vector<Client>& clients;
    ~Closer() {
      for (const Client& c : clients) ::close(c.fd);
    }
  } closer{clients};
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Client& c : clients)
      fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents != 0) return;
    // fds[2 + i] is clients[i] for the clients polled; one accepted below
    // is polled from the next round on.
    for (std::size_t i = 0; i + 2 < fds.size(); ++i) {
      Client& c = clients[i];
      const short re = fds[i + 2].revents;
      bool closed = (re & (POLLERR | POLLNVAL)) != 0;
      if (!closed && (re & (POLLIN | POLLHUP)) != 0) {
        const ssize_t n = ::read(c.fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) closed = true;
        for (ssize_t k = 0; k < n; ++k) {
          const char ch = buf[k];
          if (ch == '\n') {
            if (c.skipping)
              c.out += "err line_too_long a request line is at most 1 MiB (send held lists in several lines)\n";
            else
              c.out += control_.execute(c.in) + '\n';
            c.in.clear();
            c.skipping = false;
          } else if (!c.skipping) {
            c.in += ch;
            if (c.in.size() > kMaxLineBytes) {
              c.in.clear();
              c.skipping = true;
            }
          }
        }
      }
      if (!closed && !c.out.empty()) {
        const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0)
          c.out.erase(0, static_cast<std::size_t>(n));
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
          closed = true;
      }
      if (closed) {
        ::close(c.fd);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
        fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i + 2));
        --i;
      }
    }
    if ((fds[1].revents & POLLIN) != 0) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) clients.push_back({fd, {}, {}, false});
    }
  }
}

}  // namespace uepool::node
