// Explorer — `uepool sim --exhaustive`: a depth-first search over every
// schedule of a small configuration, with state hashing. The search, its
// bounds and what the state hash covers: uepool/sim/simulator.hpp (explore).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <unordered_map>

#include "sim_state.hpp"

namespace uepool::sim {

namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  // splitmix64's finaliser over (h, v): every bit of v reaches every bit.
  std::uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Every decision is followed by one step; kSettle by kLongGap (the
// explorer's retransmission timeout is 3 steps, its lease 20).
constexpr std::uint64_t kLongGap = 30;

}  // namespace

// Explorer — runs one schedule on a fresh Simulator: the decisions enabled
// in each state, applying one, the state hash, and the final checks.
class Explorer {
 public:
  struct Decision {
    enum Kind : std::uint8_t {
      kWait,          // one step
      kSettle,        // long enough for windows, recoveries and bulk copies to complete
      kCreate,        // a new session at member a (retried while refused, for at most four settles)
      kZombieCreate,  // member a's zombie serves a new session
      kEnd,           // session s ended at member a (its controller, or another member: a moved session)
      kRerelease,     // an ended session's release, repeated at member a
      kCrash,         // member a crashes (state lost, unsent frames too)
      kZombie,        // member a is replaced by a new incarnation while the old one runs on
      kRestart,       // member a restarts
      kJoin,          // member a (a standby) gets weight 1
      kLeave,         // member a's weight goes to 0
      kLose,          // every frame member a sends this step is lost
      kRetire,        // member a is gone for good; the next epoch retires it (Simulator::retire)
    } kind = kWait;
    std::uint32_t a = 0;
    std::uint32_t only =
        0;  // kJoin, kLeave, kRetire: the one member the epoch reaches now (0: every member; the rest at the end)
    Simulator::SessionId session = 0;
    std::size_t rerelease = 0;  // index into ended_
  };

  Explorer(const ExploreParams& p, const set::detail::Rules& rules) : p_(p), rules_(rules) {}

  static SimParams sim_params(const ExploreParams& p) {
    SimPool pool;
    pool.ipv6 = false;
    pool.bits = p.blocks >= 2 ? 9 : 8;
    pool.block_units = 256;
    SimParams s = SimParams::quiet(p.members, {pool});
    s.seed = 1;
    s.mode = Mode::kLiveness;
    s.window_units = 64;
    s.dynamic_per_64 = 2;  // units are reused within a few decisions
    s.windows_ahead = 1;
    // Short leases and frequent audits, so that a window's quarantine ends
    // within a settle; a hold-down that outlives it (a unit released before
    // a crash is still held when its owner's next incarnation allocates).
    s.lease = 20;
    s.hold_down = 100;
    s.audit_interval = 10;
    s.retransmit = 3;
    s.heartbeat = 2;
    s.delay_max = 1;
    s.takeover_max = 1;  // an orphaned session is taken over at the next step
    s.restart_max = 1;   // a superseded member restarts at the next step
    s.standby = p.epochs > 0 ? 1 : 0;
    s.check_windows = p.check_windows;
    // A repeated release comes at once here; the window the members keep
    // for repeats is SimParams::repeat_window().
    s.rerelease_ppm = p.rereleases > 0 ? 1 : 0;
    s.rerelease_max = 1;
    s.partition_len = 0;
    return s;
  }
  // Outcome of one schedule.
  struct Run {
    bool pruned = false;                 // stopped at a state seen before
    std::vector<std::uint32_t> options;  // per level applied: how many decisions were enabled
    std::vector<std::string> texts;      // per level applied: the decision taken (depth of them unless cut short)
    std::uint64_t steps = 0;
    std::string failure;
    bool bad_choice = false;
  };

  // Seen — state hash -> (the fewest decisions it was reached with, the schedule prefix that reached it then).
  using Seen = std::unordered_map<std::uint64_t, std::pair<std::size_t, std::uint64_t>>;

