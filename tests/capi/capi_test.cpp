// The C API (uepool/uepool.h) as an SMF in C meets it: creating members
// (and the errors that name what was wrong), three members over the
// embedding's own transport (allocate, dual-stack, claim, release at
// another member, bad bytes from the network), the audit through the
// read_held callback, and the built-in ZeroMQ transport with the library's
// own message loop. (Waits are liveness bounds, not timings.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "uepool/transport/tsan_suppressions.hpp"
#include "uepool/uepool.h"

extern "C" const char* __tsan_default_suppressions() {  // uepool/transport/tsan_suppressions.hpp says why
  return uepool::transport::kTsanZmqSuppressions;
}

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string config(const std::string& endpoints_base = "tcp://127.0.0.1:", int port = 1,
                   const std::string& extra = "") {
  std::string text = "epoch: 1\nlease_ms: 1000\ncurve: false\naudit_interval_ms: 0\naudit_grace_ms: 20\n" + extra +
                     "pools:\n"
                     "  - {name: v4, prefix: 10.45.0.0/20, unit_length: 32, block_units: 64, static: [10.45.15.0/24]}\n"
                     "  - {name: v6, prefix: \"2001:db8::/54\", unit_length: 64, block_units: 64}\nmembers:\n";
  for (int i = 1; i <= 3; ++i)
    text += "  - {name: smf" + std::to_string(i) + ", id: " + std::to_string(i) + ", endpoint: \"" + endpoints_base +
            std::to_string(port + i) + "\"}\n";
  return text;
}

struct Dirs {
  fs::path root;
  Dirs() {
    root = fs::temp_directory_path() / ("uepool-capi-test-" + std::to_string(::getpid()));
    fs::remove_all(root);
    for (int i = 1; i <= 3; ++i) fs::create_directories(root / ("smf" + std::to_string(i)));
  }
  ~Dirs() { fs::remove_all(root); }
  std::string dir(int i) const { return (root / ("smf" + std::to_string(i))).string(); }
};

