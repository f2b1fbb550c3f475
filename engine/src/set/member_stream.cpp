// Member — the usage stream (message thread): emitting records, word diffs and the periodic sweep, our own snapshot for
// peers, and applying peers' streams and snapshots to our replicas of them. See uepool/set/member.hpp and DESIGN.md
// section 2.
#include "member_state.hpp"

namespace uepool::set {

std::uint64_t Member::emit_stream(Record r) {
  const std::uint64_t seq = ++stream_seq_;
  std::visit(
      [&](auto& x) {
        if constexpr (requires { x.stream_seq; }) x.stream_seq = seq;
      },
      r);
  for (auto& [pid, p] : peers_)
    if (p->inc.generation != 0 && !p->needs_seed) p->outbox.push_back(r);
  return seq;
}

void Member::apply_records(Peer& p, const std::vector<Record>& records) {
  const DiffBatch batch(*this);
  for (const Record& r : records) {
    if (is_stream(r)) {
      apply_stream_record(p, r);
    } else {
      route_request(r);
    }
  }
}

void Member::route_request(const Record& r) {
  RingItem item;
  if (const auto* rel = std::get_if<record::Release>(&r)) {
    item = RingItem{RingItem::Op::kRelease, rel->pool, rel->unit, rel->tag, rel->claim, rel->serial, rel->nonce};
    ++counters_.releases_received;
  } else if (const auto* c = std::get_if<record::Claim>(&r)) {
    item = RingItem{RingItem::Op::kClaim, c->pool, c->unit, {}, c->claim};
  } else {
    return;
  }
  if (item.pool >= pools_.size() || item.unit >= pools_[item.pool]->pool->size()) {
    ++counters_.refused_records;  // no such unit: counted and ignored
    return;
  }
  // Not ours in our epoch: the sender routed it by another epoch's plan.
  // route_release forwards it to the owner in ours, or parks it while we
  // know of a newer epoch than ours (the sender is ahead of us).
  route_release(item);
}

void Member::apply_stream_record(Peer& p, const Record& r) {
  Replica& rp = p.replica;
  if (!options_.rules.complete_replica_votes && !rp.complete_for(p.inc) && !std::holds_alternative<record::Seed>(r))
    rp.assume_complete(p.inc, stream_seq_of(r) - 1);  // rule switched off (tests only): follow without a bulk copy
  switch (rp.apply(p.inc, r, now_local_)) {
    case Replica::Outcome::kRefused: ++counters_.refused_records; return;
    case Replica::Outcome::kWaiting: return;
    case Replica::Outcome::kApplied: break;
  }
  if (options_.observer == nullptr) return;
  if (const auto* w = std::get_if<record::Window>(&r)) {
    options_.observer->window_applied(id_, p.id, p.inc, OpenWindow{w->pool, w->begin, w->end, w->tag, w->lease});
  } else if (const auto* s = std::get_if<record::Seed>(&r)) {
    for (const OpenWindow& ow : s->snapshot->windows) options_.observer->window_applied(id_, p.id, p.inc, ow);
  }
}

void Member::diff_word(std::uint32_t pool, std::uint64_t word) {
  // A word of a block we lost (frozen: the taker reads it as it was at our
  // mark) or one not taken yet is not ours to stream.
  if (plan_->owner(pool, word << 6) != id_ || is_pending(pool, word << 6)) return;
  PoolState& ps = *pools_[pool];
  std::uint64_t v = ps.pool->dynamic_word(word);  // seq_cst loads: see the close protocol at the top
  v &= ~ps.free_held(word);                       // held down: the peers heard of the free already
  if (v == ps.mirror.get(word)) return;
  ps.mirror.set(word, v);
  emit_stream(record::Words{.pool = pool, .word = word, .bits = v});
}

void Member::sweep_words() {
  // Re-read a few mirrored words each tick: catches anything a dirty mark
  // missed (the mirror is what peers were told; the bitmap is the truth).
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    // Up to 16 words from at most 64 slots, in slot order (diff_word may
    // change the map: the words are collected first).
    std::array<std::uint64_t, 16> words{};
    std::size_t n = 0;
    std::size_t slot = ps.sweep;
    for (std::size_t looked = 0; looked < 64 && n < words.size() && slot < ps.mirror.slots(); ++looked, ++slot)
      if (ps.mirror.bits_at(slot) != 0) words[n++] = ps.mirror.key_at(slot);
    ps.sweep = slot < ps.mirror.slots() ? slot : 0;
    for (std::size_t k = 0; k < n; ++k) diff_word(i, words[k]);
  }
}

void Member::capture_allocations() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (WindowSlot& s : ps.slots) {
      const std::uint64_t ph = phase_of(s.state.load(std::memory_order_acquire));
      if (ph == kActive || ph == kExhausted) capture_window(i, s);
    }
  }
}

std::shared_ptr<const UsageSnapshot> Member::own_snapshot() const {
  auto s = std::make_shared<UsageSnapshot>();
  s->of = inc_;
  s->stream_seq = stream_seq_;
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const PoolState& ps = *pools_[i];
    ::Roaring in_use = ps.statics;
    ps.mirror.for_each([&](std::uint64_t word, std::uint64_t bits) {
      for (std::uint64_t b = bits; b != 0; b &= b - 1)
        in_use.add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(b))));
    });
    // Quarantined units are in use (held-down ones among them too, in the
    // mirror: PoolState::free_held), unless the rule is off (tests only).
    if (!options_.rules.reseed_quarantined_in_use) in_use -= ps.quarantined;
    s->in_use.push_back(std::move(in_use));
    for (const WindowSlot& w : ps.slots) {
      if (phase_of(w.state.load(std::memory_order_relaxed)) == kEmpty) continue;
      const std::uint64_t end = w.lease_end.load(std::memory_order_relaxed);
      s->windows.push_back(OpenWindow{i, w.begin.load(std::memory_order_relaxed), w.end.load(std::memory_order_relaxed),
                                      unpack_tag(w.tag.load(std::memory_order_relaxed)),
                                      end > now_local_ ? end - now_local_ : 0});
    }
  }
  for (const auto& [until, pool, unit] : hold_) {
    s->held.push_back({pool, unit, until > now_local_ ? until - now_local_ : 0});
  }
  for (const auto& ps : pools_)
    s->pool_hold.push_back(ps->reserve_not_before > now_local_ ? ps->reserve_not_before - now_local_ : 0);
  for (const AuditState::Hold& h : audit_->holds)  // units an audit freed
    s->held.push_back({h.pool, h.unit, h.until > now_local_ ? h.until - now_local_ : 0});
  s->epoch = plan_->epoch();
  s->members.assign(plan_->members().begin(), plan_->members().end());
  s->handover = handover_;
  for (const auto& [key, from] : pending_) s->pending.push_back({key.first, key.second, from});
  s->frozen = frozen_;
  s->history = book_->history_before(plan_->epoch());
  return s;
}

}  // namespace uepool::set
