// Simulator: one thread, one PRNG, simulated time. See uepool/sim/simulator.hpp.
#include "uepool/sim/simulator.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace uepool::sim {

// ---------------------------------------------------------------- Rng

namespace {
std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
std::uint64_t pack(const set::LeaseTag& t) {
  return (std::uint64_t{t.generation} << 32) | t.window;
}
unsigned long long ull(std::uint64_t v) {
  return static_cast<unsigned long long>(v);
}
}  // namespace

Rng::Rng(std::uint64_t seed) : s_{} {
  std::uint64_t x = seed;
  for (auto& s : s_) s = splitmix(x);
}

std::uint64_t Rng::next() noexcept {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::below(std::uint64_t n) noexcept {
  // Reject the top partial copy of [0, n): exact.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x;
  do {
    x = next();
  } while (x >= limit);
  return x % n;
}

// ---------------------------------------------------------------- params

SimParams SimParams::derive(std::uint64_t seed, Mode mode, std::uint64_t steps) {
  Rng r(seed ^ 0x5eed5eed5eed5eedULL);
  SimParams p;
  p.seed = seed;
  p.mode = mode;
  p.steps = steps;
  p.members = static_cast<std::uint32_t>(r.between(2, 7));
  const std::uint64_t pools = r.between(1, 4);
  std::uint64_t min_block = UINT64_MAX;
  for (std::uint64_t i = 0; i < pools; ++i) {
    SimPool sp;
    sp.ipv6 = i == 1 || (i > 1 && r.chance(500'000));
    sp.bits = static_cast<unsigned>(r.between(8, 14));
    sp.block_units = std::uint64_t{1} << r.between(6, std::min<std::uint64_t>(10, sp.bits - 2));
    min_block = std::min(min_block, sp.block_units);
    p.pools.push_back(sp);
  }
  p.window_units = std::uint64_t{1} << r.between(6, 63 - static_cast<unsigned>(__builtin_clzll(min_block)));
  p.lease = r.between(200, 5'000);
  p.hold_down = r.chance(300'000) ? 0 : r.between(10, 3'000);
  p.windows_ahead = static_cast<std::uint32_t>(r.between(1, 3));
  const std::uint64_t cap = r.below(4);
  p.channel_capacity = cap == 0 ? 8 : cap == 1 ? 64 : 4096;  // small buffers: back-pressure and re-seeds
  p.delay_max = r.between(1, 20);
  p.retransmit = 2 * p.delay_max + r.between(5, 40);
  p.loss_ppm = r.chance(250'000) ? 0 : r.below(200'000);
  p.dup_ppm = r.chance(250'000) ? 0 : r.below(100'000);
  p.partition_ppm = r.chance(300'000) ? 0 : r.below(2'000);
  p.partition_len = r.between(10, 2'000);
  p.crash_ppm = r.chance(200'000) ? 0 : r.below(400);
  p.zombie_ppm = r.chance(600'000) ? 0 : r.below(300);
  p.restart_max = r.between(1, 2'000);
  p.takeover_max = r.between(1, 4'000);
  p.create_ppm = r.between(50'000, 600'000);
  p.end_ppm = r.between(50'000, p.create_ppm);
  p.move_ppm = r.below(200'000);
  return p;
}

SimParams SimParams::quiet(std::uint32_t members, std::vector<SimPool> pools) {
  SimParams p;
  p.members = members;
  p.pools = std::move(pools);
  p.window_units = 64;
  p.lease = 2'000;
  p.create_ppm = p.end_ppm = p.move_ppm = 0;
  p.delay_max = 1;
  p.retransmit = 10;
  return p;
}

std::string SimParams::describe() const {
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf, "seed %llu mode %s steps %llu members %u pools", static_cast<unsigned long long>(seed),
                mode == Mode::kSafety ? "safety" : "liveness", static_cast<unsigned long long>(steps), members);
  s += buf;
  for (const SimPool& p : pools) {
    std::snprintf(buf, sizeof buf, " %s/2^%u/b%llu", p.ipv6 ? "v6" : "v4", p.bits,
                  static_cast<unsigned long long>(p.block_units));
    s += buf;
  }
  std::snprintf(buf, sizeof buf,
                " window %llu lease %llu hold %llu ahead %u cap %zu delay<=%llu rto %llu loss %llu dup %llu "
                "partition %llu/%llu crash %llu zombie %llu restart<=%llu takeover<=%llu create %llu end %llu move "
                "%llu (ppm)",
                static_cast<unsigned long long>(window_units), static_cast<unsigned long long>(lease),
                static_cast<unsigned long long>(hold_down), windows_ahead, channel_capacity,
                static_cast<unsigned long long>(delay_max), static_cast<unsigned long long>(retransmit),
                static_cast<unsigned long long>(loss_ppm), static_cast<unsigned long long>(dup_ppm),
                static_cast<unsigned long long>(partition_ppm), static_cast<unsigned long long>(partition_len),
                static_cast<unsigned long long>(crash_ppm), static_cast<unsigned long long>(zombie_ppm),
                static_cast<unsigned long long>(restart_max), static_cast<unsigned long long>(takeover_max),
                static_cast<unsigned long long>(create_ppm), static_cast<unsigned long long>(end_ppm),
                static_cast<unsigned long long>(move_ppm));
  s += buf;
  return s;
}

// ---------------------------------------------------------------- state

struct Simulator::Node {
  std::unique_ptr<set::Member> member;
  set::Member::Worker* worker = nullptr;
  bool up = false;
  std::uint64_t restart_at = 0;  // 0 = not scheduled
  std::uint64_t lives = 0;
  // A zombie: the previous incarnation, still running (it never learned that
  // it was replaced) until zombie_until. It serves its sessions and may
  // allocate in windows it holds; peers must fence it.
  std::unique_ptr<set::Member> zombie;
  set::Member::Worker* zombie_worker = nullptr;
  std::uint64_t zombie_until = 0;
};

struct Simulator::Session {
  SessionId id = 0;
  std::vector<set::Lease> leases;
  std::uint32_t controller = 0;   // 0 = orphaned (its SMF crashed)
  bool on_zombie = false;         // served by the controller's zombie (its previous incarnation)
  std::uint64_t takeover_at = 0;  // when orphaned
  bool is_static = false;
};

struct Simulator::WindowFacts {
  set::OpenWindow w;
  std::uint64_t lease_end = 0;
  std::set<std::uint32_t> ackers;  // peers that applied it to a complete replica
};

Simulator::Simulator(const SimParams& params, const set::detail::Rules& rules)
    : params_(params), rules_(rules), rng_(params.seed) {
  std::vector<set::MemberSpec> specs;
  for (std::uint32_t i = 1; i <= params_.members; ++i) specs.push_back({i, 1});
  std::vector<set::PoolSpec> pools;
  for (std::size_t i = 0; i < params_.pools.size(); ++i) {
    const SimPool& sp = params_.pools[i];
    core::PoolConfig cfg;
    char name[32];
    std::snprintf(name, sizeof name, "pool%zu", i);
    cfg.name = name;
    char text[64];
    if (sp.ipv6) {
      std::snprintf(text, sizeof text, "2001:db8:%zx::/%u", i + 1, 64 - sp.bits);
      cfg.unit_length = 64;
    } else {
      std::snprintf(text, sizeof text, "10.%zu.0.0/%u", i + 1, 32 - sp.bits);
      cfg.unit_length = 32;
    }
    cfg.prefix = net::Prefix::parse(text).value();
    const std::uint64_t units = std::uint64_t{1} << sp.bits;
    // Static units (claimed only): the last 16. IPv4: unit 0 (the network address) excluded.
    cfg.static_ranges.push_back(cfg.prefix.nth(cfg.unit_length - 4, units / 16 - 1).value());
    if (!sp.ipv6) cfg.excluded.push_back(cfg.prefix.nth(cfg.unit_length, 0).value());
    cfg.hold_down = params_.hold_down;
    pool_configs_.push_back(cfg);
    pools.push_back({cfg.name, units, sp.block_units});
    holder_.emplace_back(units, 0);
    released_at_.emplace_back(units, 0);
  }
  auto plan = set::Plan::create(1, specs, pools);
  if (!plan.ok()) {
    fail("plan: " + plan.status().to_string());
    return;
  }
  plan_ = std::make_shared<const set::Plan>(std::move(plan.value()));
  nodes_.resize(params_.members);
  for (auto& n : nodes_) n = std::make_unique<Node>();
  for (std::uint32_t i = 1; i <= params_.members; ++i) start_member(i, /*fresh=*/true);
}

Simulator::~Simulator() = default;

void Simulator::start_member(std::uint32_t id, bool fresh) {
  set::MemberOptions o;
  o.id = id;
  o.plan = plan_;
  o.pools = pool_configs_;
  o.fresh = fresh;
  o.nonce = rng_.next();
  o.window_units = params_.window_units;
  o.lease = params_.lease;
  o.windows_ahead = params_.windows_ahead;
  o.retransmit = params_.retransmit;
  o.heartbeat = params_.retransmit / 2 + 1;
  o.channel_capacity = params_.channel_capacity;
  o.observer = this;
  o.rules = rules_;
  auto m = set::Member::create(o);
  if (!m.ok()) {
    fail("member create: " + m.status().to_string());
    return;
  }
  Node& n = *nodes_[id - 1];
  n.member = std::move(m.value());
  n.worker = n.member->create_worker();
  n.up = true;
  n.restart_at = 0;
  ++n.lives;
  trace(1, id, n.lives);
}

set::Member* Simulator::member(std::uint32_t id) {
  if (id == 0 || id > nodes_.size() || !nodes_[id - 1]->up) return nullptr;
  return nodes_[id - 1]->member.get();
}

void Simulator::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  char buf[64];
  std::snprintf(buf, sizeof buf, "step %llu: ", static_cast<unsigned long long>(now_));
  result_.failure = buf + what;
}

void Simulator::watch_event(const char* format, ...) {
  char buf[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  result_.watch_log.emplace_back(buf);
}

void Simulator::trace(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  for (std::uint64_t v : {a, b, c, d, now_}) {
    result_.trace_hash ^= v;
    result_.trace_hash *= 0x100000001b3ULL;
    result_.trace_hash ^= result_.trace_hash >> 29;
  }
}

// ---------------------------------------------------------------- observer

void Simulator::window_applied(std::uint32_t peer, std::uint32_t owner, const set::Incarnation& inc,
                               const set::OpenWindow& w) {
  auto it = windows_.find({owner, inc.generation, inc.nonce, pack(w.tag)});
  if (it != windows_.end()) it->second->ackers.insert(peer);
}

void Simulator::window_reserved(std::uint32_t owner, const set::Incarnation& inc, const set::OpenWindow& w,
                                std::uint64_t lease_end) {
  auto f = std::make_unique<WindowFacts>();
  f->w = w;
  f->lease_end = lease_end;
  windows_[{owner, inc.generation, inc.nonce, pack(w.tag)}] = std::move(f);
}

// ---------------------------------------------------------------- network

bool Simulator::blocked(std::uint32_t a, std::uint32_t b) const {
  return blocks_.count({std::min(a, b), std::max(a, b)}) != 0;
}

void Simulator::send(set::Frame f) {
  ++result_.stats.frames_sent;
  if (faults_on_ && params_.loss_ppm > 0 && rng_.chance(params_.loss_ppm)) {
    ++result_.stats.frames_lost;
    any_fault_ = true;
    return;
  }
  const int copies = faults_on_ && params_.dup_ppm > 0 && rng_.chance(params_.dup_ppm) ? 2 : 1;
  auto arrival = [&] { return now_ + 1 + (params_.delay_max > 1 ? rng_.below(params_.delay_max) : 0); };
  if (copies == 2) {
    const std::uint64_t at = arrival();  // the duplicate: drawn first, as every copy in turn
    network_.emplace(std::pair(at, next_frame_++), f);
  }
  const std::uint64_t at = arrival();
  network_.emplace(std::pair(at, next_frame_++), std::move(f));
}

void Simulator::deliver() {
  while (!network_.empty() && network_.begin()->first.first <= now_ && result_.ok) {
    auto node = network_.extract(network_.begin());
    const set::Frame& f = node.mapped();
    if (f.to == 0 || f.to > nodes_.size() || blocked(f.from, f.to) ||
        (!nodes_[f.to - 1]->up && nodes_[f.to - 1]->zombie == nullptr)) {
      ++result_.stats.frames_lost;
      continue;
    }
    ++result_.stats.frames_delivered;
    trace(2, f.from * 8 + f.to, static_cast<std::uint64_t>(f.kind) << 32 | f.records.size(), f.seq);
    Node& to = *nodes_[f.to - 1];
    if (to.zombie != nullptr) to.zombie->on_frame(f, now_);  // both incarnations answer to the member's address
    if (to.up) to.member->on_frame(f, now_);
  }
}

// ---------------------------------------------------------------- sessions and checks

bool Simulator::check_allocation(std::uint32_t member_id, const set::Lease& l, const set::Member* who) {
  const set::Member& m = who != nullptr ? *who : *nodes_[member_id - 1]->member;
  if (l.pool >= holder_.size() || l.unit >= holder_[l.pool].size()) {
    fail("member handed out a unit beyond the pool");
    return false;
  }
  char buf[256];
  if (plan_->owner(l.pool, l.unit) != member_id) {
    std::snprintf(buf, sizeof buf, "member %u handed out pool %u unit %llu, owned by member %u", member_id, l.pool,
                  static_cast<unsigned long long>(l.unit), plan_->owner(l.pool, l.unit));
    fail(buf);
    return false;
  }
  if (holder_[l.pool][l.unit] != 0) {
    std::snprintf(buf, sizeof buf, "pool %u unit %llu handed out by member %u while session %llu holds it", l.pool,
                  static_cast<unsigned long long>(l.unit), member_id,
                  static_cast<unsigned long long>(holder_[l.pool][l.unit]));
    fail(buf);
    return false;
  }
  const std::uint64_t rel = released_at_[l.pool][l.unit];
  if (rel != 0 && params_.hold_down > 0 && now_ < rel - 1 + params_.hold_down) {
    std::snprintf(buf, sizeof buf, "pool %u unit %llu handed out by member %u during its hold-down (released at %llu)",
                  l.pool, static_cast<unsigned long long>(l.unit), member_id, static_cast<unsigned long long>(rel - 1));
    fail(buf);
    return false;
  }
  const set::Incarnation inc = m.incarnation();
  auto it = windows_.find({member_id, inc.generation, inc.nonce, pack(l.tag)});
  if (it == windows_.end()) {
    std::snprintf(buf, sizeof buf, "member %u handed out pool %u unit %llu in a window it never reserved", member_id,
                  l.pool, static_cast<unsigned long long>(l.unit));
    fail(buf);
    return false;
  }
  const WindowFacts& w = *it->second;
  std::uint32_t ackers = 0;
  for (std::uint32_t a : w.ackers)
    if (a != member_id) ++ackers;
  if (w.w.pool != l.pool || l.unit < w.w.begin || l.unit >= w.w.end || now_ >= w.lease_end || ackers < m.ack_quorum()) {
    std::snprintf(buf, sizeof buf,
                  "member %u handed out pool %u unit %llu outside its window [%llu, %llu) tag %u.%u (acked by %u "
                  "peers, quorum %u; lease ends %llu)",
                  member_id, l.pool, static_cast<unsigned long long>(l.unit),
                  static_cast<unsigned long long>(w.w.begin), static_cast<unsigned long long>(w.w.end),
                  l.tag.generation, l.tag.window, ackers, m.ack_quorum(), static_cast<unsigned long long>(w.lease_end));
    fail(buf);
    return false;
  }
  return true;
}

void Simulator::hold(SessionId sid, const set::Lease& l) {
  if (watched(l)) watch_event("step %llu: session %llu holds it", ull(now_), ull(sid));
  holder_[l.pool][l.unit] = sid;
}

std::optional<Simulator::SessionId> Simulator::create_session(std::uint32_t member_id, std::uint32_t pool) {
  set::Member* m = member(member_id);
  if (m == nullptr || pool >= holder_.size()) return std::nullopt;
  Node& n = *nodes_[member_id - 1];
  const set::MemberAllocation a = m->allocate(*n.worker, pool);
  trace(3, member_id, pool, a.ok() ? a.lease.unit : 1'000'000'000 + static_cast<std::uint64_t>(a.status));
  if (!a.ok()) {
    (a.status == set::MemberStatus::kNoneFree ? result_.stats.none_free : result_.stats.not_ready)++;
    return std::nullopt;
  }
  if (!check_allocation(member_id, a.lease)) return std::nullopt;
  auto s = std::make_unique<Session>();
  s->id = next_session_++;
  s->controller = member_id;
  s->leases.push_back(a.lease);
  hold(s->id, a.lease);
  ++result_.stats.allocations;
  const SessionId id = s->id;
  session_order_.push_back(id);
  sessions_.emplace(id, std::move(s));
  return id;
}

void Simulator::end_session_at(Session& s, std::uint32_t at_member) {
  Node& n = *nodes_[at_member - 1];
  const bool zombie = s.on_zombie && s.controller == at_member && n.zombie != nullptr;
  for (const set::Lease& l : s.leases) {
    if (zombie) {
      n.zombie->release(*n.zombie_worker, l);
    } else {
      n.member->release(*n.worker, l);
    }
    holder_[l.pool][l.unit] = 0;
    released_at_[l.pool][l.unit] = now_ + 1;
    ++result_.stats.releases;
    if (watched(l)) watch_event("step %llu: released at member %u", ull(now_), at_member);
    trace(4, at_member, l.pool, l.unit);
  }
}

void Simulator::end_session(SessionId id, std::uint32_t at_member) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || member(at_member) == nullptr) return;
  end_session_at(*it->second, at_member);
  sessions_.erase(it);
  std::erase(session_order_, id);
}

std::optional<set::Lease> Simulator::lease_of(SessionId id, std::size_t k) const {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || k >= it->second->leases.size()) return std::nullopt;
  return it->second->leases[k];
}

void Simulator::crash(std::uint32_t id) {
  Node& n = *nodes_[id - 1];
  if (!n.up) return;
  n.member.reset();  // all state lost, unsent frames too
  n.worker = nullptr;
  n.up = false;
  any_fault_ = true;
  ++result_.stats.crashes;
  trace(5, id);
  if (watch_) watch_event("step %llu: member %u crashes", ull(now_), id);
  for (auto& [sid, s] : sessions_) {
    if (s->controller != id || s->on_zombie) continue;
    s->controller = 0;
    s->takeover_at = now_ + 1 + rng_.below(params_.takeover_max);
  }
}

void Simulator::split(std::uint32_t id) {
  Node& n = *nodes_[id - 1];
  if (!n.up || n.zombie != nullptr) return;
  // The member is replaced by a new incarnation while the old one keeps
  // running: it keeps its sessions, and lives on for up to two leases.
  n.zombie = std::move(n.member);
  n.zombie_worker = n.worker;
  n.zombie_until = now_ + 1 + rng_.below(2 * params_.lease);
  n.up = false;
  any_fault_ = true;
  ++result_.stats.zombies;
  trace(11, id);
  if (watch_) watch_event("step %llu: member %u goes on as a zombie", ull(now_), id);
  for (auto& [sid, s] : sessions_)
    if (s->controller == id) s->on_zombie = true;
  start_member(id, /*fresh=*/false);
}

void Simulator::bury(std::uint32_t id) {
  Node& n = *nodes_[id - 1];
  if (n.zombie == nullptr) return;
  n.zombie.reset();
  n.zombie_worker = nullptr;
  trace(12, id);
  for (auto& [sid, s] : sessions_) {
    if (s->controller != id || !s->on_zombie) continue;
    s->on_zombie = false;
    s->controller = 0;
    s->takeover_at = now_ + 1 + rng_.below(params_.takeover_max);
  }
}

void Simulator::restart(std::uint32_t id) {
  if (nodes_[id - 1]->up) return;
  if (watch_) watch_event("step %llu: member %u restarts", ull(now_), id);
  ++result_.stats.restarts;
  start_member(id, /*fresh=*/false);
}

void Simulator::block(std::uint32_t a, std::uint32_t b) {
  blocks_[{std::min(a, b), std::max(a, b)}] = UINT64_MAX;
  any_fault_ = true;
}
void Simulator::unblock(std::uint32_t a, std::uint32_t b) {
  blocks_.erase({std::min(a, b), std::max(a, b)});
}
void Simulator::isolate(std::uint32_t m) {
  for (std::uint32_t o = 1; o <= params_.members; ++o)
    if (o != m) block(m, o);
}
void Simulator::heal() {
  blocks_.clear();
}

std::uint32_t Simulator::random_live_member() {
  std::vector<std::uint32_t> live;
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i)
    if (nodes_[i - 1]->up) live.push_back(i);
  return live.empty() ? 0 : live[rng_.below(live.size())];
}

void Simulator::random_activity() {
  if (rng_.chance(params_.create_ppm)) {
    const std::uint32_t m = random_live_member();
    const std::uint64_t kind = rng_.below(10);
    if (m != 0 && kind < 6 && nodes_[m - 1]->zombie != nullptr && rng_.chance(500'000)) {
      // The zombie serves a new UE too, inside the windows it still holds.
      Node& n = *nodes_[m - 1];
      const auto pool = static_cast<std::uint32_t>(rng_.below(holder_.size()));
      const set::MemberAllocation a = n.zombie->allocate(*n.zombie_worker, pool);
      trace(13, m, pool, a.ok() ? a.lease.unit : 0);
      if (a.ok() && check_allocation(m, a.lease, n.zombie.get())) {
        auto s = std::make_unique<Session>();
        s->id = next_session_++;
        s->controller = m;
        s->on_zombie = true;
        s->leases.push_back(a.lease);
        hold(s->id, a.lease);
        ++result_.stats.allocations;
        session_order_.push_back(s->id);
        sessions_.emplace(s->id, std::move(s));
      }
    } else if (m != 0 && kind < 6) {
      (void)create_session(m, static_cast<std::uint32_t>(rng_.below(holder_.size())));
    } else if (m != 0 && kind < 8 && holder_.size() >= 2) {
      // Dual-stack: an IPv4 unit and an IPv6 prefix, all or nothing.
      Node& n = *nodes_[m - 1];
      auto [a, b] = n.member->allocate_dual(*n.worker, 0, 1);
      trace(6, m, a.ok() ? a.lease.unit : 0, b.ok() ? b.lease.unit : 0);
      if (a.ok() && b.ok() && check_allocation(m, a.lease) && check_allocation(m, b.lease)) {
        if (a.lease.pool == b.lease.pool && a.lease.unit == b.lease.unit)
          fail("dual-stack allocation gave one unit twice");
        auto s = std::make_unique<Session>();
        s->id = next_session_++;
        s->controller = m;
        s->leases = {a.lease, b.lease};
        hold(s->id, a.lease);
        hold(s->id, b.lease);
        result_.stats.allocations += 2;
        session_order_.push_back(s->id);
        sessions_.emplace(s->id, std::move(s));
      }
    } else if (m != 0) {
      // Static: a UE with a static address from UDM, claimed at whichever member serves it.
      const auto pool = static_cast<std::uint32_t>(rng_.below(holder_.size()));
      const std::uint64_t units = holder_[pool].size();
      const std::uint64_t unit = units - 16 + rng_.below(16);
      if (holder_[pool][unit] == 0) {
        Node& n = *nodes_[m - 1];
        set::Lease lease;
        const set::MemberStatus st = n.member->claim(*n.worker, pool, unit, &lease);
        trace(7, m, pool, unit);
        if (st != set::MemberStatus::kOk) {
          fail(std::string("static claim refused: ") + set::member_status_name(st));
        } else {
          auto s = std::make_unique<Session>();
          s->id = next_session_++;
          s->controller = m;
          s->is_static = true;
          s->leases = {lease};
          hold(s->id, lease);
          ++result_.stats.claims;
          session_order_.push_back(s->id);
          sessions_.emplace(s->id, std::move(s));
        }
      }
    }
  }
  if (!session_order_.empty() && rng_.chance(params_.end_ppm)) {
    const std::size_t k = rng_.below(session_order_.size());
    const SessionId id = session_order_[k];
    Session& s = *sessions_.at(id);
    if (s.controller != 0) {
      end_session_at(s, s.controller);
      sessions_.erase(id);
      session_order_.erase(session_order_.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  if (!session_order_.empty() && rng_.chance(params_.move_ppm)) {
    Session& s = *sessions_.at(session_order_[rng_.below(session_order_.size())]);
    const std::uint32_t m = random_live_member();
    if (s.controller != 0 && m != 0) {
      s.controller = m;  // SSET/MPAS: another SMF of the set now controls the PFCP session
      s.on_zombie = false;
      ++result_.stats.moves;
      trace(8, s.id, m);
    }
  }
}

void Simulator::random_faults() {
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
    Node& n = *nodes_[i - 1];
    if (n.up && params_.crash_ppm > 0 && rng_.chance(params_.crash_ppm)) {
      crash(i);
      n.restart_at = now_ + 1 + rng_.below(params_.restart_max);
    }
    if (n.up && params_.zombie_ppm > 0 && rng_.chance(params_.zombie_ppm)) split(i);
  }
  if (params_.partition_ppm > 0 && rng_.chance(params_.partition_ppm) && params_.members >= 2) {
    const auto a = static_cast<std::uint32_t>(1 + rng_.below(params_.members));
    auto b = static_cast<std::uint32_t>(1 + rng_.below(params_.members - 1));
    if (b >= a) ++b;
    blocks_[{std::min(a, b), std::max(a, b)}] = now_ + 1 + rng_.below(params_.partition_len);
    any_fault_ = true;
    trace(9, a, b);
  }
}

void Simulator::step(bool random) {
  ++now_;
  std::erase_if(blocks_, [&](const auto& kv) { return kv.second <= now_; });
  deliver();
  for (std::uint32_t i = 1; i <= nodes_.size() && result_.ok; ++i) {
    Node& n = *nodes_[i - 1];
    if (!n.up && n.restart_at != 0 && n.restart_at <= now_) restart(i);
  }
  for (std::uint32_t i = 1; i <= nodes_.size() && result_.ok; ++i) {
    Node& n = *nodes_[i - 1];
    if (n.zombie != nullptr && n.zombie_until <= now_) bury(i);
    if (n.zombie != nullptr) {
      n.zombie->on_tick(now_);
      for (set::Frame& f : n.zombie->take_outgoing()) send(std::move(f));
    }
    if (!n.up) continue;
    n.member->on_tick(now_);
    for (set::Frame& f : n.member->take_outgoing()) send(std::move(f));
    if (n.member->phase() == set::MemberPhase::kSuperseded) {
      // It learned that a newer incarnation of itself was seen first: the
      // embedding restarts it (as after a crash: its state is gone).
      crash(i);
      n.restart_at = now_ + 1 + (faults_on_ ? rng_.below(params_.restart_max) : 0);
    }
  }
  // Orphaned sessions: taken over by another member, or ended there.
  for (auto it = session_order_.begin(); it != session_order_.end() && result_.ok;) {
    Session& s = *sessions_.at(*it);
    if (s.controller == 0 && s.takeover_at <= now_) {
      const std::uint32_t m = random_live_member();
      if (m != 0) {
        ++result_.stats.takeovers;
        if (random && rng_.chance(500'000)) {
          end_session_at(s, m);
          sessions_.erase(*it);
          it = session_order_.erase(it);
          continue;
        }
        s.controller = m;
        trace(10, s.id, m);
      }
    }
    ++it;
  }
  if (random && result_.ok) {
    if (faults_on_) random_faults();
    random_activity();
  }
  ++result_.steps_run;
}

void Simulator::run_steps(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n && result_.ok; ++i) step(false);
}

void Simulator::liveness_check() {
  char buf[256];
  for (std::uint32_t i = 1; i <= nodes_.size() && result_.ok; ++i) {
    set::Member* m = member(i);
    if (m == nullptr || m->ready()) continue;
    std::uint32_t complete = 0;
    for (std::uint32_t j = 1; j <= nodes_.size(); ++j)
      if (j != i && member(j) != nullptr && member(j)->has_complete_replica(i)) ++complete;
    if (complete >= m->answer_quorum() && m->answer_quorum() > 0) {
      std::snprintf(buf, sizeof buf, "member %u not ready (%s) although %u peers hold a complete replica (R = %u)", i,
                    m->not_ready_reason(), complete, m->answer_quorum());
      fail(buf);
      return;
    }
    std::snprintf(buf, sizeof buf, "member %u stays not ready: %s (%u complete replicas, R = %u)", i,
                  m->not_ready_reason(), complete, m->answer_quorum());
    result_.notes.emplace_back(buf);
  }
  // A static claim is recorded at its owner only to report duplicates; a
  // claim that could not reach its owner is counted, and leaves the unit
  // free there (static units are never allocated dynamically).
  std::uint64_t claims_dropped = 0;
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i)
    if (member(i) != nullptr) claims_dropped += member(i)->counters().claims_dropped;
  std::uint64_t leaked = 0;
  std::string first_leak;
  for (std::uint32_t p = 0; p < holder_.size() && result_.ok; ++p) {
    for (std::uint64_t u = 0; u < holder_[p].size(); ++u) {
      const std::uint32_t owner = plan_->owner(p, u);
      set::Member* m = member(owner);
      if (m == nullptr || !m->ready()) continue;
      const bool used = m->in_use(p, u);
      const bool is_static = u >= holder_[p].size() - 16;
      if (holder_[p][u] != 0 && !used &&
          !(is_static && (claims_dropped > 0 || result_.stats.crashes + result_.stats.zombies > 0))) {
        std::snprintf(buf, sizeof buf, "pool %u unit %llu is held by session %llu but free at its owner %u", p,
                      static_cast<unsigned long long>(u), static_cast<unsigned long long>(holder_[p][u]), owner);
        fail(buf);
        return;
      }
      if (holder_[p][u] == 0 && used && !m->held_down(p, u)) {  // held down: free, waiting out its hold-down
        if (leaked == 0) {
          std::snprintf(buf, sizeof buf, " (first: pool %u unit %llu at member %u%s%s)", p,
                        static_cast<unsigned long long>(u), owner, m->quarantined(p, u) ? ", quarantined" : "",
                        pool_configs_[p].static_ranges.empty() || u < holder_[p].size() - 16 ? "" : ", static");
          first_leak = buf;
        }
        ++leaked;
      }
    }
  }
  std::uint64_t budget = 0;
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
    set::Member* m = member(i);
    if (m == nullptr) continue;
    const set::MemberCounters& c = m->counters();
    budget += c.releases_dropped_full + c.releases_dropped_gone + c.releases_to_gone_received + c.releases_ring_full +
              c.quarantined + c.undone_allocations;
  }
  result_.stats.leaked = leaked;
  result_.stats.leak_budget = budget;
  // Each counted drop (a release dropped, a claim overtaken, a unit
  // quarantined or given back) explains at most one leaked unit. A crash
  // loses the crashed member's counters with it, so with crashes only a leak
  // without any fault at all is a failure.
  const bool lost_counters =
      result_.stats.crashes + result_.stats.zombies > 0;  // a buried zombie takes its counters too
  if (!lost_counters ? leaked > budget : (leaked > 0 && !any_fault_ && budget == 0)) {
    std::snprintf(buf, sizeof buf, "%llu units leaked, more than the %llu counted drops explain",
                  static_cast<unsigned long long>(leaked), static_cast<unsigned long long>(budget));
    fail(buf + first_leak);
  }
}

SimResult Simulator::run() {
  if (!result_.ok) return result_;
  const bool liveness = params_.mode == Mode::kLiveness;
  const std::uint64_t fault_steps = liveness ? params_.steps * 6 / 10 : params_.steps;
  for (std::uint64_t i = 0; i < fault_steps && result_.ok; ++i) step(true);
  if (liveness && result_.ok) {
    // Quiet phase: faults stop, partitions heal, crashed members restart, orphans are taken over.
    faults_on_ = false;
    heal();
    for (std::uint32_t i = 1; i <= nodes_.size(); ++i) bury(i);
    for (std::uint32_t i = 1; i <= nodes_.size(); ++i) restart(i);
    for (auto& [sid, s] : sessions_)
      if (s->controller == 0) s->takeover_at = std::min(s->takeover_at, now_ + 1);
    for (std::uint64_t i = fault_steps; i < params_.steps && result_.ok; ++i) step(true);
    // Drain: no new sessions; leases, hold-downs and retransmissions run out.
    params_.create_ppm = 0;
    const std::uint64_t drain = params_.lease + params_.hold_down + 50 * params_.retransmit + 1'000;
    for (std::uint64_t i = 0; i < drain && result_.ok; ++i) step(true);
    // Settle: no activity at all, until every release in flight has arrived and every hold-down ended.
    const std::uint64_t settle = params_.hold_down + 20 * params_.retransmit + 2 * params_.delay_max + 100;
    for (std::uint64_t i = 0; i < settle && result_.ok; ++i) step(false);
    if (result_.ok) liveness_check();
  }
  return result_;
}

}  // namespace uepool::sim
