// The control interface: the LEASE token, the held-list store's tickets,
// each request against a running set of three in-process nodes (their
// message loop on a thread of the test, as in `uepool node`), the Unix
// socket server (several lines, a line too long), and the /metrics page.
// (Waits are liveness bounds, not timings.)
#include "uepool/node/control.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "uepool/node/metrics.hpp"
#include "uepool/node/node.hpp"
#include "uepool/transport/tsan_suppressions.hpp"

extern "C" const char* __tsan_default_suppressions() {  // uepool/transport/tsan_suppressions.hpp says why
  return uepool::transport::kTsanZmqSuppressions;
}

namespace uepool::node {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(LeaseToken, RoundTripsEveryField) {
  const set::Lease l{3, 123456789012ULL, {7, 42}, 99, 13, 0xFEDCBA9876543210ULL};
  const std::string t = format_lease(l);
  EXPECT_EQ(t, "3.123456789012.7.42.99.13.18364758544493064720");
  auto back = parse_lease(t);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back.value(), l);
}

TEST(LeaseToken, RefusesMalformedTokens) {
  for (const char* bad : {"", "1.2.3.4.5.6", "1.2.3.4.5.6.7.8", "1.2.3.4.5.6.", ".1.2.3.4.5.6", "1.2.3.4.5.256.7",
                          "1.2.3.4.5.6.x", "-1.2.3.4.5.6.7", "01.2.3.4.5.6.7", "4294967296.2.3.4.5.6.7",
                          "1.2.3.4.5.6.18446744073709551616", "1..3.4.5.6.7", "1.2.3.4.5.6.7 "}) {
    EXPECT_FALSE(parse_lease(bad).ok()) << "'" << bad << "'";
  }
}

TEST(HeldListStore, AnswersOnlyTheCurrentTicketAndKeepsTheOwnersUnits) {
  const std::vector<set::MemberSpec> members{{1, 1}, {2, 1}};
  const std::vector<set::PoolSpec> pools{{"v4", 1024, 64}};
  const set::Plan plan = set::Plan::create(1, members, pools).value();
  HeldListStore store;
  std::vector<set::Lease> out;
  EXPECT_FALSE(store.wanted().has_value());                    // nobody asked
  EXPECT_FALSE(store.add(1, {}).ok());                         // no ticket issued yet
  EXPECT_FALSE(store.read_held(1, plan, out));                 // asks: ticket 1
  ASSERT_EQ(store.wanted(), std::optional<std::uint64_t>(1));  //
  EXPECT_FALSE(store.read_held(1, plan, out));                 // still unanswered: the same ticket
  EXPECT_EQ(store.wanted(), std::optional<std::uint64_t>(1));
  EXPECT_FALSE(store.add(2, {}).ok());  // a ticket never issued

  std::vector<set::Lease> all;
  for (std::uint64_t u = 0; u < 1024; u += 16) all.push_back(set::Lease{0, u, {1, 1}, 0, 1, 5});
  all.push_back(set::Lease{0, 5000, {1, 1}, 0, 1, 5});  // beyond the pool: dropped, not refused
  all.push_back(set::Lease{9, 1, {1, 1}, 0, 1, 5});     // no such pool: dropped
  ASSERT_TRUE(store.add(1, all).ok());
  EXPECT_FALSE(store.read_held(1, plan, out));  // not complete yet
  ASSERT_TRUE(store.end(1).ok());
  EXPECT_FALSE(store.wanted().has_value());
  EXPECT_FALSE(store.end(1).ok());  // once
  ASSERT_TRUE(store.read_held(1, plan, out));
  std::size_t owned = 0;
  for (std::uint64_t u = 0; u < 1024; u += 16) owned += plan.owner(0, u) == 1 ? 1 : 0;
  ASSERT_EQ(out.size(), owned);
  for (const set::Lease& l : out) EXPECT_EQ(plan.owner(l.pool, l.unit), 1u);
  EXPECT_EQ(store.lists_read(), 1u);
  // The next read asks again, with a new ticket: the old one is refused.
  out.clear();
  EXPECT_FALSE(store.read_held(1, plan, out));
  EXPECT_EQ(store.wanted(), std::optional<std::uint64_t>(2));
  EXPECT_FALSE(store.add(1, all).ok());
}

// A set of three nodes (curve off), its message loops on one thread.
struct Set {
  fs::path dir;
  NodeConfig config;
  std::vector<std::unique_ptr<Node>> nodes;
  std::atomic<bool> stop{false};
  std::thread loop;

