// The frame codec. See uepool/wire/codec.hpp for the layout and the rules.
#include "uepool/wire/codec.hpp"

#include <roaring/roaring.h>

#include <limits>
#include <type_traits>

#include "uepool/wire/crc32c.hpp"

namespace uepool::wire {

namespace {

using set::Frame;
using set::Record;
namespace record = set::record;
namespace frame = set::frame;

// ---------------------------------------------------------------- writing

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void fixed(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void boolean(bool v) { out_.push_back(v ? 1 : 0); }
  void put_fixed_at(std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  std::vector<std::uint8_t>& bytes() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

void put_roaring(Writer& w, const ::Roaring& r) {
  const std::size_t n = r.getSizeInBytes(/*portable=*/true);
  w.varint(n);
  std::vector<std::uint8_t>& out = w.bytes();
  const std::size_t at = out.size();
  out.resize(at + n);
  r.write(reinterpret_cast<char*>(out.data() + at), /*portable=*/true);
}

void put_members(Writer& w, const std::vector<set::MemberSpec>& members) {
  w.varint(members.size());
  for (const set::MemberSpec& m : members) {
    w.varint(m.id);
    w.varint(m.weight);
    w.boolean(m.retired);
  }
}

Status put_snapshot(Writer& w, const set::UsageSnapshot& s) {
  if (s.in_use.size() > kMaxPools)
    return Status(StatusCode::kInvalidArgument, "snapshot has more pools than the wire carries")
        .with_number(s.in_use.size(), "pools");
  w.fixed(s.of.generation, 4);
  w.fixed(s.of.nonce, 8);
  w.varint(s.stream_seq);
  w.varint(s.in_use.size());
  for (const ::Roaring& r : s.in_use) put_roaring(w, r);
  w.varint(s.windows.size());
  for (const set::OpenWindow& x : s.windows) {
    w.varint(x.pool);
    w.varint(x.begin);
    w.varint(x.end);
    w.varint(x.tag.generation);
    w.varint(x.tag.window);
    w.varint(x.lease_left);
  }
  w.varint(s.held.size());
  for (const set::HeldUnit& h : s.held) {
    w.varint(h.pool);
    w.varint(h.unit);
    w.varint(h.remaining);
  }
  w.varint(s.pool_hold.size());
  for (std::uint64_t v : s.pool_hold) w.varint(v);
  // Re-division (set/messages.hpp): epoch, members, handover, pending, frozen.
  w.varint(s.epoch);
  put_members(w, s.members);
  w.u8(s.handover ? 1 : 0);
  w.varint(s.pending.size());
  for (const set::UsageSnapshot::PendingBlock& b : s.pending) {
    w.varint(b.pool);
    w.varint(b.block);
    w.varint(b.from);
  }
  if (s.frozen.size() > kMaxPools)
    return Status(StatusCode::kInvalidArgument, "snapshot has more frozen pools than the wire carries")
        .with_number(s.frozen.size(), "pools");
  w.varint(s.frozen.size());
  for (const ::Roaring& r : s.frozen) put_roaring(w, r);
  if (s.history.size() > set::UsageSnapshot::kMaxHistory)
    return Status(StatusCode::kInvalidArgument, "snapshot has more epochs of history than the wire carries")
        .with_number(s.history.size(), "epochs");
  w.varint(s.history.size());
  for (const set::UsageSnapshot::EpochMembers& h : s.history) {
    w.varint(h.epoch);
    put_members(w, h.members);
  }
  return Status::ok_status();
}

Status put_record(Writer& w, const Record& r) {
  w.u8(static_cast<std::uint8_t>(set::kind_of(r)));
  if (const auto* x = std::get_if<record::Seed>(&r)) {
    if (x->snapshot == nullptr) return Status(StatusCode::kInvalidArgument, "seed record without a snapshot");
    w.varint(x->stream_seq);
    return put_snapshot(w, *x->snapshot);
  }
  return std::visit(
      [&w](const auto& x) -> Status {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, record::Window>) {
          w.varint(x.stream_seq);
          w.varint(x.pool);
          w.varint(x.begin);
          w.varint(x.end);
          w.varint(x.tag.generation);
          w.varint(x.tag.window);
          w.varint(x.lease);
        } else if constexpr (std::is_same_v<T, record::Words>) {
          w.varint(x.stream_seq);
          w.varint(x.pool);
          w.varint(x.word);
          w.fixed(x.bits, 8);
        } else if constexpr (std::is_same_v<T, record::Alloc> || std::is_same_v<T, record::Free>) {
          w.varint(x.stream_seq);
          w.varint(x.pool);
          w.varint(x.unit);
        } else if constexpr (std::is_same_v<T, record::Close>) {
          w.varint(x.stream_seq);
          w.varint(x.pool);
          w.varint(x.tag.generation);
          w.varint(x.tag.window);
        } else if constexpr (std::is_same_v<T, record::Release>) {
          if (x.serial > 15)
            return Status(StatusCode::kInvalidArgument, "allocation serial above 15").with_number(x.serial, "serial");
          w.varint(x.pool);
          w.varint(x.unit);
          w.varint(x.tag.generation);
          w.varint(x.tag.window);
          w.varint(x.claim);
          w.u8(x.serial);
          w.fixed(x.nonce, 8);
        } else if constexpr (std::is_same_v<T, record::Claim>) {
          w.varint(x.pool);
          w.varint(x.unit);
          w.varint(x.claim);
        } else if constexpr (std::is_same_v<T, record::Epoch>) {
          w.varint(x.stream_seq);
          w.varint(x.epoch);
          put_members(w, x.members);
        } else if constexpr (std::is_same_v<T, record::Take>) {
          w.varint(x.stream_seq);
          w.varint(x.pool);
          w.varint(x.block);
        } else if constexpr (std::is_same_v<T, record::Handover>) {
          w.varint(x.stream_seq);
          w.varint(x.epoch);
        }
        return Status::ok_status();
      },
      r);
}

// A release group (wire only; decoded into ordinary Release records):
// consecutive releases of dynamic units (claim 0) of one pool, window tag and
// owner nonce, as kind kReleaseGroupKind, v pool, v generation, v window,
// 8 nonce, v count (>= 2), then per release v((zigzag(unit - previous unit)
// << 4) | serial), the previous unit of the first being 0. A release takes
// one or two bytes this way instead of about 18.
constexpr std::uint8_t kReleaseGroupKind = 0x40;

std::uint64_t zigzag(std::uint64_t delta) noexcept {  // delta: a two's-complement difference
  const auto d = static_cast<std::int64_t>(delta);
  return (static_cast<std::uint64_t>(d) << 1) ^ static_cast<std::uint64_t>(d >> 63);
}

// release_run — how many records from `i` on can go in one release group (0 or 1: none).
std::size_t release_run(const std::vector<Record>& rs, std::size_t i) {
  const auto* first = std::get_if<record::Release>(&rs[i]);
  if (first == nullptr || first->claim != 0) return 0;
  std::uint64_t prev = 0;
  std::size_t j = i;
  for (; j < rs.size(); ++j) {
    const auto* x = std::get_if<record::Release>(&rs[j]);
    if (x == nullptr || x->claim != 0 || x->pool != first->pool || x->tag != first->tag || x->nonce != first->nonce ||
        x->serial > 15 || zigzag(x->unit - prev) >= (std::uint64_t{1} << 59))
      break;
    prev = x->unit;
  }
  return j - i;
}

Status put_release_group(Writer& w, const std::vector<Record>& rs, std::size_t i, std::size_t n) {
  const auto& first = std::get<record::Release>(rs[i]);
  w.u8(kReleaseGroupKind);
  w.varint(first.pool);
  w.varint(first.tag.generation);
  w.varint(first.tag.window);
  w.fixed(first.nonce, 8);
  w.varint(n);
  std::uint64_t prev = 0;
  for (std::size_t k = i; k < i + n; ++k) {
    const auto& x = std::get<record::Release>(rs[k]);
    w.varint((zigzag(x.unit - prev) << 4) | x.serial);
    prev = x.unit;
  }
  return Status::ok_status();
}

// A words group (wire only; decoded into ordinary Words records):
// consecutive Words records of one pool whose stream sequence numbers count
// up by one, as kind kWordsGroupKind, v pool, v first stream seq, v count
// (>= 2), then per word v((zigzag(word - previous word) << 2) | form), the
// previous word of the first being 0; form 0: no unit of the word in use,
// 1: every unit, 2: the 8 bytes of the bits follow (3 is refused). A word
// that filled up or emptied takes one or two bytes instead of about 16.
constexpr std::uint8_t kWordsGroupKind = 0x41;

// words_run — how many records from `i` on can go in one words group (0 or 1: none).
std::size_t words_run(const std::vector<Record>& rs, std::size_t i) {
  const auto* first = std::get_if<record::Words>(&rs[i]);
  if (first == nullptr) return 0;
  std::uint64_t prev = 0;
  std::size_t j = i;
  for (; j < rs.size(); ++j) {
    const auto* x = std::get_if<record::Words>(&rs[j]);
    if (x == nullptr || x->pool != first->pool || x->stream_seq != first->stream_seq + (j - i) ||
        x->stream_seq < first->stream_seq ||  // no group wraps around the sequence space
        zigzag(x->word - prev) >= (std::uint64_t{1} << 61))
      break;
    prev = x->word;
  }
  return j - i;
}

void put_words_group(Writer& w, const std::vector<Record>& rs, std::size_t i, std::size_t n) {
  const auto& first = *std::get_if<record::Words>(&rs[i]);  // words_run checked every one
  w.u8(kWordsGroupKind);
  w.varint(first.pool);
  w.varint(first.stream_seq);
  w.varint(n);
  std::uint64_t prev = 0;
  for (std::size_t k = i; k < i + n; ++k) {
    const auto& x = *std::get_if<record::Words>(&rs[k]);
    const std::uint64_t form = x.bits == 0 ? 0 : x.bits == ~std::uint64_t{0} ? 1 : 2;
    w.varint((zigzag(x.word - prev) << 2) | form);
    if (form == 2) w.fixed(x.bits, 8);
    prev = x.word;
  }
}

// ---------------------------------------------------------------- reading

class Reader {
 public:
  Reader(std::span<const std::uint8_t> bytes, std::size_t pos) : b_(bytes), pos_(pos) {}

  [[nodiscard]] std::size_t left() const noexcept { return b_.size() - pos_; }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }
  [[nodiscard]] std::uint8_t peek() const noexcept { return b_[pos_]; }  // requires left() > 0
  [[nodiscard]] const Status& status() const noexcept { return status_; }
  bool fail(StatusCode code, const char* reason) {
    if (status_.ok()) status_ = Status(code, reason).at(pos_);
    return false;
  }
  bool fail(StatusCode code, const char* reason, std::uint64_t number, const char* label) {
    if (status_.ok()) status_ = Status(code, reason).at(pos_).with_number(number, label);
    return false;
  }

  bool u8(std::uint8_t& v) {
    if (left() < 1) return fail(StatusCode::kInvalidArgument, "frame truncated");
    v = b_[pos_++];
    return true;
  }
  template <class T>
  bool fixed(T& v) {
    static_assert(std::is_unsigned_v<T>);
    if (left() < sizeof(T)) return fail(StatusCode::kInvalidArgument, "frame truncated");
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) x |= std::uint64_t{b_[pos_ + i]} << (8 * i);
    pos_ += sizeof(T);
    v = static_cast<T>(x);
    return true;
  }
  bool varint(std::uint64_t& v) {
    std::uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t byte = 0;
      if (!u8(byte)) return false;
      if (shift == 63 && byte > 1) return fail(StatusCode::kInvalidArgument, "varint overflows 64 bits");
      x |= std::uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) {
        if (byte == 0 && shift > 0) return fail(StatusCode::kInvalidArgument, "varint not in its shortest form");
        v = x;
        return true;
      }
    }
    return fail(StatusCode::kInvalidArgument, "varint longer than 10 bytes");
  }
  template <class T>
  bool varint_as(T& v, const char* field) {
    std::uint64_t x = 0;
    if (!varint(x)) return false;
    if (x > std::numeric_limits<T>::max()) return fail(StatusCode::kOutOfRange, field, x, "value");
    v = static_cast<T>(x);
    return true;
  }
  bool boolean(bool& v) {
    std::uint8_t x = 0;
    if (!u8(x)) return false;
    if (x > 1) return fail(StatusCode::kInvalidArgument, "boolean byte is not 0 or 1", x, "byte");
    v = x == 1;
    return true;
  }
  // count — a list length; each element takes at least `min_bytes` bytes,
  // so a count above what is left is refused before anything is allocated.
  bool count(std::uint64_t& n, std::size_t min_bytes, const char* what) {
    if (!varint(n)) return false;
    if (n > left() / min_bytes) return fail(StatusCode::kInvalidArgument, what, n, "count");
    return true;
  }
  bool take(std::size_t n, std::span<const std::uint8_t>& out) {
    if (n > left()) return fail(StatusCode::kInvalidArgument, "frame truncated");
    out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_;
  Status status_;
};

