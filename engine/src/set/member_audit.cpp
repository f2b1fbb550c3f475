// Member — the audit (leak repair) and the rebuild from the session store (message thread). See
// uepool/set/member.hpp and DESIGN.md section 2 (Audit; Incarnations and recovery).
//
// The audit
//   Units leak: a release dropped on the way (a full channel, a crash, an
//   owner's restart), units quarantined at a recovery because a window was
//   open. The session store (the embedding's, through SessionStore) is the
//   ground truth; an owner reconciles its own blocks against it in steps:
//
//     start    A = own units in use now (held-down units excluded). From now
//              on every word in which an own unit is freed is noted (freed_at).
//     read 1   after audit_grace: C = A - listed - units of words freed since the start
//     read 2   a round trip later: C = C - listed - the same; free C
//
//   Why a unit u in C is held by no session:
//     * u was in use at the start and no unit of its word was freed since,
//       so u was never freed since: its allocation is the one of the start
//       (a unit is allocated only after it is freed), made before the start.
//     * The embedding stores a session at most audit_grace after allocate
//       returned: read 1 is at least audit_grace after the start, so a
//       session holding u would be listed. u was listed in neither read.
//     * After a recovery an older incarnation (a zombie) may still allocate
//       in windows it held until their leases end: no audit starts before
//       the recovery + lease + grace + a round trip (AuditState::not_before).
//
//   What freeing u does: the allocation u had at the start is ended (its
//   serial, as recorded at the start, advanced by one CAS: if a release
//   ended it since, the CAS fails and u is left alone), so any later
//   release of it is stale and refused. u stays in use in the bitmap, held
//   down for at least one lease (and the pool's hold-down), and the peers
//   hear a Free; when the hold ends it is freed (nobody else can free it:
//   every lease of it names an ended allocation).
//
//   A direct release racing the start: a worker publishes the unit it
//   releases (releasing_, release), ends its allocation (serial CAS,
//   acq_rel), frees the bit, marks the word dirty, and clears releasing_
//   (release). The start reads the candidates' serials, then every
//   worker's releasing_ (acquire). If the serials read show a release's
//   CAS, releasing_ shows its unit (excluded now) or a later value, after
//   which that release's dirty word is visible to the reads' drains (its
//   word counts as freed since the start). If they do not, the audit's own
//   CAS fails later. Either way no unit freed since the start is freed
//   again by the audit, even if it was handed out again with the same serial.

// The rebuild
//   A restarted member whose peers answer that more than p - R of them hold
//   no complete replica of it can never recover from replicas (a whole-set
//   restart, or more than p - R members that lost their memory together).
//   It takes a new generation (above the durable one and every answer),
//   announces it, and waits until R peers address it: those fence every
//   older incarnation, so at most p - R = A - 1 peers can still acknowledge
//   an older incarnation's window and none can reach the quorum. After one
//   more lease (plus the grace and a round trip) no older window is open
//   anywhere and every session allocated in one is stored. Then the
//   store's list is the whole truth about its blocks: it rebuilds from it,
//   re-seeds its peers and becomes ready. A unit released while it was down
//   may have lost its release and its hold-down start: with a hold-down, no
//   window is reserved until one hold-down after the read.
#include "member_state.hpp"

