// Member — the usage stream (message thread): emitting records, word diffs and the periodic sweep, our own snapshot for
// peers, and applying peers' streams and snapshots to our replicas of them. See uepool/set/member.hpp and DESIGN.md
// section 2.
#include "member_state.hpp"

namespace uepool::set {

std::uint64_t Member::emit_stream(Record r) {
  r.stream_seq = ++stream_seq_;
  for (auto& [pid, p] : peers_)
    if (p->inc.generation != 0 && !p->needs_seed) p->outbox.push_back(r);
  return r.stream_seq;
}

void Member::apply_records(Peer& p, const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (is_stream(r.kind)) {
      apply_stream_record(p, r);
      continue;
    }
    if (r.pool >= pools_.size() || r.unit >= pools_[r.pool]->pool->size() || plan_->owner(r.pool, r.unit) != id_) {
      ++counters_.refused_records;  // not ours in this epoch: counted and ignored
      continue;
    }
    RingItem item{r.kind == RecordKind::kClaim ? RingItem::Op::kClaim : RingItem::Op::kRelease, r.pool, r.unit, r.tag,
                  r.claim};
    route_release(item);
  }
}

void Member::apply_stream_record(Peer& p, const Record& r) {
  Replica& rp = p.replica;
  if (r.kind == RecordKind::kSeed) {
    const UsageSnapshot* s = r.seed.get();
    bool valid = s != nullptr && s->in_use.size() == pools_.size();
    for (std::size_t i = 0; valid && i < s->in_use.size(); ++i)
      for (std::uint32_t u : s->in_use[i])
        if (u >= pools_[i]->pool->size() || plan_->owner(i, u) != p.id) {
          valid = false;
          break;
        }
    if (!valid) {
      ++counters_.refused_records;
      rp.complete = false;
      return;
    }
    rp.complete = true;
    rp.of = p.inc;
    rp.seq = r.stream_seq;
    rp.words.assign(pools_.size(), {});
    rp.statics.assign(pools_.size(), ::Roaring());
    for (std::size_t i = 0; i < s->in_use.size(); ++i) {
      for (std::uint32_t u : s->in_use[i]) {
        if (pools_[i]->pool->is_static(u)) {
          rp.statics[i].add(u);
        } else {
          rp.words[i][u >> 6] |= std::uint64_t{1} << (u & 63);
        }
      }
    }
    rp.windows.clear();
    rp.held.clear();
    for (const OpenWindow& w : s->windows) {
      rp.windows.push_back({w, now_local_ + w.lease_left});
      if (options_.observer != nullptr) options_.observer->window_applied(id_, p.id, p.inc, w);
    }
    for (const HeldUnit& h : s->held) rp.held[{h.pool, h.unit}] = now_local_ + h.remaining;
    return;
  }
  if (!options_.rules.complete_replica_votes && !(rp.complete && rp.of == p.inc)) {
    // Rule switched off (tests only): a peer without a bulk copy follows the stream as if it had one.
    rp.complete = true;
    rp.of = p.inc;
    rp.words.assign(pools_.size(), {});
    rp.statics.assign(pools_.size(), ::Roaring());
    rp.seq = r.stream_seq - 1;
  }
  if (!rp.complete || !(rp.of == p.inc)) return;  // waiting for a bulk copy
  if (r.stream_seq != rp.seq + 1) {
    ++counters_.refused_records;  // a gap: the replica can no longer be trusted
    rp.complete = false;
    return;
  }
  const bool pool_ok = r.pool < pools_.size();
  const std::uint64_t units = pool_ok ? pools_[r.pool]->pool->size() : 0;
  const bool words_ok = r.kind != RecordKind::kWords || r.unit < (std::uint64_t{1} << 57);
  const std::uint64_t first = r.kind == RecordKind::kWords && words_ok ? r.unit << 6 : r.unit;
  bool ok = pool_ok && words_ok && first < units;
  if (ok && r.kind == RecordKind::kWindow)
    ok = r.end > r.unit && r.end <= units && r.end - r.unit <= plan_->block_units(r.pool) &&
         plan_->owner(r.pool, r.end - 1) == p.id;
  if (ok) ok = plan_->owner(r.pool, first) == p.id;  // a word lies in one block (blocks are >= 64 units)
  if (!ok) {
    ++counters_.refused_records;  // a record for a block its sender does not own: refused
    rp.complete = false;
    return;
  }
  rp.seq = r.stream_seq;
  const std::uint64_t hold = pools_[r.pool]->hold_down;
  switch (r.kind) {
    case RecordKind::kWindow: {
      OpenWindow w{r.pool, r.unit, r.end, r.tag, r.lease};
      rp.windows.push_back({w, now_local_ + r.lease});
      if (options_.observer != nullptr) options_.observer->window_applied(id_, p.id, p.inc, w);
      break;
    }
    case RecordKind::kWords: {
      auto& words = rp.words[r.pool];
      auto it = words.find(r.unit);
      const std::uint64_t old = it == words.end() ? 0 : it->second;
      // Units that went from in use to free without a Free record (a unit
      // given back in a close race): held down from now, to be safe.
      for (std::uint64_t freed = old & ~r.bits; hold > 0 && freed != 0; freed &= freed - 1)
        rp.held.try_emplace({r.pool, (r.unit << 6) | static_cast<std::uint64_t>(std::countr_zero(freed))},
                            now_local_ + hold);
      for (std::uint64_t taken = rp.held.empty() ? 0 : r.bits & ~old; taken != 0; taken &= taken - 1)
        rp.held.erase({r.pool, (r.unit << 6) | static_cast<std::uint64_t>(std::countr_zero(taken))});
      if (r.bits == 0) {
        if (it != words.end()) words.erase(it);
      } else {
        words[r.unit] = r.bits;
      }
      break;
    }
    case RecordKind::kAlloc:
      if (pools_[r.pool]->pool->is_static(r.unit)) rp.statics[r.pool].add(static_cast<std::uint32_t>(r.unit));
      break;
    case RecordKind::kFree:
      if (pools_[r.pool]->pool->is_static(r.unit)) {
        rp.statics[r.pool].remove(static_cast<std::uint32_t>(r.unit));
      } else {
        auto it = rp.words[r.pool].find(r.unit >> 6);
        if (it != rp.words[r.pool].end()) {
          it->second &= ~(std::uint64_t{1} << (r.unit & 63));
          if (it->second == 0) rp.words[r.pool].erase(it);
        }
        rp.held[{r.pool, r.unit}] = now_local_ + hold;
      }
      break;
    case RecordKind::kClose:
      std::erase_if(rp.windows, [&](const Replica::Win& w) { return w.w.tag == r.tag && w.w.pool == r.pool; });
      break;
    default: break;
  }
}

