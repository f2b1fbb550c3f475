// uepool/set/detail/window_slot.hpp — one window slot: where the hot path
// (SMF worker threads) meets the message thread. Internal to the set layer;
// a header (and a template over the atomic) so the close race can be run
// under the interleaving explorer with a scheduling point on every access
// (tests/core/summary_interleaving_test.cpp, WindowClose*).
//
// The state word is (serial << 3) | phase. Phases:
//   Empty -> Pending    (message: reserved and streamed, waiting for A acks; invisible to workers)
//   Pending -> Ready    (message: A peers acknowledged it; store-release publishes the fields)
//   Ready -> Active     (a worker, by CAS-acquire: it then copies the fields and uses only its copy)
//   Active -> Exhausted (the worker found it full)
//   any open -> Closing (message, CAS seq_cst) -> Empty with serial + 1 (store-release)
// A worker holds a window as the exact state word it installed; any change
// of the word (a close, a reuse with a new serial) means the window is no
// longer its own.
//
// The close protocol (no allocation escapes the stream). The message thread
// closes a window by CAS(state -> Closing, seq_cst), then reads every unit
// of the window with seq_cst loads (capture) and streams what it has not
// streamed yet, then streams Close. A worker allocates with a seq_cst RMW on
// the bitmap word (core's allocation RMWs and leaf installs are seq_cst; see
// atomic_bitmap.hpp) and then loads the state seq_cst (holds). All four are
// in the single total order S:
//   * if the worker's load precedes the CAS in S, the worker's RMW precedes
//     the message thread's load of that word, which then sees the bit: the
//     allocation is streamed before Close;
//   * otherwise the worker's load sees Closing (or later), and the worker
//     gives the unit back before using it (counted as undone).
// Either way no unit is handed out in a window whose Close was streamed
// without it. A unit that was streamed and then given back stays "in use"
// in the replicas: a leak in replicas only, never a conflict.
#pragma once

#include <atomic>
#include <cstdint>

#include "uepool/core/unit_range.hpp"
#include "uepool/set/messages.hpp"

namespace uepool::set::detail {

inline constexpr std::uint64_t kEmpty = 0, kPending = 1, kReady = 2, kActive = 3, kExhausted = 4, kClosing = 5;
constexpr std::uint64_t phase_of(std::uint64_t s) {
  return s & 7;
}
constexpr std::uint64_t with_phase(std::uint64_t s, std::uint64_t ph) {
  return (s & ~std::uint64_t{7}) | ph;
}
constexpr std::uint64_t pack_tag(LeaseTag t) {
  return (std::uint64_t{t.generation} << 32) | t.window;
}
constexpr LeaseTag unpack_tag(std::uint64_t v) {
  return LeaseTag{static_cast<std::uint32_t>(v >> 32), static_cast<std::uint32_t>(v)};
}

// CaptureBeforeClose — test hook: a deliberately broken close that captures
// the window's units before the Closing CAS (an allocation landing between
// the two escapes the stream). Never specialised outside the tests.
template <template <class> class Atom>
struct CaptureBeforeClose {
  static constexpr bool value = false;  // NOLINT(readability-identifier-naming): the std trait convention
};

template <template <class> class Atom = std::atomic>
struct BasicWindowSlot {
  // What a worker copies when it takes a window: it uses only this copy.
  struct Held {
    std::uint64_t word = 0;  // the state word it installed (phase Active)
    core::UnitRange range;
    LeaseTag tag;
    std::uint64_t lease_end = 0;
  };

  Atom<std::uint64_t> state{0};
  // Written by the message thread before the Ready store-release; read by a
  // worker after its CAS-acquire. Relaxed: the state word orders them.
  Atom<std::uint64_t> begin{0}, end{0}, lease_end{0}, tag{0};
  // Message thread only.
  std::uint64_t stream_seq = 0;

  // ---- worker side

  // try_take — Ready -> Active; fills `out` on success.
  bool try_take(Held& out) noexcept {
    std::uint64_t st = state.load(std::memory_order_acquire);
    if (phase_of(st) != kReady) return false;
    // acquire: the fields stored before the message thread's Ready store-release are visible.
    if (!state.compare_exchange_strong(st, with_phase(st, kActive), std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return false;
    out.word = with_phase(st, kActive);
    out.range = {begin.load(std::memory_order_relaxed), end.load(std::memory_order_relaxed)};
    out.tag = unpack_tag(tag.load(std::memory_order_relaxed));
    out.lease_end = lease_end.load(std::memory_order_relaxed);
    return true;
  }
  // holds — after a successful allocation RMW in the window: is it still
  // the worker's? seq_cst: pairs with the close CAS (the protocol above).
  [[nodiscard]] bool holds(std::uint64_t word) const noexcept { return state.load(std::memory_order_seq_cst) == word; }
  // mark_exhausted — the worker found the window full: let the message
  // thread close it early. Fails harmlessly if it is closing already.
  void mark_exhausted(std::uint64_t word) noexcept {
    std::uint64_t expect = word;
    (void)state.compare_exchange_strong(expect, with_phase(word, kExhausted), std::memory_order_acq_rel,
                                        std::memory_order_relaxed);
  }

  // ---- message side (one thread)

  [[nodiscard]] std::uint64_t phase() const noexcept { return phase_of(state.load(std::memory_order_acquire)); }
  // open — Empty -> Pending: the fields are written first (relaxed; the
  // Ready store-release in promote publishes them to workers).
  void open(core::UnitRange range, LeaseTag t, std::uint64_t lease_until) noexcept {
    begin.store(range.begin, std::memory_order_relaxed);
    end.store(range.end, std::memory_order_relaxed);
    lease_end.store(lease_until, std::memory_order_relaxed);
    tag.store(pack_tag(t), std::memory_order_relaxed);
    const std::uint64_t st = state.load(std::memory_order_relaxed);
    state.store(with_phase(st, kPending), std::memory_order_release);
  }
  // promote — Pending -> Ready (store-release: publishes the fields).
  void promote() noexcept {
    const std::uint64_t st = state.load(std::memory_order_relaxed);
    state.store(with_phase(st, kReady), std::memory_order_release);
  }
  // close — any open phase -> Closing -> Empty (serial + 1). capture() reads
  // every unit of the window (seq_cst loads) and streams what it finds,
  // between the Closing CAS and the Empty store.
  template <class Capture>
  void close(Capture&& capture) {
    if constexpr (CaptureBeforeClose<Atom>::value) capture();  // the broken variant (tests only)
    std::uint64_t st = state.load(std::memory_order_acquire);
    // Workers change the word only Ready -> Active -> Exhausted; retry until Closing sticks.
    while (!state.compare_exchange_strong(st, with_phase(st, kClosing), std::memory_order_seq_cst,
                                          std::memory_order_seq_cst)) {
    }
    if constexpr (!CaptureBeforeClose<Atom>::value) capture();
    // release: a worker that later takes this slot's next window sees the fields of that window only.
    state.store(((st >> 3) + 1) << 3 | kEmpty, std::memory_order_release);
  }
  // seal — any open phase -> Closing, for good: no worker allocates in it
  // again (the member was superseded; nothing is streamed any more).
  void seal() noexcept {
    std::uint64_t st = state.load(std::memory_order_acquire);
    while (phase_of(st) != kEmpty &&
           !state.compare_exchange_strong(st, with_phase(st, kClosing), std::memory_order_seq_cst,
                                          std::memory_order_seq_cst)) {
    }
  }
};

}  // namespace uepool::set::detail