namespace uepool::set {

Status Member::audit_now() {
  if (options_.store == nullptr)
    return Status(StatusCode::kFailedPrecondition, "no session store: the member cannot audit");
  audit_->requested = true;
  return Status::ok_status();
}

bool Member::auditing() const noexcept {
  return audit_->requested || audit_->restart_read || audit_->tracking();
}

void Member::note_freed(std::uint32_t pool, std::uint64_t key) {
  if (audit_->tracking()) audit_->freed_at[pool][key] = now_local_;
}

void Member::drain_dirty() {
  for (auto& w : workers_) {
    w->dirty_.drain([&](std::uint64_t key) {
      const auto pool = static_cast<std::uint32_t>(key >> 56);
      const std::uint64_t word = key & ((std::uint64_t{1} << 56) - 1);
      note_freed(pool, word);  // a direct release freed a unit of it
      diff_word(pool, word);
    });
    if (w->dirty_overflow_.exchange(false, std::memory_order_relaxed)) {
      ++counters_.dirty_overflows;
      if (audit_->tracking()) {
        // Which words were freed is unknown: every word counts as freed now.
        audit_->freed_at.assign(pools_.size(), {});
        for (std::uint32_t i = 0; i < pools_.size(); ++i)
          for (const auto& r : pools_[i]->owned)
            for (std::uint64_t word = r.begin >> 6; word < (r.end + 63) >> 6; ++word)
              audit_->freed_at[i][word] = now_local_;
        if (audit_->stage != AuditState::Stage::kIdle) {
          audit_->stage = AuditState::Stage::kIdle;
          ++counters_.audit_aborted;
        }
      }
      for (std::uint32_t i = 0; i < pools_.size(); ++i) {
        std::vector<std::uint64_t> words;
        pools_[i]->mirror.for_each([&](std::uint64_t word, std::uint64_t) { words.push_back(word); });
        for (std::uint64_t word : words) diff_word(i, word);
      }
    }
  }
}

void Member::audit_begin() {
  AuditState& a = *audit_;
  drain_dirty();
  a.candidates.assign(pools_.size(), ::Roaring());
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const PoolState& ps = *pools_[i];
    ::Roaring& c = a.candidates[i];
    for (const auto& r : ps.owned) {
      for (std::uint64_t word = r.begin >> 6; word < (r.end + 63) >> 6; ++word) {
        std::uint64_t v = ps.pool->dynamic_word(word);
        auto h = ps.held_words.find(word);
        if (h != ps.held_words.end()) v &= ~h->second;  // freed, waiting out a hold-down
        for (; v != 0; v &= v - 1)
          c.add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(v))));
      }
    }
    c |= ps.statics;  // claimed static units
  }
  // The candidates' serials, then the workers' releases in progress (both
  // acquire). A worker ends an allocation (serial CAS) after it published
  // the unit it releases (releasing_, release), and frees the bit and
  // marks its word dirty before it clears that: if the snapshot below
  // shows a release's new serial, the read of releasing_ shows that unit
  // (excluded: being freed now) or a later value, and then that release's
  // dirty word is visible to the drains at the reads (freed_at). A release
  // whose CAS comes after the snapshot makes the audit's own CAS fail.
  a.serial_snap.assign(pools_.size(), WordMap());
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const PoolState& ps = *pools_[i];
    std::uint64_t last = UINT64_MAX;
    for (std::uint32_t u : a.candidates[i]) {
      if (ps.pool->is_static(u) || (u >> 4) == last) continue;
      last = u >> 4;
      a.serial_snap[i].set(last, ps.serials->word_bits(u));
    }
  }
  for (auto& w : workers_) {
    const std::uint64_t key = w->releasing_.load(std::memory_order_acquire);
    if (key == 0) continue;
    const auto pool = static_cast<std::uint32_t>((key - 1) >> 56);
    const std::uint64_t unit = (key - 1) & ((std::uint64_t{1} << 56) - 1);
    if (pool < a.candidates.size()) a.candidates[pool].remove(static_cast<std::uint32_t>(unit));
  }
  a.started = now_local_;
  a.stage = AuditState::Stage::kStarted;
  a.next_step = now_local_ + (options_.rules.audit_grace ? options_.audit_grace : 0);
}

bool Member::audit_read(std::vector<::Roaring>& held, std::vector<Lease>* leases) {
  std::vector<Lease> own;
  std::vector<Lease>& list = leases != nullptr ? *leases : own;
  list.clear();
  if (!options_.store->read_held(id_, *plan_, list)) {
    ++counters_.audit_store_unreadable;
    audit_->read_error = "the session store could not be read";
    return false;
  }
  held.assign(pools_.size(), ::Roaring());
  for (const Lease& l : list) {
    if (l.pool >= pools_.size() || l.unit >= pools_[l.pool]->pool->size() || plan_->owner(l.pool, l.unit) != id_) {
      // The store answered for someone else's blocks (or another plan):
      // nothing of this list can be trusted to say what is free here.
      ++counters_.audit_refused_lists;
      audit_->read_error = "the session store listed a unit this member does not own: its list is refused";
      return false;
    }
    const auto u = static_cast<std::uint32_t>(l.unit);
    if (held[l.pool].contains(u)) {
      ++counters_.audit_duplicates;  // two stored sessions hold one unit: reported; it stays in use
      continue;
    }
    held[l.pool].add(u);
  }
  audit_->read_error = nullptr;
  return true;
}

