// Replica: a peer's usage rebuilt from its stream and bulk copies, without a
// Member: in-order application, refusal of gaps and of records for blocks the
// sender does not own, hold-downs timed from receipt, snapshots.
#include "uepool/set/replica.hpp"

#include <gtest/gtest.h>

namespace uepool::set {
namespace {

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::PoolConfig c;
    c.name = "v4";
    c.prefix = net::Prefix::parse("10.1.0.0/22").value();           // 1,024 units
    c.static_ranges = {net::Prefix::parse("10.1.3.0/24").value()};  // units 768..1023
    pool_ = std::move(core::Pool::create(c).value());
    const std::vector<MemberSpec> members = {{1, 1}, {2, 1}};
    const std::vector<PoolSpec> pools = {{"v4", 1024, 64}};
    plan_ = std::make_shared<const Plan>(Plan::create(1, members, pools).value());
    for (std::uint64_t u = 0; u < 1024; u += 64) (plan_->owner(0, u) == 2 ? theirs_ : ours_).push_back(u);
    ASSERT_FALSE(theirs_.empty());
    ASSERT_FALSE(ours_.empty());
    replica_ = Replica(plan_, /*owner=*/2, {{pool_.get(), /*hold_down=*/10}});
  }
  // A block of member 2 with a dynamic unit, and one with a static unit.
  std::uint64_t dynamic_block() const {
    for (std::uint64_t b : theirs_)
      if (b < 768) return b;
    return UINT64_MAX;
  }
  std::uint64_t static_block() const {
    for (std::uint64_t b : theirs_)
      if (b >= 768) return b;
    return UINT64_MAX;
  }
  Replica::Outcome seed(std::uint64_t seq, std::vector<std::uint32_t> units = {}) {
    auto s = std::make_shared<UsageSnapshot>();
    s->of = inc_;
    s->stream_seq = seq;
    s->in_use.resize(1);
    for (std::uint32_t u : units) s->in_use[0].add(u);
    return replica_.seed(inc_, record::Seed{.stream_seq = seq, .snapshot = s}, now_);
  }

  std::unique_ptr<core::Pool> pool_;
  std::shared_ptr<const Plan> plan_;
  std::vector<std::uint64_t> theirs_, ours_;
  Replica replica_;
  Incarnation inc_{3, 42};
  std::uint64_t now_ = 100;
};

TEST_F(ReplicaTest, WaitsForABulkCopyThenFollowsTheStreamInOrder) {
  const std::uint64_t b = dynamic_block();
  ASSERT_NE(b, UINT64_MAX);
  EXPECT_EQ(replica_.apply(inc_, record::Words{.stream_seq = 1, .pool = 0, .word = b >> 6, .bits = 1}, now_),
            Replica::Outcome::kWaiting);
  EXPECT_FALSE(replica_.complete());
  ASSERT_EQ(seed(5, {static_cast<std::uint32_t>(b + 3)}), Replica::Outcome::kApplied);
  EXPECT_TRUE(replica_.complete_for(inc_));
  EXPECT_FALSE(replica_.complete_for(Incarnation{4, 42}));
  EXPECT_TRUE(replica_.in_use(0, b + 3));
  EXPECT_EQ(replica_.apply(inc_, record::Words{.stream_seq = 6, .pool = 0, .word = b >> 6, .bits = 0b101}, now_),
            Replica::Outcome::kApplied);
  EXPECT_TRUE(replica_.in_use(0, b));
  EXPECT_TRUE(replica_.in_use(0, b + 2));
  EXPECT_FALSE(replica_.in_use(0, b + 3));  // gone from the word without a Free: held down, to be safe
  EXPECT_TRUE(replica_.held(0, b + 3, now_));
  EXPECT_FALSE(replica_.held(0, b + 3, now_ + 10));
  EXPECT_EQ(replica_.seq(), 6u);
  // Another incarnation's records wait for its own bulk copy.
  EXPECT_EQ(replica_.apply(Incarnation{4, 1}, record::Free{.stream_seq = 7, .pool = 0, .unit = b}, now_),
            Replica::Outcome::kWaiting);
  EXPECT_TRUE(replica_.in_use(0, b));
}

TEST_F(ReplicaTest, AGapMakesItIncomplete) {
  const std::uint64_t b = dynamic_block();
  ASSERT_EQ(seed(5), Replica::Outcome::kApplied);
  EXPECT_EQ(replica_.apply(inc_, record::Free{.stream_seq = 7, .pool = 0, .unit = b}, now_),
            Replica::Outcome::kRefused);
  EXPECT_FALSE(replica_.complete());
  // A replayed record (an old sequence) is a gap too: the stream is strictly in order.
  ASSERT_EQ(seed(5), Replica::Outcome::kApplied);
  EXPECT_EQ(replica_.apply(inc_, record::Free{.stream_seq = 5, .pool = 0, .unit = b}, now_),
            Replica::Outcome::kRefused);
}

