// uepool/base/word_map.hpp — a map from a 64-bit word index to that word's
// 64 bits, for sparse sets of nonzero words: the member's mirror of what its
// peers were told, and a replica's copy of a peer's usage.
//
// Why not std::map: near full, the set layer's message thread looks a word up
// for every release (a diff at the owner, an update at every peer). A
// balanced tree of 65,536 words is 16 dependent loads, most of them cache
// misses: perf showed those two lookups as the message thread's whole cost
// in churn_full95/member (37 % of all samples, the `mov` of the child
// pointer). Here a lookup is one hash and, at a load of at most one half, a
// short run of adjacent slots: usually one cache miss.
//
// Open addressing with linear probing; a zero value means "absent", so
// set(key, 0) erases (backward-shift deletion, no tombstones). Iteration
// order is the slot order: deterministic for a given history of calls (the
// simulator's traces depend on it), not sorted.
//
// Not thread-safe: one thread (the message thread) owns it.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace uepool {

class WordMap {
 public:
  WordMap() = default;

  // get — the word's bits, 0 if absent.
  [[nodiscard]] std::uint64_t get(std::uint64_t key) const noexcept {
    if (size_ == 0) return 0;
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.bits == 0) return 0;
      if (s.key == key) return s.bits;
    }
  }
  // set — the word's bits; 0 erases it. May allocate (grows at half full).
  void set(std::uint64_t key, std::uint64_t bits) {
    if (bits == 0) {
      erase(key);
      return;
    }
    if (2 * (size_ + 1) > slots_.size()) grow();
    std::size_t i = home(key);
    for (; slots_[i].bits != 0; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        slots_[i].bits = bits;
        return;
      }
    }
    slots_[i] = Slot{key, bits};
    ++size_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept {
    slots_.clear();
    mask_ = 0;
    size_ = 0;
  }
  // for_each — fn(key, bits) for every word, in slot order. fn must not
  // change the map.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.bits != 0) fn(s.key, s.bits);
  }
  // slots / key_at — slot-order access for a cursor that visits a few words
  // per call (the member's sweep): slot `i` holds a word iff bits_at(i) != 0.
  [[nodiscard]] std::size_t slots() const noexcept { return slots_.size(); }
  [[nodiscard]] std::uint64_t key_at(std::size_t i) const noexcept { return slots_[i].key; }
  [[nodiscard]] std::uint64_t bits_at(std::size_t i) const noexcept { return slots_[i].bits; }

 private:
  struct Slot {
    std::uint64_t key = 0;
    std::uint64_t bits = 0;  // 0: empty
  };
  [[nodiscard]] std::size_t home(std::uint64_t key) const noexcept {
    // Fibonacci hashing: consecutive words (the common case) spread out.
    return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> 32) & mask_;
  }
  void erase(std::uint64_t key) noexcept {
    if (size_ == 0) return;
    std::size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].bits == 0) return;
      if (slots_[i].key == key) break;
    }
    // Backward shift: move later entries of the run into the hole when the
    // hole lies on their probe path (between their home and their slot).
    for (std::size_t j = (i + 1) & mask_; slots_[j].bits != 0; j = (j + 1) & mask_) {
      const std::size_t h = home(slots_[j].key);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : 2 * old.size(), Slot{});
    mask_ = slots_.size() - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.bits != 0) set(s.key, s.bits);
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace uepool