void Member::audit_free(std::vector<::Roaring>& candidates) {
  AuditState& a = *audit_;
  const std::uint64_t hold = options_.lease;
  std::uint64_t raced = 0;
  // Units the message thread is timing out of the repeat window
  // (wrap_holds_): held by no session, yet no leak; their hold frees them
  // when it ends. Only a wrap-held unit whose hold was lost (a full ring)
  // is the audit's to take over.
  for (const HoldDown& h : wrap_holds_)
    if (h.pool < candidates.size()) candidates[h.pool].remove(static_cast<std::uint32_t>(h.unit));
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint32_t u32 : candidates[i]) {
      const std::uint64_t u = u32;
      if (!ps.pool->test(u) || ps.held(u)) continue;
      if (ps.pool->is_static(u)) {
        ++counters_.audit_freed;
        ps.claimed_by.erase(u);  // a release of that claim, if it ever comes, finds it gone
        ps.statics.remove(u32);
        (void)free_own(i, u);
        emit_stream(record::Free{.pool = i, .unit = u});
        continue;
      }
      // End the allocation the unit had at the start (its serial then): a
      // release that ended it since wins, and the unit is left alone. Once
      // ended here, every lease of it is stale: nobody else frees the unit.
      const std::uint8_t s = detail::UnitSerials::nibble(a.serial_snap[i].get(u >> 4), u);
      // kWrapHeld (not timed by wrap_holds_, above): no allocation, leaked
      // while waiting out the repeat window (a worker's full ring lost its
      // kWrapHold). Still kWrapHeld
      // now: the audit takes it over, serial unchanged (a repeat of an old
      // release must still find no match), and frees it after the window.
      // Not any more: its window ended meanwhile and it may have a holder.
      const bool wrap_held = s == detail::UnitSerials::kWrapHeld;
      if (wrap_held) {
        if (ps.serials->get(u) != detail::UnitSerials::kWrapHeld) continue;
      } else if (options_.rules.stale_release_check && !ps.serials->end(u, s)) {
        ++raced;
        continue;
      }
      // A wrapped serial (kLast ended, or kWrapHeld) waits out the repeat window too.
      const bool wraps = wrap_held || s == detail::UnitSerials::kLast;
      const std::uint64_t until =
          now_local_ + std::max({hold, ps.hold_down, wraps ? options_.release_repeat_window : 0});
      if (s == detail::UnitSerials::kRestored)
        if (PoolState::Listed* l = ps.find_listed(u)) l->ended = true;
      ++counters_.audit_freed;
      if (ps.quarantined.contains(u32)) {
        ps.quarantined.remove(u32);
        ++counters_.audit_freed_quarantined;
      }
      diff_word(i, u >> 6);  // an allocation not streamed yet goes first
      ps.set_held(u, true);
      ps.mirror.set(u >> 6, ps.mirror.get(u >> 6) & ~(std::uint64_t{1} << (u & 63)));
      emit_stream(record::Free{.pool = i, .unit = u});
      a.holds.insert({until, i, u});
    }
  }
  counters_.audit_kept_recent += raced;
  ++counters_.audits;
}

