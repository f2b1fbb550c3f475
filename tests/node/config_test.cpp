// The set's configuration: a good file loads into pools, members and a
// plan; every error names its line and key, all at once.
#include "uepool/node/config.hpp"

#include <gtest/gtest.h>

namespace uepool::node {
namespace {

const char* kGood = R"(epoch: 1
lease_ms: 5000
curve: false
pools:
  - name: internet-v4
    prefix: 10.45.0.0/16
    unit_length: 32
    block_units: 256
    excluded: [10.45.0.1/32]
    static: [10.45.255.0/24]
  - name: internet-v6
    prefix: 2001:db8::/48
    unit_length: 64
    block_units: 1024
members:
  - {name: smf1, id: 1, endpoint: "tcp://127.0.0.1:7101"}
  - {name: smf2, id: 2, weight: 2, endpoint: "tcp://127.0.0.1:7102"}
  - {name: smf3, id: 3, endpoint: "tcp://127.0.0.1:7103"}
)";

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> out;
  for (const ConfigError& e : load_config(text).errors) out.push_back(e.to_string());
  return out;
}

TEST(Config, AGoodFileLoads) {
  const ConfigLoad c = load_config(kGood);
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].to_string();
  ASSERT_TRUE(c.config.has_value());
  const NodeConfig& cfg = *c.config;
  EXPECT_EQ(cfg.lease_ms, 5000u);
  EXPECT_FALSE(cfg.curve);
  ASSERT_EQ(cfg.pools.size(), 2u);
  EXPECT_EQ(cfg.pool_specs[0].units, 65536u);
  EXPECT_EQ(cfg.pool_specs[1].units, 65536u);  // a /48 of /64s
  EXPECT_EQ(cfg.pools[0].excluded.size(), 1u);
  ASSERT_NE(cfg.member("smf2"), nullptr);
  EXPECT_EQ(cfg.member("smf2")->weight, 2u);
  EXPECT_EQ(cfg.member("nobody"), nullptr);
  ASSERT_NE(cfg.plan, nullptr);
  EXPECT_EQ(cfg.plan->members().size(), 3u);
  EXPECT_GT(cfg.plan->units_of(0, 2), cfg.plan->units_of(0, 1));  // weight 2
}

TEST(Config, EveryErrorNamesItsLineAndKey) {
  std::string text = kGood;
  text.replace(text.find("prefix: 10.45.0.0/16"), 20, "prefix: 10.45.0.0/33");  // line 6
  text.replace(text.find("block_units: 1024"), 17, "block_units: 1000");        // line 14
  text.replace(text.find("id: 3"), 5, "id: 2");                                 // line 18
  text.replace(text.find("unit_length: 64"), 15, "unit_lenght: 64");            // line 13
  const std::vector<std::string> e = errors_of(text);
  ASSERT_EQ(e.size(), 5u) << ::testing::PrintToString(e);
  EXPECT_NE(e[0].find("line 6, key 'prefix': '10.45.0.0/33'"), std::string::npos) << e[0];
  EXPECT_EQ(e[1], "line 13, key 'unit_lenght': unknown key");
  EXPECT_NE(e[2].find("key 'unit_length': missing"), std::string::npos) << e[2];
  EXPECT_EQ(e[3], "line 14, key 'block_units': must be a power of two (64, 128, 256, ...)");
  EXPECT_EQ(e[4], "line 18, key 'id': id 2 is used twice");
}

TEST(Config, BadValuesAreRefusedWithTheirReason) {
  auto first = [](const std::string& text) {
    const auto e = errors_of(text);
    return e.empty() ? std::string("no error") : e[0];
  };
  EXPECT_NE(first("epoch: [1\n").find("not valid YAML"), std::string::npos);
  EXPECT_NE(first("- just a list\n").find("must be a map of keys"), std::string::npos);
  EXPECT_EQ(first("epoch: 1\nmembers: []\npools: []\n"), "line 3, key 'pools': must be a non-empty list of pools");
  std::string t = kGood;
  t.replace(t.find("excluded: [10.45.0.1/32]"), 24, "excluded: [10.46.0.1/32]");
  EXPECT_EQ(first(t), "line 9, key 'excluded': 10.46.0.1/32 is not inside the pool 10.45.0.0/16");
  t = kGood;
  t.replace(t.find("lease_ms: 5000"), 14, "lease_ms: soon");
  EXPECT_EQ(first(t), "line 2, key 'lease_ms': not a valid number: 'soon'");
  t = kGood;
  t.replace(t.find("curve: false"), 12, "curve: true");  // then every member needs a public key
  EXPECT_EQ(first(t), "line 16, key 'public_key': missing");
  t = kGood;
  t.replace(t.find("tcp://127.0.0.1:7101"), 20, "127.0.0.1:7101");
  EXPECT_EQ(first(t), "line 16, key 'endpoint': must be tcp://HOST:PORT, not '127.0.0.1:7101'");
  t = kGood;
  t.replace(t.find("unit_length: 32"), 15, "unit_length: 8");
  EXPECT_EQ(first(t), "line 7, key 'unit_length': out of range: 8 (allowed 16..32)");
  // A key given twice: YAML would keep the first value silently.
  EXPECT_EQ(first("epoch: 1\nepoch: 2\n"), "line 2, key 'epoch': given twice");
  t = kGood;
  t.replace(t.find("lease_ms: 5000"), 14, "lease_ms: 5000\nlease_ms: 100");
  EXPECT_EQ(first(t), "line 3, key 'lease_ms': given twice");
  // A retired member (gone for good) owns nothing: its weight must be 0.
  t = kGood;
  t.replace(t.find("id: 3,"), 6, "id: 3, retired: true,");
  EXPECT_EQ(first(t), "line 18, key 'retired': a retired member must have weight: 0 (it owns nothing, for good)");
  t.replace(t.find("retired: true,"), 14, "retired: true, weight: 0,");
  EXPECT_EQ(first(t), "no error");
  const ConfigLoad retired = load_config(t);
  ASSERT_TRUE(retired.config.has_value());
  EXPECT_TRUE(retired.config->member("smf3")->retired);
  EXPECT_TRUE(retired.config->plan->retired(3));
  EXPECT_EQ(retired.config->plan->units_of(0, 3), 0u);
}

}  // namespace
}  // namespace uepool::node
