// uepool/base/spsc_ring.hpp — a bounded single-producer single-consumer ring.
//
// Overview
//   One thread pushes, one (other) thread pops; neither ever waits: a full
//   ring refuses the push (the caller counts or handles it), an empty one
//   refuses the pop. Used by the set layer's Member (workers hand releases
//   and dirty words to the message thread) and by the benchmark's handover
//   between threads.
//
//     uepool::SpscRing<std::uint64_t> ring(1024);
//     ring.try_push(7);                              // producer thread
//     ring.drain([](std::uint64_t v) { use(v); });   // consumer thread
//
// Concurrency contract
//   try_push, published: the producer thread only. try_pop, drain: the
//   consumer thread only. consumed: any thread. Lock-free and wait-free;
//   nothing allocates after construction.
//
// Implementation notes
//   Positions count up forever (64 bits: no wrap in practice); cell
//   `pos & (capacity - 1)` holds item `pos`. Invariant: consumed <= published
//   <= consumed + capacity. The producer writes the cell, then stores tail with
//   release; the consumer loads tail with acquire (pairs with it: the cell is
//   written), reads the cells, then stores head with release; the producer
//   loads head with acquire before reusing a cell (pairs with that store: the
//   consumer is done reading it). head and tail sit on cache lines of their
//   own, so producer and consumer do not false-share.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "uepool/base/check.hpp"

namespace uepool {

template <class T>
class SpscRing {
 public:
  // Requires: capacity >= 1; rounded up to a power of two, at least 2.
  explicit SpscRing(std::size_t capacity) : cells_(std::bit_ceil(std::max<std::size_t>(capacity, 2))) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  [[nodiscard]] std::size_t capacity() const noexcept { return cells_.size(); }

  // try_push — producer: append `item`. Returns false (nothing changed) if full.
  bool try_push(const T& item) noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);  // only the producer writes tail
    // acquire: pairs with the consumer's release store of head (the cell is free again).
    if (t - head_.load(std::memory_order_acquire) >= cells_.size()) return false;
    cells_[t & (cells_.size() - 1)] = item;
    tail_.store(t + 1, std::memory_order_release);  // publishes the cell to the consumer
    UEPOOL_DCHECK(t + 1 - head_.load(std::memory_order_relaxed) <= cells_.size(), "ring over its capacity");
    return true;
  }
  // published — producer: the position the next push takes (items pushed so far).
  [[nodiscard]] std::uint64_t published() const noexcept { return tail_.load(std::memory_order_relaxed); }
  // consumed — items the consumer has finished with. acquire: pairs with its
  // release store, so a producer that sees position p consumed may reuse p's cell.
  [[nodiscard]] std::uint64_t consumed() const noexcept { return head_.load(std::memory_order_acquire); }

  // try_pop — consumer: the oldest item. Returns false if empty.
  bool try_pop(T& out) noexcept {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);  // only the consumer writes head
    // acquire: pairs with the producer's release store of tail (the cell is written).
    if (h == tail_.load(std::memory_order_acquire)) return false;
    out = cells_[h & (cells_.size() - 1)];
    head_.store(h + 1, std::memory_order_release);  // hands the cell back to the producer
    return true;
  }
  // drain — consumer: fn(item) for every item published so far, oldest
  // first, then hands all their cells back at once. Returns how many.
  template <class Fn>
  std::size_t drain(Fn&& fn) {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);  // only the consumer writes head
    const std::uint64_t t = tail_.load(std::memory_order_acquire);  // as in try_pop
    for (std::uint64_t i = h; i < t; ++i) fn(cells_[i & (cells_.size() - 1)]);
    if (t != h) head_.store(t, std::memory_order_release);  // as in try_pop
    return static_cast<std::size_t>(t - h);
  }

 private:
  std::vector<T> cells_;
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  alignas(64) std::atomic<std::uint64_t> head_{0};
};

}  // namespace uepool