void Member::audit_tick() {
  AuditState& a = *audit_;
  if (options_.store == nullptr || phase_ != MemberPhase::kReady) return;
  if (a.restart_read && now_local_ >= a.not_before && now_local_ >= a.next_restart_read) restart_read();
  // Units an audit freed whose hold has ended: their allocation was ended
  // at the audit (serial advanced), so no release freed them meanwhile.
  while (!a.holds.empty() && a.holds.begin()->until <= now_local_) {
    const AuditState::Hold h = *a.holds.begin();
    a.holds.erase(a.holds.begin());
    PoolState& ps = *pools_[h.pool];
    ps.set_held(h.unit, false);
    if (is_frozen(h.pool, h.unit)) continue;  // a block we lost: its bits stay as the taker read them
    (void)ps.serials->end(h.unit, detail::UnitSerials::kWrapHeld);  // a wrapped serial starts again at 0
    (void)free_own(h.pool, h.unit);
    diff_word(h.pool, h.unit >> 6);
    ps.scan_needed = true;
  }
  switch (a.stage) {
    case AuditState::Stage::kIdle: {
      const bool due = a.requested || (options_.audit_interval != 0 && now_local_ >= a.next_audit);
      if (!due || now_local_ < a.not_before || a.restart_read) break;
      a.requested = false;
      a.next_audit = now_local_ + options_.audit_interval;
      audit_begin();
      break;
    }
    case AuditState::Stage::kStarted:
    case AuditState::Stage::kFirstRead: {
      if (now_local_ < a.next_step) break;
      drain_dirty();
      std::vector<::Roaring> held;
      if (!audit_read(held)) {  // unreadable, or refused: read again a round trip later
        a.next_step = now_local_ + std::max<std::uint64_t>(options_.retransmit, 1);
        break;
      }
      std::uint64_t kept = 0;
      for (std::uint32_t i = 0; i < pools_.size(); ++i) {
        ::Roaring& c = a.candidates[i];
        c -= held[i];
        if (!options_.rules.audit_skip_freed_words) continue;
        ::Roaring recent;
        for (std::uint32_t u : c) {
          if (a.freed_since(i, u, a.started)) recent.add(u);
        }
        kept += recent.cardinality();
        c -= recent;
      }
      counters_.audit_kept_recent += kept;
      if (a.stage == AuditState::Stage::kStarted) {
        // Absent from two reads (Calico's IPAM garbage collector does the
        // same): a store read that missed a session by mistake, once, frees nothing.
        a.stage = AuditState::Stage::kFirstRead;
        a.next_step = now_local_ + std::max<std::uint64_t>(options_.rules.audit_grace ? options_.audit_grace : 0,
                                                           options_.retransmit);
        break;
      }
      audit_free(a.candidates);
      a.candidates.clear();
      a.serial_snap.clear();
      a.stage = AuditState::Stage::kIdle;
      break;
    }
  }
  if (!a.tracking())
    for (auto& words : a.freed_at) words.clear();
}

// ---------------------------------------------------------------- generations and the rebuild

bool Member::take_generation(std::uint32_t at_least) {
  std::uint32_t g = std::max(at_least, generation_floor_);
  if (options_.generations != nullptr) {
    last_generation_ = options_.generations->load();
    g = std::max(g, last_generation_ + 1);
    if (!options_.generations->save(g)) {
      ++counters_.generation_save_failures;
      return false;
    }
  }
  inc_ = Incarnation{g, options_.nonce};
  return true;
}

void Member::restart_query(std::uint32_t floor) {
  generation_floor_ = std::max(generation_floor_, floor);
  phase_ = MemberPhase::kQueryingGeneration;
  inc_ = Incarnation{0, options_.nonce};
  queried_once_ = false;
  audit_->know_us.clear();
  audit_->fenced_at = 0;
  for (auto& [pid, q] : peers_) {
    q->gen_answered = q->gen_complete = false;
    q->recover_answered = q->recover_complete = false;
    q->recover_snapshot.reset();
    // Our channels belong to the incarnation given up here: each peer resets
    // its side when it adopts the next one (a higher generation, same
    // nonce), so ours start over too. Kept, a channel would resend only the
    // batches it counts unacknowledged, and the peer would wait for ever for
    // the first ones, acknowledged to the old incarnation (liveness seed
    // 746304646: a restarted member's forwarded releases, then a Fenced).
    // Requests not acknowledged go back to the front of the outbox, in
    // order, for the next channel. A peer that applied one whose ack was
    // lost gets it again: a duplicate release, which the serial check
    // refuses, as it refuses an embedding's duplicate; nothing else was
    // sent (a member that never became ready streams nothing).
    std::vector<Record> unacked;
    q->ch.for_each_unacked([&](const std::vector<Record>& records) {
      for (const Record& r : records)
        if (!is_stream(r)) unacked.push_back(r);
    });
    q->outbox.insert(q->outbox.begin(), std::make_move_iterator(unacked.begin()),
                     std::make_move_iterator(unacked.end()));
    q->ch.reset();
    q->greeted = false;
  }
}

