// Simulator — the checks: every allocation against the session store and the windows the peers acknowledged (the
// observer hooks), and the liveness check at the end. See uepool/sim/simulator.hpp.
#include <cstdio>

#include "sim_state.hpp"

namespace uepool::sim {

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

// unit_freed — the owner freed a unit: no live session may hold it. Checked
// the moment it happens (a wrong free shows up here, not only when the unit
// is handed out again, which may be much later or never). A zombie's frees
// touch only its own stale copy and are not checked; nor are static units
// (never handed out dynamically; a claim may still be on its way when a
// release of the unit's earlier claim frees it).
void Simulator::unit_freed(const set::Member& owner, std::uint32_t pool, std::uint64_t unit) {
  const std::uint32_t id = owner.id();
  if (id == 0 || id > nodes_.size() || nodes_[id - 1]->member.get() != &owner) return;
  if (pool >= holder_.size() || unit >= holder_[pool].size() || holder_[pool][unit] == 0) return;
  if (!pool_configs_[pool].static_ranges.empty() && unit >= holder_[pool].size() - 16) return;
  char buf[200];
  std::snprintf(buf, sizeof buf, "member %u freed pool %u unit %llu while session %llu holds it", id, pool, ull(unit),
                ull(holder_[pool][unit]));
  fail(buf);
}

bool Simulator::check_allocation(std::uint32_t member_id, const set::Lease& l, const set::Member* who) {
  const set::Member& m = who != nullptr ? *who : *nodes_[member_id - 1]->member;
  if (l.pool >= holder_.size() || l.unit >= holder_[l.pool].size()) {
    fail("member handed out a unit beyond the pool");
    return false;
  }
  char buf[256];
  // The owner in the member's own epoch (the windows below are the real check).
  if (m.plan().owner(l.pool, l.unit) != member_id) {
    std::snprintf(buf, sizeof buf, "member %u handed out pool %u unit %llu, owned by member %u in its epoch %llu",
                  member_id, l.pool, static_cast<unsigned long long>(l.unit), m.plan().owner(l.pool, l.unit),
                  static_cast<unsigned long long>(m.epoch()));
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
  if (!params_.check_windows) return true;
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

void Simulator::liveness_check() {
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
    const set::Member* m = member(i);
    if (m == nullptr) continue;
    const set::MemberCounters& c = m->counters();
    result_.stats.audit_freed += c.audit_freed;
    result_.stats.rebuilds += c.rebuilds;
    result_.stats.blocks_moved += c.blocks_moved;
    result_.stats.blocks_taken_retired += c.blocks_taken_retired;
  }
  const std::string problem = end_problem(&result_.stats.leaked);
  if (!problem.empty()) fail(problem);
}

std::string Simulator::end_problem(std::uint64_t* leaked_out) {
  char buf[256];
  // Every member ready: a member that stays down fails its users as surely as a conflict.
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
    set::Member* m = member(i);
    if (retired_[i - 1]) continue;  // gone for good: its blocks are others' now
    if (m == nullptr) {
      std::snprintf(buf, sizeof buf, "member %u is down at the end", i);
      return buf;
    }
    if (m->ready()) continue;
    std::uint32_t complete = 0;
    for (std::uint32_t j = 1; j <= nodes_.size(); ++j)
      if (j != i && member(j) != nullptr && member(j)->has_complete_replica(i)) ++complete;
    std::snprintf(buf, sizeof buf, "member %u not ready at the end: %s (%u peers hold a complete replica, R = %u)", i,
                  m->not_ready_reason(), complete, m->answer_quorum());
    return buf;
  }
  // Every member at the newest epoch, every block it gained taken, its marks acknowledged.
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
    set::Member* m = member(i);
    if (retired_[i - 1] || (m->settled() && m->epoch() == plans_.size())) continue;
    const set::MemberView v = m->view();
    std::snprintf(buf, sizeof buf, "member %u not settled at the end: epoch %llu of %zu, %zu blocks to take: %s", i,
                  ull(v.epoch), plans_.size(), v.pending_blocks, v.epoch_wait);
    return buf;
  }
  const set::Plan& newest = *plans_.back();
  // A static claim is recorded at its owner only to report duplicates; a
  // claim that could not reach its owner leaves the unit free there (static
  // units are never allocated dynamically): not a conflict, not a leak.
  std::uint64_t leaked = 0;
  std::string first_leak;
  for (std::uint32_t p = 0; p < holder_.size(); ++p) {
    for (std::uint64_t u = 0; u < holder_[p].size(); ++u) {
      const std::uint32_t owner = newest.owner(p, u);
      set::Member* m = member(owner);
      const bool used = m->in_use(p, u);
      const bool is_static = !pool_configs_[p].static_ranges.empty() && u >= holder_[p].size() - 16;
      if (holder_[p][u] != 0 && !used && !is_static) {
        std::snprintf(buf, sizeof buf, "pool %u unit %llu is held by session %llu but free at its owner %u", p, ull(u),
                      ull(holder_[p][u]), owner);
        return buf;
      }
      if (holder_[p][u] == 0 && used && !m->held_down(p, u)) {  // held down: free, waiting out its hold-down
        if (leaked == 0) {
          std::snprintf(buf, sizeof buf, " (first: pool %u unit %llu at member %u%s%s)", p, ull(u), owner,
                        m->quarantined(p, u) ? ", quarantined" : "", is_static ? ", static" : "");
          first_leak = buf;
        }
        ++leaked;
      }
    }
  }
  if (leaked_out != nullptr) *leaked_out = leaked;
  if (leaked > 0) {
    std::snprintf(buf, sizeof buf, "%llu units leaked after the final audit", ull(leaked));
    return buf + first_leak;
  }
  return {};
}

}  // namespace uepool::sim