  Run run(const std::vector<std::uint32_t>& choices, Seen* seen, std::uint64_t* new_states,
          std::optional<std::uint64_t> watch = {}, std::vector<std::string>* watch_log = nullptr) {
    Run r;
    Simulator sim(sim_params(p_), rules_);
    if (watch) sim.watch(0, *watch);
    sim_ = &sim;
    ended_.clear();
    crashes_ = epochs_ = losses_ = sessions_ = rereleases_ = retires_ = 0;
    warm_up();
    std::uint64_t prefix = 0x7072656669780000ULL;
    for (std::size_t level = 0; level < p_.depth && sim.result_.ok; ++level) {
      if (seen != nullptr) {
        const std::uint64_t h = digest();
        auto [it, inserted] = seen->try_emplace(h, level, prefix);
        if (inserted) {
          ++*new_states;
        } else if (it->second.second != prefix) {
          if (it->second.first <= level) {
            r.pruned = true;
            break;
          }
          it->second = {level, prefix};  // reached with more decisions left: explored again from here
        }
      }
      const std::vector<Decision> options = enabled();
      const std::uint32_t c = level < choices.size() ? choices[level] : 0;
      r.options.push_back(static_cast<std::uint32_t>(options.size()));
      if (c >= options.size()) {
        r.bad_choice = true;
        r.failure = "the schedule names decision " + std::to_string(c) + " at decision " + std::to_string(level + 1) +
                    ", where only " + std::to_string(options.size()) + " are enabled (0.." +
                    std::to_string(options.size() - 1) + ")";
        break;
      }
      r.texts.push_back(text(options[c]));
      apply(options[c]);
      prefix = mix(prefix, c);
    }
    if (!r.pruned && r.failure.empty() && sim.result_.ok) finish();
    if (r.failure.empty() && !sim.result_.ok) r.failure = sim.result_.failure;
    r.steps = sim.now_;
    if (watch_log != nullptr) *watch_log = sim.result_.watch_log;
    sim_ = nullptr;
    return r;
  }

  static std::string text(const Decision& d) {
    char buf[128];
    switch (d.kind) {
      case Decision::kWait: std::snprintf(buf, sizeof buf, "a step"); break;
      case Decision::kSettle: std::snprintf(buf, sizeof buf, "%llu steps: the set settles", ull(kLongGap)); break;
      case Decision::kCreate: std::snprintf(buf, sizeof buf, "new session at member %u", d.a); break;
      case Decision::kZombieCreate: std::snprintf(buf, sizeof buf, "new session at member %u's zombie", d.a); break;
      case Decision::kEnd: std::snprintf(buf, sizeof buf, "session %llu ends at member %u", ull(d.session), d.a); break;
      case Decision::kRerelease:
        std::snprintf(buf, sizeof buf, "an ended session's release repeated at member %u", d.a);
        break;
      case Decision::kCrash: std::snprintf(buf, sizeof buf, "member %u crashes", d.a); break;
      case Decision::kZombie:
        std::snprintf(buf, sizeof buf, "member %u restarts while its old incarnation runs on", d.a);
        break;
      case Decision::kRestart: std::snprintf(buf, sizeof buf, "member %u restarts", d.a); break;
      case Decision::kJoin:
      case Decision::kLeave: {
        char to[48] = "every member";
        if (d.only != 0) std::snprintf(to, sizeof to, "only member %u (the rest at the end)", d.only);
        std::snprintf(buf, sizeof buf, "member %u %s; the epoch reaches %s", d.a,
                      d.kind == Decision::kJoin ? "joins (weight 1)" : "leaves (weight 0)", to);
        break;
      }
      case Decision::kLose: std::snprintf(buf, sizeof buf, "member %u's frames lost for a step", d.a); break;
      case Decision::kRetire: {
        char to[48] = "every member";
        if (d.only != 0) std::snprintf(to, sizeof to, "only member %u (the rest at the end)", d.only);
        std::snprintf(buf, sizeof buf, "member %u is gone for good and retired; the epoch reaches %s", d.a, to);
        break;
      }
    }
    return buf;
  }