void Member::begin_rebuild() {
  phase_ = MemberPhase::kRebuilding;
  audit_->know_us.clear();
  audit_->fenced_at = 0;
  for (auto& [pid, p] : peers_) {
    p->recover_snapshot.reset();
    p->greeted = false;  // announce the new incarnation at once
  }
}

void Member::rebuild_tick() {
  AuditState& a = *audit_;
  if (a.fenced_at == 0) {
    const std::size_t need = options_.rules.rebuild_fence_quorum ? answer_quorum_ : 0;
    // A retired peer counts: it never runs again, so it acknowledges no
    // older incarnation's window (the operator's word: MemberSpec::retired).
    if (a.know_us.size() + retired_peers() < need) return;
    a.fenced_at = now_local_ + (now_local_ == 0 ? 1 : 0);
  }
  // An older incarnation's window ends within a lease; a session it
  // allocated there is stored at most audit_grace later.
  const std::uint64_t wait =
      options_.rules.rebuild_lease_wait ? options_.lease + options_.audit_grace + options_.retransmit : 0;
  if (now_local_ < a.fenced_at + wait) return;
  finish_rebuild();
}

// fill_listed — PoolState::listed from a held list: the listed dynamic
// units still in use by an older incarnation's allocation, with their leases.
void Member::fill_listed(const std::vector<Lease>& leases) {
  for (auto& ps : pools_) ps->listed.clear();
  if (!options_.rules.restored_releases_exact) return;
  for (const Lease& l : leases) {
    PoolState& ps = *pools_[l.pool];  // audit_read checked pool and unit
    if (ps.pool->is_static(l.unit) || ps.serials->get(l.unit) != detail::UnitSerials::kRestored) continue;
    ps.listed.push_back({l.unit, pack_lease_tag(l.tag), l.nonce, l.serial, false});
  }
  for (auto& ps : pools_) {
    std::sort(ps->listed.begin(), ps->listed.end(),
              [](const PoolState::Listed& x, const PoolState::Listed& y) { return x.unit < y.unit; });
    // A unit listed twice (two stored sessions: audit_duplicates) matches neither lease: both stay.
    for (std::size_t k = 1; k < ps->listed.size(); ++k)
      if (ps->listed[k].unit == ps->listed[k - 1].unit) ps->listed[k].tag = ps->listed[k - 1].tag = ~std::uint64_t{0};
  }
}

// restart_read — after a recovery, at not_before (every older incarnation's
// allocation made and stored by then): read the store once, learn which
// lease holds each restored unit, and apply the releases that waited.
void Member::restart_read() {
  AuditState& a = *audit_;
  std::vector<::Roaring> held;
  std::vector<Lease> leases;
  if (!audit_read(held, &leases)) {
    a.next_restart_read = now_local_ + std::max<std::uint64_t>(options_.retransmit, 1);
    return;
  }
  fill_listed(leases);
  a.restart_read = false;
  std::vector<RingItem> deferred;
  deferred.swap(deferred_old_);
  for (const RingItem& item : deferred) route_release(item);
}