// read_roaring — one portable Roaring bitmap: a length, then exactly that
// many bytes, checked value by value (strictly increasing, and as many as
// its cardinality says).
bool read_roaring(Reader& rd, ::Roaring& out) {
  std::uint64_t n = 0;
  if (!rd.count(n, 1, "Roaring bitmap longer than the bytes left")) return false;
  const std::size_t at = rd.pos();
  std::span<const std::uint8_t> b;
  if (!rd.take(n, b)) return false;
  const char* p = reinterpret_cast<const char*>(b.data());
  if (n == 0 || roaring_bitmap_portable_deserialize_size(p, n) != n)
    return rd.fail(StatusCode::kInvalidArgument, "Roaring bitmap does not fill its length", at, "offset");
  roaring_bitmap_t* r = roaring_bitmap_portable_deserialize_safe(p, n);
  if (r == nullptr) return rd.fail(StatusCode::kInvalidArgument, "invalid Roaring bitmap", at, "offset");
  ::Roaring bm(r);  // takes ownership of r
  struct Check {
    std::uint64_t seen = 0;
    std::uint32_t last = 0;
    bool ordered = true;
  } check;
  bm.iterate(
      [](std::uint32_t v, void* ctx) {
        auto* c = static_cast<Check*>(ctx);
        if (c->seen > 0 && v <= c->last) {
          c->ordered = false;
          return false;
        }
        c->last = v;
        ++c->seen;
        return true;
      },
      &check);
  if (!check.ordered || check.seen != bm.cardinality())
    return rd.fail(StatusCode::kInvalidArgument, "Roaring bitmap with unordered or repeated values", at, "offset");
  out = std::move(bm);
  return true;
}