 private:
  // warm_up — from the fresh start until every member is ready and has
  // reserved its windows (deterministic: no decision yet).
  void warm_up() {
    Simulator& s = *sim_;
    for (std::uint64_t i = 0; i < 2'000 && s.result_.ok; ++i) {
      s.step(false);
      if (i >= 5 * s.params_.retransmit && quiet()) break;
    }
  }

  std::vector<Decision> enabled() {
    Simulator& s = *sim_;
    std::vector<Decision> events;
    events.push_back({Decision::kWait});
    events.push_back({Decision::kSettle});
    const auto n = static_cast<std::uint32_t>(s.nodes_.size());
    auto first_live_other = [&](std::uint32_t not_this) -> std::uint32_t {
      for (std::uint32_t i = 1; i <= n; ++i)
        if (i != not_this && s.member(i) != nullptr) return i;
      return 0;
    };
    if (sessions_ < p_.sessions) {
      for (std::uint32_t i = 1; i <= n; ++i) {
        if (s.member(i) != nullptr) events.push_back({Decision::kCreate, i});
        if (s.nodes_[i - 1]->zombie != nullptr) events.push_back({Decision::kZombieCreate, i});
      }
    }
    for (const auto& [sid, session] : s.sessions_) {
      if (session->controller == 0) continue;
      Decision d{Decision::kEnd, session->controller};
      d.session = sid;
      if (session->on_zombie || s.member(session->controller) != nullptr) events.push_back(d);
      if (const std::uint32_t o = first_live_other(session->controller); o != 0) {
        d.a = o;
        events.push_back(d);
      }
    }
    if (rereleases_ < p_.rereleases && !ended_.empty()) {
      for (std::size_t k = 0; k < ended_.size(); ++k) {
        Decision d{Decision::kRerelease, first_live_other(0)};
        d.rerelease = k;
        if (d.a != 0) events.push_back(d);
      }
    }
    for (std::uint32_t i = 1; i <= n; ++i) {
      const Simulator::Node& node = *s.nodes_[i - 1];
      if (s.retired(i)) continue;  // gone for good
      if (node.up && crashes_ < p_.crashes) {
        events.push_back({Decision::kCrash, i});
        if (p_.zombies && node.zombie == nullptr) events.push_back({Decision::kZombie, i});
      }
      if (!node.up) events.push_back({Decision::kRestart, i});
    }
    if (epochs_ < p_.epochs) {
      std::uint32_t with_weight = 0;
      for (std::uint32_t w : s.weights_) with_weight += w > 0 ? 1 : 0;
      for (std::uint32_t i = 1; i <= n; ++i) {
        const bool join = s.weights_[i - 1] == 0;
        if (s.retired(i) || (!join && with_weight <= 1)) continue;
        // The new epoch reaches every member, or only one of them (a
        // configuration push that lags elsewhere: the rest get it at the end).
        for (std::uint32_t only = 0; only <= n; ++only) {
          Decision d{join ? Decision::kJoin : Decision::kLeave, i};
          d.only = only;
          events.push_back(d);
        }
      }
    }
    if (losses_ < p_.losses)
      for (std::uint32_t a = 1; a <= n; ++a)
        if (s.nodes_[a - 1]->up || s.nodes_[a - 1]->zombie != nullptr) events.push_back({Decision::kLose, a});
    if (retires_ < p_.retires) {
      // Retiring needs two members left with A peers that run (Simulator::retire).
      std::uint32_t left = 0;
      for (std::uint32_t i = 1; i <= n; ++i) left += s.retired(i) ? 0 : 1;
      if (left >= 3 && left - 2 >= n / 2)
        for (std::uint32_t i = 1; i <= n; ++i) {
          if (s.retired(i)) continue;
          for (std::uint32_t only = 0; only <= n; ++only) {
            if (only == i || (only != 0 && s.retired(only))) continue;
            Decision d{Decision::kRetire, i};
            d.only = only;
            events.push_back(d);
          }
        }
    }
    return events;
  }

