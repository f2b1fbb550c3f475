// Simulator — the runner: setup, the step loop (random activity, delivery,
// ticks), tracing and the result. The other roles live in network.cpp,
// session_store.cpp, checker.cpp, faults.cpp, rng.cpp and params.cpp.
// See uepool/sim/simulator.hpp.
#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "sim_state.hpp"

namespace uepool::sim {

Simulator::Simulator(const SimParams& params, const set::detail::Rules& rules)
    // Each mode its own schedule: safety and liveness runs of one seed share no steps.
    : params_(params),
      rules_(rules),
      rng_(params.seed ^ (params.mode == Mode::kLiveness ? 0x6c6976656e657373ULL : 0)),
      retire_rng_(params.seed ^ (params.mode == Mode::kLiveness ? 0x7265746972656421ULL : 0x7265746972656400ULL)) {
  std::vector<set::MemberSpec> specs;
  const std::uint32_t standby = std::min(params_.standby, params_.members - 1);
  for (std::uint32_t i = 1; i <= params_.members; ++i) specs.push_back({i, i + standby > params_.members ? 0u : 1u});
  for (const set::MemberSpec& m : specs) weights_.push_back(m.weight);
  retired_.assign(params_.members, false);
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
    if (params_.dynamic_per_64 != 0) {
      // Exclude each 64 units' units after the first dynamic_per_64 dynamic
      // ones (the static units at the end stay), as aligned prefixes.
      const std::uint64_t first_static = units - 16;
      for (std::uint64_t b = 0; b < units; b += 64) {
        std::uint64_t lo = b + params_.dynamic_per_64 + (!sp.ipv6 && b == 0 ? 1 : 0);
        const std::uint64_t hi = std::min(b + 64, first_static);
        while (lo < hi) {
          unsigned k = 0;
          while (lo % (std::uint64_t{2} << k) == 0 && lo + (std::uint64_t{2} << k) <= hi) ++k;
          cfg.excluded.push_back(cfg.prefix.nth(cfg.unit_length - static_cast<int>(k), lo >> k).value());
          lo += std::uint64_t{1} << k;
        }
      }
    }
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
  plans_.push_back(plan_);
  nodes_.resize(params_.members);
  for (std::uint32_t i = 0; i < params_.members; ++i) {
    nodes_[i] = std::make_unique<Node>();
    nodes_[i]->ep = std::make_unique<Endpoint>(*this, i + 1, false);
    nodes_[i]->zombie_ep = std::make_unique<Endpoint>(*this, i + 1, true);
  }
  for (std::uint32_t i = 1; i <= params_.members; ++i) start_member(i, /*fresh=*/true);
}

Simulator::~Simulator() = default;

void Simulator::start_member(std::uint32_t id, bool fresh) {
  set::MemberOptions o;
  o.id = id;
  // The configuration it starts with: every epoch it was given so far.
  Node& node = *nodes_[id - 1];
  o.plan = plans_[node.epoch - 1];
  o.history.assign(plans_.begin(), plans_.begin() + static_cast<std::ptrdiff_t>(node.epoch - 1));
  o.pools = pool_configs_;
  o.fresh = fresh;
  o.nonce = rng_.next();
  o.window_units = params_.window_units;
  o.lease = params_.lease;
  o.windows_ahead = params_.windows_ahead;
  o.retransmit = params_.retransmit;
  o.heartbeat = params_.heartbeat != 0 ? params_.heartbeat : params_.retransmit / 2 + 1;
  o.stream_interval = params_.stream_interval;
  o.channel_capacity = params_.channel_capacity;
  o.release_ring = params_.release_ring;
  o.observer = this;
  o.store = this;
  o.audit_interval = params_.audit_interval;
  o.audit_grace = params_.store_lag;  // the longest a new session waits to be stored
  o.release_repeat_window = params_.repeat_window();
  o.generations = &nodes_[id - 1]->disk;
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
  trace(TraceEvent::kStart, id, n.lives);
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

void Simulator::trace(TraceEvent e, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  for (std::uint64_t v : {static_cast<std::uint64_t>(e), b, c, d, now_}) {
    result_.trace_hash ^= v;
    result_.trace_hash *= 0x100000001b3ULL;
    result_.trace_hash ^= result_.trace_hash >> 29;
  }
}

// ---------------------------------------------------------------- the step loop

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
      (void)zombie_session(m, static_cast<std::uint32_t>(rng_.below(holder_.size())));
    } else if (m != 0 && kind < 6) {
      (void)create_session(m, static_cast<std::uint32_t>(rng_.below(holder_.size())));
    } else if (m != 0 && kind < 8 && holder_.size() >= 2) {
      // Dual-stack: an IPv4 unit and an IPv6 prefix, all or nothing.
      Node& n = *nodes_[m - 1];
      auto [a, b] = n.member->allocate_dual(*n.worker, 0, 1);
      trace(TraceEvent::kAllocateDual, m, a.ok() ? a.lease.unit : 0, b.ok() ? b.lease.unit : 0);
      if (a.ok() && b.ok() && check_allocation(m, a.lease) && check_allocation(m, b.lease)) {
        if (a.lease.pool == b.lease.pool && a.lease.unit == b.lease.unit)
          fail("dual-stack allocation gave one unit twice");
        auto s = new_session();
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
        trace(TraceEvent::kClaim, m, pool, unit);
        if (st != set::MemberStatus::kOk) {
          fail(std::string("static claim refused: ") + set::member_status_name(st));
        } else {
          auto s = new_session();
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
      trace(TraceEvent::kMove, s.id, m);
    }
  }
}

bool Simulator::new_epoch(const std::vector<std::uint32_t>& weights, std::uint64_t delay) {
  std::vector<set::MemberSpec> specs;
  std::uint64_t total = 0;
  for (std::uint32_t i = 1; i <= weights.size(); ++i) {
    specs.push_back({i, retired_[i - 1] ? 0u : weights[i - 1], retired_[i - 1]});
    total += weights[i - 1];
  }
  if (total == 0 || weights.size() != nodes_.size()) return false;
  auto plan = plans_.back()->reweighted(plans_.size() + 1, specs);
  if (!plan.ok()) {
    fail("plan: " + plan.status().to_string());
    return false;
  }
  plans_.push_back(std::make_shared<const set::Plan>(std::move(plan.value())));
  weights_ = weights;
  ++result_.stats.epochs;
  trace(TraceEvent::kEpoch, plans_.size(), 0);
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) nodes_[i - 1]->epoch_due[plans_.size()] = now_ + delay;
  deliver_epochs();
  return true;
}

