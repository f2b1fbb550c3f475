// uepool/set/messages.hpp — what members of an SMF set tell each other.
//
// These are the set layer's messages as C++ values. The wire layer (a later
// issue) encodes them as versioned, checksummed, bounded bytes; the simulator
// carries them as values. Every field here is still untrusted on receipt:
// Member::on_frame checks pools, units and ownership before using any.
#pragma once

#include <cstdint>
#include <memory>
#include <roaring/roaring.hh>
#include <variant>
#include <vector>

#include "uepool/set/plan.hpp"

namespace uepool::set {

// Incarnation — one life of a member. Ordered by generation only; the nonce
// tells two incarnations of one generation apart (first seen wins), it never
// orders them. Generation 0 means "none yet" (a member still asking for it).
struct Incarnation {
  std::uint32_t generation = 0;
  std::uint64_t nonce = 0;
  friend bool operator==(const Incarnation&, const Incarnation&) = default;
};

// LeaseTag — names one allocation's window: (owner generation, window counter).
// Window 0 is a static claim.
struct LeaseTag {
  std::uint32_t generation = 0;
  std::uint32_t window = 0;
  friend bool operator==(const LeaseTag&, const LeaseTag&) = default;
  friend auto operator<=>(const LeaseTag&, const LeaseTag&) = default;
};

struct OpenWindow {
  std::uint32_t pool = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  LeaseTag tag;
  std::uint64_t lease_left = 0;  // time units left of its lease, as the snapshot's author saw it
};

struct HeldUnit {
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  std::uint64_t remaining = 0;  // hold-down left
};

// UsageSnapshot — an owner's usage of its own blocks: a bulk copy (Seed), or
// a peer's replica of it (recovery answer). `stream_seq` is the last usage-
// stream record it reflects, in generation `of.generation`.
struct UsageSnapshot {
  Incarnation of;
  std::uint64_t stream_seq = 0;
  std::vector<::Roaring> in_use;    // per pool: units in use (static claims included)
  std::vector<OpenWindow> windows;  // windows still open
  std::vector<HeldUnit> held;       // freed units still in hold-down
  // pool_hold — per pool (empty: none), time left before any window may be
  // reserved: after a rebuild from the session store, releases lost while
  // the owner was down may still be in their hold-down.
  std::vector<std::uint64_t> pool_hold;
  // Re-division (uepool/set/member.hpp). The membership epoch the owner's
  // stream is in, and that epoch's members with their weights (the plan is
  // computed from them and the pools); `handover`: the owner's epoch mark
  // is acknowledged (takers may take its lost blocks). `pending`: blocks the
  // owner gained in `epoch` and has not taken yet (their usage here means
  // nothing), each with the member it takes it from. `frozen`: per pool,
  // blocks the owner no longer owns whose usage it keeps (as it was when it
  // stopped allocating there) for the member that takes them.
  std::uint64_t epoch = 0;
  std::vector<MemberSpec> members;
  bool handover = false;
  struct PendingBlock {
    std::uint32_t pool = 0;
    std::uint64_t block = 0;
    std::uint32_t from = 0;
    friend bool operator==(const PendingBlock&, const PendingBlock&) = default;
  };
  std::vector<PendingBlock> pending;
  std::vector<::Roaring> frozen;
  // history — earlier epochs' members and weights the owner knows (the last
  // kMaxHistory before `epoch`): a member that missed an epoch (it was down
  // when the configuration changed) learns its plan here, and applies the
  // epochs in order.
  static constexpr std::size_t kMaxHistory = 64;
  struct EpochMembers {
    std::uint64_t epoch = 0;
    std::vector<MemberSpec> members;
  };
  std::vector<EpochMembers> history;
};

// ---------------------------------------------------------------- records
//
// A record is one fact or request inside a Data frame. Each kind is its own
// struct, so a field means one thing; the wire codec decodes each with its
// own bounded decoder. The first six are the owner's usage stream (every one
// carries `stream_seq`, replicated by every peer, applied in order), then
// two requests to the owner that are not part of its stream (Release,
// Claim), then the stream's re-division marks (Epoch, Take, Handover).
namespace record {

struct Seed {  // a bulk copy of the owner's usage: replaces the replica
  std::uint64_t stream_seq = 0;
  std::shared_ptr<const UsageSnapshot> snapshot;
};
struct Window {  // a window reserved: units [begin, end) of `pool`, for `lease` time units
  std::uint64_t stream_seq = 0;
  std::uint32_t pool = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  LeaseTag tag;
  std::uint64_t lease = 0;
};
struct Words {  // the dynamic units of word `word` (units 64*word ..) now in use: `bits`
  std::uint64_t stream_seq = 0;
  std::uint32_t pool = 0;
  std::uint64_t word = 0;
  std::uint64_t bits = 0;
};
struct Alloc {  // a static unit claimed
  std::uint64_t stream_seq = 0;
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
};
struct Free {  // a unit freed: a dynamic one is held down from receipt; a static one is free
  std::uint64_t stream_seq = 0;
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
};
struct Close {  // window `tag` closed: every allocation in it was streamed before
  std::uint64_t stream_seq = 0;
  std::uint32_t pool = 0;
  LeaseTag tag;
};
struct Release {  // to the owner: end the allocation of `unit` made in window `tag` (claim id for a static unit)
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  LeaseTag tag;
  std::uint64_t claim = 0;
  std::uint8_t serial = 0;  // the lease's allocation serial (4 bits)
  std::uint64_t nonce = 0;  // the lease's owner incarnation nonce
};
struct Claim {  // to the owner: static unit `unit` was claimed at another member under claim id `claim`
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  std::uint64_t claim = 0;
};
// Re-division marks (stream records; uepool/set/member.hpp).
struct Epoch {  // the owner's stream is in membership epoch `epoch` from here: windows in lost blocks closed
  std::uint64_t stream_seq = 0;
  std::uint64_t epoch = 0;
  std::vector<MemberSpec> members;  // that epoch's members and weights
};
struct Take {  // block `block` of `pool`, gained in the current epoch, is the owner's from here (its usage came before)
  std::uint64_t stream_seq = 0;
  std::uint32_t pool = 0;
  std::uint64_t block = 0;
};
struct Handover {  // the owner's mark of epoch `epoch` is acknowledged: takers may take its lost blocks
  std::uint64_t stream_seq = 0;
  std::uint64_t epoch = 0;
};

}  // namespace record

using Record = std::variant<record::Seed, record::Window, record::Words, record::Alloc, record::Free, record::Close,
                            record::Release, record::Claim, record::Epoch, record::Take, record::Handover>;

// RecordKind — a record's kind as a number (traces, counters): the variant's index.
enum class RecordKind : std::uint8_t {
  kSeed,
  kWindow,
  kWords,
  kAlloc,
  kFree,
  kClose,
  kRelease,
  kClaim,
  kEpoch,
  kTake,
  kHandover
};
inline RecordKind kind_of(const Record& r) noexcept {
  return static_cast<RecordKind>(r.index());
}
inline bool is_stream(const Record& r) noexcept {
  return !std::holds_alternative<record::Release>(r) && !std::holds_alternative<record::Claim>(r);
}
// stream_seq_of — the stream sequence of a stream record; 0 for a request.
inline std::uint64_t stream_seq_of(const Record& r) noexcept {
  if (const auto* x = std::get_if<record::Seed>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Window>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Words>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Alloc>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Free>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Close>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Epoch>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Take>(&r)) return x->stream_seq;
  if (const auto* x = std::get_if<record::Handover>(&r)) return x->stream_seq;
  return 0;
}

// ReplicaReport — the sender's replica of the receiver's usage: complete
// (holds a bulk copy of the receiver's current incarnation), and the last
// stream record applied. It acknowledges windows.
struct ReplicaReport {
  bool complete = false;
  std::uint64_t seq = 0;
};

// ---------------------------------------------------------------- frames
//
// A frame is what one member sends another: a header naming both ends and
// their incarnations, and one body per kind.
namespace frame {

struct Data {             // records on the reliable channel (seq > 0), or a heartbeat (seq = 0)
  std::uint64_t seq = 0;  // channel sequence of these records; 0 = none
  std::uint64_t ack = 0;  // every channel batch from the receiver up to here was received
  ReplicaReport replica;  // the sender's replica of the receiver
  std::vector<Record> records;
};
struct GenQuery {};  // a restarted member: which generation do you remember for me?
struct GenAnswer {   // the highest generation the sender knows for the receiver
  std::uint32_t max_generation = 0;
  bool complete = false;  // the sender holds a complete replica of the receiver
};
struct RecoverRequest {};  // the new incarnation asks for its replica
struct RecoverAnswer {
  bool complete = false;
  std::shared_ptr<const UsageSnapshot> snapshot;  // null if incomplete
};
struct Fenced {                      // your incarnation was refused
  std::uint32_t max_generation = 0;  // the highest generation the sender knows for the receiver
};

}  // namespace frame

enum class FrameKind : std::uint8_t { kData, kGenQuery, kGenAnswer, kRecoverRequest, kRecoverAnswer, kFenced };

struct Frame {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  Incarnation from_inc;
  Incarnation to_inc;  // the receiver's incarnation as the sender knows it
  std::variant<frame::Data, frame::GenQuery, frame::GenAnswer, frame::RecoverRequest, frame::RecoverAnswer,
               frame::Fenced>
      body;

  [[nodiscard]] FrameKind kind() const noexcept { return static_cast<FrameKind>(body.index()); }
  // data — the Data body, or null for another kind.
  [[nodiscard]] const frame::Data* data() const noexcept { return std::get_if<frame::Data>(&body); }
  [[nodiscard]] frame::Data* data() noexcept { return std::get_if<frame::Data>(&body); }
};

}  // namespace uepool::set