  void apply(const Decision& d) {
    Simulator& s = *sim_;
    switch (d.kind) {
      case Decision::kWait:
      case Decision::kSettle: break;
      case Decision::kCreate:
        // The SMF retries while the member refuses (not ready, or no unit
        // free yet: a refusal changes nothing but a counter), for at most four settles.
        ++sessions_;
        for (std::uint64_t i = 0; s.result_.ok && s.member(d.a) != nullptr; ++i) {
          if (s.create_session(d.a, 0) || i == 4 * kLongGap) break;
          s.step(false);
        }
        break;
      case Decision::kZombieCreate:
        ++sessions_;
        (void)s.zombie_session(d.a, 0);
        break;
      case Decision::kEnd: {
        const Simulator::Session& session = *s.sessions_.at(d.session);
        for (const set::Lease& l : session.leases)
          if (!session.is_static) ended_.push_back(l);
        s.end_session(d.session, d.a);
        break;
      }
      case Decision::kRerelease:
        ++rereleases_;
        s.release_again(ended_[d.rerelease], d.a);
        break;
      case Decision::kCrash:
        ++crashes_;
        s.crash(d.a);
        break;
      case Decision::kZombie:
        ++crashes_;
        s.split(d.a, /*partitioned=*/false);
        break;
      case Decision::kRestart: s.restart(d.a); break;
      case Decision::kJoin:
      case Decision::kLeave: {
        ++epochs_;
        std::vector<std::uint32_t> w = s.weights_;
        w[d.a - 1] = d.kind == Decision::kJoin ? 1 : 0;
        (void)s.new_epoch(w, 1);
        if (d.only != 0)
          for (std::uint32_t m = 1; m <= s.nodes_.size(); ++m)
            if (m != d.only) s.nodes_[m - 1]->epoch_due[s.plans_.size()] = UINT64_MAX;
        break;
      }
      case Decision::kLose:
        ++losses_;
        for (std::uint32_t b = 1; b <= s.nodes_.size(); ++b)
          if (b != d.a) s.block_one_way(d.a, b);
        break;
      case Decision::kRetire:
        ++retires_;
        if (!s.retire(d.a, 1)) break;
        if (d.only != 0)
          for (std::uint32_t m = 1; m <= s.nodes_.size(); ++m)
            if (m != d.only && !s.retired(m)) s.nodes_[m - 1]->epoch_due[s.plans_.size()] = UINT64_MAX;
        break;
    }
    // What was sent in the step before reaches its receivers in this one
    // (delay 1): a loss drops what member a sent then.
    const std::uint64_t gap = d.kind == Decision::kSettle ? kLongGap : 1;
    for (std::uint64_t i = 0; i < gap && s.result_.ok; ++i) s.step(false);
    if (d.kind == Decision::kLose) s.heal();
  }

