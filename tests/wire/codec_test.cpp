// The frame codec: every kind round-trips; every malformed input is refused
// with a reason naming what was wrong.
#include "uepool/wire/codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>

#include "uepool/wire/crc32c.hpp"

namespace uepool::wire {
namespace {

using set::Frame;
using set::Record;
namespace record = set::record;
namespace frame = set::frame;

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t kMax32 = std::numeric_limits<std::uint32_t>::max();

std::shared_ptr<const set::UsageSnapshot> snapshot() {
  auto s = std::make_shared<set::UsageSnapshot>();
  s->of = {7, 0x1122334455667788ULL};
  s->stream_seq = 123456789;
  s->in_use.resize(3);
  for (std::uint32_t u = 0; u < 5000; u += 3) s->in_use[0].add(u);  // an array container, then a bitmap
  s->in_use[1].addRange(70000, 90000);                              // a run, once optimized
  s->in_use[1].runOptimize();
  s->in_use[2].add(kMax32);  // the last unit of a 2^32 pool
  s->windows = {{0, 64, 128, {7, 3}, 900}, {1, 1u << 20, (1u << 20) + 64, {7, kMax32}, 0}};
  s->held = {{0, 65, 1000}, {2, kMax64, 1}};
  s->pool_hold = {0, 5, kMax64};
  s->epoch = 3;
  s->members = {{1, 0, true}, {2, 1}, {kMax32, kMax32}};
  s->handover = true;
  s->pending = {{0, 2, 1}, {2, kMax64, kMax32}};
  s->frozen.resize(3);
  s->frozen[1].add(7);
  s->history = {{1, {{1, 1}, {2, 0}, {kMax32, 1}}}, {2, {{1, 1}, {2, 1}, {kMax32, 1}}}};
  return s;
}

Frame header(set::FrameKind) {
  Frame f;
  f.from = 3;
  f.to = kMax32;
  f.from_inc = {kMax32, kMax64};
  f.to_inc = {1, 0};
  return f;
}

std::vector<Frame> every_kind() {
  std::vector<Frame> out;
  Frame d = header(set::FrameKind::kData);
  frame::Data data;
  data.seq = kMax64;
  data.ack = 0;
  data.replica = {true, 1u << 30};
  data.records = {
      record::Seed{.stream_seq = 5, .snapshot = snapshot()},
      record::Window{.stream_seq = 6, .pool = 1, .begin = 4096, .end = 4160, .tag = {7, 9}, .lease = 10'000},
      record::Words{.stream_seq = 7, .pool = 0, .word = (std::uint64_t{1} << 57) - 1, .bits = kMax64},
      record::Alloc{.stream_seq = 8, .pool = 2, .unit = 17},
      record::Free{.stream_seq = 9, .pool = 2, .unit = 17},
      record::Close{.stream_seq = 10, .pool = 1, .tag = {7, 9}},
      record::Release{.pool = 0, .unit = 99, .tag = {6, 2}, .claim = 0, .serial = 15, .nonce = kMax64},
      record::Claim{.pool = 1, .unit = 3, .claim = kMax64},
      record::Epoch{.stream_seq = 11, .epoch = kMax64, .members = {{1, 1}, {2, 0, true}}},
      record::Take{.stream_seq = 12, .pool = 1, .block = 64},
      record::Handover{.stream_seq = 13, .epoch = 2},
  };
  d.body = data;
  out.push_back(d);
  Frame hb = header(set::FrameKind::kData);  // a heartbeat: no records
  hb.body = frame::Data{.seq = 0, .ack = 41, .replica = {false, 0}, .records = {}};
  out.push_back(hb);
  Frame q = header(set::FrameKind::kGenQuery);
  q.body = frame::GenQuery{};
  out.push_back(q);
  Frame a = header(set::FrameKind::kGenAnswer);
  a.body = frame::GenAnswer{.max_generation = kMax32, .complete = true};
  out.push_back(a);
  Frame r = header(set::FrameKind::kRecoverRequest);
  r.body = frame::RecoverRequest{};
  out.push_back(r);
  Frame ra = header(set::FrameKind::kRecoverAnswer);
  ra.body = frame::RecoverAnswer{.complete = true, .snapshot = snapshot()};
  out.push_back(ra);
  Frame rn = header(set::FrameKind::kRecoverAnswer);
  rn.body = frame::RecoverAnswer{.complete = false, .snapshot = nullptr};
  out.push_back(rn);
  Frame fe = header(set::FrameKind::kFenced);
  fe.body = frame::Fenced{.max_generation = 12};
  out.push_back(fe);
  return out;
}

std::vector<std::uint8_t> bytes_of(const Frame& f) {
  auto e = encode(f);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? e.value() : std::vector<std::uint8_t>{};
}

// reseal — fix the length and checksum after a test edited the bytes, so
// that what is tested is the edit, not the checksum.
void reseal(std::vector<std::uint8_t>& b) {
  const auto n = static_cast<std::uint32_t>(b.size());
  for (int i = 0; i < 4; ++i) b[4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  const std::uint32_t c = crc32c(std::span<const std::uint8_t>(b).first(b.size() - 4));
  for (int i = 0; i < 4; ++i) b[b.size() - 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c >> (8 * i));
}

std::string reason_of(const std::vector<std::uint8_t>& b) {
  auto d = decode(b);
  return d.ok() ? std::string("accepted") : std::string(d.status().reason());
}

TEST(Crc32c, KnownVectors) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32c({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}), 0xE3069283u);
  const std::vector<std::uint8_t> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);  // RFC 3720, B.4
  // Continuing a CRC over a split input gives the CRC of the whole.
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  EXPECT_EQ(crc32c({p + 4, 5}, crc32c({p, 4})), 0xE3069283u);
  EXPECT_EQ(crc32c_portable({p, 9}), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(zeros), 0x8A9136AAu);
}

TEST(Crc32c, TheInstructionPathAgreesWithTheTableAtEveryLengthAndOffset) {
  std::vector<std::uint8_t> b(300);
  std::uint32_t x = 12345;
  for (auto& v : b) v = static_cast<std::uint8_t>((x = x * 1103515245u + 12345u) >> 24);
  for (std::size_t off = 0; off < 9; ++off)
    for (std::size_t len = 0; off + len <= b.size(); len += 7) {
      const std::span<const std::uint8_t> s(b.data() + off, len);
      ASSERT_EQ(crc32c(s), crc32c_portable(s)) << off << " " << len;
      ASSERT_EQ(crc32c(s, 0xDEADBEEF), crc32c_portable(s, 0xDEADBEEF)) << off << " " << len;
    }
}

TEST(Codec, EveryKindRoundTrips) {
  for (const Frame& f : every_kind()) {
    const std::vector<std::uint8_t> b = bytes_of(f);
    ASSERT_FALSE(b.empty());
    auto d = decode(b);
    ASSERT_TRUE(d.ok()) << "kind " << static_cast<int>(f.kind()) << ": " << d.status().to_string();
    const Frame& g = d.value();
    EXPECT_EQ(g.kind(), f.kind());
    EXPECT_EQ(g.from, f.from);
    EXPECT_EQ(g.to, f.to);
    EXPECT_EQ(g.from_inc, f.from_inc);
    EXPECT_EQ(g.to_inc, f.to_inc);
    EXPECT_EQ(bytes_of(g), b);  // the encoding is a function of the value: equal bytes, equal frames
  }
}

// releases — `n` releases of one window (units up and down, every serial),
// with a static release, another window's and a stream record among them.
std::vector<Record> releases(std::size_t n) {
  std::vector<Record> out;
  std::uint64_t unit = 1'000'000;
  for (std::size_t i = 0; i < n; ++i) {
    unit = i % 97 == 50 ? unit - 3000 : unit + 1 + i % 3;  // mostly up, sometimes far down
    out.push_back(record::Release{.pool = 1,
                                  .unit = unit,
                                  .tag = {4, 77},
                                  .claim = 0,
                                  .serial = static_cast<std::uint8_t>(i % 16),
                                  .nonce = 0x1234'5678'9ABC'DEF0});
    if (i == n / 3)
      out.push_back(record::Release{.pool = 1, .unit = 5, .tag = {4, 77}, .claim = 9, .serial = 0, .nonce = 0});
    if (i == n / 2) out.push_back(record::Words{.stream_seq = 3, .pool = 0, .word = 2, .bits = 5});
    if (i == 2 * n / 3)
      out.push_back(record::Release{.pool = 1, .unit = 6, .tag = {4, 78}, .claim = 0, .serial = 1, .nonce = 1});
  }
  return out;
}

bool same_release(const Record& a, const Record& b) {
  const auto* x = std::get_if<record::Release>(&a);
  const auto* y = std::get_if<record::Release>(&b);
  if (x == nullptr || y == nullptr) return (x == nullptr) == (y == nullptr) && a.index() == b.index();
  return x->pool == y->pool && x->unit == y->unit && x->tag == y->tag && x->claim == y->claim &&
         x->serial == y->serial && x->nonce == y->nonce;
}

TEST(Codec, ReleaseGroupsRoundTripInOrderAtAByteOrTwoARelease) {
  Frame f = header(set::FrameKind::kData);
  f.body = frame::Data{.seq = 1, .ack = 0, .replica = {true, 0}, .records = releases(1000)};
  const std::vector<std::uint8_t> b = bytes_of(f);
  auto d = decode(b);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  const auto& in = f.data()->records;
  const auto& out = d.value().data()->records;
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_release(in[i], out[i])) << "record " << i;
  EXPECT_LT(b.size(), 1000u * 2 + 120) << "bytes for 1,003 releases";
  EXPECT_EQ(bytes_of(d.value()), b);
}

TEST(Codec, ReleaseGroupsThatLieAboutTheirCountAreRefused) {
  Frame f = header(set::FrameKind::kData);
  f.body = frame::Data{.seq = 0,
                       .ack = 0,
                       .replica = {false, 0},
                       .records = {record::Release{.pool = 0, .unit = 1, .tag = {1, 1}, .serial = 0, .nonce = 7},
                                   record::Release{.pool = 0, .unit = 2, .tag = {1, 1}, .serial = 0, .nonce = 7},
                                   record::Release{.pool = 0, .unit = 3, .tag = {1, 1}, .serial = 0, .nonce = 7}}};
  std::vector<std::uint8_t> b = bytes_of(f);
  ASSERT_TRUE(decode(b).ok());
  ASSERT_EQ(b[44], 3);     // the record count
  ASSERT_EQ(b[45], 0x40);  // a release group
  b[44] = 2;               // a group of 3 in a frame of 2 records
  reseal(b);
  EXPECT_EQ(reason_of(b), "release group count below 2 or beyond the frame's record count");
  std::vector<std::uint8_t> one = bytes_of(f);
  const std::size_t count_at = 45 + 1 + 1 + 1 + 1 + 8;  // kind, pool, generation, window, nonce
  ASSERT_EQ(one[count_at], 3);
  one[count_at] = 1;  // a group of one
  reseal(one);
  EXPECT_EQ(reason_of(one), "release group count below 2 or beyond the frame's record count");
  // A frame may carry at most kMaxRecordsPerFrame records.
  Frame big = header(set::FrameKind::kData);
  big.body = frame::Data{
      .seq = 1,
      .ack = 0,
      .replica = {false, 0},
      .records = std::vector<Record>(wire::kMaxRecordsPerFrame + 1, record::Claim{.pool = 0, .unit = 1, .claim = 1})};
  EXPECT_FALSE(encode_fragments(big, 1).ok());
}

// words — a tick's stream: words of pool 0 with stream seqs counting up
// (filled, emptied, partial; up and down), broken by a pool change, a gap in
// the stream seqs and a release.
std::vector<Record> words(std::size_t n) {
  std::vector<Record> out;
  std::uint64_t seq = 500, word = 70'000;
  for (std::size_t i = 0; i < n; ++i) {
    word = i % 41 == 7 ? word - 900 : word + 1;
    const std::uint64_t bits = i % 3 == 0 ? 0 : i % 3 == 1 ? ~std::uint64_t{0} : 0x00F0'0000'0000'1234 + i;
    out.push_back(record::Words{.stream_seq = seq++, .pool = 0, .word = word, .bits = bits});
    if (i == n / 4) out.push_back(record::Words{.stream_seq = seq++, .pool = 1, .word = 3, .bits = 9});
    if (i == n / 2) seq += 5;  // a gap: records of other peers' streams went between
    if (i == 3 * n / 4)
      out.push_back(record::Release{.pool = 1, .unit = 6, .tag = {4, 78}, .claim = 0, .serial = 1, .nonce = 1});
  }
  return out;
}

TEST(Codec, WordsGroupsRoundTripInOrderAtAByteOrTwoAFullOrEmptyWord) {
  Frame f = header(set::FrameKind::kData);
  f.body = frame::Data{.seq = 1, .ack = 0, .replica = {true, 0}, .records = words(900)};
  const std::vector<std::uint8_t> b = bytes_of(f);
  auto d = decode(b);
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  const auto& in = f.data()->records;
  const auto& out = d.value().data()->records;
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto* x = std::get_if<record::Words>(&in[i]);
    const auto* y = std::get_if<record::Words>(&out[i]);
    ASSERT_EQ(x == nullptr, y == nullptr) << "record " << i;
    if (x == nullptr) continue;
    EXPECT_EQ(x->stream_seq, y->stream_seq) << "record " << i;
    EXPECT_EQ(x->pool, y->pool) << "record " << i;
    EXPECT_EQ(x->word, y->word) << "record " << i;
    EXPECT_EQ(x->bits, y->bits) << "record " << i;
  }
  // Two thirds of the words are full or empty (one or two bytes), a third
  // partial (ten or eleven); about 16 bytes each one by one.
  EXPECT_LT(b.size(), 900u / 3 * 2 * 2 + 900u / 3 * 11 + 200) << "bytes for 900 words";
  EXPECT_EQ(bytes_of(d.value()), b);
}

TEST(Codec, WordsGroupsThatLieAreRefused) {
  Frame f = header(set::FrameKind::kData);
  f.body = frame::Data{.seq = 0,
                       .ack = 0,
                       .replica = {false, 0},
                       .records = {record::Words{.stream_seq = 9, .pool = 0, .word = 1, .bits = 0},
                                   record::Words{.stream_seq = 10, .pool = 0, .word = 2, .bits = ~std::uint64_t{0}},
                                   record::Words{.stream_seq = 11, .pool = 0, .word = 3, .bits = 0}}};
  std::vector<std::uint8_t> b = bytes_of(f);
  ASSERT_TRUE(decode(b).ok());
  ASSERT_EQ(b[44], 3);                   // the record count
  ASSERT_EQ(b[45], 0x41);                // a words group
  ASSERT_EQ(b.size(), 45u + 4 + 3 + 4);  // kind, pool, seq, count; a byte a word; the checksum
  std::vector<std::uint8_t> lie = b;
  lie[44] = 2;  // a group of 3 in a frame of 2 records
  reseal(lie);
  EXPECT_EQ(reason_of(lie), "words group count below 2 or beyond the frame's record count");
  std::vector<std::uint8_t> form = b;
  form[49] |= 3;  // the first word's form: 3
  reseal(form);
  EXPECT_EQ(reason_of(form), "unknown word form in a words group");
  Frame late = f;
  for (Record& r : late.data()->records) std::get<record::Words>(r).stream_seq += UINT64_MAX - 12;
  std::vector<std::uint8_t> wrap = bytes_of(late);
  ASSERT_EQ(wrap[45], 0x41);
  ASSERT_TRUE(decode(wrap).ok());  // seqs up to UINT64_MAX - 1
  // Up to the last sequence number; a group beyond it (forged: the encoder
  // never groups across the wrap) is refused.
  Frame last = header(set::FrameKind::kData);
  last.body = frame::Data{.seq = 0,
                          .ack = 0,
                          .replica = {false, 0},
                          .records = {record::Words{.stream_seq = UINT64_MAX - 1, .pool = 0, .word = 1, .bits = 0},
                                      record::Words{.stream_seq = UINT64_MAX, .pool = 0, .word = 2, .bits = 0}}};
  std::vector<std::uint8_t> over = bytes_of(last);
  ASSERT_EQ(over[45], 0x41);
  auto back = decode(over);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(std::get<record::Words>(back.value().data()->records[1]).stream_seq, UINT64_MAX);
  ASSERT_EQ(over[47], 0xFE);  // the first seq's low 7 bits (UINT64_MAX - 1)
  over[47] = 0xFF;            // UINT64_MAX: the second word's would wrap
  reseal(over);
  EXPECT_EQ(reason_of(over), "words group stream sequence overflows");
}

TEST(Codec, FieldsSurviveExactly) {
  const Frame f = every_kind()[0];
  auto d = decode(bytes_of(f));
  ASSERT_TRUE(d.ok());
  const frame::Data* data = d.value().data();
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->seq, kMax64);
  EXPECT_TRUE(data->replica.complete);
  ASSERT_EQ(data->records.size(), 11u);
  const auto& seed = std::get<record::Seed>(data->records[0]);
  const auto want_ptr = snapshot();
  const set::UsageSnapshot& want = *want_ptr;
  ASSERT_NE(seed.snapshot, nullptr);
  EXPECT_EQ(seed.snapshot->of, want.of);
  ASSERT_EQ(seed.snapshot->in_use.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(seed.snapshot->in_use[i] == want.in_use[i]) << "pool " << i;
  ASSERT_EQ(seed.snapshot->windows.size(), 2u);
  EXPECT_EQ(seed.snapshot->windows[1].tag.window, kMax32);
  EXPECT_EQ(seed.snapshot->held[1].unit, kMax64);
  EXPECT_EQ(seed.snapshot->pool_hold, want.pool_hold);
  const auto& rel = std::get<record::Release>(data->records[6]);
  EXPECT_EQ(rel.serial, 15);
  EXPECT_EQ(rel.nonce, kMax64);
  EXPECT_EQ(rel.tag, (set::LeaseTag{6, 2}));
  EXPECT_EQ(std::get<record::Words>(data->records[2]).bits, kMax64);
  // Re-division: the snapshot's epoch state and the three marks.
  EXPECT_EQ(seed.snapshot->epoch, 3u);
  ASSERT_EQ(seed.snapshot->members.size(), 3u);
  EXPECT_EQ(seed.snapshot->members[2].weight, kMax32);
  EXPECT_EQ(seed.snapshot->members[0].weight, 0u);
  EXPECT_TRUE(seed.snapshot->members[0].retired);
  EXPECT_FALSE(seed.snapshot->members[1].retired);
  EXPECT_TRUE(seed.snapshot->handover);
  EXPECT_EQ(seed.snapshot->pending, want.pending);
  ASSERT_EQ(seed.snapshot->frozen.size(), 3u);
  EXPECT_TRUE(seed.snapshot->frozen[1] == want.frozen[1]);
  ASSERT_EQ(seed.snapshot->history.size(), 2u);
  EXPECT_EQ(seed.snapshot->history[1].epoch, 2u);
  EXPECT_EQ(seed.snapshot->history[0].members[1].weight, 0u);
  const auto& ep = std::get<record::Epoch>(data->records[8]);
  EXPECT_EQ(ep.epoch, kMax64);
  ASSERT_EQ(ep.members.size(), 2u);
  EXPECT_EQ(ep.members[1].id, 2u);
  EXPECT_EQ(ep.members[1].weight, 0u);
  EXPECT_TRUE(ep.members[1].retired);
  EXPECT_FALSE(ep.members[0].retired);
  EXPECT_EQ(std::get<record::Take>(data->records[9]).block, 64u);
  EXPECT_EQ(std::get<record::Handover>(data->records[10]).epoch, 2u);
  EXPECT_EQ(std::get<record::Handover>(data->records[10]).stream_seq, 13u);
}

TEST(Codec, EveryTruncationIsRefused) {
  for (const Frame& f : every_kind()) {
    const std::vector<std::uint8_t> b = bytes_of(f);
    for (std::size_t n = 0; n < b.size(); ++n) {
      auto d = decode(std::span<const std::uint8_t>(b).first(n));
      ASSERT_FALSE(d.ok()) << "a prefix of " << n << " of " << b.size() << " bytes was accepted";
    }
  }
}

TEST(Codec, EveryBitFlipIsRefused) {
  const std::vector<std::uint8_t> b = bytes_of(every_kind()[3]);
  for (std::size_t i = 0; i < b.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<std::uint8_t> c = b;
      c[i] ^= static_cast<std::uint8_t>(1u << bit);
      ASSERT_FALSE(decode(c).ok()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Codec, HeaderErrorsNameTheirReason) {
  std::vector<std::uint8_t> b = bytes_of(every_kind()[2]);  // a GenQuery: header only
  EXPECT_EQ(reason_of({}), "frame shorter than its header");
  auto v = b;
  v[0] = kVersion + 1;
  EXPECT_EQ(reason_of(v), "unknown wire version");
  v[0] = kVersion - 1;  // version 2 had no retired flags: refused, not misread
  EXPECT_EQ(reason_of(v), "unknown wire version");
  v = b;
  v[1] = 6;
  reseal(v);
  EXPECT_EQ(reason_of(v), "unknown frame kind");
  v = b;
  v[3] = 1;
  reseal(v);
  EXPECT_EQ(reason_of(v), "reserved header bits set");
  v = b;
  v[10] ^= 1;
  EXPECT_EQ(reason_of(v), "checksum mismatch");
  v = b;
  v.insert(v.end() - 4, 0);
  EXPECT_EQ(reason_of(v), "frame length does not match the bytes received");
  reseal(v);
  EXPECT_EQ(reason_of(v), "bytes after the frame body");
  auto d = decode(v);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().position(), 40u);  // where the stray byte is
  EXPECT_EQ(reason_of(std::vector<std::uint8_t>(kMaxFrameBytes + 1)), "frame above 64 KiB");
}

// body — the header of a Data frame followed by `tail` (then sealed).
std::vector<std::uint8_t> data_frame_with(const std::vector<std::uint8_t>& tail) {
  Frame f = header(set::FrameKind::kData);
  f.body = frame::Data{};
  std::vector<std::uint8_t> b = bytes_of(f);
  b.resize(40);  // the header; the body is replaced
  b.insert(b.end(), tail.begin(), tail.end());
  b.resize(b.size() + 4);
  reseal(b);
  return b;
}

TEST(Codec, BodyErrorsNameTheirReason) {
  // seq, ack, complete, replica seq, record count, records
  EXPECT_EQ(reason_of(data_frame_with({0, 0, 2, 0, 0})), "boolean byte is not 0 or 1");
  EXPECT_EQ(reason_of(data_frame_with({0x80, 0, 0, 0, 0})), "varint not in its shortest form");
  EXPECT_EQ(reason_of(data_frame_with({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0})),
            "varint overflows 64 bits");
  EXPECT_EQ(reason_of(data_frame_with({0, 0, 0, 0, 0xFF, 0xFF, 0x03})), "record count above the bytes left");
  EXPECT_EQ(reason_of(data_frame_with({0, 0, 0, 0, 1, 12, 0})), "unknown record kind");
  // A release whose serial is 16.
  EXPECT_EQ(reason_of(data_frame_with({0, 0, 0, 0, 1, 6, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0})),
            "allocation serial above 15");
  // A window whose pool does not fit 32 bits.
  EXPECT_EQ(reason_of(data_frame_with({0, 0, 0, 0, 1, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0, 0})),
            "pool above 2^32");
  // A record cut short inside the body.
  EXPECT_EQ(reason_of(data_frame_with({0, 0, 0, 0, 1, 3, 0, 0})), "frame truncated");
}

// A portable Roaring bitmap (no run containers) with one array container
// holding `values` as stored, unchecked.
std::vector<std::uint8_t> raw_roaring(const std::vector<std::uint16_t>& values) {
  std::vector<std::uint8_t> r = {0x3A, 0x30, 0, 0, 1, 0, 0, 0, 0, 0};  // cookie 12346, one container, key 0
  const auto card1 = static_cast<std::uint16_t>(values.size() - 1);
  r.push_back(static_cast<std::uint8_t>(card1));
  r.push_back(static_cast<std::uint8_t>(card1 >> 8));
  r.insert(r.end(), {16, 0, 0, 0});  // the container's offset
  for (std::uint16_t v : values) {
    r.push_back(static_cast<std::uint8_t>(v));
    r.push_back(static_cast<std::uint8_t>(v >> 8));
  }
  return r;
}

std::vector<std::uint8_t> recover_answer_with(const std::vector<std::uint8_t>& roaring) {
  Frame f = header(set::FrameKind::kRecoverAnswer);
  f.body = frame::RecoverAnswer{};
  std::vector<std::uint8_t> b = bytes_of(f);
  b.resize(40);
  // complete, has snapshot, of (4 + 8 bytes), stream seq 0, one pool
  std::vector<std::uint8_t> body = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  body.push_back(static_cast<std::uint8_t>(roaring.size()));
  body.insert(body.end(), roaring.begin(), roaring.end());
  body.insert(body.end(), {0, 0, 0});           // no windows, no held units, no pool holds
  body.insert(body.end(), {0, 0, 0, 0, 0, 0});  // epoch 0, no members, no handover, nothing pending, frozen, history
  b.insert(b.end(), body.begin(), body.end());
  b.resize(b.size() + 4);
  reseal(b);
  return b;
}

// A member's retired flag (version 3) is one byte, 0 or 1: anything else is refused.
TEST(Codec, ARetiredFlagIsZeroOrOne) {
  Frame f = header(set::FrameKind::kData);
  f.body = frame::Data{.seq = 1,
                       .ack = 0,
                       .replica = {},
                       .records = {record::Epoch{.stream_seq = 1, .epoch = 2, .members = {{1, 1}, {2, 0, true}}}}};
  std::vector<std::uint8_t> b = bytes_of(f);
  ASSERT_EQ(b[b.size() - 5], 1) << "the last member's retired byte ends the record";
  auto back = decode(b);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(std::get<record::Epoch>(back.value().data()->records[0]).members[1].retired);
  b[b.size() - 5] = 2;
  reseal(b);
  EXPECT_EQ(reason_of(b), "boolean byte is not 0 or 1");
}

TEST(Codec, RoaringBitmapsAreCheckedValueByValue) {
  EXPECT_EQ(reason_of(recover_answer_with(raw_roaring({1, 5, 9}))), "accepted");
  // CRoaring's safe deserializer takes these; the codec does not.
  EXPECT_EQ(reason_of(recover_answer_with(raw_roaring({5, 5}))), "Roaring bitmap with unordered or repeated values");
  EXPECT_EQ(reason_of(recover_answer_with(raw_roaring({9, 1}))), "Roaring bitmap with unordered or repeated values");
  auto cut = raw_roaring({1, 5, 9});
  cut.pop_back();
  EXPECT_NE(reason_of(recover_answer_with(cut)), "accepted");
  auto longer = raw_roaring({1, 5, 9});
  longer.push_back(0);
  EXPECT_EQ(reason_of(recover_answer_with(longer)), "Roaring bitmap does not fill its length");
}

TEST(Codec, EncodeRefusesWhatTheWireCannotCarry) {
  Frame f = header(set::FrameKind::kData);
  f.body =
      frame::Data{.seq = 1, .ack = 0, .replica = {}, .records = {record::Seed{.stream_seq = 1, .snapshot = nullptr}}};
  EXPECT_EQ(encode(f).status().code(), StatusCode::kInvalidArgument);
  f.body = frame::Data{
      .seq = 1,
      .ack = 0,
      .replica = {},
      .records = {record::Release{.pool = 0, .unit = 1, .tag = {1, 1}, .claim = 0, .serial = 16, .nonce = 1}}};
  EXPECT_EQ(encode(f).status().code(), StatusCode::kInvalidArgument);
  // A snapshot too large for one frame (not chunked yet): refused, not cut.
  auto big = std::make_shared<set::UsageSnapshot>();
  big->in_use.resize(1);
  for (std::uint32_t u = 0; u < (1u << 20); u += 2) big->in_use[0].add(u);  // 16 bitmap containers: 128 KiB
  f.body = frame::RecoverAnswer{.complete = true, .snapshot = big};
  auto e = encode(f);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kOutOfRange);
}

set::Frame big_answer() {
  auto big = std::make_shared<set::UsageSnapshot>();
  big->of = {3, 33};
  big->in_use.resize(1);
  for (std::uint32_t u = 0; u < (1u << 20); u += 2) big->in_use[0].add(u);  // 16 bitmap containers: 128 KiB
  Frame f = header(set::FrameKind::kRecoverAnswer);
  f.body = frame::RecoverAnswer{.complete = true, .snapshot = big};
  return f;
}

TEST(Fragments, ALargeMessageTravelsInPiecesInAnyOrder) {
  const Frame f = big_answer();
  auto pieces = encode_fragments(f, 7);
  ASSERT_TRUE(pieces.ok()) << pieces.status().to_string();
  ASSERT_GE(pieces.value().size(), 3u);
  for (const auto& p : pieces.value()) {
    EXPECT_LE(p.size(), kMaxFrameBytes);
    EXPECT_EQ(reason_of(p), "a fragment: give it to a Reassembler");
  }
  for (const bool reverse : {false, true}) {
    Reassembler r;
    auto ps = pieces.value();
    if (reverse) std::reverse(ps.begin(), ps.end());
    for (std::size_t k = 0; k + 1 < ps.size(); ++k) {
      auto got = r.take(ps[k]);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_FALSE(got.value().has_value());
      EXPECT_FALSE(r.take(ps[k]).value().has_value());  // a duplicate piece changes nothing
    }
    auto last = r.take(ps.back());
    ASSERT_TRUE(last.ok()) << last.status().to_string();
    ASSERT_TRUE(last.value().has_value());
    const auto* a = std::get_if<frame::RecoverAnswer>(&last.value()->body);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(a->snapshot, nullptr);
    EXPECT_TRUE(a->snapshot->in_use[0] == std::get<frame::RecoverAnswer>(f.body).snapshot->in_use[0]);
    EXPECT_EQ(last.value()->from_inc, f.from_inc);
  }
  // A small frame is one piece: the frame itself, taken at once.
  const Frame small = every_kind()[3];
  auto one = encode_fragments(small, 8);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.value().size(), 1u);
  EXPECT_EQ(one.value()[0], bytes_of(small));
  Reassembler r;
  auto got = r.take(one.value()[0]);
  ASSERT_TRUE(got.ok() && got.value().has_value());
}

