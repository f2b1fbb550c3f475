// Channel: in-order delivery through loss, duplication and reordering; bounded buffers.
#include "uepool/set/channel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace uepool::set {
namespace {

std::vector<Record> batch(std::uint64_t unit) {
  return {record::Release{.pool = 0, .unit = unit, .tag = {}, .claim = 0}};
}

TEST(Channel, DeliversInOrderOnce) {
  Channel tx(100), rx(100);
  for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(tx.push(batch(i)), i + 1);
  std::vector<std::pair<std::uint64_t, std::vector<Record>>> wire;
  tx.due(0, 10, [&](std::uint64_t seq, const std::vector<Record>& r) { wire.emplace_back(seq, r); });
  ASSERT_EQ(wire.size(), 5u);
  std::vector<std::uint64_t> got;
  auto deliver = [&](const std::vector<Record>& r) { got.push_back(std::get<record::Release>(r[0]).unit); };
  // Reordered: 3, 1, 1 (duplicate), 2, 5, 4.
  EXPECT_EQ(rx.receive(3, wire[2].second, deliver), Channel::Accept::kBuffered);
  EXPECT_EQ(rx.receive(1, wire[0].second, deliver), Channel::Accept::kNew);
  EXPECT_EQ(rx.receive(1, wire[0].second, deliver), Channel::Accept::kDuplicate);
  EXPECT_EQ(rx.receive(2, wire[1].second, deliver), Channel::Accept::kNew);  // releases 3 as well
  EXPECT_EQ(rx.receive(5, wire[4].second, deliver), Channel::Accept::kBuffered);
  EXPECT_EQ(rx.receive(4, wire[3].second, deliver), Channel::Accept::kNew);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(rx.cumulative_ack(), 5u);
  tx.on_ack(rx.cumulative_ack());
  EXPECT_EQ(tx.unacked_batches(), 0u);
}

TEST(Channel, RetransmitsAfterTimeoutOnly) {
  Channel tx(100);
  (void)tx.push(batch(1));
  int sent = 0;
  auto count = [&](std::uint64_t, const std::vector<Record>&) { ++sent; };
  tx.due(0, 10, count);
  tx.due(5, 10, count);
  EXPECT_EQ(sent, 1);
  tx.due(10, 10, count);
  EXPECT_EQ(sent, 2);
  EXPECT_EQ(tx.retransmitted(), 1u);
  tx.on_ack(1);
  tx.due(100, 10, count);
  EXPECT_EQ(sent, 2);
}

TEST(Channel, BoundedByRecords) {
  Channel tx(3);
  EXPECT_NE(tx.push(batch(1)), 0u);
  EXPECT_NE(tx.push({Record{}, Record{}}), 0u);
  EXPECT_FALSE(tx.fits(1));
  EXPECT_EQ(tx.push(batch(2)), 0u);  // refused: the caller decides (stale peer, dropped release)
  tx.on_ack(1);
  EXPECT_TRUE(tx.fits(1));
  tx.reset();
  EXPECT_EQ(tx.unacked_records(), 0u);
  EXPECT_EQ(tx.push(batch(3)), 1u);  // a new pair of incarnations starts at 1
}

// Random loss, duplication and reordering: everything arrives once, in order.
TEST(Channel, SurvivesAHostileNetwork) {
  std::mt19937_64 rng(42);
  Channel tx(1 << 20), rx(1 << 20);
  std::vector<std::uint64_t> got;
  auto deliver = [&](const std::vector<Record>& r) { got.push_back(std::get<record::Release>(r[0]).unit); };
  std::vector<std::pair<std::uint64_t, std::vector<Record>>> wire;
  std::uint64_t next = 0;
  for (std::uint64_t now = 0; now < 5'000; ++now) {
    if (next < 2'000) (void)tx.push(batch(next++));
    tx.due(now, 20, [&](std::uint64_t seq, const std::vector<Record>& r) {
      if (rng() % 4 == 0) return;  // lost
      wire.emplace_back(seq, r);
      if (rng() % 8 == 0) wire.emplace_back(seq, r);  // duplicated
    });
    std::shuffle(wire.begin(), wire.end(), rng);  // reordered
    const std::size_t n = wire.size() / 2;
    for (std::size_t i = 0; i < n; ++i) (void)rx.receive(wire[i].first, wire[i].second, deliver);
    wire.erase(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n));
    if (rng() % 3 != 0) tx.on_ack(rx.cumulative_ack());  // acks get lost too
  }
  ASSERT_EQ(got.size(), 2'000u);
  for (std::uint64_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i);
}

}  // namespace
}  // namespace uepool::set
