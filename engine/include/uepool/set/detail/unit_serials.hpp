// uepool/set/detail/unit_serials.hpp — a 4-bit allocation serial per unit:
// what tells one allocation of a unit from the next, so that a release
// naming an earlier allocation (a duplicate from the embedding, a release
// repeated by the SMF that took over a session, a late one after an audit
// ended the allocation) is refused instead of freeing the unit under its
// next holder (issue 12, point 4).
//
//   allocate   the serial s the unit has now goes into the lease
//   release    end(unit, s): s -> next(s) in one CAS; refused if the unit's
//              serial is not s (its allocation s was ended already)
//
// A serial advances only when an allocation ends, so the next allocation of
// the unit carries next(s) and every lease of an ended allocation is stale.
// Serials of this incarnation cycle through 0..13. Two more values:
//   14 kRestored  in use by an older incarnation's allocation (restored at a
//                 recovery or a rebuild); its release is checked by the
//                 member (member_releases.cpp); ending it gives 0.
//   15 kWrapHeld  the allocation of serial 13 ended: the next would reuse 0.
//                 The unit stays in use for the member's
//                 release_repeat_window first (then 0, and free), so that
//                 a release of an allocation 14 (14k) allocations back —
//                 the only kind a 4-bit serial cannot tell from the
//                 current one — can no longer arrive (TCP's TIME-WAIT
//                 against old duplicates, the same argument).
// No lease ever carries 14 or 15: a release naming either is refused.
//
// Memory: 4 bits per unit, in pages of 65,536 units (32 KiB) made only where
// the member opens a window or restores a unit, plus one pointer per 65,536
// units of the pool: a 2^32-unit pool costs 512 KiB until pages are made.
//
// Threads: ensure and set are message-thread calls; get and end are called
// from any thread (workers and the message thread) concurrently.
//   * Page pointers: stored with release after the page is zeroed, loaded
//     with acquire. A worker reaches a unit only through a window (opened
//     after ensure) or a lease (handed out from one), so it never finds a
//     page missing that it needs; a missing page reads as serial 0 and
//     `end` refuses (nothing of this incarnation was allocated there).
//   * Nibbles share a 64-bit word with 15 neighbours: end is a CAS loop that
//     changes only its own nibble (acq_rel: a release's end happens-before
//     its bitmap free, so the next allocation, whose bitmap RMW reads that
//     free, loads the advanced serial; the audit reads serials with acquire
//     and so sees everything a worker did before its end — member_audit.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace uepool::set::detail {

class UnitSerials {
 public:
  static constexpr std::uint8_t kLast = 13;  // the last serial of the cycle
  static constexpr std::uint8_t kRestored = 14;
  static constexpr std::uint8_t kWrapHeld = 15;
  static constexpr unsigned kPageShift = 16;  // units per page: 65,536
  static constexpr std::uint64_t kPageUnits = std::uint64_t{1} << kPageShift;

  explicit UnitSerials(std::uint64_t units)
      : units_(units), pages_((units + kPageUnits - 1) >> kPageShift), dir_(new std::atomic<Word*>[pages_]) {
    for (std::size_t i = 0; i < pages_; ++i) dir_[i].store(nullptr, std::memory_order_relaxed);
  }
  ~UnitSerials() {
    for (std::size_t i = 0; i < pages_; ++i) delete[] dir_[i].load(std::memory_order_relaxed);
  }
  UnitSerials(const UnitSerials&) = delete;
  UnitSerials& operator=(const UnitSerials&) = delete;

  // next — the serial after s: 0..12 -> s + 1, kLast -> kWrapHeld, kRestored and kWrapHeld -> 0.
  static constexpr std::uint8_t next(std::uint8_t s) noexcept {
    return static_cast<std::uint8_t>(s < kLast ? s + 1 : s == kLast ? kWrapHeld : 0);
  }

  // ensure — make the pages covering units [begin, end) exist (message
  // thread). false: out of memory (the caller opens no window there).
  bool ensure(std::uint64_t begin, std::uint64_t end) noexcept {
    if (end > units_) end = units_;
    for (std::uint64_t p = begin >> kPageShift; begin < end && p <= (end - 1) >> kPageShift; ++p) {
      if (dir_[p].load(std::memory_order_relaxed) != nullptr) continue;
      const std::uint64_t n = page_words(p);
      Word* page = new (std::nothrow) Word[n];
      if (page == nullptr) return false;
      for (std::uint64_t i = 0; i < n; ++i)
        page[i].store(initial_word((p << kPageShift) + 16 * i), std::memory_order_relaxed);
      bytes_ += n * sizeof(Word);
      dir_[p].store(page, std::memory_order_release);  // zeroed before any thread sees it
    }
    return true;
  }

