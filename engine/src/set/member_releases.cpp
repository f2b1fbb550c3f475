// Member — releases and static claims that reach the owner (message thread): routing what workers and peers hand over,
// applying own releases and claims (the static-claim book: claim ids, overtaking releases, waiting claims), hold-down
// expiry. See uepool/set/member.hpp and DESIGN.md section 2.
#include "member_state.hpp"

namespace uepool::set {

void Member::route_release(const RingItem& item) {
  if (item.op == RingItem::Op::kWrapHold) {
    wrap_holds_.push_back({now_local_ + options_.release_repeat_window, item.pool, item.unit});
    return;
  }
  const std::uint32_t owner = plan_->owner(item.pool, item.unit);
  // Ours in our epoch but not taken yet, or ours only in a newer epoch than
  // ours (the sender is ahead of us; sent back, it would come back):
  // parked until a take or our next epoch.
  if (phase_ == MemberPhase::kReady &&
      (owner == id_ ? is_pending(item.pool, item.unit)
                    : book_->newest() > epoch() && book_->find(book_->newest())->owner(item.pool, item.unit) == id_) &&
      park(item))
    return;
  if (owner == id_) {
    if (phase_ != MemberPhase::kReady) {
      if (pending_own_.size() < kPendingOwnMax) {
        pending_own_.push_back(item);
      } else {
        ++(item.op == RingItem::Op::kRelease ? counters_.releases_dropped_full : counters_.claims_dropped);
      }
      return;
    }
    if (item.op == RingItem::Op::kRelease) {
      apply_own_release(item);
    } else {
      apply_own_claim(item.pool, item.unit, item.claim);
    }
    return;
  }
  Peer* p = peer(owner);
  // No incarnation of the owner heard yet (we just started, or it has not
  // answered): the request waits in its outbox for the first one (adopt
  // keeps it). Nothing of it was sent to any incarnation, so none can have
  // applied it and reused the unit: delivering it to whichever comes first
  // is what a later request from the SMF would do. Bounded like a stale
  // peer's outbox (beyond: dropped and counted, a leak an audit repairs).
  if (p == nullptr || (p->inc.generation == 0 && p->outbox.size() >= kOutboxRequestsMax)) {
    ++(item.op == RingItem::Op::kRelease
           ? (p == nullptr ? counters_.releases_dropped_gone : counters_.releases_dropped_full)
           : counters_.claims_dropped);
    return;
  }
  if (item.op == RingItem::Op::kRelease) {
    ++counters_.releases_forwarded;
    p->outbox.push_back(record::Release{.pool = item.pool,
                                        .unit = item.unit,
                                        .tag = item.tag,
                                        .claim = item.claim,
                                        .serial = item.serial,
                                        .nonce = item.nonce});
  } else {
    p->outbox.push_back(record::Claim{.pool = item.pool, .unit = item.unit, .claim = item.claim});
  }
}

core::UnitStatus Member::free_own(std::uint32_t pool, std::uint64_t unit) {
  const core::UnitStatus st = pools_[pool]->pool->release(*msg_workers_[pool], unit, 0);
  if (st == core::UnitStatus::kOk && options_.observer != nullptr) options_.observer->unit_freed(*this, pool, unit);
  return st;
}

Member::Ended Member::end_allocation(PoolState& ps, const RingItem& item) {
  const detail::Rules& rules = options_.rules;
  if (item.tag.generation == inc_.generation && item.nonce == inc_.nonce) {
    // Ours: its serial must be the unit's current one (one CAS, racing
    // workers' direct releases and the audit: exactly one ends it).
    if (rules.stale_release_check &&
        (item.serial > detail::UnitSerials::kLast || !ps.serials->end(item.unit, item.serial))) {
      ++counters_.stale_releases;  // an ended allocation's: the unit may have a new holder
      return Ended::kRefused;
    }
    return rules.stale_release_check && item.serial == detail::UnitSerials::kLast ? Ended::kWrapped : Ended::kEnded;
  }
  // An older incarnation's allocation (of a lower generation, or of ours
  // reused after every memory of it was lost: another nonce): only a unit
  // restored in use at our restart (serial kRestored) can still hold one;
  // any other was freed or reallocated by this incarnation since.
  if (rules.stale_release_check && ps.serials->get(item.unit) != detail::UnitSerials::kRestored) {
    ++counters_.stale_releases;
    return Ended::kRefused;
  }
  if (rules.restored_releases_exact) {
    if (audit_->restart_read) {
      // Which older allocation holds the unit is known only once the store
      // was read (Member::restart_read): wait for it.
      if (deferred_old_.size() < kPendingOwnMax) {
        deferred_old_.push_back(item);
        ++counters_.releases_deferred;
      } else {
        ++counters_.releases_dropped_full;
      }
      return Ended::kRefused;
    }
    if (PoolState::Listed* l = ps.find_listed(item.unit)) {
      if (l->tag != pack_lease_tag(item.tag) || l->serial != item.serial || l->nonce != item.nonce) {
        ++counters_.stale_releases;  // an earlier allocation than the one the store lists
        return Ended::kRefused;
      }
      l->ended = true;
    }
    // Not listed: no session held the unit at the read (every older
    // allocation was stored by then), so whichever allocation this release
    // names, ending the restored one frees a unit nobody holds.
  }
  if (rules.stale_release_check) (void)ps.serials->end(item.unit, detail::UnitSerials::kRestored);
  return Ended::kEnded;
}

void Member::apply_own_release(const RingItem& item) {
  const std::uint32_t pool = item.pool;
  const std::uint64_t unit = item.unit;
  const std::uint64_t claim = item.claim;
  PoolState& ps = *pools_[pool];
  if (item.tag.generation > inc_.generation && !ps.pool->is_static(unit) &&
      ps.serials->get(unit) != detail::UnitSerials::kRestored) {
    // Names an allocation no incarnation of ours made, of a unit not taken
    // over from another member (whose generations are its own).
    ++counters_.stale_releases;
    return;
  }
  const std::uint32_t u = static_cast<std::uint32_t>(unit);
  const Ended ended = ps.pool->is_static(unit) ? Ended::kEnded : end_allocation(ps, item);
  if (ended == Ended::kRefused) return;
  ++counters_.releases_applied;
  if (ended == Ended::kWrapped) {
    // The serial wrapped: the unit stays in use for the repeat window (a
    // hold-down longer than that is part of it), then is freed with serial 0.
    wrap_holds_.push_back({now_local_ + std::max(options_.release_repeat_window, ps.hold_down), pool, unit});
    return;
  }
  note_freed(pool, AuditState::kUnitKey | unit);  // an audit running must not free what this release may free
  if (claim != 0 && ps.pool->is_static(unit)) {
    // A static claim and its release travel different paths (the session may
    // have moved): the release can arrive first. Then the claim is void.
    auto it = ps.claimed_by.find(unit);
    const bool ours = it != ps.claimed_by.end() && (it->second == claim || it->second == 0);
    if (!ours) {
      auto [b, e] = ps.waiting.equal_range(unit);
      for (auto w = b; w != e; ++w) {
        if (w->second == claim) {
          ps.waiting.erase(w);  // it never held the unit: nothing to free
          return;
        }
      }
      if (ps.overtaken.size() >= kPendingOwnMax) ps.overtaken.erase(ps.overtaken.begin());
      ps.overtaken.insert(claim);
      ++counters_.claims_overtaken;
      return;
    }
    auto next = ps.waiting.find(unit);
    if (next != ps.waiting.end()) {
      it->second = next->second;  // the claim that waited (its session's release of the old one was late)
      ps.waiting.erase(next);
      return;
    }
    ps.claimed_by.erase(it);
  }
  if (ps.pool->is_static(unit)) {
    if (free_own(pool, unit) != core::UnitStatus::kOk) {
      ++counters_.double_releases;
      return;
    }
    ps.statics.remove(u);
    emit_stream(record::Free{.pool = pool, .unit = unit});
    return;
  }
  if (ps.held(unit) || !ps.pool->test(unit)) {
    ++counters_.double_releases;
    return;
  }
  ps.quarantined.remove(u);
  if (ps.hold_down > 0) {
    // Held down: the bit stays set until it ends; the peers hear of the free
    // now and time the hold-down from its receipt.
    diff_word(pool, unit >> 6);  // an allocation not captured yet goes first
    ps.set_held(unit, true);
    hold_.insert({now_local_ + ps.hold_down, pool, unit});
    ps.mirror.set(unit >> 6, ps.mirror.get(unit >> 6) & ~(std::uint64_t{1} << (unit & 63)));
    emit_stream(record::Free{.pool = pool, .unit = unit});
  } else {
    (void)free_own(pool, unit);
    diff_later(pool, unit >> 6);
  }
  ps.scan_needed = true;
}

void Member::apply_own_claim(std::uint32_t pool, std::uint64_t unit, std::uint64_t claim) {
  PoolState& ps = *pools_[pool];
  if (!ps.pool->is_static(unit)) {
    ++counters_.refused_records;
    return;
  }
  if (ps.overtaken.erase(claim) != 0) return;  // its release came first: the session has ended
  const core::UnitStatus st = ps.pool->claim(*msg_workers_[pool], unit);
  if (st == core::UnitStatus::kInUse) {
    // Reported: claimed twice. Either two sessions were given this static unit
    // (UDM), or the first session's release is still on its way; the claim
    // waits and takes the unit over when that release arrives.
    ++counters_.duplicate_claims;
    if (ps.waiting.size() < kPendingOwnMax) ps.waiting.emplace(unit, claim);
    return;
  }
  if (st != core::UnitStatus::kOk) {
    ++counters_.refused_records;
    return;
  }
  ps.claimed_by[unit] = claim;
  ps.statics.add(static_cast<std::uint32_t>(unit));
  emit_stream(record::Alloc{.pool = pool, .unit = unit});
}

void Member::diff_later(std::uint32_t pool, std::uint64_t word) {
  if (diff_batches_ == 0) {
    diff_word(pool, word);
    return;
  }
  const std::uint64_t key = (std::uint64_t{pool} << 56) | word;
  if (diff_later_.empty() || diff_later_.back() != key) diff_later_.push_back(key);
}

void Member::drain_rings(bool dirty_too) {
  const DiffBatch batch(*this);
  for (auto& w : workers_) w->ring_.drain([&](const RingItem& item) { route_release(item); });
  if (dirty_too) drain_dirty();
}

void Member::expire_wrap_holds() {
  while (!wrap_holds_.empty() && wrap_holds_.front().until <= now_local_) {
    const HoldDown h = wrap_holds_.front();
    wrap_holds_.pop_front();
    PoolState& ps = *pools_[h.pool];
    if (is_frozen(h.pool, h.unit)) continue;  // a block we lost: its bits stay as the taker read them
    // Held by an audit that took it over: the audit frees it. Otherwise
    // kWrapHeld -> 0: handed out again from serial 0.
    if (ps.held(h.unit) || !ps.serials->end(h.unit, detail::UnitSerials::kWrapHeld)) continue;
    note_freed(h.pool, AuditState::kUnitKey | h.unit);
    (void)free_own(h.pool, h.unit);
    diff_word(h.pool, h.unit >> 6);
    ps.scan_needed = true;
  }
}

void Member::expire_hold_downs() {
  while (!hold_.empty() && hold_.begin()->until <= now_local_) {
    const auto [until, pool, unit] = *hold_.begin();
    hold_.erase(hold_.begin());
    PoolState& ps = *pools_[pool];
    ps.set_held(unit, false);
    if (is_frozen(pool, unit)) continue;  // a block we lost: its bits stay as the taker read them
    // Quarantined at a recovery (its window was open): an older incarnation
    // may have allocated it since its hold-down ended there; in use until an
    // audit, which it asks for (with a store) rather than wait for the next.
    if (!ps.quarantined.contains(static_cast<std::uint32_t>(unit))) {
      (void)free_own(pool, unit);
    } else if (options_.store != nullptr) {
      audit_->requested = true;
    }
    diff_word(pool, unit >> 6);  // normally nothing to tell: the free was streamed
    ps.scan_needed = true;
  }
}

}  // namespace uepool::set
