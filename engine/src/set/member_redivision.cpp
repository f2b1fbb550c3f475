// Member — re-division (message thread): moving to the next membership epoch (closing windows in lost blocks, the epoch
// mark, the hot path's owner table), the handover mark, taking gained blocks from the previous owner's frozen usage,
// and parking requests for blocks not ours yet. See "Re-division" in uepool/set/member.hpp and docs/redivision.md.
//
// Why a taking is safe (no unit handed out twice):
//   * The previous owner O allocates in a block b it loses only inside
//     windows, and closes them all before its Epoch mark: the close protocol
//     streams every allocation made in them first. From the mark on, b's
//     usage in O's stream is frozen: no record changes it.
//   * O streams Handover once A peers acknowledged the mark. Any recovery of
//     O reads R replicas (A + R > p), so it sees the mark: no later
//     incarnation of O allocates in b again. A zombie of O is fenced as
//     before. The taker N takes b only after O's Handover (or a later epoch)
//     is in N's complete replica of O (Rules::take_after_handover).
//   * N marks b's in-use and held-down units in use, streams them, then
//     Take. Its windows in b come after Take in its stream, so a window is
//     acknowledged only by replicas that hold the taking: any recovery of N
//     that could see an allocation in b sees the taking too. A recovery that
//     does not see Take takes b again from O's frozen copy, which O keeps
//     (N allocated nothing in b then).
//   * N moves to the next epoch only after its takings are acknowledged by A
//     peers: a block passes on only from an owner whose taking survives its
//     restarts.
//
// H5, a previous owner gone for good (take_retired): the operator retires it
// in a membership epoch (MemberSpec::retired; its weight 0). That is the
// operator's word that it never runs again (its process stopped, its host
// fenced), and every member that knows the epoch drops its frames. Its
// handover never comes, so N takes the block from the session store: the
// units the store lists there under the epoch the retired member owned it
// in are in use (serial kRestored: their releases follow the restored-
// release rules), every other unit is free, held down for a hold-down (a
// session may have ended a moment ago). The store is complete for the block
// once the retired member's last allocations are stored: N reads it a
// lease, the store's grace (MemberOptions::audit_grace) and a retransmit
// after it first found the block takeable (Rules::retired_take_waits).
// Nobody else may still allocate in the block: the members it passed
// through before the retired one have handed it over, or are retired too
// (earlier_owners_handed). A retired peer also counts as a peer without our
// replica (replicas_lost) and as one that knows a new incarnation of ours
// (rebuild_tick): the quorums stay as they are (fixed members), so a set
// with a retired member tolerates one failure fewer.
#include "member_state.hpp"