  Set() {
    dir = fs::temp_directory_path() / ("uepool-control-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    // Ports 5001..9802: apart from node_test's and node_cli_test.sh's, below the ephemeral range.
    const int base = 5000 + static_cast<int>(::getpid() % 1600) * 3;
    std::string text =
        "epoch: 1\nlease_ms: 1000\ncurve: false\naudit_interval_ms: 0\naudit_grace_ms: 50\npools:\n"
        "  - {name: v4, prefix: 10.45.0.0/22, unit_length: 32, block_units: 64, static: [10.45.2.0/23]}\n"
        "  - {name: v6, prefix: \"2001:db8::/54\", unit_length: 64, block_units: 64}\nmembers:\n";
    for (int i = 1; i <= 3; ++i) {
      fs::create_directories(dir / ("smf" + std::to_string(i)));
      text += "  - {name: smf" + std::to_string(i) + ", id: " + std::to_string(i) +
              ", endpoint: \"tcp://127.0.0.1:" + std::to_string(base + i) + "\"}\n";
    }
    ConfigLoad c = load_config(text);
    EXPECT_TRUE(c.errors.empty()) << c.errors[0].to_string();
    config = *c.config;
    for (int i = 1; i <= 3; ++i) {
      const std::string name = "smf" + std::to_string(i);
      auto n = Node::create({config, name, (dir / name).string(), "", true, /*session_store=*/true});
      EXPECT_TRUE(n.ok()) << n.status().to_string();
      nodes.push_back(std::move(n.value()));
    }
  }
  void run() {
    loop = std::thread([this] {
      while (!stop.load())
        for (auto& n : nodes) n->step(1);
      for (auto& n : nodes) n->close_calls();
    });
  }
  ~Set() {
    stop.store(true);
    if (loop.joinable()) loop.join();
    nodes.clear();
    fs::remove_all(dir);
  }
};

// until — ask `control` `line` until the reply starts with `want` (20 s at most).
std::string until(Control& control, const std::string& line, const std::string& want) {
  std::string r;
  for (int i = 0; i < 2000; ++i) {
    r = control.execute(line);
    if (r.starts_with(want)) return r;
    std::this_thread::sleep_for(10ms);
  }
  return r;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = s.find(' ', i);
    out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

TEST(Control, ServesAllocateReleaseClaimAndTheAudit) {
  Set set;
  Control c1(*set.nodes[0], set.nodes[0]->held_lists());
  Control c2(*set.nodes[1], set.nodes[1]->held_lists());
  set.run();
  ASSERT_TRUE(until(c1, "state", "ok member=1 phase=ready").starts_with("ok member=1 phase=ready"));
  const std::string a = until(c1, "allocate v4", "ok ");
  ASSERT_TRUE(a.starts_with("ok ")) << a;
  const auto aw = words(a);
  ASSERT_EQ(aw.size(), 3u) << a;
  const set::Lease lease = parse_lease(aw[1]).value();
  EXPECT_EQ(lease.pool, 0u);
  EXPECT_EQ(set.config.plan->owner(0, lease.unit), 1u);  // a unit of the member asked
  EXPECT_EQ(aw[2], set.config.pools[0].prefix.nth(32, lease.unit).value().to_string());

  const auto dw = words(until(c1, "allocate-dual v4 1", "ok "));
  ASSERT_EQ(dw.size(), 5u);
  EXPECT_EQ(parse_lease(dw[3]).value().pool, 1u);
  EXPECT_TRUE(dw[4].starts_with("2001:db8:")) << dw[4];
  EXPECT_TRUE(dw[4].ends_with("/64")) << dw[4];

  // Released at another member: forwarded to the owner, which applies it.
  EXPECT_EQ(c2.execute("release " + aw[1]), "ok");
  // A static unit (one member 1 owns): claimed by prefix; a dynamic one cannot be claimed.
  std::uint64_t st_unit = 512;
  while (st_unit < 1024 && set.config.plan->owner(0, st_unit) != 1) st_unit += 64;
  ASSERT_LT(st_unit, 1024u) << "the plan gives member 1 no block of the static /23";
  const std::string st_prefix = set.config.pools[0].prefix.nth(32, st_unit + 5).value().to_string();
  const std::string cl = c1.execute("claim v4 " + st_prefix);
  ASSERT_TRUE(cl.starts_with("ok ")) << cl;
  EXPECT_EQ(parse_lease(words(cl)[1]).value().unit, st_unit + 5);
  EXPECT_TRUE(c1.execute("claim v4 10.45.0.5/32").starts_with("err not_static")) << c1.execute("claim v4 10.45.0.5/32");

  // Bad input: a clear error, nothing changes.
  EXPECT_TRUE(c1.execute("allocate v5").starts_with("err no_such_pool"));
  EXPECT_TRUE(c1.execute("allocate").starts_with("err bad_request usage: allocate POOL"));
  EXPECT_TRUE(c1.execute("release 0.99999.1.1.0.0.0").starts_with("err out_of_range"));
  EXPECT_TRUE(c1.execute("release 7.1.1.1.0.0.0").starts_with("err no_such_pool"));
  EXPECT_TRUE(c1.execute("release 0.1.1.1.0.0").starts_with("err bad_lease"));
  EXPECT_TRUE(c1.execute("claim v4 10.45.3.5/31").starts_with("err bad_prefix"));
  EXPECT_TRUE(c1.execute("claim v4 10.46.0.1/32").starts_with("err bad_prefix"));
  EXPECT_TRUE(c1.execute("claim v4 ten").starts_with("err bad_prefix"));
  EXPECT_TRUE(c1.execute("frobnicate").starts_with("err bad_request unknown command 'frobnicate'"));
  EXPECT_TRUE(c1.execute("").starts_with("err bad_request"));
  EXPECT_TRUE(c1.execute("membership 2").starts_with("err bad_request usage: membership EPOCH NAME=WEIGHT"));
  EXPECT_TRUE(c1.execute("membership 2 smf1=1 smf2=1 smf9=1").starts_with("err bad_membership no member named 'smf9'"));
  EXPECT_TRUE(
      c1.execute("membership 2 smf1=1 smf1=1 smf2=1").starts_with("err bad_membership member 'smf1' named twice"));
  EXPECT_TRUE(c1.execute("membership 2 smf1=1 smf2=x smf3=1").starts_with("err bad_membership 'smf2=x'"));
  EXPECT_TRUE(c1.execute("membership 1 smf1=2 smf2=1 smf3=1").starts_with("err bad_membership another plan"));
  EXPECT_TRUE(c1.execute("membership 2 smf1=0 smf2=0 smf3=0").starts_with("err bad_membership every member weight"));
  EXPECT_TRUE(c1.execute("membership 2 smf1=1 smf2=1 smf3=gone")
                  .starts_with("err bad_membership 'smf3=gone' is not "
                               "NAME=WEIGHT or NAME=retired"));
  EXPECT_TRUE(c1.execute("held 1 0.1.1.1.0.0.x").starts_with("err bad_lease lease 1"));
  EXPECT_TRUE(c1.execute("held-end 999").starts_with("err stale_ticket"));

  // The release of `a` (forwarded by member 2) and the claim are applied:
  // in use at member 1 are the dual-stack session's two units and the claim.
  std::string st = until(c1, "state", "ok member=1 phase=ready generation=1 nonce=");
  for (int i = 0; i < 2000 && st.find(" in_use=3 ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
    st = c1.execute("state");
  }
  ASSERT_NE(st.find(" in_use=3 "), std::string::npos) << st;
  // The audit: held lists that name the dual-stack session only. The claim
  // is not listed (no stored session holds it), so the audit frees it.
  ASSERT_EQ(c1.execute("audit"), "ok");
  int answered = 0;
  for (int i = 0; i < 2000 && answered < 8; ++i) {
    const auto t = words(c1.execute("held-wanted"));
    if (t.size() == 2 && t[1] != "none") {
      EXPECT_EQ(c1.execute("held " + t[1] + " " + dw[1]), "ok 1");
      EXPECT_EQ(c1.execute("held " + t[1] + " " + dw[3]), "ok 1");
      EXPECT_EQ(c1.execute("held-end " + t[1]), "ok");
      ++answered;
    }
    st = c1.execute("state");
    if (st.find(" audits=1 ") != std::string::npos) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_NE(st.find(" audits=1 "), std::string::npos) << st;
  EXPECT_NE(st.find(" audit_freed=1 "), std::string::npos) << st;  // the claimed static unit, held by no session
  EXPECT_NE(st.find(" in_use=2 "), std::string::npos) << st;

  std::string page;
  ASSERT_TRUE(set.nodes[0]->run([&] { page = render_metrics(*set.nodes[0]); }));
  EXPECT_NE(page.find("uepool_member_ready{member=\"smf1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("uepool_allocations_total{member=\"smf1\",pool=\"v4\"} 2\n"), std::string::npos);
  EXPECT_NE(page.find("uepool_audits_total{member=\"smf1\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("uepool_releases_total{member=\"smf1\",stage=\"received\"} 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("uepool_control_requests_refused_total{member=\"smf1\"} 19\n"), std::string::npos) << page;
}

int connect_to(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// read_lines — read until `n` newline-ended lines arrived (or 20 s).
std::vector<std::string> read_lines(int fd, std::size_t n) {
  std::vector<std::string> lines;
  std::string buf;
  char b[4096];
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while (lines.size() < n) {
    const ssize_t k = ::read(fd, b, sizeof(b));
    if (k <= 0) break;
    buf.append(b, static_cast<std::size_t>(k));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      lines.push_back(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  }
  return lines;
}

// A leave over the control interface: smf1 gets weight 0; its blocks move
// to smf2 and smf3 with the sessions holding units there, and it hands out
// nothing more.
TEST(Control, MembershipMovesBlocksBetweenNodes) {
  Set set;
  std::vector<std::unique_ptr<Control>> c;
  for (int i = 0; i < 3; ++i) c.push_back(std::make_unique<Control>(*set.nodes[i], set.nodes[i]->held_lists()));
  set.run();
  std::vector<std::string> leases;
  for (int k = 0; k < 20; ++k) {
    const std::string r = until(*c[0], "allocate v4", "ok ");
    ASSERT_TRUE(r.starts_with("ok ")) << r;
    leases.push_back(words(r)[1]);
  }
  for (auto& ctl : c) ASSERT_EQ(ctl->execute("membership 2 smf1=0 smf2=1 smf3=1"), "ok target_epoch=2");
  std::vector<std::string> st(3);
  for (int i = 0; i < 3; ++i) {
    st[i] = until(*c[i], "state", "ok member=");
    for (int k = 0; k < 2000 && st[i].find(" settled=1 ") == std::string::npos; ++k) {
      std::this_thread::sleep_for(10ms);
      st[i] = c[i]->execute("state");
    }
    ASSERT_NE(st[i].find(" epoch=2 target_epoch=2 settled=1 "), std::string::npos) << st[i];
  }
  auto field = [](const std::string& s, const std::string& key) {
    const auto at = s.find(" " + key + "=");
    return std::stoull(s.substr(at + key.size() + 2));
  };
  EXPECT_EQ(field(st[0], "owned"), 0u);
  EXPECT_GT(field(st[0], "blocks_lost"), 0u);
  EXPECT_EQ(field(st[1], "blocks_moved") + field(st[2], "blocks_moved"), field(st[0], "blocks_lost"));
  // The 20 units smf1 handed out are in use at their new owners (and the
  // static units the pool's configuration claims none of).
  EXPECT_GE(field(st[1], "in_use") + field(st[2], "in_use"), 20u);
  EXPECT_TRUE(c[0]->execute("allocate v4").starts_with("err none_free")) << c[0]->execute("allocate v4");
  EXPECT_TRUE(until(*c[1], "allocate v4", "ok ").starts_with("ok "));
  // Released at smf1 (the old owner): forwarded to the new one.
  for (const std::string& l : leases) EXPECT_EQ(c[0]->execute("release " + l), "ok");
}

TEST(ControlServer, AnswersEachLineInOrderAndSurvivesALineTooLong) {
  Set set;
  const std::string path = (set.dir / "smf1.sock").string();
  auto server = ControlServer::start(*set.nodes[0], set.nodes[0]->held_lists(), path);
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  set.run();
  const int fd = connect_to(path);
  ASSERT_GE(fd, 0);
  std::string req = "help\r\n" + std::string(ControlServer::kMaxLineBytes + 10, 'x') + "\nstate\nallocate v9\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  const auto lines = read_lines(fd, 4);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].starts_with("ok allocate")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("err line_too_long")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with("ok member=1 ")) << lines[2];
  EXPECT_TRUE(lines[3].starts_with("err no_such_pool")) << lines[3];
  // A second client at once; the first one hanging up harms nobody.
  const int fd2 = connect_to(path);
  ::close(fd);
  ASSERT_EQ(::write(fd2, "help\n", 5), 5);
  EXPECT_EQ(read_lines(fd2, 1).size(), 1u);
  ::close(fd2);
  // A second server on the same path while the first runs: the path is
  // replaced only if it is a socket; a plain file there is refused.
  const std::string file = (set.dir / "plain").string();
  std::ofstream(file) << "x";
  EXPECT_FALSE(ControlServer::start(*set.nodes[1], nullptr, file).ok());
  server.value().reset();
  EXPECT_FALSE(fs::exists(path));  // removed on stop
}

}  // namespace
}  // namespace uepool::node
