// Three nodes of a set on 127.0.0.1 (CurveZMQ, keys in files), from one
// configuration text: they come up on the set's first start, hand out
// units, and a node restarted with --fresh again does not take it (its
// generation file says it ran before): it recovers from its peers, with a
// higher generation saved. (Waits are liveness bounds, not timings.)
#include "uepool/node/node.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "uepool/transport/tsan_suppressions.hpp"

extern "C" const char* __tsan_default_suppressions() {  // uepool/transport/tsan_suppressions.hpp says why
  return uepool::transport::kTsanZmqSuppressions;
}

namespace uepool::node {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Fixture {
  fs::path dir;
  NodeConfig config;
  std::map<std::string, std::unique_ptr<Node>> nodes;

  Fixture() {
    dir = fs::temp_directory_path() / ("uepool-node-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    // Ports 20001..30003: below the kernel's ephemeral range (32768..) that other
    // tests bind "*" in, and apart from node_cli_test.sh's 10001..20003.
    const int base = 20000 + static_cast<int>(::getpid() % 10000);
    std::string text =
        "epoch: 1\nlease_ms: 1000\ncurve: true\npools:\n"
        "  - {name: v4, prefix: 10.45.0.0/22, unit_length: 32, block_units: 64}\nmembers:\n";
    for (int i = 1; i <= 3; ++i) {
      const auto keys = transport::make_curve_keys().value();
      const fs::path key_file = dir / ("smf" + std::to_string(i) + ".key");
      std::ofstream(key_file) << keys.secret_key << "\n";
      fs::create_directories(dir / ("smf" + std::to_string(i)));
      text += "  - {name: smf" + std::to_string(i) + ", id: " + std::to_string(i) +
              ", endpoint: \"tcp://127.0.0.1:" + std::to_string(base + i) + "\", public_key: \"" + keys.public_key +
              "\", secret_key_file: \"" + key_file.string() + "\"}\n";
    }
    ConfigLoad c = load_config(text);
    EXPECT_TRUE(c.errors.empty()) << c.errors[0].to_string();
    config = *c.config;
  }
  ~Fixture() {
    nodes.clear();
    fs::remove_all(dir);
  }

  void start(const std::string& name, bool fresh) {
    nodes.erase(name);
    auto n = Node::create({config, name, (dir / name).string(), "", fresh});
    ASSERT_TRUE(n.ok()) << n.status().to_string();
    nodes[name] = std::move(n.value());
  }

  template <class F>
  bool run_until(F done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline)
      for (auto& [name, n] : nodes) n->step(1);
    return done();
  }
};

TEST(Node, ASetComesUpAndARestartedNodeRecovers) {
  Fixture f;
  for (const char* n : {"smf1", "smf2", "smf3"}) f.start(n, /*fresh=*/true);
  ASSERT_TRUE(f.run_until([&] {
    for (auto& [name, n] : f.nodes)
      if (!n->member().ready()) return false;
    return true;
  }));
  for (auto& [name, n] : f.nodes) EXPECT_EQ(n->member().incarnation().generation, 1u);
  set::MemberAllocation a;
  ASSERT_TRUE(f.run_until([&] {
    a = f.nodes["smf2"]->member().allocate(f.nodes["smf2"]->worker(), 0);
    return a.ok();
  }));
  ASSERT_TRUE(f.run_until([&] {
    return f.nodes["smf1"]->member().has_complete_replica(2) && f.nodes["smf3"]->member().has_complete_replica(2);
  }));
  std::ifstream gen1(f.dir / "smf2" / "generation");
  std::uint32_t saved = 0;
  gen1 >> saved;
  EXPECT_EQ(saved, 1u);

  f.start("smf2", /*fresh=*/true);  // ran before: not fresh
  ASSERT_TRUE(f.run_until([&] { return f.nodes["smf2"]->member().ready(); }))
      << f.nodes["smf2"]->member().not_ready_reason();
  EXPECT_GT(f.nodes["smf2"]->member().incarnation().generation, 1u);
  EXPECT_TRUE(f.nodes["smf2"]->member().in_use(0, a.lease.unit)) << "recovered without the unit in use";
  std::ifstream gen2(f.dir / "smf2" / "generation");
  gen2 >> saved;
  EXPECT_EQ(saved, f.nodes["smf2"]->member().incarnation().generation);
}

TEST(Node, BadOptionsAreRefusedWithTheirReason) {
  Fixture f;
  EXPECT_EQ(Node::create({f.config, "smf9", f.dir.string(), "", false}).status().reason(),
            std::string("no member of that name in the configuration"));
  EXPECT_EQ(Node::create({f.config, "smf1", "", "", false}).status().reason(),
            std::string("no data folder for the generation file"));
  EXPECT_EQ(Node::create({f.config, "smf1", (f.dir / "nowhere").string(), "", false}).status().reason(),
            std::string("the data folder does not exist or cannot be written"));
  NodeConfig no_key = f.config;
  no_key.members[0].secret_key_file = (f.dir / "missing.key").string();
  EXPECT_EQ(Node::create({no_key, "smf1", f.dir.string(), "", false}).status().reason(),
            std::string("secret key file cannot be read"));
}

}  // namespace
}  // namespace uepool::node