bool read_members(Reader& rd, std::vector<set::MemberSpec>& members);

bool read_snapshot(Reader& rd, set::UsageSnapshot& s) {
  std::uint64_t pools = 0, n = 0;
  if (!rd.fixed(s.of.generation) || !rd.fixed(s.of.nonce) || !rd.varint(s.stream_seq)) return false;
  if (!rd.count(pools, 2, "snapshot pool count above the bytes left")) return false;
  if (pools > kMaxPools)
    return rd.fail(StatusCode::kOutOfRange, "snapshot has more pools than the wire carries", pools, "pools");
  s.in_use.resize(pools);
  for (auto& r : s.in_use)
    if (!read_roaring(rd, r)) return false;
  if (!rd.count(n, 6, "snapshot window count above the bytes left")) return false;
  s.windows.resize(n);
  for (set::OpenWindow& w : s.windows) {
    if (!rd.varint_as(w.pool, "window pool above 2^32") || !rd.varint(w.begin) || !rd.varint(w.end) ||
        !rd.varint_as(w.tag.generation, "window generation above 2^32") ||
        !rd.varint_as(w.tag.window, "window number above 2^32") || !rd.varint(w.lease_left))
      return false;
  }
  if (!rd.count(n, 3, "snapshot held-unit count above the bytes left")) return false;
  s.held.resize(n);
  for (set::HeldUnit& h : s.held)
    if (!rd.varint_as(h.pool, "held pool above 2^32") || !rd.varint(h.unit) || !rd.varint(h.remaining)) return false;
  if (!rd.count(n, 1, "snapshot pool-hold count above the bytes left")) return false;
  if (n > kMaxPools)
    return rd.fail(StatusCode::kOutOfRange, "snapshot has more pool holds than the wire carries", n, "pools");
  s.pool_hold.resize(n);
  for (std::uint64_t& v : s.pool_hold)
    if (!rd.varint(v)) return false;
  std::uint8_t handover = 0;
  if (!rd.varint(s.epoch) || !read_members(rd, s.members) || !rd.u8(handover)) return false;
  if (handover > 1) return rd.fail(StatusCode::kInvalidArgument, "snapshot handover flag above 1", handover, "flag");
  s.handover = handover == 1;
  if (!rd.count(n, 3, "snapshot pending-block count above the bytes left")) return false;
  s.pending.resize(n);
  for (set::UsageSnapshot::PendingBlock& b : s.pending)
    if (!rd.varint_as(b.pool, "pending pool above 2^32") || !rd.varint(b.block) ||
        !rd.varint_as(b.from, "pending block's member above 2^32"))
      return false;
  if (!rd.count(n, 1, "snapshot frozen-pool count above the bytes left")) return false;
  if (n > kMaxPools)
    return rd.fail(StatusCode::kOutOfRange, "snapshot has more frozen pools than the wire carries", n, "pools");
  s.frozen.resize(n);
  for (auto& r : s.frozen)
    if (!read_roaring(rd, r)) return false;
  if (!rd.count(n, 2, "snapshot history count above the bytes left")) return false;
  if (n > set::UsageSnapshot::kMaxHistory)
    return rd.fail(StatusCode::kOutOfRange, "snapshot has more epochs of history than the wire carries", n, "epochs");
  s.history.resize(n);
  for (set::UsageSnapshot::EpochMembers& h : s.history)
    if (!rd.varint(h.epoch) || !read_members(rd, h.members)) return false;
  return true;
}