namespace uepool::set {

bool Member::is_pending(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return !pending_.empty() && pending_.count({pool, plan_->block_of(pool, unit)}) != 0;
}

bool Member::is_frozen(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < frozen_.size() && frozen_[pool].contains(static_cast<std::uint32_t>(plan_->block_of(pool, unit)));
}

bool Member::park(const RingItem& item) {
  if (parked_.size() >= kPendingOwnMax) return false;  // routed as it is: a leak at worst, never a conflict
  parked_.push_back(item);
  ++counters_.requests_parked;
  return true;
}

void Member::reroute_parked() {
  if (parked_.empty()) return;
  std::vector<RingItem> items;
  items.swap(parked_);
  const DiffBatch batch(*this);
  for (const RingItem& item : items) route_release(item);
}

bool Member::settled() const noexcept {
  return phase_ == MemberPhase::kReady && plan_->epoch() == target_epoch_ && pending_.empty() && handover_ &&
         (last_take_seq_ == 0 || acks_for(last_take_seq_) >= ack_quorum_);
}

const char* Member::epoch_wait() const noexcept {
  if (phase_ != MemberPhase::kReady) return "";
  if (!pending_.empty())
    return retired_wait_ != nullptr ? retired_wait_
                                    : "taking gained blocks: waiting for their previous owner's handover";
  if (!handover_) return "waiting for A peers to acknowledge the epoch mark";
  if (last_take_seq_ != 0 && acks_for(last_take_seq_) < ack_quorum_)
    return "waiting for A peers to acknowledge the takings";
  if (target_epoch_ > plan_->epoch() && book_->find(plan_->epoch() + 1) == nullptr)
    return "the next epoch's plan is not known (epochs are numbered consecutively)";
  return "";
}

void Member::set_owned(std::uint32_t pool) {
  PoolState& ps = *pools_[pool];
  ps.owned.clear();
  ps.chunk_start.clear();
  ps.chunks = 0;
  const std::uint64_t bu = plan_->block_units(pool);
  for (const core::UnitRange& rg : plan_->ranges_of(pool, id_)) {
    // The range without its blocks not taken yet (no window may lie there).
    std::uint64_t b = rg.begin;
    while (b < rg.end) {
      std::uint64_t e = b;
      while (e < rg.end && !is_pending(pool, e)) e = std::min(rg.end, (e / bu + 1) * bu);
      if (e > b) ps.owned.push_back({b, e});
      while (e < rg.end && is_pending(pool, e)) e = std::min(rg.end, (e / bu + 1) * bu);
      b = e;
    }
  }
  for (const auto& rg : ps.owned) {
    ps.chunk_start.push_back(ps.chunks);
    ps.chunks += (rg.size() + ps.window_units - 1) / ps.window_units;
  }
  ps.cursor = 0;
  ps.scan_needed = true;
}

void Member::publish_owner_table() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    HotPool& hp = hot_[i];
    bool moving = false;
    for (const auto& [key, from] : pending_) moving = moving || key.first == i;
    // Release stores, in this order: a worker that reads the new table
    // (acquire) sees moving = true; one that reads moving = false sees the
    // bitmap of every block taken (HotPool).
    if (moving) hp.moving.store(true, std::memory_order_release);
    hp.run_owner.store(plan_->owner_table(i), std::memory_order_release);
    if (!moving) hp.moving.store(false, std::memory_order_release);
  }
}

void Member::begin_epoch(const std::shared_ptr<const Plan>& next) {
  const Plan& old = *plan_;
  // 1. Stop allocating in the blocks we lose: close their windows (the
  //    close protocol streams every unit allocated there first).
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (WindowSlot& s : ps.slots) {
      if (s.phase() == kEmpty || next->owner(i, s.begin.load(std::memory_order_relaxed)) == id_) continue;
      s.close([&] {
        capture_window(i, s);
        emit_stream(record::Close{.pool = i, .tag = unpack_tag(s.tag.load(std::memory_order_relaxed))});
      });
    }
  }
  // Releases that workers applied on the hot path since the last stream
  // tick (dirty words) and those waiting in their rings go into the stream
  // now, under the old plan: after the mark, a word of a lost block is
  // never streamed again, and its frees would be lost to the taker (a leak
  // its audit repairs; the demo showed one in 40 moved units so lost). A
  // release racing the switch below still can be (HotPool::run_owner).
  drain_rings(true);
  {
    const DiffBatch batch(*this);
    for (std::uint32_t i = 0; i < pools_.size(); ++i) {
      const std::uint64_t bu = old.block_units(i);
      for (std::uint64_t b = 0; b < old.blocks(i); ++b)
        if (old.owner(i, b * bu) == id_ && next->owner(i, b * bu) != id_)
          for (std::uint64_t w = (b * bu) >> 6; w < std::min((b + 1) * bu, old.units(i)) >> 6; ++w) diff_word(i, w);
    }
  }
  // Units of lost blocks waiting out the release repeat window (their
  // serial wrapped) hold no allocation: they go to the taker free. The
  // window guards our next allocation of the unit against a repeat of a
  // release of our earlier one; the taker's allocations carry its own
  // nonce, which no lease of ours names (and a block coming back to us
  // moves its serials on: take_block).
  std::erase_if(wrap_holds_, [&](const HoldDown& h) {
    if (old.owner(h.pool, h.unit) != id_ || next->owner(h.pool, h.unit) == id_) return false;
    PoolState& ps = *pools_[h.pool];
    const std::uint64_t word = h.unit >> 6;
    ps.mirror.set(word, ps.mirror.get(word) & ~(std::uint64_t{1} << (h.unit & 63)));
    if (ps.hold_down > 0) {
      // Its hold-down may not be over: timed from now (later, never
      // sooner), so that our bulk copies show it held as the replicas do.
      ps.set_held(h.unit, true);
      hold_.insert({now_local_ + ps.hold_down, h.pool, h.unit});
    }
    emit_stream(record::Free{.pool = h.pool, .unit = h.unit});
    return true;
  });
  // An audit running counted units of blocks we may lose: it starts again later.
  if (audit_->stage != AuditState::Stage::kIdle) {
    audit_->stage = AuditState::Stage::kIdle;
    audit_->candidates.clear();
    audit_->serial_snap.clear();
    audit_->requested = true;
    ++counters_.audit_aborted;
  }
  // 2. What we lose (frozen: its usage stays as it is now, for the taker)
  //    and what we gain (taken once its previous owner handed it over).
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const std::uint64_t bu = old.block_units(i);
    for (std::uint64_t b = 0; b < old.blocks(i); ++b) {
      const std::uint32_t was = old.owner(i, b * bu), now = next->owner(i, b * bu);
      if (was == id_ && now != id_) {
        frozen_[i].add(static_cast<std::uint32_t>(b));
        ++counters_.blocks_lost;
      } else if (now == id_ && was != id_) {
        // A block we lost earlier and gain back stays frozen until we take
        // it: the member we lost it to may not have taken it yet (it may lag
        // epochs behind), and it reads our frozen copy then (found by the
        // simulator: liveness seed 777000048).
        pending_[{i, b}] = was;
        if (frozen_[i].contains(static_cast<std::uint32_t>(b))) returning_[i].add(static_cast<std::uint32_t>(b));
      }
    }
  }
  plan_ = next;
  handover_ = false;
  last_take_seq_ = 0;
  epoch_seq_ = emit_stream(record::Epoch{
      .stream_seq = 0, .epoch = next->epoch(), .members = {next->members().begin(), next->members().end()}});
  ++counters_.transitions;
  // Hold-downs of frozen units run on: our snapshots show them as the
  // replicas time them (a taker holds such a unit down for a whole
  // hold-down from its taking). When one ends, its bit stays set here: the
  // frozen copy changes no more (a later taking here sets every bit anew).
  for (std::uint32_t i = 0; i < pools_.size(); ++i) set_owned(i);
  publish_owner_table();
  reroute_parked();
}

