// `uepool node --config FILE --id NAME [--data-dir DIR] [--fresh]`: runs one
// member until SIGTERM or SIGINT (a clean stop; SIGKILL loses nothing the
// protocol promises: the member recovers from its peers). Prints a line on
// every phase change. `uepool node --keygen`: a CurveZMQ key pair.
// `uepool check --config FILE`: every configuration error with its line.
// Exit status: 0 ok, 1 a check failed (check) or the node could not run,
// 2 usage or unreadable input.
#include "node_command.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "uepool/node/metrics.hpp"
#include "uepool/node/node.hpp"

namespace uepool::tools {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) {
  g_stop.store(true);
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

const char* phase_name(set::MemberPhase p) {
  switch (p) {
    case set::MemberPhase::kQueryingGeneration: return "asking its peers for its generation";
    case set::MemberPhase::kRecovering: return "recovering from its peers' replicas";
    case set::MemberPhase::kRebuilding: return "rebuilding from the session store";
    case set::MemberPhase::kReady: return "ready";
    case set::MemberPhase::kSuperseded: return "superseded by a newer incarnation (restart it)";
    case set::MemberPhase::kRetired: return "retired by a membership epoch (do not restart it)";
  }
  return "?";
}

struct NodeArgs {
  std::string config, id, data_dir = ".", secret_key_file, control;
  int metrics_port = -1;
  bool fresh = false, keygen = false, session_store = false;
};

int run_node(const NodeArgs& a) {
  if (a.keygen) {
    auto k = transport::make_curve_keys();
    if (!k.ok()) {
      std::fprintf(stderr, "error: %s\n", k.status().to_string().c_str());
      return 1;
    }
    std::printf("public_key: \"%s\"\nsecret_key: \"%s\"\n", k.value().public_key.c_str(), k.value().secret_key.c_str());
    return 0;
  }
  if (a.config.empty() || a.id.empty()) {
    std::fprintf(stderr, "error: give --config FILE and --id NAME (or --keygen)\n");
    return 2;
  }
  const std::optional<node::NodeConfig> config = load_config_file(a.config);
  if (!config) return 2;
  std::string secret;
  if (!a.secret_key_file.empty()) {
    std::ifstream in(a.secret_key_file);
    if (!(in >> secret)) {
      std::fprintf(stderr, "error: cannot read the secret key in %s\n", a.secret_key_file.c_str());
      return 2;
    }
  }
  if (a.session_store && a.control.empty()) {
    std::fprintf(stderr, "error: --session-store needs --control (held lists come through the control socket)\n");
    return 2;
  }
  auto n = node::Node::create({*config, a.id, a.data_dir, secret, a.fresh, a.session_store});
  if (!n.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", a.id.c_str(), n.status().to_string().c_str());
    return 1;
  }
  node::Node& node = *n.value();
  std::unique_ptr<node::ControlServer> control;
  if (!a.control.empty()) {
    auto cs = node::ControlServer::start(node, node.held_lists(), a.control);
    if (!cs.ok()) {
      std::fprintf(stderr, "error: %s: control socket %s: %s\n", a.id.c_str(), a.control.c_str(),
                   cs.status().to_string().c_str());
      return 1;
    }
    control = std::move(cs.value());
  }
  std::unique_ptr<node::MetricsServer> metrics;
  if (a.metrics_port >= 0) {
    auto ms = node::MetricsServer::start(node, "127.0.0.1", a.metrics_port);
    if (!ms.ok()) {
      std::fprintf(stderr, "error: %s: metrics port %d: %s\n", a.id.c_str(), a.metrics_port,
                   ms.status().to_string().c_str());
      return 1;
    }
    metrics = std::move(ms.value());
  }
  std::signal(SIGPIPE, SIG_IGN);  // a control client or scraper that hung up is an error value, not a death
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("%s: member %u, listening on %s\n", a.id.c_str(), node.self().id,
              node.zmq()->bound_endpoint().c_str());  // uepool node always runs the built-in transport
  if (control)
    std::printf("%s: control socket %s%s\n", a.id.c_str(), a.control.c_str(),
                a.session_store ? " (the session store answers through it)" : "");
  if (metrics) std::printf("%s: metrics on http://127.0.0.1:%d/metrics\n", a.id.c_str(), metrics->port());
  std::fflush(stdout);
  set::MemberPhase last = set::MemberPhase::kSuperseded;
  bool first = true;
  bool replicated = false;  // every peer holds a complete replica of this incarnation
  std::uint64_t next_look = 0;
  while (!g_stop.load()) {
    node.step(5);
    if (node.now() >= next_look) {
      next_look = node.now() + 100;
      bool all = node.member().ready();
      for (const set::MemberView::PeerFacts& pf : node.member().peer_facts()) all = all && pf.acks_us;
      if (all != replicated) {
        std::printf("%s: %s\n", a.id.c_str(),
                    all ? "every peer holds its replica" : "a peer lost or never got its replica");
        std::fflush(stdout);
        replicated = all;
      }
    }
    const set::MemberPhase p = node.member().phase();
    if (first || p != last) {
      std::printf("%s: %s (generation %u)\n", a.id.c_str(), phase_name(p), node.member().incarnation().generation);
      std::fflush(stdout);
      last = p;
      first = false;
    }
  }
  node.close_calls();  // the control and metrics threads stop waiting for the message thread
  control.reset();
  metrics.reset();
  if (!node.member().ready()) std::printf("%s: not ready: %s\n", a.id.c_str(), node.member().not_ready_reason());
  const transport::TransportCounters tc = node.transport().counters();
  std::printf("%s: stopped; frames sent %llu, received %llu, dropped %llu, refused connections %llu\n", a.id.c_str(),
              static_cast<unsigned long long>(tc.sent), static_cast<unsigned long long>(tc.received),
              static_cast<unsigned long long>(tc.send_dropped), static_cast<unsigned long long>(tc.auth_denied));
  return 0;
}

// warn_no_dynamic_units — a member whose blocks of a pool are all excluded
// or static can never allocate from it (a small pool among many members:
// the division by blocks is lumpy). Valid, so a warning, not an error.
void warn_no_dynamic_units(const std::string& path, const node::NodeConfig& cfg) {
  const set::Plan& plan = *cfg.plan;
  for (std::size_t i = 0; i < cfg.pools.size(); ++i) {
    const core::PoolConfig& pc = cfg.pools[i];
    std::map<std::uint32_t, std::uint64_t> reserved;  // excluded and static units each member owns
    const std::uint64_t block = plan.block_units(i);
    for (const auto* ranges : {&pc.excluded, &pc.static_ranges}) {
      for (const net::Prefix& r : *ranges) {
        auto unit = net::Prefix::make(r.address(), pc.unit_length);  // the range's first unit
        if (!unit.ok()) continue;
        auto first = pc.prefix.index_of(pc.unit_length, unit.value());
        auto n = r.unit_count(pc.unit_length);
        if (!first.ok() || !n.ok()) continue;
        // Ownership is constant inside a block: count block by block.
        for (std::uint64_t u = first.value(), end = first.value() + n.value(); u < end;) {
          const std::uint64_t next = std::min(end, (u / block + 1) * block);
          reserved[plan.owner(i, u)] += next - u;
          u = next;
        }
      }
    }
    for (const node::MemberConfig& m : cfg.members) {
      if (m.weight == 0) continue;  // a standby owns nothing by design (it joins with a weight)
      const std::uint64_t owned = plan.units_of(i, m.id);
      if (owned <= reserved[m.id])
        std::printf(
            "%s: warning: member '%s' owns %llu units of pool '%s', none of them dynamic: it can never "
            "allocate there (more or smaller blocks: block_units)\n",
            path.c_str(), m.name.c_str(), static_cast<unsigned long long>(owned), pc.name.c_str());
    }
  }
}

int run_check(const std::string& path) {
  std::string text;
  if (!read_file(path, text)) {
    std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
    return 2;
  }
  node::ConfigLoad c = node::load_config(text);
  for (const node::ConfigError& e : c.errors) std::printf("%s: %s\n", path.c_str(), e.to_string().c_str());
  if (!c.errors.empty()) return 1;
  std::printf("%s: ok: %zu pools, %zu members, epoch %llu\n", path.c_str(), c.config->pools.size(),
              c.config->members.size(), static_cast<unsigned long long>(c.config->epoch));
  warn_no_dynamic_units(path, *c.config);
  return 0;
}

}  // namespace