bool read_members(Reader& rd, std::vector<set::MemberSpec>& members) {
  std::uint64_t n = 0;
  if (!rd.count(n, 3, "member count above the bytes left")) return false;
  if (n > 65535) return rd.fail(StatusCode::kOutOfRange, "more than 65,535 members", n, "members");
  members.resize(n);
  for (set::MemberSpec& m : members)
    if (!rd.varint_as(m.id, "member id above 2^32") || !rd.varint_as(m.weight, "member weight above 2^32") ||
        !rd.boolean(m.retired))
      return false;
  return true;
}

bool read_record(Reader& rd, Record& out) {
  std::uint8_t kind = 0;
  if (!rd.u8(kind)) return false;
  switch (static_cast<set::RecordKind>(kind)) {
    case set::RecordKind::kSeed: {
      record::Seed x;
      auto snap = std::make_shared<set::UsageSnapshot>();
      if (!rd.varint(x.stream_seq) || !read_snapshot(rd, *snap)) return false;
      x.snapshot = std::move(snap);
      out = std::move(x);
      return true;
    }
    case set::RecordKind::kWindow: {
      record::Window x;
      if (!rd.varint(x.stream_seq) || !rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.begin) ||
          !rd.varint(x.end) || !rd.varint_as(x.tag.generation, "generation above 2^32") ||
          !rd.varint_as(x.tag.window, "window number above 2^32") || !rd.varint(x.lease))
        return false;
      out = x;
      return true;
    }
    case set::RecordKind::kWords: {
      record::Words x;
      if (!rd.varint(x.stream_seq) || !rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.word) ||
          !rd.fixed(x.bits))
        return false;
      out = x;
      return true;
    }
    case set::RecordKind::kAlloc: {
      record::Alloc x;
      if (!rd.varint(x.stream_seq) || !rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.unit)) return false;
      out = x;
      return true;
    }
    case set::RecordKind::kFree: {
      record::Free x;
      if (!rd.varint(x.stream_seq) || !rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.unit)) return false;
      out = x;
      return true;
    }
    case set::RecordKind::kClose: {
      record::Close x;
      if (!rd.varint(x.stream_seq) || !rd.varint_as(x.pool, "pool above 2^32") ||
          !rd.varint_as(x.tag.generation, "generation above 2^32") ||
          !rd.varint_as(x.tag.window, "window number above 2^32"))
        return false;
      out = x;
      return true;
    }
    case set::RecordKind::kRelease: {
      record::Release x;
      if (!rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.unit) ||
          !rd.varint_as(x.tag.generation, "generation above 2^32") ||
          !rd.varint_as(x.tag.window, "window number above 2^32") || !rd.varint(x.claim) || !rd.u8(x.serial) ||
          !rd.fixed(x.nonce))
        return false;
      if (x.serial > 15) return rd.fail(StatusCode::kOutOfRange, "allocation serial above 15", x.serial, "serial");
      out = x;
      return true;
    }
    case set::RecordKind::kClaim: {
      record::Claim x;
      if (!rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.unit) || !rd.varint(x.claim)) return false;
      out = x;
      return true;
    }
    case set::RecordKind::kEpoch: {
      record::Epoch x;
      if (!rd.varint(x.stream_seq) || !rd.varint(x.epoch) || !read_members(rd, x.members)) return false;
      out = std::move(x);
      return true;
    }
    case set::RecordKind::kTake: {
      record::Take x;
      if (!rd.varint(x.stream_seq) || !rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.block)) return false;
      out = x;
      return true;
    }
    case set::RecordKind::kHandover: {
      record::Handover x;
      if (!rd.varint(x.stream_seq) || !rd.varint(x.epoch)) return false;
      out = x;
      return true;
    }
  }
  return rd.fail(StatusCode::kInvalidArgument, "unknown record kind", kind, "kind");
}