void Member::finish_rebuild() {
  // The newest epoch we know (by now our peers' bulk copies taught us the
  // epochs they are in): its blocks are rebuilt from the store,
  // except those gained in it (pending: see below); blocks we
  // owned in an earlier epoch are kept frozen for their taker, from the
  // store too (we may have been the owner that has not handed them over).
  target_epoch_ = std::max(target_epoch_, book_->newest());
  plan_ = book_->find(target_epoch_);
  pending_.clear();
  frozen_.assign(pools_.size(), ::Roaring());
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const std::uint64_t bu = plan_->block_units(i);
    for (std::uint64_t b = 0; b < plan_->blocks(i); ++b) {
      const bool ours = plan_->owner(i, b * bu) == id_;
      // A block we gained in any epoch (not only the newest): whether an
      // older incarnation of ours took it is unknown, and its previous owner
      // may lag epochs behind and still allocate there (found by the
      // simulator: safety seed 430). Taken at that owner's handover, with
      // what the store lists now.
      const std::uint64_t k = ours ? gained_at(i, b) : 0;
      const std::shared_ptr<const Plan> before = k > 1 ? book_->find(k - 1) : nullptr;
      const bool gained = before != nullptr;
      if (gained) pending_[{i, b}] = before->owner(i, b * bu);
      if (ours && !gained) continue;
      // Ours in an earlier epoch (and not now, or gained back and not taken
      // yet): frozen, for a member that may still take it from us.
      const std::uint64_t upto = gained ? k - 1 : target_epoch_;
      for (const auto& [e, plan] : book_->plans())
        if (e < upto && plan->owner(i, b * bu) == id_) frozen_[i].add(static_cast<std::uint32_t>(b));
    }
  }
  std::vector<::Roaring> held;
  std::vector<Lease> listed;
  if (!audit_read(held, &listed)) return;  // tried again next tick
  std::vector<std::set<std::uint64_t>> touched(pools_.size());
  // Blocks kept frozen: what the store lists there under each earlier plan.
  for (const auto& [e, plan] : book_->plans()) {
    if (e >= plan_->epoch()) break;
    std::vector<Lease> old;
    if (!options_.store->read_held(id_, *plan, old)) {
      ++counters_.audit_store_unreadable;
      audit_->read_error = "the session store could not be read";
      return;
    }
    for (const Lease& l : old)
      if (l.pool < pools_.size() && l.unit < pools_[l.pool]->pool->size() && is_frozen(l.pool, l.unit) &&
          !pools_[l.pool]->pool->is_excluded(l.unit))
        restore_in_use(l.pool, l.unit, touched[l.pool]);
  }
  // Blocks gained in our epoch stay pending: their previous owner may still
  // allocate there (it may not have reached our epoch). They are taken
  // from its handover as usual, together with what the store lists there
  // now: an older incarnation of ours may have taken them and allocated.
  rebuild_listed_.assign(pools_.size(), ::Roaring());
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint32_t u : held[i]) {
      if (ps.pool->is_excluded(u)) continue;
      if (is_pending(i, u)) {
        rebuild_listed_[i].add(u);
        if (!is_frozen(i, u)) continue;  // frozen too: the store's list is its frozen copy (below)
      }
      restore_in_use(i, u, touched[i]);
    }
    // Releases of this pool may have been lost while the member was down,
    // and their hold-downs with them: nothing is handed out before one
    // hold-down from now.
    if (ps.hold_down > 0) ps.reserve_not_before = now_local_ + ps.hold_down;
    for (std::uint64_t word : touched[i]) ps.mirror.set(word, ps.pool->dynamic_word(word));
  }
  // From now on a release of an older incarnation's allocation must name
  // the lease the store listed for its unit (its session had not ended at
  // the read); a unit not listed is free, and its serial is no longer kRestored.
  fill_listed(listed);
  audit_->restart_read = false;
  stream_seq_ = 0;
  for (auto& [pid, p] : peers_) p->needs_seed = true;  // our rebuilt state
  // Our mark of our epoch is handed over once A peers hold the re-seed.
  handover_ = false;
  epoch_seq_ = 0;
  last_take_seq_ = 0;
  for (std::uint32_t i = 0; i < pools_.size(); ++i) set_owned(i);
  publish_owner_table();  // before ready_ (release)
  phase_ = MemberPhase::kReady;
  generation_hot_.store(inc_.generation, std::memory_order_relaxed);
  ready_.store(true, std::memory_order_release);  // the rebuilt bitmap happens-before any direct release
  ++counters_.rebuilds;
  audit_->not_before = now_local_ + options_.audit_grace;
  audit_->know_us.clear();
  audit_->fenced_at = 0;
  // Releases that reached us while rebuilding: their sessions ended before
  // the read (or after it, if the store lags): a unit not listed is free
  // already; a listed one is released now (if it names the listed lease).
  std::vector<RingItem> pending;
  pending.swap(pending_own_);
  for (const RingItem& item : pending) {
    if (item.op == RingItem::Op::kRelease && !pools_[item.pool]->pool->test(item.unit)) continue;
    route_release(item);
  }
}

}  // namespace uepool::set
