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
#include <vector>

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
};

enum class RecordKind : std::uint8_t {
  // The owner's usage stream (stream_seq set; replicated by every peer):
  kSeed,    // a bulk copy: replaces the replica (seed)
  kWindow,  // a window reserved: [unit, end), tag, lease
  kWords,   // the dynamic units of word `unit` (units 64*unit ..) now in use: `bits`
  kAlloc,   // static unit claimed
  kFree,    // unit freed with a hold-down (or a static unit freed): hold-down starts at receipt
  kClose,   // window `tag` closed: every allocation in it was streamed before
  // Requests to the owner (not part of its stream):
  kRelease,  // end the allocation (unit, tag)
  kClaim,    // a static unit claimed at another member
};

struct Record {
  RecordKind kind = RecordKind::kAlloc;
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  std::uint64_t end = 0;    // kWindow
  std::uint64_t lease = 0;  // kWindow: lease length
  LeaseTag tag;             // kWindow, kClose, kRelease
  std::uint64_t stream_seq = 0;
  std::uint64_t claim = 0;                    // kClaim, kRelease of a static unit: the claim's id
  std::uint64_t bits = 0;                     // kWords
  std::shared_ptr<const UsageSnapshot> seed;  // kSeed
};

enum class FrameKind : std::uint8_t {
  kData,            // records on the reliable channel (seq > 0), or a heartbeat (seq = 0)
  kGenQuery,        // a restarted member: which generation do you remember for me?
  kGenAnswer,       // max_generation, complete
  kRecoverRequest,  // the new incarnation asks for its replica
  kRecoverAnswer,   // snapshot (null if incomplete), complete
  kFenced,          // your incarnation was refused: max_generation is the highest I know for you
};

// ReplicaReport — the sender's replica of the receiver's usage: complete
// (holds a bulk copy of the receiver's current incarnation), and the last
// stream record applied. It acknowledges windows.
struct ReplicaReport {
  bool complete = false;
  std::uint64_t seq = 0;
};

struct Frame {
  FrameKind kind = FrameKind::kData;
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  Incarnation from_inc;
  Incarnation to_inc;     // the receiver's incarnation as the sender knows it
  std::uint64_t seq = 0;  // kData: channel sequence of these records; 0 = none
  std::uint64_t ack = 0;  // every channel batch from `to` up to here was received
  ReplicaReport replica;
  std::vector<Record> records;
  std::uint32_t max_generation = 0;               // kGenAnswer
  bool complete = false;                          // kGenAnswer, kRecoverAnswer
  std::shared_ptr<const UsageSnapshot> snapshot;  // kRecoverAnswer
};

}  // namespace uepool::set