// read_release_group — a release group into records[i..], advancing i.
bool read_release_group(Reader& rd, std::vector<Record>& records, std::size_t& i) {
  std::uint8_t kind = 0;
  record::Release x;
  std::uint64_t n = 0;
  if (!rd.u8(kind) || !rd.varint_as(x.pool, "pool above 2^32") ||
      !rd.varint_as(x.tag.generation, "generation above 2^32") ||
      !rd.varint_as(x.tag.window, "window number above 2^32") || !rd.fixed(x.nonce) ||
      !rd.count(n, 1, "release group longer than the bytes left"))
    return false;
  if (n < 2 || n > records.size() - i)
    return rd.fail(StatusCode::kInvalidArgument, "release group count below 2 or beyond the frame's record count", n,
                   "count");
  std::uint64_t prev = 0;
  for (std::uint64_t k = 0; k < n; ++k) {
    std::uint64_t v = 0;
    if (!rd.varint(v)) return false;
    x.serial = static_cast<std::uint8_t>(v & 15);
    const std::uint64_t z = v >> 4;
    const std::uint64_t delta = (z >> 1) ^ (~(z & 1) + 1);  // un-zigzag
    x.unit = prev + delta;
    prev = x.unit;
    records[i++] = x;
  }
  return true;
}

// read_words_group — a words group into records[i..], advancing i.
bool read_words_group(Reader& rd, std::vector<Record>& records, std::size_t& i) {
  std::uint8_t kind = 0;
  record::Words x;
  std::uint64_t n = 0;
  if (!rd.u8(kind) || !rd.varint_as(x.pool, "pool above 2^32") || !rd.varint(x.stream_seq) ||
      !rd.count(n, 1, "words group longer than the bytes left"))
    return false;
  if (n < 2 || n > records.size() - i)
    return rd.fail(StatusCode::kInvalidArgument, "words group count below 2 or beyond the frame's record count", n,
                   "count");
  if (x.stream_seq > UINT64_MAX - (n - 1))  // the last word's seq must not wrap
    return rd.fail(StatusCode::kInvalidArgument, "words group stream sequence overflows", x.stream_seq, "seq");
  std::uint64_t prev = 0;
  for (std::uint64_t k = 0; k < n; ++k) {
    std::uint64_t v = 0;
    if (!rd.varint(v)) return false;
    const std::uint64_t form = v & 3;
    const std::uint64_t z = v >> 2;
    x.word = prev + ((z >> 1) ^ (~(z & 1) + 1));  // un-zigzag
    if (form == 0) {
      x.bits = 0;
    } else if (form == 1) {
      x.bits = ~std::uint64_t{0};
    } else if (form == 2) {
      if (!rd.fixed(x.bits)) return false;
    } else {
      return rd.fail(StatusCode::kInvalidArgument, "unknown word form in a words group", form, "form");
    }
    prev = x.word;
    records[i++] = x;
    ++x.stream_seq;
  }
  return true;
}
}  // namespace

