// uepool/set/channel.hpp — the reliable, ordered channel to one peer (sans I/O).
//
// Each batch of records gets the next sequence number. The receiver delivers
// batches strictly in order: a batch after a gap waits in a bounded reorder
// buffer (a frame network reorders freely), a duplicate is dropped, and the
// acknowledgement is cumulative. On a timeout the sender sends every
// unacknowledged batch again; the receiver's buffer absorbs what it had.
// Unacknowledged records are bounded (`capacity`): `push` refuses a batch that
// does not fit, and the member decides what that means (a stale peer to
// re-seed later; a dropped, counted release). Never "a release is
// idempotent": a duplicate applied after the unit was allocated again would be
// a double allocation, so dedup is by sequence number only.
//
// A channel lives for one pair of incarnations: either side restarting resets it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "uepool/set/messages.hpp"

namespace uepool::set {

class Channel {
 public:
  explicit Channel(std::size_t capacity = 4096) : capacity_(capacity) {}

  // --- sending ---
  [[nodiscard]] bool fits(std::size_t records) const noexcept { return unacked_records_ + records <= capacity_; }
  // push — queue a batch; returns its sequence number, or 0 if it does not fit.
  std::uint64_t push(std::vector<Record> batch);
  // on_ack — the peer has every batch up to `ack`.
  void on_ack(std::uint64_t ack) noexcept;
  // due — calls emit(seq, records) for every batch to (re)send now: never
  // sent, or unacknowledged for `rto` since it was last sent (go-back-N:
  // from the oldest on).
  template <class Fn>
  void due(std::uint64_t now, std::uint64_t rto, Fn&& emit);
  // for_each_unacked — calls fn(records) for each batch not acknowledged yet.
  template <class Fn>
  void for_each_unacked(Fn&& fn) const {
    for (const Out& o : out_) fn(o.records);
  }
  [[nodiscard]] std::size_t unacked_records() const noexcept { return unacked_records_; }
  [[nodiscard]] std::size_t unacked_batches() const noexcept { return out_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t retransmitted() const noexcept { return retransmitted_; }

  // --- receiving ---
  enum class Accept : std::uint8_t { kNew, kDuplicate, kBuffered, kRefused };
  // receive — calls deliver(records) for this batch and every buffered one
  // it unblocks, in sequence order. kRefused: too far ahead of the gap.
  template <class Fn>
  Accept receive(std::uint64_t seq, const std::vector<Record>& records, Fn&& deliver);
  [[nodiscard]] std::uint64_t cumulative_ack() const noexcept { return expected_ - 1; }

  void reset() noexcept;

 private:
  struct Out {
    std::uint64_t seq;
    std::vector<Record> records;
    std::uint64_t sent_at;
    bool sent;
  };
  std::size_t capacity_;
  std::deque<Out> out_;
  std::size_t unacked_records_ = 0;
  std::uint64_t next_seq_ = 1;
  std::uint64_t expected_ = 1;
  std::uint64_t retransmitted_ = 0;
  std::map<std::uint64_t, std::vector<Record>> reorder_;  // seq -> batch, seq > expected_
  static constexpr std::uint64_t kReorderWindow = 4096;   // batches buffered after a gap, at most
};

template <class Fn>
Channel::Accept Channel::receive(std::uint64_t seq, const std::vector<Record>& records, Fn&& deliver) {
  if (seq < expected_) return Accept::kDuplicate;
  if (seq > expected_) {
    if (seq - expected_ > kReorderWindow) return Accept::kRefused;
    reorder_.emplace(seq, records);  // a duplicate of a buffered batch is ignored by emplace
    return Accept::kBuffered;
  }
  deliver(records);
  ++expected_;
  for (auto it = reorder_.begin(); it != reorder_.end() && it->first == expected_; it = reorder_.erase(it)) {
    deliver(it->second);
    ++expected_;
  }
  return Accept::kNew;
}

template <class Fn>
void Channel::due(std::uint64_t now, std::uint64_t rto, Fn&& emit) {
  // Go-back-N: once the oldest batch timed out, everything after it goes again.
  const bool resend = !out_.empty() && out_.front().sent && now >= out_.front().sent_at + rto;
  for (Out& o : out_) {
    if (o.sent && !resend) continue;
    if (o.sent) ++retransmitted_;
    o.sent = true;
    o.sent_at = now;
    emit(o.seq, o.records);
  }
}

}  // namespace uepool::set