void Member::take_block(std::uint32_t pool, std::uint64_t block, const Replica* from, const ::Roaring* listed,
                        std::span<const Replica* const> also) {
  PoolState& ps = *pools_[pool];
  const std::uint64_t bu = plan_->block_units(pool);
  const std::uint64_t begin = block * bu;
  const std::uint64_t end = std::min(begin + bu, ps.pool->size());
  std::uint64_t handed = 0;
  std::vector<std::uint64_t> held;
  // The previous owner rebuilt from the session store a short while ago:
  // releases it lost while down may still be in their hold-down, so none
  // of its free units may be handed out before that hold ends (found by the
  // simulator: liveness seed 165). Held down here for a whole hold-down.
  // Taken from the store (the previous owner retired): when each free unit
  // was freed is unknown, so every one is held down (as after a rebuild).
  const bool pool_held = from != nullptr ? from->pool_held(pool, now_local_) : true;
  const bool returning = returning_[pool].contains(static_cast<std::uint32_t>(block));
  returning_[pool].remove(static_cast<std::uint32_t>(block));
  // Timers of an earlier time we owned the block would free units of its
  // new state: they go (its state is the previous owner's).
  auto in_block = [&](std::uint32_t p, std::uint64_t u) { return p == pool && u >= begin && u < end; };
  std::erase_if(hold_, [&](const HoldDown& h) { return in_block(h.pool, h.unit); });
  std::erase_if(wrap_holds_, [&](const HoldDown& h) { return in_block(h.pool, h.unit); });
  std::erase_if(audit_->holds, [&](const AuditState::Hold& h) { return in_block(h.pool, h.unit); });
  for (std::uint64_t u = begin; u < end; ++u) {
    if (ps.pool->is_excluded(u)) continue;
    const auto u32 = static_cast<std::uint32_t>(u);
    // In use there, or listed by the store at our rebuild (an older
    // incarnation of ours may have taken the block and allocated in it).
    bool used = (from != nullptr ? from->in_use(pool, u) : listed != nullptr && listed->contains(u32)) ||
                (pool < rebuild_listed_.size() && rebuild_listed_[pool].contains(u32));
    for (const Replica* earlier : also) used = used || earlier->in_use(pool, u);
    const bool holding =
        !used && ((from != nullptr && from->held(pool, u, now_local_)) || (pool_held && ps.hold_down > 0));
    const bool have = ps.pool->test(u);
    if (ps.pool->is_static(u)) {
      if (used) {
        if (!have) (void)ps.pool->claim(*msg_workers_[pool], u);
        ps.claimed_by[u] = 0;  // claim id unknown: any release of it ends it
        if (!ps.statics.contains(u32)) {
          ps.statics.add(u32);
          emit_stream(record::Alloc{.pool = pool, .unit = u});
        }
        ++handed;
      } else if (ps.statics.contains(u32) || have) {
        if (have) (void)ps.pool->release(*msg_workers_[pool], u, 0);
        ps.statics.remove(u32);
        ps.claimed_by.erase(u);
        emit_stream(record::Free{.pool = pool, .unit = u});
      }
      continue;
    }
    // In use in our own frozen copy (the block comes back to us) and in no
    // other: an allocation of ours, or a unit restored here, from before we
    // lost the block. The member we lost it to may not have taken it from
    // us (it rebuilt, or a rebuild of ours froze the block from the store),
    // so its copy may lack it (found by the simulator: safety seed 430). It
    // stays in use as it is, its serial too (a leak at worst, which an audit
    // repairs).
    if (options_.rules.returning_keeps_own && returning && have && !used && !ps.held(u)) {
      ++handed;
      continue;
    }
    // Marks of an earlier time we owned the block go: its state is the previous owner's.
    ps.set_held(u, false);
    ps.quarantined.remove(u32);
    if (used) {
      if (!have) (void)ps.pool->claim(*msg_workers_[pool], u);
      mark_restored(pool, u);  // the previous owner's allocation: released by the restored-release rules
      ++handed;
      continue;
    }
    // Free (or held down) there. If this incarnation owned the block before
    // (it comes back), our serial of the unit is what it was then, and an
    // allocation of ours made then may have ended elsewhere since: its lease
    // names that serial. It moves on, so that no release of an allocation
    // before the taking matches the next one; a serial that wraps holds the
    // unit for the repeat window, and kRestored (an allocation someone else
    // made) starts again at 0. A block new to this incarnation has no lease
    // of ours (its serials stay: 1 in 14 would wait out the window).
    if (returning && ps.serials->ensure(u, u + 1)) {
      const std::uint8_t serial = ps.serials->get(u);
      if (serial == detail::UnitSerials::kLast || serial == detail::UnitSerials::kWrapHeld) {
        if (!have) (void)ps.pool->claim(*msg_workers_[pool], u);
        ps.serials->set(u, detail::UnitSerials::kWrapHeld);
        wrap_holds_.push_back({now_local_ + std::max(options_.release_repeat_window, ps.hold_down), pool, u});
        continue;
      }
      ps.serials->set(u, serial == detail::UnitSerials::kRestored ? 0 : static_cast<std::uint8_t>(serial + 1));
    }
    if (holding) {
      if (!have) (void)ps.pool->claim(*msg_workers_[pool], u);
      ps.set_held(u, true);  // freed there, its hold-down not over: held down here from now
      hold_.insert({now_local_ + std::max<std::uint64_t>(ps.hold_down, 1), pool, u});
      held.push_back(u);
    } else if (have) {
      (void)ps.pool->release(*msg_workers_[pool], u, 0);  // a stale bit of an earlier time here; nobody holds it
    }
  }
  frozen_[pool].remove(static_cast<std::uint32_t>(block));  // ours again: its usage is the one just taken
  if (pool < rebuild_listed_.size() && !rebuild_listed_[pool].isEmpty()) {
    ::Roaring range;
    range.addRange(begin, end);
    rebuild_listed_[pool] -= range;
  }
  for (std::uint64_t w = begin >> 6; w < (end + 63) >> 6; ++w) diff_word(pool, w);
  for (std::uint64_t u : held) emit_stream(record::Free{.pool = pool, .unit = u});
  last_take_seq_ = emit_stream(record::Take{.stream_seq = 0, .pool = pool, .block = block});
  ++counters_.blocks_moved;
  if (from == nullptr) ++counters_.blocks_taken_retired;
  counters_.units_handed_over += handed;
}