TEST(Fragments, ALostPieceLosesOnlyItsMessage) {
  auto a = encode_fragments(big_answer(), 1).value();
  auto b = encode_fragments(big_answer(), 2).value();
  Reassembler r;
  for (std::size_t k = 1; k < a.size(); ++k) EXPECT_FALSE(r.take(a[k]).value().has_value());  // piece 0 is lost
  for (std::size_t k = 0; k + 1 < b.size(); ++k) EXPECT_FALSE(r.take(b[k]).value().has_value());
  EXPECT_TRUE(r.take(b.back()).value().has_value());
  EXPECT_EQ(r.abandoned(), 1u);
}

// set_from — the fragment's sender (header bytes 8..11), resealed.
void set_from(std::vector<std::uint8_t>& b, std::uint32_t from);

TEST(Fragments, AFloodOfFirstPiecesIsBoundedInMemory) {
  auto a = encode_fragments(big_answer(), 1).value();
  Reassembler r;
  std::size_t refused = 0;
  for (std::uint32_t from = 1; from <= 600; ++from) {
    auto piece = a[0];
    set_from(piece, from);
    auto got = r.take(piece);
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  // Each message is about 128 KiB: 64 MiB holds about 500, and at most 257
  // senders are tracked; the rest are refused, not allocated.
  EXPECT_GE(refused, 600u - 257u);
}

void put_varint(std::vector<std::uint8_t>& b, std::uint64_t v) {
  while (v >= 0x80) {
    b.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  b.push_back(static_cast<std::uint8_t>(v));
}

// fragment — a hand-made fragment (a real header, forged fields), sealed.
std::vector<std::uint8_t> fragment(std::uint64_t index, std::uint64_t count, std::uint64_t total, std::size_t piece,
                                   std::uint8_t fill = 0) {
  std::vector<std::uint8_t> b = bytes_of(every_kind()[3]);
  b.resize(kHeaderBytes);
  b[1] = kFragmentKind;
  put_varint(b, 1);
  put_varint(b, index);
  put_varint(b, count);
  put_varint(b, total);
  b.insert(b.end(), piece, fill);
  b.resize(b.size() + 4);
  reseal(b);
  return b;
}

void set_from(std::vector<std::uint8_t>& b, std::uint32_t from) {
  for (int i = 0; i < 4; ++i) b[8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(from >> (8 * i));
  reseal(b);
}

std::string taken(Reassembler& r, const std::vector<std::uint8_t>& b) {
  auto got = r.take(b);
  if (!got.ok()) return got.status().reason();
  return got.value().has_value() ? "frame" : "waiting";
}

TEST(Fragments, ForgedFragmentsAreRefusedWithTheirReason) {
  constexpr std::size_t P = kFragmentPieceBytes;
  Reassembler r;
  EXPECT_EQ(taken(r, fragment(0, 1, 1000, 1000)), "fragmented message size out of bounds");  // fits one frame
  EXPECT_EQ(taken(r, fragment(0, 300, kMaxMessageBytes + 1, P)), "fragmented message size out of bounds");
  EXPECT_EQ(taken(r, fragment(0, 5, 2 * P + 10, P)), "fragment count does not match the message size");
  EXPECT_EQ(taken(r, fragment(3, 3, 2 * P + 10, P)), "fragment index beyond its count");
  EXPECT_EQ(taken(r, fragment(0, 3, 2 * P + 10, P - 1)), "fragment piece of the wrong size");
  EXPECT_EQ(taken(r, fragment(2, 3, 2 * P + 10, P)), "fragment piece of the wrong size");  // the last is short
  auto bad = fragment(0, 3, 2 * P + 10, P);
  bad[45] ^= 1;
  EXPECT_EQ(taken(r, bad), "checksum mismatch");
  // Well-formed pieces of a message that is no frame (zeros: not even its
  // ends match the pieces' header): refused once whole.
  EXPECT_EQ(taken(r, fragment(0, 3, 2 * P + 10, P)), "waiting");
  EXPECT_EQ(taken(r, fragment(1, 3, 2 * P + 10, P)), "waiting");
  EXPECT_EQ(taken(r, fragment(2, 3, 2 * P + 10, 10)), "fragments name other ends than their message");
  // Pieces whose message has the right ends but no valid body.
  std::vector<std::uint8_t> head = bytes_of(every_kind()[3]);
  auto first = fragment(0, 3, 2 * P + 10, P);
  std::copy(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(kHeaderBytes),
            first.end() - 4 - static_cast<std::ptrdiff_t>(P));
  reseal(first);
  EXPECT_EQ(taken(r, first), "waiting");
  EXPECT_EQ(taken(r, fragment(1, 3, 2 * P + 10, P)), "waiting");
  EXPECT_NE(taken(r, fragment(2, 3, 2 * P + 10, 10)), "frame");
}

}  // namespace
}  // namespace uepool::wire