void Member::diff_word(std::uint32_t pool, std::uint64_t word) {
  PoolState& ps = *pools_[pool];
  std::uint64_t v = ps.pool->dynamic_word(word);  // seq_cst loads: see the close protocol at the top
  auto h = ps.held_words.find(word);
  if (h != ps.held_words.end()) v &= ~h->second;  // held down: the peers heard of the free already
  auto it = ps.mirror.find(word);
  const std::uint64_t old = it == ps.mirror.end() ? 0 : it->second;
  if (v == old) return;
  if (v == 0) {
    ps.mirror.erase(it);
  } else if (it == ps.mirror.end()) {
    ps.mirror.emplace(word, v);
  } else {
    it->second = v;
  }
  Record r;
  r.kind = RecordKind::kWords;
  r.pool = pool;
  r.unit = word;
  r.bits = v;
  emit_stream(r);
}

void Member::sweep_words() {
  // Re-read a few mirrored words each tick: catches anything a dirty mark
  // missed (the mirror is what peers were told; the bitmap is the truth).
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    std::vector<std::uint64_t> words;
    for (auto it = ps.mirror.lower_bound(ps.sweep); it != ps.mirror.end() && words.size() < 16; ++it)
      words.push_back(it->first);
    ps.sweep = words.size() < 16 ? 0 : words.back() + 1;
    for (std::uint64_t w : words) diff_word(i, w);
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
    for (const auto& [word, bits] : ps.mirror)
      for (std::uint64_t b = bits; b != 0; b &= b - 1)
        in_use.add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(b))));
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
  for (const auto& [key, unused] : hold_) {
    const auto [until, pool, unit] = key;
    s->held.push_back({pool, unit, until > now_local_ ? until - now_local_ : 0});
  }
  return s;
}

std::shared_ptr<const UsageSnapshot> Member::replica_snapshot(const Replica& r) const {
  auto s = std::make_shared<UsageSnapshot>();
  s->of = r.of;
  s->stream_seq = r.seq;
  s->in_use.assign(pools_.size(), ::Roaring());
  for (std::size_t i = 0; i < pools_.size(); ++i) {
    if (i < r.statics.size()) s->in_use[i] = r.statics[i];
    if (i >= r.words.size()) continue;
    for (const auto& [word, bits] : r.words[i])
      for (std::uint64_t b = bits; b != 0; b &= b - 1)
        s->in_use[i].add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(b))));
  }
  for (const auto& w : r.windows) {
    OpenWindow ow = w.w;
    ow.lease_left = w.until > now_local_ ? w.until - now_local_ : 0;
    s->windows.push_back(ow);
  }
  for (const auto& [key, until] : r.held)
    if (until > now_local_) s->held.push_back({key.first, key.second, until - now_local_});
  return s;
}

}  // namespace uepool::set