std::uint32_t Member::retired_peers() const noexcept {
  std::uint32_t n = 0;
  for (const auto& [pid, p] : peers_)
    if (book_->retired(pid)) ++n;
  return n;
}

bool Member::earlier_owners_handed(std::uint32_t pool, std::uint64_t block, std::uint64_t e,
                                   std::vector<const Replica*>* copies) const {
  // Walk back through the block's owners before epoch `e`, one run of
  // epochs per owner: each that is not retired (nor us) must have handed
  // the block over (its mark of the epoch it lost it in acknowledged, or a
  // later epoch, in our complete replica of it, as take_blocks asks of the
  // previous owner). In a run of the protocol without rebuilds this follows
  // from the previous owner's handover (it could not leave the epoch before
  // it took the block); a member that rebuilt from the session store jumps
  // to the newest epoch and keeps a block it gained on the way frozen from
  // the store, though the member it gained it from may lag epochs behind
  // and still allocate there (found by the simulator: safety seed
  // 715657765). Older history than the plans we know is not checked.
  const std::uint64_t unit = block * plan_->block_units(pool);
  while (e > 1) {
    const std::shared_ptr<const Plan> before = book_->find(e - 1);
    if (before == nullptr) return true;
    const std::uint32_t owner = before->owner(pool, unit);
    if (owner != id_) {
      const auto it = peers_.find(owner);
      const Replica* r = it != peers_.end() ? &it->second->replica : nullptr;
      const bool complete = r != nullptr && r->complete();
      if (!book_->retired(owner) && !(complete && (r->epoch() > e || (r->epoch() == e && r->handover())))) return false;
      if (copies != nullptr && complete) copies->push_back(r);  // its frozen copy of the block
    }
    e = run_start(pool, block, e - 1, owner);
  }
  return true;
}