bool Simulator::retire(std::uint32_t id, std::uint64_t delay) {
  if (id == 0 || id > nodes_.size() || retired_[id - 1]) return false;
  std::uint32_t left = 0;
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i)
    if (i != id && !retired_[i - 1]) ++left;
  // Each member left needs A = ceil(p / 2) peers that run (window acks).
  const auto peers = static_cast<std::uint32_t>(nodes_.size() - 1);
  if (left < 2 || left - 1 < (peers + 1) / 2) return false;
  Node& n = *nodes_[id - 1];
  if (watch_) watch_event("step %llu: member %u is gone for good (retired)", ull(now_), id);
  crash(id);
  bury(id);
  n.restart_at = 0;
  n.epoch_due.clear();
  retired_[id - 1] = true;
  ++result_.stats.retired;
  std::vector<std::uint32_t> w = weights_;
  w[id - 1] = 0;
  bool any = false;
  for (std::uint32_t i = 1; i <= w.size(); ++i) any = any || (w[i - 1] > 0 && !retired_[i - 1]);
  for (std::uint32_t i = 1; !any && i <= w.size(); ++i)
    if (!retired_[i - 1]) {
      w[i - 1] = 1;  // somebody must own the blocks: a standby joins
      any = true;
    }
  return new_epoch(w, delay);
}

void Simulator::withhold_epochs(std::uint32_t id) {
  for (auto& [e, at] : nodes_[id - 1]->epoch_due) at = UINT64_MAX;
}

void Simulator::forget_epochs(std::uint32_t id, std::uint64_t keep) {
  Node& n = *nodes_[id - 1];
  for (std::uint64_t e = keep + 1; e <= n.epoch; ++e) n.epoch_due[e] = UINT64_MAX;
  n.epoch = std::min(n.epoch, std::max<std::uint64_t>(keep, 1));
}

void Simulator::give_epochs(std::uint32_t id) {
  for (auto& [e, at] : nodes_[id - 1]->epoch_due) at = std::min(at, now_);
  deliver_epochs();
}

// deliver_epochs — each member's configuration reaches it at its own time.
// A member down keeps the configuration it had: what it missed reaches it
// after it restarted (restart draws when), so a restarted member may
// recover, and run a while, an epoch or more behind the set.
void Simulator::deliver_epochs() {
  for (std::uint32_t i = 1; i <= nodes_.size() && result_.ok; ++i) {
    Node& n = *nodes_[i - 1];
    while (n.up && !n.epoch_due.empty() && n.epoch_due.begin()->second <= now_) {
      const std::uint64_t e = n.epoch_due.begin()->first;
      n.epoch_due.erase(n.epoch_due.begin());
      n.epoch = std::max(n.epoch, e);
      trace(TraceEvent::kEpoch, e, i);
      if (watch_)
        watch_event("step %llu: member %u is given epoch %llu (its owner there: member %u)", ull(now_), i, ull(e),
                    plans_[e - 1]->owner(watch_pool_, watch_unit_));
      const Status st = n.member->set_membership(plans_[e - 1]);
      if (!st.ok()) fail("set_membership: " + st.to_string());
    }
  }
}

