// Three members of an SMF set, each with its own ZmqTransport (CurveZMQ on
// 127.0.0.1), run by one loop that does what a node's message thread does:
// receive frames, tick, send what the member has to say. The set comes up,
// every member hands out units, a release made at one member reaches the
// owner over the network, and a member that crashes and restarts (a new
// incarnation, a new transport) recovers from its peers' replicas.
// Time is milliseconds since the test started; waits are liveness bounds.
#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "uepool/set/member.hpp"
#include "uepool/transport/tsan_suppressions.hpp"
#include "uepool/transport/zmq_transport.hpp"

extern "C" const char* __tsan_default_suppressions() {  // uepool/transport/tsan_suppressions.hpp says why
  return uepool::transport::kTsanZmqSuppressions;
}

namespace uepool::transport {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const set::Plan> plan() {
  std::vector<set::MemberSpec> specs = {{1, 1}, {2, 1}, {3, 1}};
  std::vector<set::PoolSpec> pools = {{"v4", 1024, 64}};
  return std::make_shared<const set::Plan>(set::Plan::create(1, specs, pools).value());
}

core::PoolConfig pool() {
  core::PoolConfig c;
  c.name = "v4";
  c.prefix = net::Prefix::parse("10.1.0.0/22").value();
  c.unit_length = 32;
  return c;
}

// Store — the set's session store: the leases this test holds. The audit
// reads it (after a restart, the quarantined units of the windows the old
// incarnation had open are freed once no session is found holding them).
class Store final : public set::SessionStore {
 public:
  bool read_held(std::uint32_t owner, const set::Plan& plan, std::vector<set::Lease>& out) override {
    for (const auto& [key, l] : held)
      if (plan.owner(l.pool, l.unit) == owner) out.push_back(l);
    return true;
  }
  std::map<std::uint64_t, set::Lease> held;  // unit -> lease
};

struct Node {
  CurveKeys keys;
  std::unique_ptr<ZmqTransport> transport;
  std::unique_ptr<set::Member> member;
  set::Member::Worker* worker = nullptr;
};

class SetOverZmq {
 public:
  SetOverZmq() : plan_(plan()), start_(std::chrono::steady_clock::now()) {
    for (std::uint32_t id = 1; id <= 3; ++id) nodes_[id].keys = make_curve_keys().value();
    for (std::uint32_t id = 1; id <= 3; ++id) start(id, /*fresh=*/true);
  }

  // start — a new incarnation of `id` with a new transport (a new port);
  // its peers learn the new endpoint (the configuration of a real set).
  void start(std::uint32_t id, bool fresh) {
    Node& n = nodes_[id];
    n.member.reset();
    n.transport.reset();
    ZmqOptions o;
    o.id = id;
    o.keys = n.keys;
    o.heartbeat_ms = 200;
    auto t = ZmqTransport::create(o);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    n.transport = std::move(t.value());
    set::MemberOptions mo;
    mo.id = id;
    mo.plan = plan_;
    mo.pools = {pool()};
    mo.fresh = fresh;
    mo.nonce = ++nonce_;
    mo.lease = 1'000;  // ms
    mo.store = &store_;
    mo.audit_interval = 300;
    mo.audit_grace = 50;
    mo.retransmit = 50;
    mo.heartbeat = 20;
    mo.release_repeat_window = 200;  // ms: a unit whose serial wraps is free again soon
    auto m = set::Member::create(mo);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    n.member = std::move(m.value());
    n.worker = n.member->create_worker();
    for (auto& [pid, p] : nodes_) {
      if (pid == id || !p.transport) continue;
      ASSERT_TRUE(n.transport->add_peer({pid, p.transport->bound_endpoint(), p.keys.public_key}).ok());
      ASSERT_TRUE(p.transport->add_peer({id, n.transport->bound_endpoint(), n.keys.public_key}).ok());
    }
  }

  std::uint64_t now() const {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count() + 1);
  }

