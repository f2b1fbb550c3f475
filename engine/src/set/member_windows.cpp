// Member — window reservation and the close protocol (message thread): reserve windows ahead, promote them once A peers
// acknowledged, close them (capturing every unit allocated in them first). See uepool/set/member.hpp and DESIGN.md
// section 2.
#include "member_state.hpp"

namespace uepool::set {

void Member::capture_window(std::uint32_t pool, WindowSlot& s) {
  const std::uint64_t b = s.begin.load(std::memory_order_relaxed);
  const std::uint64_t e = s.end.load(std::memory_order_relaxed);
  for (std::uint64_t w = b >> 6; w < (e + 63) >> 6; ++w) diff_word(pool, w);
}

void Member::close_windows() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (WindowSlot& s : ps.slots) {
      const std::uint64_t ph = s.phase();
      if (ph == kEmpty) continue;
      const bool expired = now_local_ >= s.lease_end.load(std::memory_order_relaxed);
      if (!(expired || ph == kExhausted)) continue;
      s.close([&] {
        capture_window(i, s);
        emit_stream(record::Close{.pool = i, .tag = unpack_tag(s.tag.load(std::memory_order_relaxed))});
      });
      ps.scan_needed = true;
    }
  }
}

std::uint32_t Member::acks_for(std::uint64_t stream_seq) const {
  std::uint32_t n = options_.rules.peers_only_quorum ? 0 : 1;
  for (const auto& [pid, p] : peers_)
    if (p->report_valid && p->report.complete && p->report.seq >= stream_seq) ++n;
  return n;
}

void Member::promote_windows() {
  for (auto& psp : pools_) {
    for (WindowSlot& s : psp->slots) {
      const std::uint64_t st = s.state.load(std::memory_order_relaxed);
      if (phase_of(st) != kPending) continue;
      if (acks_for(s.stream_seq) >= ack_quorum_) s.promote();
    }
  }
}

void Member::reserve_windows() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    std::uint32_t waiting = 0, ready = 0;
    bool free_slot = false;
    for (WindowSlot& s : ps.slots) {
      const std::uint64_t ph = phase_of(s.state.load(std::memory_order_relaxed));
      if (ph == kPending || ph == kReady) ++waiting;
      if (ph == kReady) ++ready;
      if (ph == kEmpty) free_slot = true;
    }
    // Adapt how many windows wait ahead to the demand: workers that found
    // every acknowledged window taken since the last tick double it (up to
    // half the slots); windows left untouched for a whole tick shrink it back
    // towards windows_ahead. One acknowledgement round trip must cover what
    // the workers allocate meanwhile.
    if (ps.ahead == 0) ps.ahead = options_.windows_ahead;
    if (ps.starved.exchange(false, std::memory_order_relaxed)) {
      ps.ahead = std::min<std::uint32_t>(2 * ps.ahead, kSlots / 2);
    } else if (ready >= ps.ahead && ps.ahead > options_.windows_ahead) {
      --ps.ahead;
    }
    bool found_any = false;
    // The chunks open now, by their first unit (sorted): one pass over the
    // slots per tick, not one per chunk looked at. Only this thread opens
    // or empties slots, so the list stays true while this loop runs.
    std::array<std::uint64_t, kSlots> open_begins{};
    std::size_t open_count = 0;
    for (WindowSlot& s : ps.slots)
      if (phase_of(s.state.load(std::memory_order_relaxed)) != kEmpty)
        open_begins[open_count++] = s.begin.load(std::memory_order_relaxed);
    std::sort(open_begins.begin(), open_begins.begin() + static_cast<std::ptrdiff_t>(open_count));
    while (waiting < ps.ahead && free_slot && ps.scan_needed && ps.chunks > 0 && now_local_ >= ps.reserve_not_before) {
      // Next chunk (a window-sized piece of an owned block) not open already and with a free dynamic unit.
      bool found = false;
      core::UnitRange range;
      for (std::uint64_t n = 0; n < ps.chunks && !found; ++n) {
        const std::uint64_t k = (ps.cursor + n) % ps.chunks;
        range = ps.chunk(k);
        if (std::binary_search(open_begins.begin(), open_begins.begin() + static_cast<std::ptrdiff_t>(open_count),
                               range.begin))
          continue;
        // A free dynamic unit: a zero bit in the dynamic bitmap, where excluded
        // and static units are preset in use. Chunks are whole words (blocks
        // and windows are powers of two of at least 64 units), so one load
        // per 64 units, not a walk per unit.
        for (std::uint64_t word = range.begin >> 6; word < (range.end + 63) >> 6 && !found; ++word)
          found = ps.pool->has_free_dynamic(word);
        if (found) ps.cursor = (k + 1) % ps.chunks;
      }
      if (!found) {
        ps.scan_needed = false;  // a full lap found nothing: look again once something is freed
        break;
      }
      // The units' serials first (workers read them as they allocate).
      if (!ps.serials->ensure(range.begin, range.end)) break;  // out of memory: no window now
      found_any = true;
      WindowSlot* slot = nullptr;
      for (WindowSlot& s : ps.slots)
        if (phase_of(s.state.load(std::memory_order_relaxed)) == kEmpty) {
          slot = &s;
          break;
        }
      const LeaseTag tag{inc_.generation, ++window_counter_};
      const std::uint64_t lease_end = now_local_ + options_.lease;
      slot->open(range, tag, lease_end);  // Pending: invisible to workers until promoted
      slot->stream_seq = emit_stream(
          record::Window{.pool = i, .begin = range.begin, .end = range.end, .tag = tag, .lease = options_.lease});
      ++counters_.windows_reserved;
      if (options_.observer != nullptr)
        options_.observer->window_reserved(id_, inc_, OpenWindow{i, range.begin, range.end, tag, options_.lease},
                                           lease_end);
      ++waiting;
      open_begins[open_count++] = range.begin;
      std::sort(open_begins.begin(), open_begins.begin() + static_cast<std::ptrdiff_t>(open_count));
      free_slot = false;
      for (WindowSlot& s : ps.slots)
        if (phase_of(s.state.load(std::memory_order_relaxed)) == kEmpty) free_slot = true;
    }
    // A member that owns no block of the pool (a standby, or one that left)
    // has none free; one still taking its blocks is not ready yet.
    const bool owns_nothing = ps.chunks == 0 && !hot_[i].moving.load(std::memory_order_relaxed);
    ps.exhausted.store((!found_any && waiting == 0 && !ps.scan_needed) || owns_nothing, std::memory_order_relaxed);
  }
}

}  // namespace uepool::set
