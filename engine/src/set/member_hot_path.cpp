// Member — the hot path: allocate, allocate_dual, release and claim, called from many SMF worker threads at once (see
// member_state.hpp for what they share with the message thread). See uepool/set/member.hpp and DESIGN.md section 2.
#include "member_state.hpp"

namespace uepool::set {

MemberAllocation Member::allocate(Worker& w, std::uint32_t pool) noexcept {
  if (pool >= hot_count_) return {MemberStatus::kNoSuchPool, {}};
  core::Pool& core_pool = *hot_[pool].pool;
  PoolState& ps = *pools_[pool];
  Worker::Current& cur = w.current_[pool];
  core::Pool::Worker& pw = *w.pool_workers_[pool];
  const std::uint64_t now = now_.load(std::memory_order_relaxed);
  for (std::size_t attempt = 0; attempt <= kSlots; ++attempt) {
    if (cur.slot != nullptr) {
      if (now < cur.held.lease_end) {
        const core::Allocation a = core_pool.allocate_unit_in(pw, cur.held.range, now);
        UEPOOL_DCHECK(!a.ok() || (a.unit >= cur.held.range.begin && a.unit < cur.held.range.end),
                      "a unit handed out outside its window");
        if (a.ok()) {
          // The close protocol (window_slot.hpp): the allocation RMW above, then this seq_cst load.
          // The serial: relaxed is enough. The unit's last release ended its
          // allocation (serial CAS) before it freed the bit, and the RMW
          // above read that free: the advanced serial is visible here.
          if (cur.slot->holds(cur.held.word))
            return {MemberStatus::kOk,
                    {pool, a.unit, cur.held.tag, 0, hot_[pool].serials->get(a.unit), options_.nonce}};
          (void)core_pool.release(pw, a.unit, 0);  // the window is closing: give it back unused
          w.undone_.fetch_add(1, std::memory_order_relaxed);
        } else {
          cur.slot->mark_exhausted(cur.held.word);  // full: let the message thread close it
        }
      }
      cur.slot = nullptr;
    }
    bool found = false;
    for (std::size_t k = 0; k < kSlots && !found; ++k) {
      WindowSlot& s = ps.slots[(w.rotor_ + k) % kSlots];
      if (!s.try_take(cur.held)) continue;
      cur.slot = &s;
      w.rotor_ = static_cast<std::uint32_t>((w.rotor_ + k + 1) % kSlots);
      found = true;
    }
    if (!found) {
      if (ps.exhausted.load(std::memory_order_relaxed)) return {MemberStatus::kNoneFree, {}};
      if (!ps.starved.load(std::memory_order_relaxed)) ps.starved.store(true, std::memory_order_relaxed);
      w.waits_.fetch_add(1, std::memory_order_relaxed);  // statistics only: no order needed
      return {MemberStatus::kNotReady, {}};
    }
  }
  w.waits_.fetch_add(1, std::memory_order_relaxed);
  return {MemberStatus::kNotReady, {}};
}

std::pair<MemberAllocation, MemberAllocation> Member::allocate_dual(Worker& w, std::uint32_t pool_a,
                                                                    std::uint32_t pool_b) noexcept {
  MemberAllocation a = allocate(w, pool_a);
  if (!a.ok()) return {a, MemberAllocation{a.status, {}}};
  MemberAllocation b = allocate(w, pool_b);
  if (!b.ok()) {
    release(w, a.lease);  // all or nothing
    return {MemberAllocation{b.status, {}}, b};
  }
  return {a, b};
}

void Member::release(Worker& w, const Lease& lease) noexcept {
  if (lease.pool >= hot_count_ || lease.unit >= hot_[lease.pool].units) {
    w.refused_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const HotPool& hp = hot_[lease.pool];
  // Our own dynamic unit, no hold-down, state rebuilt, an allocation of
  // this incarnation: end the allocation (its serial, one CAS: a stale
  // lease is refused here) and free the unit here; the message thread
  // re-reads its word. Everything else (another owner's unit, a static
  // unit, a hold-down, a member still recovering, an older incarnation's
  // allocation, a pool with blocks being taken) goes through the ring to the
  // message thread. The owner table and `moving`: acquire (HotPool).
  if (hp.direct_release && hp.run_owner.load(std::memory_order_acquire)[lease.unit >> hp.run_shift] == self_index_ &&
      !hp.moving.load(std::memory_order_acquire) && ready_.load(std::memory_order_acquire) &&
      lease.tag.generation == generation_hot_.load(std::memory_order_relaxed) && lease.nonce == options_.nonce &&
      !(hp.has_static && hp.pool->is_static(lease.unit))) {
    // Release: an audit that reads this key, or the serial the CAS below
    // writes, sees all this worker did before (its earlier frees' dirty words).
    w.releasing_.store(((std::uint64_t{lease.pool} << 56) | lease.unit) + 1, std::memory_order_release);
    if (options_.rules.stale_release_check) {
      if (lease.serial > detail::UnitSerials::kLast || !hp.serials->end(lease.unit, lease.serial)) {
        w.releasing_.store(0, std::memory_order_release);
        w.stale_.fetch_add(1, std::memory_order_relaxed);  // not the unit's current allocation: nothing changed
        return;
      }
      if (lease.serial == detail::UnitSerials::kLast) [[unlikely]] {
        // The serial wrapped (kWrapHeld): the unit stays in use; the message
        // thread frees it after the repeat window. A full ring leaves it in
        // use until an audit frees it (a leak, counted, never a conflict).
        w.releasing_.store(0, std::memory_order_release);
        (void)w.push(RingItem{RingItem::Op::kWrapHold, lease.pool, lease.unit, lease.tag, 0, lease.serial});
        return;
      }
    }
    const bool freed = hp.pool->release(*w.pool_workers_[lease.pool], lease.unit, 0) == core::UnitStatus::kOk;
    if (freed) w.mark_dirty(lease.pool, lease.unit >> 6);
    // Release: the free and its dirty word happen-before an audit's read of 0.
    w.releasing_.store(0, std::memory_order_release);
    if (!freed) {
      w.double_.fetch_add(1, std::memory_order_relaxed);  // reported; nothing changed
      return;
    }
    if (options_.observer != nullptr) [[unlikely]]
      options_.observer->unit_freed(*this, lease.pool, lease.unit);
    return;
  }
  (void)w.push(
      RingItem{RingItem::Op::kRelease, lease.pool, lease.unit, lease.tag, lease.claim, lease.serial, lease.nonce});
}

MemberStatus Member::claim(Worker& w, std::uint32_t pool, std::uint64_t unit, Lease* lease) noexcept {
  if (pool >= pools_.size()) return MemberStatus::kNoSuchPool;
  if (unit >= pools_[pool]->pool->size()) return MemberStatus::kOutOfRange;
  if (!pools_[pool]->pool->is_static(unit)) return MemberStatus::kNotStatic;
  const std::uint64_t claim_id = w.claim_next_ += 2;  // odd base + 2k: unique per worker, never 0 ("unknown")
  (void)w.push(RingItem{RingItem::Op::kClaim, pool, unit, {}, claim_id});
  if (lease != nullptr) *lease = Lease{pool, unit, LeaseTag{0, 0}, claim_id};
  return MemberStatus::kOk;
}

}  // namespace uepool::set
