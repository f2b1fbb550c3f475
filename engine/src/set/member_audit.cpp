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
//   What freeing u does: u stays in use in the bitmap, held down for at least
//   one lease (and the pool's hold-down), and the peers hear a Free. Its floor,
//   the newest allocation tag at the time, makes any later release naming
//   an allocation at or below it a late one, ignored and counted: its
//   session ended before the reads, and the audit ended that allocation.
//   Workers send releases whose tag is at or below release_floor_ to this
//   thread instead of freeing directly, so the floor covers them too.
//   When the hold ends, u is freed unless its word was freed since the
//   audit started (a late direct release freed it and it may be reallocated).
//
//   A late direct release racing the audit's free: the worker sets its
//   in_release_ flag, then reads the floor; this thread raises the floor,
//   then reads every flag (all four seq_cst: a Dekker pair). Either the
//   worker sees the new floor (its release comes here and meets the unit's
//   floor), or this thread sees it inside the call, and no hold of this
//   audit ends before that call has ended and its dirty word was drained
//   (the unit's word is then noted as freed: the unit is not freed again).
//
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
  return audit_->requested || audit_->rerun || audit_->tracking();
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
  const std::uint64_t floor = pack_lease_tag(LeaseTag{inc_.generation, window_counter_});
  if (options_.rules.audit_floors && floor > release_floor_.load(std::memory_order_relaxed)) {
    release_floor_.store(floor, std::memory_order_seq_cst);  // before any unit below is freed
    // The other half of the Dekker pair (Member::release): a worker inside
    // a direct release now may have read the old floor; its call must end
    // (and its dirty word be drained) before any unit of this audit is freed.
    for (std::size_t k = 0; k < workers_.size(); ++k) {
      Worker& w = *workers_[k];
      if (w.in_release_.load(std::memory_order_seq_cst) != 0)
        a.stragglers.emplace(k, w.releases_done_.load(std::memory_order_acquire));
    }
  }
  const std::uint64_t hold = options_.lease;
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint32_t u32 : candidates[i]) {
      const std::uint64_t u = u32;
      if (!ps.pool->test(u) || ps.held(u)) continue;
      ++counters_.audit_freed;
      if (ps.pool->is_static(u)) {
        ps.claimed_by.erase(u);  // a release of that claim, if it ever comes, finds it gone
        ps.statics.remove(u32);
        (void)free_own(i, u);
        emit_stream(record::Free{.pool = i, .unit = u});
        continue;
      }
      if (ps.quarantined.contains(u32)) {
        ps.quarantined.remove(u32);
        ++counters_.audit_freed_quarantined;
      }
      if (options_.rules.audit_floors) {
        if (ps.floors.size() >= kFloorsMax) ps.floors.erase(ps.floors.begin());
        ps.floors[u] = floor;
      }
      diff_word(i, u >> 6);  // an allocation not streamed yet goes first
      ps.set_held(u, true);
      ps.mirror.set(u >> 6, ps.mirror.get(u >> 6) & ~(std::uint64_t{1} << (u & 63)));
      emit_stream(record::Free{.pool = i, .unit = u});
      a.holds.insert({now_local_ + std::max(hold, ps.hold_down), i, u, a.started});
    }
  }
  ++counters_.audits;
}

void Member::audit_tick() {
  AuditState& a = *audit_;
  if (options_.store == nullptr || phase_ != MemberPhase::kReady) return;
  // Units an audit freed whose hold has ended.
  std::erase_if(a.stragglers, [&](const auto& kv) {
    return workers_[kv.first]->releases_done_.load(std::memory_order_acquire) != kv.second;
  });
  if (!a.holds.empty() && a.holds.begin()->until <= now_local_ && a.stragglers.empty()) {
    drain_dirty();  // a late direct release's word, noted before its unit is freed here
    while (!a.holds.empty() && a.holds.begin()->until <= now_local_) {
      const AuditState::Hold h = *a.holds.begin();
      a.holds.erase(a.holds.begin());
      PoolState& ps = *pools_[h.pool];
      ps.set_held(h.unit, false);
      const bool freed_since = options_.rules.audit_skip_freed_words && a.freed_since(h.pool, h.unit, h.since);
      if (!freed_since) {
        (void)free_own(h.pool, h.unit);
      } else if (ps.pool->test(h.unit)) {
        a.rerun = true;  // in use again: maybe reallocated, maybe still leaked (another unit of its word was freed)
      }
      diff_word(h.pool, h.unit >> 6);  // in use again if it was not freed
      ps.scan_needed = true;
    }
  }
  switch (a.stage) {
    case AuditState::Stage::kIdle: {
      const bool due = a.requested || a.rerun || (options_.audit_interval != 0 && now_local_ >= a.next_audit);
      if (!due || now_local_ < a.not_before) break;
      a.requested = a.rerun = false;
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
    if (a.know_us.size() < need) return;
    a.fenced_at = now_local_ + (now_local_ == 0 ? 1 : 0);
  }
  // An older incarnation's window ends within a lease; a session it
  // allocated there is stored at most audit_grace later.
  const std::uint64_t wait =
      options_.rules.rebuild_lease_wait ? options_.lease + options_.audit_grace + options_.retransmit : 0;
  if (now_local_ < a.fenced_at + wait) return;
  finish_rebuild();
}

void Member::finish_rebuild() {
  std::vector<::Roaring> held;
  std::vector<Lease> listed;
  if (!audit_read(held, &listed)) return;  // tried again next tick
  if (options_.rules.rebuild_floor) {
    // From now on a release of an older incarnation's allocation must name
    // one the store listed (its session had not ended at the read).
    rebuild_floor_ = std::uint64_t{inc_.generation} << 32;
    if (rebuild_floor_ > release_floor_.load(std::memory_order_relaxed))
      release_floor_.store(rebuild_floor_, std::memory_order_seq_cst);
  }
  std::vector<std::set<std::uint64_t>> touched(pools_.size());
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    ps.rebuilt.clear();
    for (std::uint32_t u : held[i]) {
      if (!ps.pool->is_excluded(u)) restore_in_use(i, u, touched[i]);
    }
    // Releases of this pool may have been lost while the member was down,
    // and their hold-downs with them: nothing is handed out before one
    // hold-down from now.
    if (ps.hold_down > 0) ps.reserve_not_before = now_local_ + ps.hold_down;
    if (options_.rules.rebuild_floor)
      for (const Lease& l : listed)
        if (l.pool == i && !ps.pool->is_static(l.unit)) ps.rebuilt[l.unit] = pack_lease_tag(l.tag);
    for (std::uint64_t word : touched[i]) ps.mirror.set(word, ps.pool->dynamic_word(word));
  }
  stream_seq_ = 0;
  for (auto& [pid, p] : peers_) p->needs_seed = true;  // our rebuilt state
  phase_ = MemberPhase::kReady;
  ready_.store(true, std::memory_order_release);  // the rebuilt bitmap happens-before any direct release
  ++counters_.rebuilds;
  audit_->not_before = now_local_ + options_.audit_grace;
  audit_->know_us.clear();
  audit_->fenced_at = 0;
  // Releases that reached us while rebuilding: their sessions ended before
  // the read (or after it, if the store lags): a unit not listed is free
  // already; a listed one is released now, with its hold-down.
  std::vector<RingItem> pending;
  pending.swap(pending_own_);
  for (const RingItem& item : pending) {
    if (item.op == RingItem::Op::kRelease && !pools_[item.pool]->pool->test(item.unit)) continue;
    route_release(item);
  }
}

}  // namespace uepool::set