// random_epoch — a join (a standby gets a weight), a leave (weight 0) or a
// weight change, always leaving some member with a weight.
void Simulator::random_epoch() {
  std::vector<std::uint32_t> w = weights_;
  const auto i = static_cast<std::size_t>(rng_.below(w.size()));
  if (retired_[i]) return;  // it stays retired (weight 0) for good
  std::uint32_t others = 0;
  for (std::size_t k = 0; k < w.size(); ++k)
    if (k != i && w[k] > 0) ++others;
  // A standby joins (weight 0 -> 1..3); a member leaves (-> 0) or changes its weight.
  if (w[i] != 0 && others > 0 && rng_.chance(400'000)) {
    w[i] = 0;
  } else {
    w[i] = static_cast<std::uint32_t>(rng_.between(1, 3));
  }
  if (!new_epoch(w, params_.epoch_spread + 1)) return;
  // Each member's configuration reaches it at its own time.
  for (auto& n : nodes_) n->epoch_due[plans_.size()] = now_ + rng_.between(1, params_.epoch_spread);
}

void Simulator::step(bool random) {
  ++now_;
  std::erase_if(blocks_, [&](const auto& kv) { return kv.second <= now_; });
  deliver();
  for (std::uint32_t i = 1; i <= nodes_.size() && result_.ok; ++i) {
    Node& n = *nodes_[i - 1];
    if (!n.up && n.restart_at != 0 && n.restart_at <= now_) restart(i);
  }
  deliver_epochs();
  for (std::uint32_t i = 1; i <= nodes_.size() && result_.ok; ++i) {
    Node& n = *nodes_[i - 1];
    // Each incarnation's pump: what deliver() put in its inbox this step,
    // then its timers and what it sends. (A zombie reads its frames before
    // it may be buried, as it would have before it stopped.)
    if (n.zombie != nullptr)
      (void)transport::pump_in(
          *n.zombie, *n.zombie_ep, 0, [&] { return now_; }, pump_in_, pumped_);
    n.zombie_ep->inbox.clear();
    if (n.zombie != nullptr && n.zombie_until <= now_) bury(i);
    if (n.zombie != nullptr) (void)transport::pump_out(*n.zombie, *n.zombie_ep, now_, pumped_);
    if (!n.up) {
      n.ep->inbox.clear();
      continue;
    }
    (void)transport::pump_in(
        *n.member, *n.ep, 0, [&] { return now_; }, pump_in_, pumped_);
    (void)transport::pump_out(*n.member, *n.ep, now_, pumped_);
    if (n.member->phase() == set::MemberPhase::kSuperseded) {
      // It learned that a newer incarnation of itself was seen first: the
      // embedding restarts it (as after a crash: its state is gone).
      crash(i);
      n.restart_at = now_ + 1 + (faults_on_ ? rng_.below(params_.restart_max) : 0);
    }
  }
  // Releases the embedding repeats (their sessions ended earlier).
  for (std::size_t k = 0; k < late_.size() && result_.ok;) {
    if (late_[k].at > now_) {
      ++k;
      continue;
    }
    const set::Lease l = late_[k].lease;
    late_[k] = late_.back();
    late_.pop_back();
    if (const std::uint32_t m = random_live_member(); m != 0) release_again(l, m);
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
        trace(TraceEvent::kTakeover, s.id, m);
      }
    }
    ++it;
  }
  if (random && result_.ok) {
    if (faults_on_) random_faults();
    if (faults_on_ && params_.epoch_ppm != 0 && rng_.chance(params_.epoch_ppm)) random_epoch();
    if (faults_on_ && params_.retire_ppm != 0 && retire_rng_.chance(params_.retire_ppm)) {
      const auto id = static_cast<std::uint32_t>(1 + retire_rng_.below(nodes_.size()));
      if (retire(id, params_.epoch_spread + 1))
        for (auto& n : nodes_) n->epoch_due[plans_.size()] = now_ + retire_rng_.between(1, params_.epoch_spread);
    }
    random_activity();
  }
  ++result_.steps_run;
}

void Simulator::run_steps(std::uint64_t n) {
  for (std::uint64_t i = 0; i < n && result_.ok; ++i) step(false);
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
    for (std::uint32_t i = 1; i <= nodes_.size(); ++i) give_epochs(i);
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
    // The final audit: every member reconciles its blocks with the session
    // store; units it frees wait out their hold first.
    for (std::uint32_t i = 1; i <= nodes_.size(); ++i)
      if (member(i) != nullptr) (void)member(i)->audit_now();
    // Units an audit frees wait out a lease, or the repeat window where their
    // serial wrapped; a hold restored at a recovery may end in a quarantine
    // that asks for one more audit.
    const std::uint64_t audit_steps =
        2 * (3 * params_.lease + params_.hold_down + params_.repeat_window() + 50 * params_.retransmit + 1'000);
    for (std::uint64_t i = 0; i < audit_steps && result_.ok; ++i) {
      bool busy = false;
      for (std::uint32_t m = 1; m <= nodes_.size(); ++m)
        if (member(m) != nullptr && (member(m)->auditing() || !member(m)->ready() || !member(m)->settled()))
          busy = true;
      if (!busy) break;
      step(false);
    }
    if (result_.ok) liveness_check();
  }
  return result_;
}

}  // namespace uepool::sim