  // loop — one round of every node's message thread.
  void loop() {
    for (auto& [id, n] : nodes_) {
      if (!n.member) continue;
      std::vector<set::Frame> in;
      ASSERT_TRUE(n.transport->receive(1, in).ok());
      for (const set::Frame& f : in) n.member->on_frame(f, now());
      n.member->on_tick(now());
      for (const set::Frame& f : n.member->take_outgoing()) (void)n.transport->send(f);
    }
  }

  // run_until — loop until `done` or the deadline; returns done().
  template <class F>
  bool run_until(F done, std::chrono::seconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) loop();
    return done();
  }

  bool all_ready() const {
    for (const auto& [id, n] : nodes_)
      if (!n.member || !n.member->ready()) return false;
    return true;
  }

  Node& node(std::uint32_t id) { return nodes_[id]; }
  Store& store() { return store_; }
  const set::Plan& the_plan() const { return *plan_; }

 private:
  std::shared_ptr<const set::Plan> plan_;
  std::chrono::steady_clock::time_point start_;
  Store store_;  // before nodes_: members hold a pointer to it
  std::map<std::uint32_t, Node> nodes_;
  std::uint64_t nonce_ = 1000;
};

// allocate_at — one unit at `id`, looping while its first windows are acknowledged.
set::Lease allocate_at(SetOverZmq& s, std::uint32_t id) {
  set::MemberAllocation a;
  s.run_until([&] {
    a = s.node(id).member->allocate(*s.node(id).worker, 0);
    return a.ok();
  });
  EXPECT_TRUE(a.ok()) << set::member_status_name(a.status);
  if (a.ok()) s.store().held[a.lease.unit] = a.lease;  // the SMF stores its session
  return a.lease;
}

TEST(SetOverZmq, AllocatesReleasesAndRecoversAcrossTheNetwork) {
  SetOverZmq s;
  ASSERT_TRUE(s.run_until([&] { return s.all_ready(); }));
  std::map<std::uint32_t, set::Lease> leases;
  for (std::uint32_t id = 1; id <= 3; ++id) {
    leases[id] = allocate_at(s, id);
    EXPECT_EQ(s.the_plan().owner(0, leases[id].unit), id);
  }
  // A release made at member 2 for member 1's unit travels to member 1.
  const set::Lease l1 = leases[1];
  s.store().held.erase(l1.unit);
  s.node(2).member->release(*s.node(2).worker, l1);
  ASSERT_TRUE(s.run_until([&] { return !s.node(1).member->in_use(0, l1.unit); }))
      << "the release never reached the owner";
  // Member 3's unit is streamed to its peers; member 3 crashes and restarts:
  // the new incarnation recovers the unit in use from their replicas. The
  // units of windows it had open are quarantined (the old incarnation may
  // have handed them out); its audit frees those no stored session holds,
  // a lease after the recovery, and then it hands units out again.
  const set::Lease l3 = leases[3];
  ASSERT_TRUE(s.run_until(
      [&] { return s.node(1).member->has_complete_replica(3) && s.node(2).member->has_complete_replica(3); }));
  s.loop();
  s.start(3, /*fresh=*/false);
  ASSERT_TRUE(s.run_until([&] { return s.node(3).member->ready(); })) << s.node(3).member->not_ready_reason();
  EXPECT_TRUE(s.node(3).member->in_use(0, l3.unit)) << "the recovered member lost a unit in use";
  EXPECT_EQ(s.node(3).member->counters().rebuilds, 0u);  // recovered from replicas, not rebuilt
  const set::Lease again = allocate_at(s, 3);
  EXPECT_NE(again.unit, l3.unit);
  for (std::uint32_t id = 1; id <= 3; ++id) {
    const TransportCounters c = s.node(id).transport->counters();
    EXPECT_EQ(c.impostors, 0u);
    EXPECT_EQ(c.decode_errors, 0u);
    EXPECT_GT(c.received, 0u);
  }
}

}  // namespace
}  // namespace uepool::transport