namespace {

Result<std::vector<std::uint8_t>> encode_message(const Frame& f, std::size_t limit) {
  Writer w;
  w.bytes().reserve(256);
  w.u8(kVersion);
  w.u8(static_cast<std::uint8_t>(f.kind()));
  w.fixed(0, 2);
  w.fixed(0, 4);  // the length, filled in below
  w.fixed(f.from, 4);
  w.fixed(f.to, 4);
  w.fixed(f.from_inc.generation, 4);
  w.fixed(f.from_inc.nonce, 8);
  w.fixed(f.to_inc.generation, 4);
  w.fixed(f.to_inc.nonce, 8);
  Status st;
  if (const frame::Data* d = f.data()) {
    w.varint(d->seq);
    w.varint(d->ack);
    w.boolean(d->replica.complete);
    w.varint(d->replica.seq);
    if (d->records.size() > kMaxRecordsPerFrame)
      return Status(StatusCode::kOutOfRange, "more records in one frame than a frame may carry")
          .with_number(d->records.size(), "records");
    w.varint(d->records.size());
    for (std::size_t i = 0; i < d->records.size();) {
      std::size_t run = release_run(d->records, i);
      if (run >= 2) {
        st = put_release_group(w, d->records, i, run);
      } else if (run = words_run(d->records, i); run >= 2) {
        put_words_group(w, d->records, i, run);
      } else {
        st = put_record(w, d->records[i]);
      }
      if (!st.ok()) return st;
      i += run >= 2 ? run : 1;
      if (w.bytes().size() > limit) break;  // refused below; stop copying
    }
  } else if (const auto* g = std::get_if<frame::GenAnswer>(&f.body)) {
    w.varint(g->max_generation);
    w.boolean(g->complete);
  } else if (const auto* a = std::get_if<frame::RecoverAnswer>(&f.body)) {
    w.boolean(a->complete);
    w.boolean(a->snapshot != nullptr);
    if (a->snapshot != nullptr) {
      st = put_snapshot(w, *a->snapshot);
      if (!st.ok()) return st;
    }
  } else if (const auto* x = std::get_if<frame::Fenced>(&f.body)) {
    w.varint(x->max_generation);
  }
  const std::size_t total = w.bytes().size() + kChecksumBytes;
  if (total > limit)
    return Status(StatusCode::kOutOfRange,
                  limit == kMaxFrameBytes ? "frame above 64 KiB (encode_fragments cuts it)" : "message above 16 MiB")
        .with_number(total, "bytes");
  w.put_fixed_at(4, total, 4);
  const std::uint32_t crc = crc32c(w.bytes());
  w.fixed(crc, 4);
  return std::move(w.bytes());
}

// seal — fill in the length and append the checksum.
void seal(std::vector<std::uint8_t>& b) {
  Writer w;
  w.bytes() = std::move(b);
  w.put_fixed_at(4, w.bytes().size() + kChecksumBytes, 4);
  const std::uint32_t crc = crc32c(w.bytes());
  w.fixed(crc, 4);
  b = std::move(w.bytes());
}

Result<Frame> decode_message(std::span<const std::uint8_t> bytes, std::size_t limit);

}  // namespace

Result<std::vector<std::uint8_t>> encode(const Frame& f) {
  return encode_message(f, kMaxFrameBytes);
}

Result<Frame> decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() >= 2 && bytes[0] == kVersion && bytes[1] == kFragmentKind)
    return Status(StatusCode::kInvalidArgument, "a fragment: give it to a Reassembler").at(1);
  return decode_message(bytes, kMaxFrameBytes);
}

