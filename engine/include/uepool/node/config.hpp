// uepool/node/config.hpp — an SMF set's configuration, from YAML: the pools,
// the members (ids, weights, endpoints, public keys) and the protocol's
// timing. Every member of a set reads the same file.
//
//   ConfigLoad c = load_config(text);          // never throws
//   if (!c.errors.empty()) for (auto& e : c.errors) print(e.to_string());
//   const NodeConfig& cfg = *c.config;
//
// Example (every key; times in milliseconds):
//
//   epoch: 1                     # the membership epoch (re-division: not built yet)
//   lease_ms: 10000              # a window's lease
//   hold_down_ms: 0              # a released unit rests this long before reuse
//   audit_interval_ms: 60000     # an audit against the session store this often (0: only when asked)
//   audit_grace_ms: 2000         # the SMF's longest time from allocate to the session being stored
//   curve: true                  # CurveZMQ between members; false only for a local demo
//   pools:
//     - name: internet-v4
//       prefix: 10.45.0.0/16
//       unit_length: 32          # /32 addresses; an IPv6 pool of /64 prefixes says 64
//       block_units: 256         # power of two, >= 64: the unit of division between members
//       excluded: [10.45.0.1/32] # never handed out (the gateway)
//       static: [10.45.255.0/24] # static UE addresses (from UDM), claimed, never allocated
//   members:
//     - name: smf1
//       id: 1
//       weight: 1                # 0: a standby (owns nothing); `retired: true` with 0: gone for good
//       endpoint: tcp://10.0.0.1:7101
//       public_key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   # Z85, 40 characters
//       secret_key_file: /etc/uepool/smf1.key                   # read by smf1 only
//
// Errors: each one names its line and key and says what is wrong; all of a
// file's errors are reported at once (`uepool check`). Unknown keys are
// errors (a misspelt key must not be ignored).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "uepool/core/pool.hpp"
#include "uepool/set/plan.hpp"

namespace uepool::node {

struct ConfigError {
  int line = 0;  // 1-based; 0: the file as a whole
  std::string key;
  std::string message;
  [[nodiscard]] std::string to_string() const;  // "line 12, key 'prefix': ..."
};

struct MemberConfig {
  std::string name;
  std::uint32_t id = 0;
  std::uint32_t weight = 1;
  bool retired = false;  // gone for good (set::MemberSpec::retired); weight 0
  std::string endpoint;
  std::string public_key;
  std::string secret_key_file;
};

struct NodeConfig {
  std::uint64_t epoch = 1;  // required in the file (no default there)
  std::uint64_t lease_ms = 10'000;
  std::uint64_t hold_down_ms = 0;
  // The audit and the rebuild read held lists from the session store, which
  // a node reaches only through its control interface (--session-store).
  std::uint64_t audit_interval_ms = 60'000;
  std::uint64_t audit_grace_ms = 2'000;
  bool curve = true;
  std::vector<core::PoolConfig> pools;  // hold_down in ms
  std::vector<set::PoolSpec> pool_specs;
  std::vector<MemberConfig> members;
  std::shared_ptr<const set::Plan> plan;
  // member — the member named `name`, or null.
  [[nodiscard]] const MemberConfig* member(const std::string& name) const;
};

struct ConfigLoad {
  std::optional<NodeConfig> config;  // set when errors is empty
  std::vector<ConfigError> errors;
};

// load_config — parse and check a configuration (YAML text).
ConfigLoad load_config(const std::string& text);

}  // namespace uepool::node