TEST_F(ReplicaTest, RefusesRecordsAndSeedsForBlocksItsOwnerDoesNotOwn) {
  const std::uint64_t mine = ours_.front();
  const std::uint64_t b = dynamic_block();
  // A seed naming a unit of member 1.
  EXPECT_EQ(seed(1, {static_cast<std::uint32_t>(mine)}), Replica::Outcome::kRefused);
  EXPECT_FALSE(replica_.complete());
  // A seed with one pool too many.
  auto s = std::make_shared<UsageSnapshot>();
  s->in_use.resize(2);
  EXPECT_EQ(replica_.seed(inc_, record::Seed{.stream_seq = 1, .snapshot = s}, now_), Replica::Outcome::kRefused);
  EXPECT_EQ(replica_.seed(inc_, record::Seed{.stream_seq = 1, .snapshot = nullptr}, now_), Replica::Outcome::kRefused);

  struct Case {
    const char* what;
    Record r;
  };
  const std::vector<Case> cases = {
      {"words of a foreign block", record::Words{.stream_seq = 2, .pool = 0, .word = mine >> 6, .bits = 1}},
      {"words beyond the pool", record::Words{.stream_seq = 2, .pool = 0, .word = 1 << 20, .bits = 1}},
      {"a word index that overflows", record::Words{.stream_seq = 2, .pool = 0, .word = UINT64_MAX >> 2, .bits = 1}},
      {"a foreign window",
       record::Window{.stream_seq = 2, .pool = 0, .begin = mine, .end = mine + 64, .tag = {3, 1}, .lease = 5}},
      {"an empty window", record::Window{.stream_seq = 2, .pool = 0, .begin = b, .end = b, .tag = {3, 1}, .lease = 5}},
      {"a window past its block",
       record::Window{.stream_seq = 2, .pool = 0, .begin = b, .end = b + 1000, .tag = {3, 1}, .lease = 5}},
      {"an unknown pool", record::Free{.stream_seq = 2, .pool = 7, .unit = b}},
      {"a free of a foreign unit", record::Free{.stream_seq = 2, .pool = 0, .unit = mine}},
      {"a claim of a unit beyond the pool", record::Alloc{.stream_seq = 2, .pool = 0, .unit = 5000}},
      {"a request record", record::Release{.pool = 0, .unit = b, .tag = {}, .claim = 0}},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(seed(1), Replica::Outcome::kApplied) << c.what;
    EXPECT_EQ(replica_.apply(inc_, c.r, now_), Replica::Outcome::kRefused) << c.what;
    EXPECT_FALSE(replica_.complete()) << c.what;
  }
}

TEST_F(ReplicaTest, WindowsStaticClaimsFreesAndSnapshots) {
  const std::uint64_t b = dynamic_block();
  const std::uint64_t sb = static_block();
  ASSERT_NE(sb, UINT64_MAX);  // the plan is deterministic: member 2 owns a block of the static range
  ASSERT_EQ(seed(0), Replica::Outcome::kApplied);
  std::uint64_t seq = 0;
  auto apply = [&](Record r) {
    std::visit(
        [&](auto& x) {
          if constexpr (requires { x.stream_seq; }) x.stream_seq = ++seq;
        },
        r);
    return replica_.apply(inc_, r, now_);
  };
  EXPECT_EQ(apply(record::Window{.pool = 0, .begin = b, .end = b + 64, .tag = {3, 1}, .lease = 50}),
            Replica::Outcome::kApplied);
  EXPECT_EQ(replica_.open_windows(), 1u);
  EXPECT_EQ(apply(record::Words{.pool = 0, .word = b >> 6, .bits = 0b11}), Replica::Outcome::kApplied);
  EXPECT_EQ(apply(record::Alloc{.pool = 0, .unit = sb + 1}), Replica::Outcome::kApplied);
  EXPECT_TRUE(replica_.in_use(0, sb + 1));
  EXPECT_EQ(apply(record::Free{.pool = 0, .unit = b}), Replica::Outcome::kApplied);
  EXPECT_FALSE(replica_.in_use(0, b));
  EXPECT_TRUE(replica_.held(0, b, now_ + 9));  // hold-down 10, from receipt
  now_ += 4;
  auto snap = replica_.snapshot(now_);
  EXPECT_EQ(snap->of, inc_);
  EXPECT_EQ(snap->stream_seq, seq);
  EXPECT_TRUE(snap->in_use[0].contains(static_cast<std::uint32_t>(b + 1)));
  EXPECT_FALSE(snap->in_use[0].contains(static_cast<std::uint32_t>(b)));
  EXPECT_TRUE(snap->in_use[0].contains(static_cast<std::uint32_t>(sb + 1)));
  ASSERT_EQ(snap->windows.size(), 1u);
  EXPECT_EQ(snap->windows[0].lease_left, 46u);
  ASSERT_EQ(snap->held.size(), 1u);
  EXPECT_EQ(snap->held[0].remaining, 6u);
  EXPECT_EQ(apply(record::Close{.pool = 0, .tag = {3, 1}}), Replica::Outcome::kApplied);
  EXPECT_EQ(replica_.open_windows(), 0u);
  // The snapshot seeds another replica to the same state, hold-downs and leases included.
  Replica copy(plan_, 2, {{pool_.get(), 10}});
  ASSERT_EQ(copy.seed(inc_, record::Seed{.stream_seq = snap->stream_seq, .snapshot = snap}, now_),
            Replica::Outcome::kApplied);
  EXPECT_TRUE(copy.in_use(0, b + 1));
  EXPECT_TRUE(copy.held(0, b, now_ + 5));
  EXPECT_FALSE(copy.held(0, b, now_ + 6));
  EXPECT_EQ(copy.open_windows(), 1u);
  replica_.expire(now_ + 6);
  EXPECT_FALSE(replica_.held(0, b, now_));
}

}  // namespace
}  // namespace uepool::set