namespace {

Result<Frame> decode_message(std::span<const std::uint8_t> bytes, std::size_t limit) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes)
    return Status(StatusCode::kInvalidArgument, "frame shorter than its header").with_number(bytes.size(), "bytes");
  if (bytes.size() > limit)
    return Status(StatusCode::kOutOfRange, limit == kMaxFrameBytes ? "frame above 64 KiB" : "message above 16 MiB")
        .with_number(bytes.size(), "bytes");
  if (bytes[0] != kVersion)
    return Status(StatusCode::kInvalidArgument, "unknown wire version").at(0).with_number(bytes[0], "version");
  Reader hd(bytes, 1);
  std::uint8_t kind = 0;
  std::uint16_t reserved = 0;
  std::uint32_t length = 0;
  (void)hd.u8(kind);
  (void)hd.fixed(reserved);
  (void)hd.fixed(length);
  if (length != bytes.size())
    return Status(StatusCode::kInvalidArgument, "frame length does not match the bytes received")
        .at(4)
        .with_number(length, "length");
  const std::uint32_t want = crc32c(bytes.first(bytes.size() - kChecksumBytes));
  std::uint32_t got = 0;
  Reader tail(bytes, bytes.size() - kChecksumBytes);
  (void)tail.fixed(got);
  if (got != want) return Status(StatusCode::kInvalidArgument, "checksum mismatch").at(bytes.size() - kChecksumBytes);
  if (reserved != 0) return Status(StatusCode::kInvalidArgument, "reserved header bits set").at(2);
  if (kind > static_cast<std::uint8_t>(set::FrameKind::kFenced))
    return Status(StatusCode::kInvalidArgument, "unknown frame kind").at(1).with_number(kind, "kind");

  Reader rd(bytes.first(bytes.size() - kChecksumBytes), 8);
  Frame f;
  (void)(rd.fixed(f.from) && rd.fixed(f.to) && rd.fixed(f.from_inc.generation) && rd.fixed(f.from_inc.nonce) &&
         rd.fixed(f.to_inc.generation) && rd.fixed(f.to_inc.nonce));
  bool ok = true;
  switch (static_cast<set::FrameKind>(kind)) {
    case set::FrameKind::kData: {
      frame::Data d;
      std::uint64_t n = 0;
      ok = rd.varint(d.seq) && rd.varint(d.ack) && rd.boolean(d.replica.complete) && rd.varint(d.replica.seq) &&
           rd.count(n, 1, "record count above the bytes left");
      if (ok && n > kMaxRecordsPerFrame)
        ok = rd.fail(StatusCode::kInvalidArgument, "record count above the limit", n, "count");
      if (ok) {
        d.records.resize(n);
        for (std::size_t i = 0; ok && i < n;) {
          if (rd.left() > 0 && rd.peek() == kReleaseGroupKind) {
            ok = read_release_group(rd, d.records, i);
          } else if (rd.left() > 0 && rd.peek() == kWordsGroupKind) {
            ok = read_words_group(rd, d.records, i);
          } else {
            ok = read_record(rd, d.records[i++]);
          }
        }
      }
      f.body = std::move(d);
      break;
    }
    case set::FrameKind::kGenQuery: f.body = frame::GenQuery{}; break;
    case set::FrameKind::kGenAnswer: {
      frame::GenAnswer g;
      ok = rd.varint_as(g.max_generation, "generation above 2^32") && rd.boolean(g.complete);
      f.body = g;
      break;
    }
    case set::FrameKind::kRecoverRequest: f.body = frame::RecoverRequest{}; break;
    case set::FrameKind::kRecoverAnswer: {
      frame::RecoverAnswer a;
      bool has = false;
      ok = rd.boolean(a.complete) && rd.boolean(has);
      if (ok && has) {
        auto snap = std::make_shared<set::UsageSnapshot>();
        ok = read_snapshot(rd, *snap);
        a.snapshot = std::move(snap);
      }
      f.body = std::move(a);
      break;
    }
    case set::FrameKind::kFenced: {
      frame::Fenced x;
      ok = rd.varint_as(x.max_generation, "generation above 2^32");
      f.body = x;
      break;
    }
  }
  if (!ok) return rd.status();
  if (rd.left() != 0)
    return Status(StatusCode::kInvalidArgument, "bytes after the frame body")
        .at(rd.pos())
        .with_number(rd.left(), "bytes");
  return f;
}

// A fragment's body: v message id, v index, v count, v total bytes of the
// message, then the piece (the rest of the body).
constexpr std::size_t kPieceBytes = kFragmentPieceBytes;

}  // namespace

Result<std::vector<std::vector<std::uint8_t>>> encode_fragments(const Frame& f, std::uint64_t message_id) {
  auto whole = encode_message(f, kMaxMessageBytes);
  if (!whole.ok()) return whole.status();
  std::vector<std::vector<std::uint8_t>> out;
  std::vector<std::uint8_t>& m = whole.value();
  if (m.size() <= kMaxFrameBytes) {
    out.push_back(std::move(m));
    return out;
  }
  const std::uint64_t count = (m.size() + kPieceBytes - 1) / kPieceBytes;
  for (std::uint64_t i = 0; i < count; ++i) {
    Writer w;
    w.bytes().assign(m.begin(), m.begin() + kHeaderBytes);  // the message's own header: ends, incarnations
    w.bytes()[1] = kFragmentKind;
    w.varint(message_id);
    w.varint(i);
    w.varint(count);
    w.varint(m.size());
    const std::size_t b = i * kPieceBytes;
    const std::size_t e = std::min<std::size_t>(b + kPieceBytes, m.size());
    w.bytes().insert(w.bytes().end(), m.begin() + static_cast<std::ptrdiff_t>(b),
                     m.begin() + static_cast<std::ptrdiff_t>(e));
    std::vector<std::uint8_t> piece = std::move(w.bytes());
    seal(piece);
    out.push_back(std::move(piece));
  }
  return out;
}