std::optional<node::NodeConfig> load_config_file(const std::string& path) {
  std::string text;
  if (!read_file(path, text)) {
    std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
    return std::nullopt;
  }
  node::ConfigLoad c = node::load_config(text);
  for (const node::ConfigError& e : c.errors) std::fprintf(stderr, "%s: %s\n", path.c_str(), e.to_string().c_str());
  return c.config;
}

void add_node_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<NodeArgs>();
  CLI::App* cmd = app.add_subcommand("node", "run one member of an SMF set (until SIGTERM)");
  cmd->footer(
      "Example:\n  uepool node --keygen                  # a CurveZMQ key pair for the configuration\n"
      "  uepool node --config set.yaml --id smf1 --data-dir /var/lib/uepool --fresh   # the set's first start\n"
      "  uepool node --config set.yaml --id smf1 --control /run/uepool/smf1.sock --session-store --metrics-port 9464\n"
      "  echo 'allocate internet-v4' | socat - UNIX-CONNECT:/run/uepool/smf1.sock");
  cmd->add_option("--config", args->config, "the set's configuration (YAML)");
  cmd->add_option("--id", args->id, "this member's name in the configuration");
  cmd->add_option("--data-dir", args->data_dir, "folder of the generation file (default: .)");
  cmd->add_option("--secret-key-file", args->secret_key_file,
                  "the CurveZMQ secret key (else the member's secret_key_file)");
  cmd->add_option("--control", args->control,
                  "a Unix socket for the control interface (allocate, release, claim, state, held lists; README)");
  cmd->add_flag("--session-store", args->session_store,
                "an SMF answers the session store's held lists through --control (audit and rebuild)");
  cmd->add_option("--metrics-port", args->metrics_port, "serve /metrics on 127.0.0.1:PORT (0: any free port)");
  cmd->add_flag("--fresh", args->fresh, "the set's very first start (ignored once a generation file exists)");
  cmd->add_flag("--keygen", args->keygen, "print a new CurveZMQ key pair and exit");
  cmd->callback([args, &exit_code] { exit_code = run_node(*args); });
}

void add_check_command(CLI::App& app, int& exit_code) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("check", "check a set's configuration: every error with its line");
  cmd->footer("Example:\n  uepool check --config set.yaml");
  cmd->add_option("--config", *path, "the set's configuration (YAML)")->required();
  cmd->callback([path, &exit_code] { exit_code = run_check(*path); });
}

}  // namespace uepool::tools