bool Member::take_retired(std::uint32_t pool, std::uint64_t block, std::uint32_t from, ::Roaring& listed) {
  if (options_.store == nullptr) {
    retired_wait_ = "a retired member's blocks are taken from the session store, and this member has none";
    return false;
  }
  const std::uint64_t k = gained_at(pool, block);
  const std::shared_ptr<const Plan> then = book_->find(k - 1);
  if (then == nullptr || !earlier_owners_handed(pool, block, k, nullptr)) {
    retired_wait_ = "taking a retired member's block: a member that owned it before has not handed it over";
    return false;
  }
  // Timed from when nobody else could allocate there any more: the last
  // allocations of the members before us were made by then.
  auto [seen, fresh] = retired_seen_.try_emplace({pool, block}, now_local_);
  (void)fresh;
  const std::uint64_t wait =
      options_.rules.retired_take_waits ? options_.lease + options_.audit_grace + options_.retransmit : 0;
  if (now_local_ < seen->second + wait) {
    retired_wait_ = "taking a retired member's blocks: waiting until its last sessions are in the session store";
    return false;
  }
  std::vector<Lease> leases;
  if (!options_.store->read_held(from, *then, leases)) {
    ++counters_.audit_store_unreadable;
    retired_wait_ = "taking a retired member's blocks: the session store could not be read";
    return false;
  }
  const std::uint64_t bu = plan_->block_units(pool);
  const std::uint64_t begin = block * bu, end = std::min(begin + bu, pools_[pool]->pool->size());
  for (const Lease& l : leases)
    if (l.pool == pool && l.unit >= begin && l.unit < end) listed.add(static_cast<std::uint32_t>(l.unit));
  return true;
}

std::uint64_t Member::run_start(std::uint32_t pool, std::uint64_t block, std::uint64_t e, std::uint32_t owner) const {
  const std::uint64_t unit = block * plan_->block_units(pool);
  for (auto p = book_->find(e - 1); e > 1 && p != nullptr && p->owner(pool, unit) == owner; p = book_->find(e - 1)) --e;
  return e;
}

std::uint64_t Member::gained_at(std::uint32_t pool, std::uint64_t block) const {
  return run_start(pool, block, plan_->epoch(), id_);
}

