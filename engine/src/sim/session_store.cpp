// Simulator — the session store, the ground truth (the set's UDSF): sessions, who holds which unit, releases at
// whichever member holds the session. See uepool/sim/simulator.hpp.
#include <cstdio>

#include "sim_state.hpp"

namespace uepool::sim {

void Simulator::hold(SessionId sid, const set::Lease& l) {
  if (watched(l)) watch_event("step %llu: session %llu holds it", ull(now_), ull(sid));
  holder_[l.pool][l.unit] = sid;
}

std::unique_ptr<Simulator::Session> Simulator::new_session() {
  auto s = std::make_unique<Session>();
  s->id = next_session_++;
  // In flight: allocate has returned, the session is not stored yet.
  s->stored_at = now_ + (params_.store_lag != 0 ? rng_.below(params_.store_lag + 1) : 0);
  return s;
}

std::optional<Simulator::SessionId> Simulator::create_session(std::uint32_t member_id, std::uint32_t pool) {
  set::Member* m = member(member_id);
  if (m == nullptr || pool >= holder_.size()) return std::nullopt;
  Node& n = *nodes_[member_id - 1];
  const set::MemberAllocation a = m->allocate(*n.worker, pool);
  trace(TraceEvent::kAllocate, member_id, pool,
        a.ok() ? a.lease.unit : 1'000'000'000 + static_cast<std::uint64_t>(a.status));
  if (!a.ok()) {
    (a.status == set::MemberStatus::kNoneFree ? result_.stats.none_free : result_.stats.not_ready)++;
    return std::nullopt;
  }
  if (!check_allocation(member_id, a.lease)) return std::nullopt;
  auto s = new_session();
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
    holder_[l.pool][l.unit] = 0;  // first: a direct release frees the unit (unit_freed) before it returns
    if (zombie) {
      n.zombie->release(*n.zombie_worker, l);
    } else {
      n.member->release(*n.worker, l);
    }
    released_at_[l.pool][l.unit] = now_ + 1;
    ++result_.stats.releases;
    if (faults_on_ && !s.is_static && params_.rerelease_ppm != 0 && rng_.chance(params_.rerelease_ppm))
      late_.push_back({now_ + 1 + rng_.below(params_.rerelease_max), l});
    if (watched(l)) watch_event("step %llu: released at member %u", ull(now_), at_member);
    trace(TraceEvent::kRelease, at_member, l.pool, l.unit);
  }
}

void Simulator::release_again(const set::Lease& l, std::uint32_t at_member) {
  Node& n = *nodes_[at_member - 1];
  if (!n.up) return;
  n.member->release(*n.worker, l);
  ++result_.stats.rereleases;
  if (watched(l)) watch_event("step %llu: released again at member %u", ull(now_), at_member);
  trace(TraceEvent::kRerelease, at_member, l.pool, l.unit);
}

void Simulator::end_session(SessionId id, std::uint32_t at_member) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || at_member == 0 || at_member > nodes_.size()) return;
  const Session& s = *it->second;
  const bool by_zombie = s.on_zombie && s.controller == at_member && nodes_[at_member - 1]->zombie != nullptr;
  if (!by_zombie && member(at_member) == nullptr) return;
  end_session_at(*it->second, at_member);
  sessions_.erase(it);
  std::erase(session_order_, id);
}

bool Simulator::read_held(std::uint32_t owner, const set::Plan& plan, std::vector<set::Lease>& out) {
  for (std::uint32_t p = 0; p < holder_.size(); ++p) {
    for (std::uint64_t u = 0; u < holder_[p].size(); ++u) {
      const SessionId sid = holder_[p][u];
      if (sid == 0 || plan.owner(p, u) != owner) continue;
      auto it = sessions_.find(sid);
      if (it == sessions_.end() || it->second->stored_at > now_) continue;  // not stored yet
      for (const set::Lease& l : it->second->leases)
        if (l.pool == p && l.unit == u) out.push_back(l);
    }
  }
  return true;
}

std::optional<set::Lease> Simulator::lease_of(SessionId id, std::size_t k) const {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || k >= it->second->leases.size()) return std::nullopt;
  return it->second->leases[k];
}

}  // namespace uepool::sim
