// Simulator — faults: crashes, zombies (an old incarnation that runs on), burials, restarts, and the random fault
// schedule. See uepool/sim/simulator.hpp.
#include <algorithm>
#include <cstdio>

#include "sim_state.hpp"

namespace uepool::sim {

void Simulator::crash(std::uint32_t id) {
  Node& n = *nodes_[id - 1];
  if (!n.up) return;
  n.member.reset();  // all state lost, unsent frames too
  n.worker = nullptr;
  n.up = false;
  any_fault_ = true;
  ++result_.stats.crashes;
  trace(TraceEvent::kCrash, id);
  if (watch_) watch_event("step %llu: member %u crashes", ull(now_), id);
  for (auto& [sid, s] : sessions_) {
    if (s->controller != id || s->on_zombie) continue;
    s->controller = 0;
    s->takeover_at = now_ + 1 + rng_.below(params_.takeover_max);
  }
}

void Simulator::split(std::uint32_t id, bool partitioned) {
  Node& n = *nodes_[id - 1];
  if (!n.up || n.zombie != nullptr || retired_[id - 1]) return;
  // The member is replaced by a new incarnation while the old one keeps
  // running: it keeps its sessions, and lives on for up to two leases.
  n.zombie = std::move(n.member);
  n.zombie_worker = n.worker;
  n.zombie_until = now_ + 1 + rng_.below(2 * params_.lease);
  n.zombie_partitioned = partitioned;
  n.up = false;
  any_fault_ = true;
  ++result_.stats.zombies;
  trace(TraceEvent::kZombie, id);
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
  n.zombie_side = 0;
  trace(TraceEvent::kBury, id);
  for (auto& [sid, s] : sessions_) {
    if (s->controller != id || !s->on_zombie) continue;
    s->on_zombie = false;
    s->controller = 0;
    s->takeover_at = now_ + 1 + rng_.below(params_.takeover_max);
  }
}

void Simulator::reach_zombie(std::uint32_t id) {
  Node& n = *nodes_[id - 1];
  if (n.zombie == nullptr) return;
  n.zombie_partitioned = false;
  n.zombie_until = std::max(n.zombie_until, now_ + 2 * params_.lease);
  if (watch_) watch_event("step %llu: member %u's zombie is in reach again", ull(now_), id);
}

void Simulator::zombie_side(std::uint32_t id, std::uint32_t peer) {
  Node& n = *nodes_[id - 1];
  if (n.zombie == nullptr || peer == id || peer == 0 || peer > nodes_.size()) return;
  n.zombie_partitioned = false;
  n.zombie_side = peer;
  n.zombie_until = std::max(n.zombie_until, now_ + 2 * params_.lease);
  for (std::uint32_t o = 1; o <= nodes_.size(); ++o)
    if (o != id && o != peer) block(peer, o);
  if (watch_) watch_event("step %llu: member %u's zombie and member %u are cut off together", ull(now_), id, peer);
}

std::optional<Simulator::SessionId> Simulator::zombie_session(std::uint32_t id, std::uint32_t pool) {
  Node& n = *nodes_[id - 1];
  if (n.zombie == nullptr || pool >= holder_.size()) return std::nullopt;
  const set::MemberAllocation a = n.zombie->allocate(*n.zombie_worker, pool);
  trace(TraceEvent::kZombieAllocate, id, pool, a.ok() ? a.lease.unit : 0);
  if (!a.ok() || !check_allocation(id, a.lease, n.zombie.get())) return std::nullopt;
  auto s = new_session();
  const SessionId sid = s->id;
  s->controller = id;
  s->on_zombie = true;
  s->leases.push_back(a.lease);
  hold(s->id, a.lease);
  ++result_.stats.allocations;
  session_order_.push_back(s->id);
  sessions_.emplace(s->id, std::move(s));
  return sid;
}

void Simulator::lose_disk(std::uint32_t id) {
  nodes_[id - 1]->disk.value = 0;
}

void Simulator::restart(std::uint32_t id) {
  if (nodes_[id - 1]->up || retired_[id - 1]) return;  // a retired member never runs again
  if (watch_) watch_event("step %llu: member %u restarts", ull(now_), id);
  ++result_.stats.restarts;
  // The configuration changes it missed reach it at their own time after it restarted.
  for (auto& [e, at] : nodes_[id - 1]->epoch_due)
    if (at <= now_) at = now_ + 1 + (faults_on_ ? rng_.below(params_.epoch_spread) : 0);
  start_member(id, /*fresh=*/false);
}

void Simulator::random_faults() {
  for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
    Node& n = *nodes_[i - 1];
    if (n.up && params_.crash_ppm > 0 && rng_.chance(params_.crash_ppm)) {
      crash(i);
      if (params_.disk_loss_ppm > 0 && rng_.chance(params_.disk_loss_ppm)) n.disk.value = 0;  // the disk too
      n.restart_at = now_ + 1 + rng_.below(params_.restart_max);
    }
    if (n.up && params_.zombie_ppm > 0 && rng_.chance(params_.zombie_ppm)) split(i, rng_.chance(500'000));
  }
  if (params_.set_restart_ppm > 0 && rng_.chance(params_.set_restart_ppm)) {
    // The whole set goes down at once: no replica survives anywhere; each
    // member comes back on its own schedule (disks kept, unless lost too).
    ++result_.stats.set_restarts;
    trace(TraceEvent::kSetRestart);
    if (watch_) watch_event("step %llu: the whole set restarts", ull(now_));
    for (std::uint32_t i = 1; i <= nodes_.size(); ++i) {
      Node& n = *nodes_[i - 1];
      if (!n.up) continue;
      crash(i);
      if (params_.disk_loss_ppm > 0 && rng_.chance(params_.disk_loss_ppm)) n.disk.value = 0;
      n.restart_at = now_ + 1 + rng_.below(params_.restart_max);
    }
  }
  if (params_.partition_ppm > 0 && rng_.chance(params_.partition_ppm) && params_.members >= 2) {
    const auto a = static_cast<std::uint32_t>(1 + rng_.below(params_.members));
    auto b = static_cast<std::uint32_t>(1 + rng_.below(params_.members - 1));
    if (b >= a) ++b;
    blocks_[{std::min(a, b), std::max(a, b)}] = now_ + 1 + rng_.below(params_.partition_len);
    any_fault_ = true;
    trace(TraceEvent::kPartition, a, b);
  }
}

}  // namespace uepool::sim