TEST(CApi, CreateRefusesBadInputNamingWhatWasWrong) {
  Dirs d;
  char error[512];
  uepool_member* u = reinterpret_cast<uepool_member*>(1);
  uepool_options o = uepool_default_options();
  EXPECT_EQ(uepool_create(config().c_str(), &o, &u, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  EXPECT_EQ(u, nullptr);
  EXPECT_NE(std::string(error).find("options->member"), std::string::npos) << error;
  o.member = "smf9";
  const std::string dir = d.dir(1);
  o.data_dir = dir.c_str();
  EXPECT_EQ(uepool_create(config().c_str(), &o, &u, error, sizeof error), UEPOOL_BAD_CONFIG);
  EXPECT_STREQ(error, "no member named 'smf9' in the configuration");
  o.member = "smf1";
  EXPECT_EQ(uepool_create("epoch: 1\npools:\n  - {name: v4, prefix: 10.45.0.0/33}\n", &o, &u, error, sizeof error),
            UEPOOL_BAD_CONFIG);
  EXPECT_NE(std::string(error).find("line 3"), std::string::npos) << error;
  EXPECT_EQ(uepool_create(nullptr, &o, &u, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  EXPECT_EQ(uepool_create_from_file("/nonexistent/uepool.yaml", &o, &u, error, sizeof error), UEPOOL_IO);
  EXPECT_NE(std::string(error).find("cannot be read"), std::string::npos) << error;
  const std::string nowhere = (d.root / "nowhere").string();
  o.data_dir = nowhere.c_str();
  o.external_transport = 1;
  EXPECT_EQ(uepool_create(config().c_str(), &o, &u, error, sizeof error), UEPOOL_IO);
  EXPECT_NE(std::string(error).find("data folder"), std::string::npos) << error;
  EXPECT_EQ(u, nullptr);
  char tiny[4];
  o.member = nullptr;
  EXPECT_EQ(uepool_create(config().c_str(), &o, &u, tiny, sizeof tiny), UEPOOL_BAD_ARGUMENT);
  EXPECT_EQ(std::strlen(tiny), 3u);  // cut, and ended
  EXPECT_STREQ(uepool_status_name(UEPOOL_NOT_READY), "not_ready");
  EXPECT_STREQ(uepool_status_name(999), "unknown_status");
  uepool_destroy(nullptr);
}

// The held list the test's session store answers with (read_held).
struct Store {
  std::vector<uepool_lease> held;
  int reads = 0;
  static int read(void* user, uint32_t member, uepool_held_list* list) {
    auto* s = static_cast<Store*>(user);
    ++s->reads;
    for (const uepool_lease& l : s->held)
      if (l.pool < 2 && uepool_held_add(list, &l) != UEPOOL_OK) return 0;
    (void)member;
    return 1;
  }
};

// Three members whose network is the test (external transport).
struct Set {
  Dirs dirs;
  Store store;
  std::array<uepool_member*, 3> m{};
  std::array<uepool_worker*, 3> w{};
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(64 * 1024);
  std::function<bool(std::uint32_t, std::vector<std::uint8_t>&)> filter;  // false: the message is lost

  Set() {
    for (int i = 0; i < 3; ++i) {
      const std::string name = "smf" + std::to_string(i + 1);
      const std::string dir = dirs.dir(i + 1);
      uepool_options o = uepool_default_options();
      o.member = name.c_str();
      o.data_dir = dir.c_str();
      o.fresh = 1;
      o.external_transport = 1;
      o.read_held = &Store::read;
      o.read_held_user = &store;
      char error[512] = "";
      EXPECT_EQ(uepool_create(config().c_str(), &o, &m[i], error, sizeof error), UEPOOL_OK) << error;
      w[i] = uepool_worker_create(m[i]);
      EXPECT_NE(w[i], nullptr);
    }
  }
  ~Set() {
    for (uepool_member* u : m) uepool_destroy(u);
  }
  void round() {
    for (uepool_member* u : m) {
      if (u != nullptr) {
        ASSERT_EQ(uepool_step(u, 0), UEPOOL_OK);
      }
    }
    for (uepool_member* u : m) {
      if (u == nullptr) continue;  // gone (a test destroyed it)
      std::uint32_t to = 0;
      std::size_t size = 0;
      while (uepool_take(u, &to, buf.data(), buf.size(), &size) == UEPOOL_OK) {
        ASSERT_TRUE(to >= 1 && to <= 3) << to;
        std::vector<std::uint8_t> bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size));
        if ((filter && !filter(to, bytes)) || m[to - 1] == nullptr) continue;
        EXPECT_EQ(uepool_feed(m[to - 1], bytes.data(), bytes.size()), UEPOOL_OK);
      }
    }
  }
  uepool_stats stats(int i) {
    uepool_stats s{};
    EXPECT_EQ(uepool_stats_get(m[i], &s), UEPOOL_OK);
    return s;
  }
  bool until(const std::function<bool()>& done) {
    for (int i = 0; i < 5000; ++i) {
      if (done()) return true;
      round();
      std::this_thread::sleep_for(1ms);
    }
    return done();
  }
  bool ready() {
    return until([&] {
      for (int i = 0; i < 3; ++i)
        if (stats(i).phase != UEPOOL_PHASE_READY) return false;
      return true;
    });
  }
  uepool_status allocate_dual(int i, uepool_lease* l, uepool_address* a) {
    uepool_status s = UEPOOL_NOT_READY;
    for (int k = 0; k < 1000 && (s = uepool_allocate_dual(w[i], 0, 1, l, a)) == UEPOOL_NOT_READY; ++k) round();
    return s;
  }
  uepool_status allocate(int i, std::uint32_t pool, uepool_lease* l, uepool_address* a) {
    uepool_status s = UEPOOL_NOT_READY;
    for (int k = 0; k < 1000 && (s = uepool_allocate(w[i], pool, l, a)) == UEPOOL_NOT_READY; ++k) round();
    return s;
  }
};

TEST(CApi, ThreeMembersOverTheEmbeddingsOwnTransport) {
  Set set;
  ASSERT_TRUE(set.ready());
  EXPECT_EQ(uepool_member_id(set.m[1]), 2u);
  EXPECT_EQ(uepool_peer_id(set.m[0], "smf3"), 3u);
  EXPECT_EQ(uepool_peer_id(set.m[0], "smf9"), 0u);
  EXPECT_EQ(uepool_pool(set.m[0], "v6"), 1);
  EXPECT_EQ(uepool_pool(set.m[0], "v5"), -1);
  EXPECT_EQ(uepool_pool_count(set.m[0]), 2u);

  // Single and dual-stack allocations: addresses of the pools, none twice.
  std::set<std::string> seen;
  std::vector<uepool_lease> leases;
  for (int i = 0; i < 30; ++i) {
    uepool_lease l[2];
    uepool_address a[2];
    ASSERT_EQ(set.allocate_dual(i % 3, l, a), UEPOOL_OK) << i;
    char t4[48], t6[48];
    ASSERT_EQ(uepool_address_format(&a[0], t4, sizeof t4), UEPOOL_OK);
    ASSERT_EQ(uepool_address_format(&a[1], t6, sizeof t6), UEPOOL_OK);
    EXPECT_TRUE(std::string(t4).starts_with("10.45.") && std::string(t4).ends_with("/32")) << t4;
    EXPECT_TRUE(std::string(t6).starts_with("2001:db8:") && std::string(t6).ends_with("/64")) << t6;
    EXPECT_TRUE(seen.insert(t4).second && seen.insert(t6).second) << t4 << ' ' << t6;
    uepool_address back;
    ASSERT_EQ(uepool_lease_address(set.m[0], &l[1], &back), UEPOOL_OK);
    EXPECT_EQ(std::memcmp(&back, &a[1], sizeof back), 0);
    leases.push_back(l[0]);
    leases.push_back(l[1]);
  }
  EXPECT_EQ(uepool_allocate_dual(set.w[0], 0, 0, nullptr, nullptr), UEPOOL_BAD_ARGUMENT);
  uepool_lease one;
  EXPECT_EQ(uepool_allocate(set.w[0], 7, &one, nullptr), UEPOOL_NO_SUCH_POOL);
  ASSERT_EQ(set.allocate(2, 0, &one, nullptr), UEPOOL_OK);
  leases.push_back(one);

  // A static address (the UDM's): claimed at a member that does not own it.
  uepool_address st;
  ASSERT_EQ(uepool_address_parse("10.45.15.7/32", &st), UEPOOL_OK);
  uepool_lease claimed;
  ASSERT_EQ(uepool_claim(set.w[1], 0, &st, &claimed), UEPOOL_OK);
  uepool_address dyn;
  ASSERT_EQ(uepool_address_parse("10.45.0.7/32", &dyn), UEPOOL_OK);
  EXPECT_EQ(uepool_claim(set.w[1], 0, &dyn, &claimed), UEPOOL_NOT_STATIC);
  ASSERT_EQ(uepool_address_parse("10.46.0.7/32", &dyn), UEPOOL_OK);
  EXPECT_EQ(uepool_claim(set.w[1], 0, &dyn, &claimed), UEPOOL_OUT_OF_RANGE);
  EXPECT_EQ(uepool_address_parse("10.45.0.7/33", &dyn), UEPOOL_BAD_ARGUMENT);
  EXPECT_EQ(uepool_address_parse("ten", &dyn), UEPOOL_BAD_ARGUMENT);
  ASSERT_TRUE(set.until([&] {
    std::uint64_t in_use = 0;
    for (int i = 0; i < 3; ++i) in_use += set.stats(i).in_use_units;
    return in_use == leases.size() + 1;
  }));

  // The lease as text, and back.
  char token[96];
  ASSERT_EQ(uepool_lease_format(&leases[0], token, sizeof token), UEPOOL_OK);
  uepool_lease parsed;
  ASSERT_EQ(uepool_lease_parse(token, &parsed), UEPOOL_OK);
  EXPECT_EQ(std::memcmp(&parsed, &leases[0], sizeof parsed), 0);
  EXPECT_EQ(uepool_lease_parse("1.2.3", &parsed), UEPOOL_BAD_ARGUMENT);
  EXPECT_EQ(uepool_lease_format(&leases[0], token, 3), UEPOOL_BAD_ARGUMENT);

  // Bad bytes from the network: refused and counted, nothing held is lost.
  std::vector<std::uint8_t> garbage(48, 0x5a);
  EXPECT_EQ(uepool_feed(set.m[0], garbage.data(), garbage.size()), UEPOOL_BAD_FRAME);
  EXPECT_EQ(uepool_feed(set.m[0], garbage.data(), 3), UEPOOL_BAD_FRAME);
  EXPECT_EQ(uepool_feed(set.m[0], nullptr, 5), UEPOOL_BAD_ARGUMENT);
  // A frame for smf2 fed to smf1: refused as another member's.
  bool misdelivered = false;
  set.filter = [&](std::uint32_t to, std::vector<std::uint8_t>& bytes) {
    if (!misdelivered && to == 2) {
      misdelivered = true;
      EXPECT_EQ(uepool_feed(set.m[0], bytes.data(), bytes.size()), UEPOOL_BAD_FRAME);
    }
    return true;
  };
  ASSERT_TRUE(set.until([&] { return misdelivered; }));
  set.filter = nullptr;
  EXPECT_EQ(set.stats(0).bad_frames, 3u);
  // A buffer too small: the size it needs, and the message stays.
  ASSERT_EQ(uepool_step(set.m[0], 0), UEPOOL_OK);
  std::uint32_t to = 0;
  std::size_t need = 0;
  std::uint8_t small[4];
  const uepool_status t = uepool_take(set.m[0], &to, small, sizeof small, &need);
  if (t != UEPOOL_EMPTY) {
    EXPECT_EQ(t, UEPOOL_BAD_ARGUMENT);
    EXPECT_GT(need, sizeof small);
  }

  // Every session ends, half of them at another member than the owner.
  for (std::size_t i = 0; i < leases.size(); ++i)
    EXPECT_EQ(uepool_release(set.w[((i / 2) % 3 + (i / 2) % 2) % 3], &leases[i]), UEPOOL_OK);
  EXPECT_EQ(uepool_release(set.w[0], &claimed), UEPOOL_OK);
  // (A unit whose allocation serial wrapped with its release waits out the
  // repeat window: in use, not held by anyone.)
  ASSERT_TRUE(set.until([&] {
    std::uint64_t in_use = 0;
    for (int i = 0; i < 3; ++i) in_use += set.stats(i).in_use_units - set.stats(i).wrap_held_units;
    return in_use == 0;
  }));
  std::uint64_t forwarded = 0, stale = 0;
  for (int i = 0; i < 3; ++i) forwarded += set.stats(i).releases_forwarded, stale += set.stats(i).stale_releases;
  EXPECT_GT(forwarded, 0u);
  EXPECT_EQ(stale, 0u);
  // A repeated release: refused by the owner, never frees a later holder.
  EXPECT_EQ(uepool_release(set.w[1], &leases[0]), UEPOOL_OK);
  ASSERT_TRUE(set.until([&] {
    std::uint64_t s = 0;
    for (int i = 0; i < 3; ++i) s += set.stats(i).stale_releases;
    return s == 1;
  }));
  uepool_lease bogus = leases[0];
  bogus.pool = 9;
  EXPECT_EQ(uepool_release(set.w[0], &bogus), UEPOOL_NO_SUCH_POOL);
  EXPECT_EQ(uepool_start(set.m[0]), UEPOOL_OK);  // the library's loop from now on
  EXPECT_EQ(uepool_step(set.m[0], 0), UEPOOL_UNSUPPORTED);
  EXPECT_EQ(uepool_start(set.m[0]), UEPOOL_UNSUPPORTED);
}

// Re-division through the C API: smf3 leaves (weight 0); the sessions it
// allocated stay in use at the members that take its blocks, it hands out
// nothing more, and bad input is refused with a reason.
TEST(CApi, ALeaveMovesBlocksAndKeepsSessions) {
  Set set;
  ASSERT_TRUE(set.ready());
  std::vector<uepool_lease> leases;
  for (int i = 0; i < 10; ++i) {
    uepool_lease l;
    ASSERT_EQ(set.allocate(2, 0, &l, nullptr), UEPOOL_OK);
    leases.push_back(l);
  }
  const std::uint32_t ids[] = {1, 2, 3};
  const std::uint32_t leave[] = {1, 1, 0};
  char error[200] = "";
  EXPECT_EQ(uepool_set_membership(set.m[0], 1, ids, leave, 3, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  EXPECT_NE(std::string(error).find("another plan for this epoch"), std::string::npos) << error;
  const std::uint32_t none[] = {0, 0, 0};
  EXPECT_EQ(uepool_set_membership(set.m[0], 2, ids, none, 3, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  EXPECT_NE(std::string(error).find("every member weight is zero"), std::string::npos) << error;
  const std::uint32_t four[] = {1, 2, 3, 4};
  const std::uint32_t ones[] = {1, 1, 1, 1};
  EXPECT_EQ(uepool_set_membership(set.m[0], 2, four, ones, 4, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  EXPECT_NE(std::string(error).find("other members"), std::string::npos) << error;
  EXPECT_EQ(uepool_set_membership(set.m[0], 2, nullptr, leave, 3, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(uepool_set_membership(set.m[i], 2, ids, leave, 3, error, sizeof error), UEPOOL_OK) << error;
  ASSERT_TRUE(set.until([&] {
    for (int i = 0; i < 3; ++i)
      if (set.stats(i).settled != 1 || set.stats(i).epoch != 2) return false;
    return true;
  }));
  EXPECT_EQ(set.stats(2).owned_units, 0u);
  EXPECT_GT(set.stats(2).blocks_lost, 0u);
  EXPECT_EQ(set.stats(0).blocks_moved + set.stats(1).blocks_moved, set.stats(2).blocks_lost);
  EXPECT_EQ(set.stats(0).in_use_units + set.stats(1).in_use_units, leases.size());
  uepool_lease more;
  EXPECT_EQ(set.allocate(2, 0, &more, nullptr), UEPOOL_NONE_FREE);
  for (const uepool_lease& l : leases) EXPECT_EQ(uepool_release(set.w[2], &l), UEPOOL_OK);  // at the leaver
  ASSERT_TRUE(set.until([&] {
    return set.stats(0).in_use_units - set.stats(0).wrap_held_units + set.stats(1).in_use_units -
               set.stats(1).wrap_held_units ==
           0;
  }));
}

// A member gone for good, retired by the next epoch (UEPOOL_WEIGHT_RETIRED):
// the others take its blocks from the session store, the units its sessions
// hold stay theirs, and nothing is handed out twice.
TEST(CApi, ARetiredMembersBlocksAreTakenFromTheSessionStore) {
  Set set;
  ASSERT_TRUE(set.ready());
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 20; ++k) {
      uepool_lease l;
      ASSERT_EQ(set.allocate(i, 0, &l, nullptr), UEPOOL_OK);
      set.store.held.push_back(l);
    }
  for (int k = 0; k < 20; ++k) set.round();
  uepool_destroy(set.m[2]);  // smf3 is gone for good
  set.m[2] = nullptr;
  set.w[2] = nullptr;
  const std::uint32_t ids[] = {1, 2, 3};
  const std::uint32_t retire[] = {1, 1, UEPOOL_WEIGHT_RETIRED};
  const std::uint32_t back[] = {1, 1, 1};
  char error[200] = "";
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(uepool_set_membership(set.m[i], 2, ids, retire, 3, error, sizeof error), UEPOOL_OK) << error;
  EXPECT_EQ(uepool_set_membership(set.m[0], 3, ids, back, 3, error, sizeof error), UEPOOL_BAD_ARGUMENT);
  EXPECT_NE(std::string(error).find("retired member"), std::string::npos) << error;
  ASSERT_TRUE(set.until([&] {
    for (int i = 0; i < 2; ++i)
      if (set.stats(i).settled != 1 || set.stats(i).epoch != 2) return false;
    return true;
  })) << set.stats(0).epoch;
  EXPECT_GT(set.stats(0).blocks_moved + set.stats(1).blocks_moved, 0u);
  // The store lists every session (the SMF cannot know the plan): the
  // library keeps each member's own, so an audit reads a list it accepts.
  const std::uint64_t audits = set.stats(0).audits;
  ASSERT_EQ(uepool_audit(set.m[0]), UEPOOL_OK);
  EXPECT_TRUE(set.until([&] { return set.stats(0).audits > audits; })) << "the audit never finished";
  std::set<std::pair<std::uint32_t, std::uint64_t>> held;
  for (const uepool_lease& l : set.store.held) held.insert({l.pool, l.unit});
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 300; ++k) {
      uepool_lease l;
      ASSERT_EQ(set.allocate(i, 0, &l, nullptr), UEPOOL_OK);
      EXPECT_TRUE(held.insert({l.pool, l.unit}).second) << "unit " << l.unit << " handed out twice";
    }
}

TEST(CApi, TheAuditFreesWhatNoStoredSessionHolds) {
  Set set;
  ASSERT_TRUE(set.ready());
  uepool_lease kept, lost;
  ASSERT_EQ(set.allocate(0, 0, &kept, nullptr), UEPOOL_OK);
  ASSERT_EQ(set.allocate(0, 0, &lost, nullptr), UEPOOL_OK);  // its release never comes: a leak
  set.store.held = {kept};
  std::this_thread::sleep_for(50ms);  // past audit_grace: both allocations are older than the audit
  ASSERT_EQ(uepool_audit(set.m[0]), UEPOOL_OK);
  ASSERT_TRUE(set.until([&] { return set.stats(0).audits == 1; }));
  const uepool_stats s = set.stats(0);
  EXPECT_EQ(s.audit_freed, 1u);
  EXPECT_EQ(s.held_down_units, 1u);  // the freed unit, held down for a lease
  EXPECT_EQ(s.in_use_units, 2u);     // the kept one and the held-down one
  EXPECT_GE(set.store.reads, 2);
  // The audit ended the lost allocation: its late release is stale.
  EXPECT_EQ(uepool_release(set.w[0], &lost), UEPOOL_OK);
  ASSERT_TRUE(set.until([&] { return set.stats(0).stale_releases == 1; }));
  EXPECT_EQ(set.stats(0).in_use_units, 2u);
  EXPECT_EQ(set.stats(0).held_down_units, 1u);
}

TEST(CApi, TheBuiltInZeroMqTransportWithTheLibrarysOwnLoop) {
  Dirs d;
  const int base = 30000 + static_cast<int>(::getpid() % 900) * 3;  // apart from node_test's and control_test's
  const std::string text = config("tcp://127.0.0.1:", base);
  std::array<uepool_member*, 3> m{};
  for (int i = 0; i < 3; ++i) {
    const std::string name = "smf" + std::to_string(i + 1);
    const std::string dir = d.dir(i + 1);
    uepool_options o = uepool_default_options();
    o.member = name.c_str();
    o.data_dir = dir.c_str();
    o.fresh = 1;
    char error[512] = "";
    ASSERT_EQ(uepool_create(text.c_str(), &o, &m[i], error, sizeof error), UEPOOL_OK) << error;
    EXPECT_EQ(uepool_feed(m[i], nullptr, 0), UEPOOL_UNSUPPORTED);
    ASSERT_EQ(uepool_start(m[i]), UEPOOL_OK);
  }
  uepool_worker* w = uepool_worker_create(m[1]);
  ASSERT_NE(w, nullptr);
  uepool_lease l;
  uepool_status s = UEPOOL_NOT_READY;
  for (int i = 0; i < 2000 && (s = uepool_allocate(w, 1, &l, nullptr)) == UEPOOL_NOT_READY; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(s, UEPOOL_OK);
  char reason[256] = "x";
  EXPECT_EQ(uepool_not_ready_reason(m[1], reason, sizeof reason), UEPOOL_OK);
  EXPECT_STREQ(reason, "");
  uepool_worker* w3 = uepool_worker_create(m[2]);
  EXPECT_EQ(uepool_release(w3, &l), UEPOOL_OK);  // forwarded over ZeroMQ to smf2
  uepool_stats st{};
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(uepool_stats_get(m[1], &st), UEPOOL_OK);
    if (st.releases_received == 1 && st.in_use_units == 0) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(st.releases_received, 1u);
  EXPECT_EQ(st.in_use_units, 0u);
  EXPECT_GT(st.frames_received, 0u);
  EXPECT_EQ(st.peers, 2u);
  for (uepool_member* u : m) uepool_destroy(u);
}

}  // namespace