  // finish — the faults heal and every member restarts; the set must end
  // strictly live: every member ready and settled at the newest epoch, and
  // after a final audit nothing leaked (Simulator::end_problem), within a
  // bound of steps. Checked every few steps, so a schedule stops as soon as
  // its set is clean.
  void finish() {
    Simulator& s = *sim_;
    s.faults_on_ = false;
    s.heal();
    const auto n = static_cast<std::uint32_t>(s.nodes_.size());
    for (std::uint32_t i = 1; i <= n; ++i) s.bury(i);
    for (std::uint32_t i = 1; i <= n; ++i) s.restart(i);
    for (std::uint32_t i = 1; i <= n; ++i) s.give_epochs(i);
    for (auto& [sid, session] : s.sessions_)
      if (session->controller == 0) session->takeover_at = std::min(session->takeover_at, s.now_ + 1);
    const SimParams& sp = s.params_;
    const std::uint64_t limit = 2 * (3 * sp.lease + sp.hold_down + sp.repeat_window() + 50 * sp.retransmit + 1'000);
    const std::uint64_t audit_every = 2 * sp.lease + sp.hold_down + 20 * sp.retransmit;
    std::uint64_t last_audit = 0;
    int audits = 0;
    for (std::uint64_t i = 1; i <= limit && s.result_.ok; ++i) {
      s.step(false);
      if (i % 4 != 0 || !quiet()) continue;
      if (s.end_problem().empty()) return;
      // Quiet but not clean: an audit (two at most: a hold restored at a
      // recovery may end in a quarantine that asks for one more).
      if (audits < 2 && (audits == 0 || s.now_ >= last_audit + audit_every)) {
        for (std::uint32_t m = 1; m <= n; ++m)
          if (s.member(m) != nullptr) (void)s.member(m)->audit_now();
        last_audit = s.now_;
        ++audits;
      }
    }
    if (s.result_.ok) s.liveness_check();
  }

  // quiet — every member up, ready and settled at the newest epoch, with
  // nothing unacknowledged on its channels (heartbeats are always on the
  // way); no session waiting for a take-over. (Audits run every 10 steps:
  // one is nearly always under way.)
  bool quiet() {
    Simulator& s = *sim_;
    for (std::uint32_t i = 1; i <= s.nodes_.size(); ++i) {
      if (s.retired(i)) continue;  // gone for good
      set::Member* m = s.member(i);
      if (m == nullptr || !m->ready() || !m->settled() || m->epoch() != s.plans_.size()) return false;
      for (const set::MemberView::PeerFacts& p : m->view().peers)
        if (!s.retired(p.id) && (p.unacked_records != 0 || p.needs_seed || !p.acks_us)) return false;
    }
    for (const auto& [sid, session] : s.sessions_)
      if (session->controller == 0) return false;
    return true;
  }

  // digest — the state hash (see explore in simulator.hpp for what it covers).
  std::uint64_t digest() {
    Simulator& s = *sim_;
    std::uint64_t h = mix(0, s.now_);
    for (std::uint64_t v : {std::uint64_t{crashes_}, std::uint64_t{epochs_}, std::uint64_t{losses_},
                            std::uint64_t{sessions_}, std::uint64_t{rereleases_}, std::uint64_t{ended_.size()}})
      h = mix(h, v);
    if (p_.retires > 0) {  // (only then: the hashes of searches without retirements stay as they were)
      h = mix(h, retires_);
      for (std::uint32_t i = 1; i <= s.nodes_.size(); ++i) h = mix(h, s.retired(i) ? 1u : 0u);
    }
    for (const set::Lease& l : ended_) h = lease(h, l);
    for (std::uint32_t i = 1; i <= s.nodes_.size(); ++i) {
      const Simulator::Node& node = *s.nodes_[i - 1];
      h = mix(h, (node.up ? 1u : 0u) | (node.zombie != nullptr ? 2u : 0u) | (node.zombie_partitioned ? 4u : 0u));
      h = mix(h, node.lives);
      h = mix(h, node.epoch);
      h = mix(h, node.disk.value);
      h = mix(h, node.zombie != nullptr ? node.zombie_until - std::min(node.zombie_until, s.now_) : 0);
      for (const auto& [e, at] : node.epoch_due) h = mix(mix(h, e), at - std::min(at, s.now_));
      if (node.up) h = member(h, *node.member);
      if (node.zombie != nullptr) h = member(h, *node.zombie);
    }
    for (std::uint32_t w : s.weights_) h = mix(h, w);
    h = mix(h, s.plans_.size());
    for (const auto& [key, f] : s.network_) {
      h = mix(h, key.first - s.now_);
      h = mix(h, (std::uint64_t{f.from} << 40) | (std::uint64_t{f.to} << 8) | static_cast<std::uint64_t>(f.kind()));
      h = mix(mix(h, f.from_inc.generation), f.from_inc.nonce);
      h = mix(mix(h, f.to_inc.generation), f.to_inc.nonce);
      if (const set::frame::Data* d = f.data()) h = mix(mix(h, d->seq), d->records.size());
    }
    for (const auto& [pair, until] : s.blocks_) h = mix(mix(mix(h, pair.first), pair.second), until);
    for (const auto& [from, to] : s.one_way_) h = mix(mix(h, from), to);
    // Sessions by what they hold (not by their ids, which count creations).
    std::uint64_t sessions = 0;
    for (const auto& [sid, session] : s.sessions_) {
      std::uint64_t x = mix(session->controller, session->on_zombie ? 1 : 0);
      x = mix(x, session->controller == 0 ? session->takeover_at - std::min(session->takeover_at, s.now_) : 0);
      for (const set::Lease& l : session->leases) x = lease(x, l);
      sessions += mix(x, session->is_static ? 1 : 0);  // a sum: order-free
    }
    h = mix(h, sessions);
    for (std::size_t p = 0; p < s.released_at_.size(); ++p)
      for (std::size_t u = 0; u < s.released_at_[p].size(); ++u)
        if (const std::uint64_t rel = s.released_at_[p][u]; rel != 0)
          h = mix(mix(h, u), std::min(s.now_ + 1 - rel, s.params_.hold_down + 1));
    std::uint64_t windows = 0;
    for (const auto& [key, f] : s.windows_) {
      std::uint64_t x = mix(std::get<0>(key), std::get<1>(key));
      x = mix(mix(x, std::get<2>(key)), std::get<3>(key));
      x = mix(mix(x, f->lease_end - std::min(f->lease_end, s.now_)), f->ackers.size());
      windows += x;
    }
    return mix(h, windows);
  }

  static std::uint64_t lease(std::uint64_t h, const set::Lease& l) {
    h = mix(mix(h, l.pool), l.unit);
    h = mix(mix(h, l.tag.generation), l.tag.window);
    return mix(mix(mix(h, l.claim), l.serial), l.nonce);
  }

  std::uint64_t member(std::uint64_t h, const set::Member& m) {
    static_assert(std::is_trivially_copyable_v<set::MemberCounters> && sizeof(set::MemberCounters) % 8 == 0,
                  "the counters are hashed word by word");
    const set::MemberView v = m.view();
    h = mix(h, static_cast<std::uint64_t>(v.phase));
    h = mix(mix(h, v.incarnation.generation), v.incarnation.nonce);
    h = mix(mix(mix(h, v.stream_seq), v.epoch), v.target_epoch);
    h = mix(mix(mix(h, v.pending_blocks), v.frozen_blocks), v.handover ? 1 : 0);
    std::uint64_t words[sizeof(set::MemberCounters) / 8];
    std::memcpy(words, &v.counters, sizeof words);
    for (std::uint64_t w : words) h = mix(h, w);
    for (const set::MemberView::Window& w : v.windows) {
      h = mix(mix(mix(h, w.pool), w.begin), w.end);
      h = mix(mix(h, w.tag.generation), w.tag.window);
      h = mix(h, w.lease_end - std::min(w.lease_end, sim_->now_));
      for (const char* c = w.state; *c != 0; ++c) h = mix(h, static_cast<unsigned char>(*c));
    }
    for (const set::MemberView::PeerFacts& p : v.peers) {
      h = mix(mix(mix(h, p.id), p.incarnation.generation), p.incarnation.nonce);
      h = mix(mix(h, p.replica_complete ? 1 : 0), p.replica_of.generation);
      h = mix(mix(h, p.replica_seq), p.replica_open_windows);
      h = mix(mix(h, p.acks_us ? 1 : 0), p.acked_seq);
      h = mix(mix(mix(h, p.unacked_records), p.retransmitted), p.needs_seed ? 1 : 0);
    }
    for (std::uint32_t pool = 0; pool < m.pool_count(); ++pool) {
      const std::uint64_t units = sim_->holder_[pool].size();
      for (std::uint64_t u = 0; u < units; ++u) {
        const std::uint64_t bits =
            (m.in_use(pool, u) ? 1u : 0u) | (m.held_down(pool, u) ? 2u : 0u) | (m.quarantined(pool, u) ? 4u : 0u);
        if (bits != 0) h = mix(mix(h, u), bits);
      }
    }
    return h;
  }

  const ExploreParams& p_;
  set::detail::Rules rules_;
  Simulator* sim_ = nullptr;
  std::vector<set::Lease> ended_;  // dynamic leases of ended sessions (for repeated releases)
  std::uint32_t crashes_ = 0, epochs_ = 0, losses_ = 0, sessions_ = 0, rereleases_ = 0, retires_ = 0;
};

ExploreResult explore(const ExploreParams& p, const set::detail::Rules& rules) {
  ExploreResult out;
  Explorer ex(p, rules);
  Explorer::Seen seen;
  std::vector<std::uint32_t> choices;
  for (;;) {
    if (p.max_schedules != 0 && out.schedules >= p.max_schedules) {
      out.complete = false;
      break;
    }
    Explorer::Run r = ex.run(choices, &seen, &out.states);
    ++out.schedules;
    out.steps += r.steps;
    out.longest = std::max(out.longest, r.steps);
    if (r.pruned) ++out.pruned;
    if (!r.failure.empty()) {
      out.ok = false;
      out.failure = r.failure;
      out.choices.assign(choices.begin(), choices.end());
      out.choices.resize(r.texts.size(), 0);
      out.schedule = r.texts;
      break;
    }
    // The next schedule: the deepest decision with an alternative left moves on to it.
    choices.resize(r.texts.size(), 0);
    std::vector<std::uint32_t> options(r.options.begin(),
                                       r.options.begin() + static_cast<std::ptrdiff_t>(r.texts.size()));
    while (!choices.empty() && choices.back() + 1 >= options.back()) {
      choices.pop_back();
      options.pop_back();
    }
    if (choices.empty()) break;
    ++choices.back();
  }
  return out;
}

ExploreResult replay_schedule(const ExploreParams& p, const std::vector<std::uint32_t>& choices,
                              const set::detail::Rules& rules, std::optional<std::uint64_t> watch,
                              std::vector<std::string>* watch_log) {
  ExploreResult out;
  ExploreParams one = p;
  one.depth = static_cast<std::uint32_t>(choices.size());
  Explorer ex1(one, rules);
  Explorer::Run r = ex1.run(choices, nullptr, &out.states, watch, watch_log);
  out.schedules = 1;
  out.steps = out.longest = r.steps;
  out.choices = choices;
  out.schedule = r.texts;
  if (!r.failure.empty()) {
    out.ok = false;
    out.bad_schedule = r.bad_choice;
    out.failure = r.failure;
  }
  return out;
}

std::string describe(const ExploreParams& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "members %u (%s), one pool of %u block%s of 256 units, windows of 64 (2 units of each allocatable), "
                "depth %u, at most %u crashes%s, "
                "%u join%s or leave%s, %u loss%s, %u sessions, %u repeated release%s, %u retirement%s",
                p.members, p.epochs > 0 ? "the last a standby" : "no standby", p.blocks, p.blocks == 1 ? "" : "s",
                p.depth, p.crashes, p.zombies ? " (a zombie counts as one)" : "", p.epochs, p.epochs == 1 ? "" : "s",
                p.epochs == 1 ? "" : "s", p.losses, p.losses == 1 ? "" : "es", p.sessions, p.rereleases,
                p.rereleases == 1 ? "" : "s", p.retires, p.retires == 1 ? "" : "s");
  return buf;
}

}  // namespace uepool::sim
