// uepool/wire/codec.hpp — the set layer's frames as bytes: versioned,
// length-prefixed, checksummed (CRC-32C), little-endian, bounded.
//
//   Result<std::vector<std::uint8_t>> bytes = wire::encode(frame);
//   Result<set::Frame> back = wire::decode(bytes.value());   // never throws
//
// Layout, version 1 (every integer little-endian):
//
//   offset  size  field
//        0     1  version (1)
//        1     1  frame kind (set::FrameKind: 0 Data .. 5 Fenced)
//        2     2  reserved, 0
//        4     4  length of the whole frame in bytes, checksum included
//        8     4  from (member id)          12   4  to (member id)
//       16     4  from generation           20   8  from nonce
//       28     4  to generation             32   8  to nonce
//       40     -  body (by kind, below)
//   len-4     4  CRC-32C of bytes [0, len - 4)
//
// Bodies use LEB128 varints (v) for every count and most integers, a byte
// (b) for booleans and small enums, and fixed 8 bytes (u64) for bit words
// and nonces:
//   Data:          v seq, v ack, b complete, v replica seq, v record count, records
//   GenQuery, RecoverRequest: empty
//   GenAnswer:     v max generation, b complete
//   RecoverAnswer: b complete, b has snapshot, [snapshot]
//   Fenced:        v max generation
// A record is one byte of kind (set::RecordKind) and its fields in the
// order of its struct (uepool/set/messages.hpp); a snapshot is its
// incarnation, v stream seq, v pool count, each pool's in-use units as a
// Roaring bitmap in the portable format (v byte length, bytes), then its
// windows, held units and pool hold-downs, each list with a v count.
// Release groups: consecutive releases of dynamic units with one pool,
// window tag and owner nonce travel as one record of kind 0x40 (v pool, v
// generation, v window, u64 nonce, v count >= 2, then per release
// v((zigzag(unit - previous unit) << 4) | serial), the first's previous
// being 0): one or two bytes a release instead of about 18. They decode into
// ordinary Release records; the record count counts each release.
// Words groups: consecutive Words records of one pool whose stream
// sequence numbers count up by one travel as one record of kind 0x41 (v
// pool, v first stream seq, v count >= 2, then per word
// v((zigzag(word - previous word) << 2) | form), form 0: bits 0, 1: all
// ones, 2: u64 bits follow): one or two bytes a word that filled up or
// emptied, ten or eleven otherwise, instead of about 16. They decode into
// ordinary Words records, each counted.
//
// Decoding trusts nothing: the length and the checksum are checked first,
// every count is bounded by the bytes left before anything is allocated,
// varints are at most 10 bytes and must fit their field, booleans are 0 or
// 1, an unknown version or kind and bytes after the body are refused, and
// every Roaring bitmap is checked value by value (CRoaring 0.2.66's safe
// deserializer accepts some invalid containers). Every error is a Status
// naming what was wrong and where (its byte offset).
//
// Messages above one frame (a bulk copy of a large pool) travel in
// fragments: encode_fragments cuts the message's bytes into pieces, each in
// a frame of kind kFragmentKind with the message's own header (ends and
// incarnations), a message id, its index, the count and the message's
// size; a Reassembler puts them together (any order, duplicates ignored,
// one message in pieces per sender: a newer one abandons the older, and a
// lost piece loses the message, which the channel then sends again) and
// decodes the whole, at most kMaxMessageBytes. Every fragment field is
// checked against the others before anything is allocated.
//
// Version 2 carries re-division: the Epoch, Take and Handover records and
// the snapshot's epoch, weights, pending and frozen blocks and epoch history
// (docs/protocol.md, section 2.2). Version 3 adds a member's retired flag
// (one byte, 0 or 1, after its weight, wherever members are listed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/set/messages.hpp"

namespace uepool::wire {

inline constexpr std::uint8_t kVersion = 3;  // 2: re-division (epoch marks, snapshot epochs); 3: retired members
inline constexpr std::size_t kHeaderBytes = 40;
inline constexpr std::size_t kChecksumBytes = 4;
// kMaxRecordsPerFrame — records in one data frame, at most (a member's
// batches hold 1,024; decoding allocates per record, so a hostile count is
// refused before it costs memory).
inline constexpr std::size_t kMaxRecordsPerFrame = std::size_t{1} << 16;
inline constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024;
inline constexpr std::size_t kMaxPools = 256;                           // pools in one snapshot
inline constexpr std::size_t kMaxMessageBytes = std::size_t{16} << 20;  // a message in fragments, reassembled
inline constexpr std::uint8_t kFragmentKind = 0xF0;
// The bytes of a message each fragment carries (the last: the rest); the
// room left is for the fragment's four varints.
inline constexpr std::size_t kFragmentPieceBytes = kMaxFrameBytes - kHeaderBytes - kChecksumBytes - 40;

// encode — the frame as bytes. kOutOfRange: it would exceed kMaxFrameBytes
// (a snapshot too large for one frame); kInvalidArgument: a field the wire
// cannot carry (a null snapshot in a Seed, a serial above 15, more pools
// than kMaxPools). Allocates; not for the hot path.
Result<std::vector<std::uint8_t>> encode(const set::Frame& frame);

// decode — the frame in `bytes` (exactly one frame). Never throws; any
// malformed input gives a Status with its reason and byte offset.
Result<set::Frame> decode(std::span<const std::uint8_t> bytes);

// encode_fragments — the frame as one frame, or, above kMaxFrameBytes, as
// fragments of at most kMaxFrameBytes each (`message_id` tells one
// message's fragments from the next one's: a counter per sender).
Result<std::vector<std::vector<std::uint8_t>>> encode_fragments(const set::Frame& frame, std::uint64_t message_id);

// Reassembler — the receiving side of encode_fragments, for one receiver.
class Reassembler {
 public:
  static constexpr std::size_t kMaxSenders = 256;  // messages in pieces at once (one per sender)
  // kMaxBufferedBytes — the memory all messages in pieces may take: a
  // flood of first pieces is refused past it, never allocated.
  static constexpr std::size_t kMaxBufferedBytes = std::size_t{64} << 20;
  // take — a frame or a fragment as received. A whole frame (at once, or
  // the last missing piece of a message); nothing yet; or why the bytes
  // were refused (nothing already held is lost).
  Result<std::optional<set::Frame>> take(std::span<const std::uint8_t> bytes);
  // abandoned — messages whose pieces never all arrived (a newer one came).
  [[nodiscard]] std::uint64_t abandoned() const noexcept { return abandoned_; }

 private:
  struct Partial {
    std::uint64_t id = 0, total = 0, pieces = 0;
    std::vector<std::uint8_t> header;  // bytes 8..39 of the first piece: the ends and incarnations
    std::vector<std::uint8_t> buffer;
    std::vector<bool> have;
  };
  std::map<std::uint32_t, Partial> partial_;  // by sender
  std::size_t buffered_ = 0;                  // the sum of their totals
  std::uint64_t abandoned_ = 0;
};

}  // namespace uepool::wire