Result<std::optional<Frame>> Reassembler::take(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 2 || bytes[0] != kVersion || bytes[1] != kFragmentKind) {
    auto f = decode(bytes);
    if (!f.ok()) return f.status();
    return std::optional<Frame>(std::move(f.value()));
  }
  // A fragment: the same header and checksum rules as any frame.
  if (bytes.size() < kHeaderBytes + kChecksumBytes || bytes.size() > kMaxFrameBytes)
    return Status(StatusCode::kInvalidArgument, "fragment size out of bounds").with_number(bytes.size(), "bytes");
  Reader hd(bytes, 2);
  std::uint16_t reserved = 0;
  std::uint32_t length = 0, from = 0;
  (void)hd.fixed(reserved);
  (void)hd.fixed(length);
  (void)hd.fixed(from);
  if (length != bytes.size())
    return Status(StatusCode::kInvalidArgument, "frame length does not match the bytes received").at(4);
  std::uint32_t got = 0;
  Reader tail(bytes, bytes.size() - kChecksumBytes);
  (void)tail.fixed(got);
  if (got != crc32c(bytes.first(bytes.size() - kChecksumBytes)))
    return Status(StatusCode::kInvalidArgument, "checksum mismatch").at(bytes.size() - kChecksumBytes);
  if (reserved != 0) return Status(StatusCode::kInvalidArgument, "reserved header bits set").at(2);
  Reader rd(bytes.first(bytes.size() - kChecksumBytes), kHeaderBytes);
  std::uint64_t id = 0, index = 0, count = 0, total = 0;
  if (!rd.varint(id) || !rd.varint(index) || !rd.varint(count) || !rd.varint(total)) return rd.status();
  if (total <= kMaxFrameBytes || total > kMaxMessageBytes)
    return Status(StatusCode::kOutOfRange, "fragmented message size out of bounds").with_number(total, "bytes");
  if (count != (total + kPieceBytes - 1) / kPieceBytes)
    return Status(StatusCode::kInvalidArgument, "fragment count does not match the message size")
        .with_number(count, "count");
  if (index >= count)
    return Status(StatusCode::kInvalidArgument, "fragment index beyond its count").with_number(index, "index");
  const std::size_t piece = rd.left();
  const std::size_t want = index + 1 < count ? kPieceBytes : total - kPieceBytes * (count - 1);
  if (piece != want)
    return Status(StatusCode::kInvalidArgument, "fragment piece of the wrong size").with_number(piece, "bytes");
  Partial& p = partial_[from];
  if (!p.buffer.empty() &&
      (p.id != id || p.total != total || !std::equal(p.header.begin(), p.header.end(), bytes.begin() + 8))) {
    ++abandoned_;  // a newer message from this sender: the older one will never be whole
    buffered_ -= p.total;
    p = Partial{};
  }
  if (p.buffer.empty()) {
    if (partial_.size() > kMaxSenders || buffered_ + total > kMaxBufferedBytes) {
      partial_.erase(from);
      return Status(StatusCode::kResourceExhausted, "too many messages in pieces at once").with_number(from, "member");
    }
    buffered_ += total;
    p.id = id;
    p.total = total;
    p.header.assign(bytes.begin() + 8, bytes.begin() + kHeaderBytes);
    p.buffer.assign(total, 0);
    p.have.assign(count, false);
  }
  if (p.have[index]) return std::optional<Frame>();  // a duplicate piece
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(rd.pos()),
            bytes.begin() + static_cast<std::ptrdiff_t>(rd.pos() + piece),
            p.buffer.begin() + static_cast<std::ptrdiff_t>(index * kPieceBytes));
  p.have[index] = true;
  if (++p.pieces < count) return std::optional<Frame>();
  std::vector<std::uint8_t> whole = std::move(p.buffer);
  std::vector<std::uint8_t> header = std::move(p.header);
  buffered_ -= p.total;
  partial_.erase(from);
  if (whole.size() < kHeaderBytes || !std::equal(header.begin(), header.end(), whole.begin() + 8))
    return Status(StatusCode::kInvalidArgument, "fragments name other ends than their message");
  auto f = decode_message(whole, kMaxMessageBytes);
  if (!f.ok()) return f.status();
  return std::optional<Frame>(std::move(f.value()));
}

}  // namespace uepool::wire