void Member::take_blocks() {
  std::vector<bool> touched(pools_.size(), false);
  bool any = false;
  retired_wait_ = nullptr;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const auto [pool, block] = it->first;
    if (book_->retired(it->second)) {
      // H5: its previous owner is gone for good (the comment at the top).
      ::Roaring listed;
      const std::uint32_t from = it->second;
      if (!take_retired(pool, block, from, listed)) {
        ++it;
        continue;
      }
      it = pending_.erase(it);
      retired_seen_.erase({pool, block});
      take_block(pool, block, nullptr, &listed);
      touched[pool] = true;
      any = true;
      continue;
    }
    Peer* p = peer(it->second);
    const Replica* r = p != nullptr ? &p->replica : nullptr;
    // The previous owner's mark of the epoch we gained the block in is
    // acknowledged (or it moved on since): its frozen usage of the block is
    // final and every recovery of it sees that. (That epoch is ours but
    // after a rebuild, which may find blocks it gained epochs ago untaken.)
    const std::uint64_t k = gained_at(pool, block);
    const bool handed = r != nullptr && r->complete() &&
                        (r->epoch() > k || (r->epoch() == k && (r->handover() || !options_.rules.take_after_handover)));
    if (!handed) {
      ++it;
      continue;
    }
    // Every owner before it has handed the block over too, and what each
    // froze there is in use here as well (earlier_owners_handed: a previous
    // owner that rebuilt may have skipped the taking; a copy too many is a
    // leak its audit repairs, never a conflict).
    std::vector<const Replica*> copies;
    if (options_.rules.take_after_earlier_owners) {
      // From the first epoch of the previous owner's run.
      if (!earlier_owners_handed(pool, block, run_start(pool, block, k - 1, it->second), &copies)) {
        ++it;
        continue;
      }
    }
    it = pending_.erase(it);  // first: the block's words are ours to stream now
    take_block(pool, block, r, nullptr, copies);
    touched[pool] = true;
    any = true;
  }
  if (!any) return;
  for (std::uint32_t i = 0; i < pools_.size(); ++i)
    if (touched[i]) set_owned(i);
  publish_owner_table();
  // An older incarnation of the previous owner (a zombie) may still
  // allocate in the windows it had open there until their leases end, and
  // store those sessions up to audit_grace later: its units are in use in
  // the frozen copy (quarantined there), and no audit frees them before
  // then (as after our own recovery). Which lease holds each taken unit is
  // known only from the store: releases of those allocations wait for one
  // read at that time (restart_read).
  audit_->not_before =
      std::max(audit_->not_before, now_local_ + options_.lease + options_.audit_grace + options_.retransmit);
  if (options_.store != nullptr && options_.rules.restored_releases_exact) audit_->restart_read = true;
  reroute_parked();
}

void Member::redivision_tick() {
  // A newer epoch our peers are in (their marks and bulk copies name it):
  // we go there too. Epochs come from outside, but a member that missed
  // its configuration's change (it was down) must not hold the set back.
  target_epoch_ = std::max(target_epoch_, book_->newest());
  if (!pending_.empty()) take_blocks();
  if (!handover_ && acks_for(epoch_seq_) >= ack_quorum_) {
    (void)emit_stream(record::Handover{.stream_seq = 0, .epoch = plan_->epoch()});
    handover_ = true;
  }
  if (target_epoch_ <= plan_->epoch() || !handover_ || !pending_.empty()) return;
  if (last_take_seq_ != 0 && acks_for(last_take_seq_) < ack_quorum_) return;
  if (std::shared_ptr<const Plan> next = book_->find(plan_->epoch() + 1)) begin_epoch(next);
}

void Member::adopt_epoch_state(const UsageSnapshot& s) {
  for (const UsageSnapshot::EpochMembers& h : s.history) (void)book_->get(h.epoch, h.members);
  std::shared_ptr<const Plan> p = s.members.empty() ? plan_ : book_->get(s.epoch, s.members);
  if (p == nullptr) p = plan_;  // answers were checked as replicas: not expected
  plan_ = p;
  target_epoch_ = std::max(target_epoch_, p->epoch());
  handover_ = s.handover;
  epoch_seq_ = 0;  // the re-seed carries the epoch: Handover (if due) once A peers hold it
  last_take_seq_ = 0;
  pending_.clear();
  for (const UsageSnapshot::PendingBlock& b : s.pending)
    if (b.pool < pools_.size()) pending_[{b.pool, b.block}] = b.from;
  frozen_.assign(pools_.size(), ::Roaring());
  for (std::size_t i = 0; i < s.frozen.size() && i < frozen_.size(); ++i) frozen_[i] = s.frozen[i];
}

}  // namespace uepool::set