  // get — the unit's serial now (0 where no page was made; a new page
  // starts each unit somewhere in 0..kLast, see initial_word).
  [[nodiscard]] std::uint8_t get(std::uint64_t unit, std::memory_order mo = std::memory_order_relaxed) const noexcept {
    const Word* w = word(unit);
    return w == nullptr ? 0 : static_cast<std::uint8_t>((w->load(mo) >> shift(unit)) & 15);
  }
  // word_bits — the 64-bit word holding the serials of units 16k .. 16k+15
  // (k = unit / 16), read with acquire: the audit's snapshot.
  [[nodiscard]] std::uint64_t word_bits(std::uint64_t unit) const noexcept {
    const Word* w = word(unit);
    return w == nullptr ? 0 : w->load(std::memory_order_acquire);
  }
  [[nodiscard]] static std::uint8_t nibble(std::uint64_t bits, std::uint64_t unit) noexcept {
    return static_cast<std::uint8_t>((bits >> shift(unit)) & 15);
  }

  // end — end the allocation carrying serial s: s -> next(s), atomically.
  // false (nothing changed): the unit's serial is not s, or no page.
  bool end(std::uint64_t unit, std::uint8_t s) noexcept {
    Word* w = word(unit);
    if (w == nullptr || s > kWrapHeld) return false;
    const unsigned sh = shift(unit);
    std::uint64_t v = w->load(std::memory_order_relaxed);
    for (;;) {
      if (((v >> sh) & 15) != s) return false;
      const std::uint64_t nv = (v & ~(std::uint64_t{15} << sh)) | (std::uint64_t{next(s)} << sh);
      if (w->compare_exchange_weak(v, nv, std::memory_order_acq_rel, std::memory_order_relaxed)) return true;
    }
  }

  // set — give a unit serial s (message thread: a restore marks kRestored
  // before the hot path can reach the unit; neighbours may change meanwhile,
  // hence the CAS loop). The page must exist (ensure).
  void set(std::uint64_t unit, std::uint8_t s) noexcept {
    Word* w = word(unit);
    if (w == nullptr) return;
    const unsigned sh = shift(unit);
    std::uint64_t v = w->load(std::memory_order_relaxed);
    while (!w->compare_exchange_weak(v, (v & ~(std::uint64_t{15} << sh)) | (std::uint64_t{s & 15u} << sh),
                                     std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
  }

  // initial_word — the starting serials of units first .. first + 15: spread
  // over the cycle by a hash of the unit, so that units churned in lockstep
  // (a FIFO workload reuses every unit once a round) do not all wrap in the
  // same round and leave nothing to allocate for a repeat window.
  static std::uint64_t initial_word(std::uint64_t first) noexcept {
    std::uint64_t w = 0;
    for (unsigned k = 0; k < 16; ++k) {
      std::uint64_t h = (first + k) * 0x9E3779B97F4A7C15ULL;
      h ^= h >> 29;
      h *= 0xBF58476D1CE4E5B9ULL;
      h ^= h >> 32;
      w |= (h % (kLast + 1)) << (4 * k);
    }
    return w;
  }

  // bytes — memory now: the pages made and the directory.
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_ + pages_ * sizeof(std::atomic<Word*>); }

 private:
  using Word = std::atomic<std::uint64_t>;
  static unsigned shift(std::uint64_t unit) noexcept { return static_cast<unsigned>(unit & 15) * 4; }
  std::uint64_t page_words(std::uint64_t p) const noexcept {
    const std::uint64_t first = p << kPageShift;
    const std::uint64_t n = units_ - first < kPageUnits ? units_ - first : kPageUnits;
    return (n + 15) / 16;
  }
  Word* word(std::uint64_t unit) const noexcept {
    if (unit >= units_) return nullptr;
    Word* page = dir_[unit >> kPageShift].load(std::memory_order_acquire);
    return page == nullptr ? nullptr : &page[(unit & (kPageUnits - 1)) >> 4];
  }

  std::uint64_t units_;
  std::size_t pages_;
  std::unique_ptr<std::atomic<Word*>[]> dir_;
  std::size_t bytes_ = 0;  // message thread
};

}  // namespace uepool::set::detail
