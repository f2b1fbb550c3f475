// The configuration loader. See uepool/node/config.hpp.
#include "uepool/node/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <bit>
#include <set>

namespace uepool::node {

std::string ConfigError::to_string() const {
  std::string s = line > 0 ? "line " + std::to_string(line) : std::string("configuration");
  if (!key.empty()) s += ", key '" + key + "'";
  return s + ": " + message;
}

const MemberConfig* NodeConfig::member(const std::string& name) const {
  for (const MemberConfig& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

namespace {

// Checker — walks the YAML tree, collecting every error with its line.
class Checker {
 public:
  std::vector<ConfigError> errors;

  void error(const YAML::Node& at, const std::string& key, const std::string& message) {
    errors.push_back({at.Mark().line >= 0 ? at.Mark().line + 1 : 0, key, message});
  }

  // keys — refuse keys not in `known` (a misspelt key must not be ignored)
  // and a key given twice in one map (YAML would keep the first silently).
  void keys(const YAML::Node& map, std::initializer_list<const char*> known) {
    std::vector<std::string> seen;
    for (const auto& kv : map) {
      const std::string k = kv.first.Scalar();
      bool ok = false;
      for (const char* n : known) ok = ok || k == n;
      if (!ok) error(kv.first, k, "unknown key");
      if (std::find(seen.begin(), seen.end(), k) != seen.end()) error(kv.first, k, "given twice");
      seen.push_back(k);
    }
  }

  template <class T>
  std::optional<T> scalar(const YAML::Node& map, const char* key, bool required, T low, T high) {
    const YAML::Node n = map[key];
    if (!n) {
      if (required) error(map, key, "missing");
      return std::nullopt;
    }
    if (!n.IsScalar()) {
      error(n, key, "must be a single value");
      return std::nullopt;
    }
    T v{};
    if (!YAML::convert<T>::decode(n, v)) {
      error(n, key,
            "not a valid " + std::string(std::is_same_v<T, bool> ? "true/false" : "number") + ": '" + n.Scalar() + "'");
      return std::nullopt;
    }
    if constexpr (!std::is_same_v<T, bool>) {
      if (v < low || v > high) {
        error(n, key,
              "out of range: " + n.Scalar() + " (allowed " + std::to_string(low) + ".." + std::to_string(high) + ")");
        return std::nullopt;
      }
    }
    return v;
  }

  std::optional<std::string> text(const YAML::Node& map, const char* key, bool required) {
    const YAML::Node n = map[key];
    if (!n) {
      if (required) error(map, key, "missing");
      return std::nullopt;
    }
    if (!n.IsScalar() || n.Scalar().empty()) {
      error(n, key, "must be a non-empty text");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<net::Prefix> prefix(const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar()) {
      error(n, key, "must be a prefix such as 10.45.0.0/16");
      return std::nullopt;
    }
    auto p = net::Prefix::parse(n.Scalar());
    if (!p.ok()) {
      error(n, key, "'" + n.Scalar() + "': " + p.status().to_string());
      return std::nullopt;
    }
    return p.value();
  }

  std::vector<net::Prefix> prefixes(const YAML::Node& map, const char* key, const net::Prefix& pool) {
    std::vector<net::Prefix> out;
    const YAML::Node n = map[key];
    if (!n) return out;
    if (!n.IsSequence()) {
      error(n, key, "must be a list of prefixes");
      return out;
    }
    for (const YAML::Node& e : n) {
      auto p = prefix(e, key);
      if (!p) continue;
      if (!pool.contains(*p)) {
        error(e, key, e.Scalar() + " is not inside the pool " + std::string(pool.format().view()));
        continue;
      }
      out.push_back(*p);
    }
    return out;
  }
};

}  // namespace

ConfigLoad load_config(const std::string& text) {
  ConfigLoad out;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    out.errors.push_back({e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "not valid YAML: " + e.msg});
    return out;
  }
  if (!root.IsMap()) {
    out.errors.push_back({0, "", "the configuration must be a map of keys (epoch, pools, members, ...)"});
    return out;
  }
  Checker c;
  NodeConfig cfg;
  try {
    c.keys(root,
           {"epoch", "lease_ms", "hold_down_ms", "audit_interval_ms", "audit_grace_ms", "curve", "pools", "members"});
    cfg.epoch = c.scalar<std::uint64_t>(root, "epoch", true, 1, UINT64_MAX).value_or(1);
    cfg.lease_ms = c.scalar<std::uint64_t>(root, "lease_ms", false, 10, 3'600'000).value_or(cfg.lease_ms);
    cfg.hold_down_ms = c.scalar<std::uint64_t>(root, "hold_down_ms", false, 0, 86'400'000).value_or(0);
    cfg.audit_interval_ms =
        c.scalar<std::uint64_t>(root, "audit_interval_ms", false, 0, 86'400'000).value_or(cfg.audit_interval_ms);
    cfg.audit_grace_ms =
        c.scalar<std::uint64_t>(root, "audit_grace_ms", false, 0, 3'600'000).value_or(cfg.audit_grace_ms);
    cfg.curve = c.scalar<bool>(root, "curve", false, false, true).value_or(true);

    const YAML::Node pools = root["pools"];
    std::set<std::string> pool_names;
    if (!pools || !pools.IsSequence() || pools.size() == 0) {
      c.error(pools ? pools : root, "pools", "must be a non-empty list of pools");
    } else {
      for (const YAML::Node& p : pools) {
        if (!p.IsMap()) {
          c.error(p, "pools", "each pool must be a map (name, prefix, unit_length, block_units, ...)");
          continue;
        }
        c.keys(p, {"name", "prefix", "unit_length", "block_units", "excluded", "static"});
        const auto name = c.text(p, "name", true);
        if (name && !pool_names.insert(*name).second) c.error(p["name"], "name", "pool '" + *name + "' is named twice");
        std::optional<net::Prefix> prefix;
        if (p["prefix"]) {
          prefix = c.prefix(p["prefix"], "prefix");
        } else {
          c.error(p, "prefix", "missing");
        }
        const int max_len = prefix && prefix->family() == net::Family::kV4 ? 32 : 128;
        const auto unit_length = c.scalar<int>(p, "unit_length", true, prefix ? prefix->length() : 0, max_len);
        const auto block = c.scalar<std::uint64_t>(p, "block_units", true, 64, std::uint64_t{1} << 32);
        if (block && !std::has_single_bit(*block)) {
          c.error(p["block_units"], "block_units", "must be a power of two (64, 128, 256, ...)");
        }
        if (!name || !prefix || !unit_length || !block || !std::has_single_bit(*block)) continue;
        core::PoolConfig pc;
        pc.name = *name;
        pc.prefix = *prefix;
        pc.unit_length = *unit_length;
        pc.excluded = c.prefixes(p, "excluded", *prefix);
        pc.static_ranges = c.prefixes(p, "static", *prefix);
        pc.hold_down = cfg.hold_down_ms;
        auto units = prefix->unit_count(*unit_length);
        if (!units.ok() || units.value() > (std::uint64_t{1} << 32)) {
          c.error(p["unit_length"], "unit_length", "the pool would have more than 2^32 units");
          continue;
        }
        if (*block > units.value()) {
          c.error(p["block_units"], "block_units",
                  "larger than the pool (" + std::to_string(units.value()) + " units)");
          continue;
        }
        auto pool = core::Pool::create(pc);
        if (!pool.ok()) {
          c.error(p, *name, pool.status().to_string());
          continue;
        }
        cfg.pools.push_back(pc);
        cfg.pool_specs.push_back({*name, units.value(), *block});
      }
    }

    const YAML::Node members = root["members"];
    std::set<std::string> names;
    std::set<std::uint32_t> ids;
    if (!members || !members.IsSequence() || members.size() == 0) {
      c.error(members ? members : root, "members", "must be a non-empty list of members");
    } else {
      for (const YAML::Node& m : members) {
        if (!m.IsMap()) {
          c.error(m, "members", "each member must be a map (name, id, weight, retired, endpoint, public_key)");
          continue;
        }
        c.keys(m, {"name", "id", "weight", "retired", "endpoint", "public_key", "secret_key_file"});
        MemberConfig mc;
        const auto name = c.text(m, "name", true);
        const auto id = c.scalar<std::uint32_t>(m, "id", true, 1, UINT32_MAX);
        const auto weight = c.scalar<std::uint32_t>(m, "weight", false, 0, 1'000'000);  // 0: standby
        const bool retired = c.scalar<bool>(m, "retired", false, false, true).value_or(false);
        if (retired && weight.value_or(1) != 0)
          c.error(m["retired"], "retired", "a retired member must have weight: 0 (it owns nothing, for good)");
        const auto endpoint = c.text(m, "endpoint", true);
        const auto key = c.text(m, "public_key", cfg.curve);
        if (name && !names.insert(*name).second) c.error(m["name"], "name", "member '" + *name + "' is named twice");
        if (id && !ids.insert(*id).second) c.error(m["id"], "id", "id " + std::to_string(*id) + " is used twice");
        if (endpoint && endpoint->rfind("tcp://", 0) != 0)
          c.error(m["endpoint"], "endpoint", "must be tcp://HOST:PORT, not '" + *endpoint + "'");
        if (key && key->size() != 40)
          c.error(m["public_key"], "public_key", "must be 40 characters of Z85 (uepool node --keygen makes a pair)");
        if (!name || !id || !endpoint) continue;
        mc.name = *name;
        mc.id = *id;
        mc.weight = weight.value_or(1);
        mc.retired = retired;
        mc.endpoint = *endpoint;
        mc.public_key = key.value_or("");
        mc.secret_key_file = c.text(m, "secret_key_file", false).value_or("");
        cfg.members.push_back(mc);
      }
    }
  } catch (const YAML::Exception& e) {
    c.error(root, "", std::string("unreadable value: ") + e.what());
  }
  out.errors = std::move(c.errors);
  if (!out.errors.empty()) return out;
  std::vector<set::MemberSpec> specs;
  for (const MemberConfig& m : cfg.members) specs.push_back({m.id, m.weight, m.retired});
  auto plan = set::Plan::create(cfg.epoch, specs, cfg.pool_specs);
  if (!plan.ok()) {
    out.errors.push_back({0, "", "the set cannot be divided: " + plan.status().to_string()});
    return out;
  }
  cfg.plan = std::make_shared<const set::Plan>(std::move(plan.value()));
  out.config = std::move(cfg);
  return out;
}

}  // namespace uepool::node
