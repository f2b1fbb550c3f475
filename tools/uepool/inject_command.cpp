// `uepool inject --config FILE --as NAME --to NAME --what KINDS`: hostile
// frames for a running node, from another host. It presents member NAME's
// own CurveZMQ key (as a compromised or broken peer would; a stranger's key
// is refused before any byte is read), so every frame reaches the target's
// decoder, and sends `--count` of each kind:
//   garbage       bytes that are no frame
//   truncated     a valid frame cut short
//   corrupt       a valid frame with one byte flipped (CRC-32C fails)
//   oversized     one message above the frame limit (libzmq drops the
//                 connection: ZMQ_MAXMSGSIZE; the injector reconnects)
//   spoof         a valid frame naming another member as its sender
//   misaddressed  a valid frame for another member
//   replay        a data batch of --from-inc, already delivered (channel
//                 sequence 1), to --to-inc: the channel drops it as a duplicate
// The target counts each (uepool_transport_dropped_total{reason},
// uepool_duplicate_batches_total) and keeps serving; the multi-host test
// checks both. Exit status: 0 sent, 1 could not send, 2 usage.
#include "inject_command.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "node_command.hpp"
#include "uepool/node/config.hpp"
#include "uepool/wire/codec.hpp"

namespace uepool::tools {

namespace {

struct InjectArgs {
  std::string config, as, to, what = "garbage,truncated,corrupt,oversized,spoof,misaddressed,replay", secret_key_file;
  std::string from_inc, to_inc;  // "GENERATION.NONCE"
  int count = 10;
};

bool parse_inc(const std::string& s, set::Incarnation& out) {
  const auto dot = s.find('.');
  if (dot == std::string::npos) return false;
  try {
    std::size_t used = 0;
    const unsigned long g = std::stoul(s.substr(0, dot), &used);
    if (used != dot || g == 0 || g > UINT32_MAX) return false;
    const std::string n = s.substr(dot + 1);
    const unsigned long long nonce = std::stoull(n, &used);
    if (used != n.size()) return false;
    out = {static_cast<std::uint32_t>(g), nonce};
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

int run_inject(const InjectArgs& a) {
  const std::optional<node::NodeConfig> config = load_config_file(a.config);
  if (!config) return 2;
  const node::MemberConfig* as = config->member(a.as);
  const node::MemberConfig* to = config->member(a.to);
  if (as == nullptr || to == nullptr || as == to) {
    std::fprintf(stderr, "error: --as and --to must name two members of the configuration\n");
    return 2;
  }
  const node::MemberConfig* other = nullptr;  // a third member: the spoofed sender and the wrong destination
  for (const node::MemberConfig& m : config->members)
    if (&m != as && &m != to) other = &m;
  std::string secret;
  const std::string key_file = a.secret_key_file.empty() ? as->secret_key_file : a.secret_key_file;
  if (config->curve) {
    std::ifstream k(key_file);
    if (!(k >> secret)) {
      std::fprintf(stderr, "error: cannot read %s's secret key (%s)\n", as->name.c_str(), key_file.c_str());
      return 2;
    }
  }
  set::Incarnation from_inc{1, 1}, to_inc{1, 1};
  if ((!a.from_inc.empty() && !parse_inc(a.from_inc, from_inc)) ||
      (!a.to_inc.empty() && !parse_inc(a.to_inc, to_inc))) {
    std::fprintf(stderr, "error: an incarnation is GENERATION.NONCE (decimal, generation > 0)\n");
    return 2;
  }

  // A valid data frame from `as` to `to` (seq 1: long since delivered).
  auto valid = [&](std::uint32_t from, std::uint32_t dest) {
    set::Frame f;
    f.from = from;
    f.to = dest;
    f.from_inc = from_inc;
    f.to_inc = to_inc;
    f.body = set::frame::Data{.seq = 1, .ack = 0, .replica = {}, .records = {}};
    return wire::encode(f).value();
  };
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> plan;
  std::stringstream kinds(a.what);
  std::string kind;
  while (std::getline(kinds, kind, ',')) {
    std::vector<std::uint8_t> b;
    if (kind == "garbage") {
      b.assign(100, 0);
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i * 37 + 11);
    } else if (kind == "truncated") {
      b = valid(as->id, to->id);
      b.resize(b.size() / 2);
    } else if (kind == "corrupt") {
      b = valid(as->id, to->id);
      b[b.size() - 5] ^= 0x40;
    } else if (kind == "oversized") {
      b.assign(wire::kMaxFrameBytes + 4096, 0x5a);
    } else if (kind == "spoof" || kind == "misaddressed") {
      if (other == nullptr) {
        std::fprintf(stderr, "error: %s needs a third member in the configuration\n", kind.c_str());
        return 2;
      }
      b = kind == "spoof" ? valid(other->id, to->id) : valid(as->id, other->id);
    } else if (kind == "replay") {
      if (a.from_inc.empty() || a.to_inc.empty()) {
        std::fprintf(stderr, "error: replay needs --from-inc and --to-inc (the members' current incarnations)\n");
        return 2;
      }
      b = valid(as->id, to->id);
    } else {
      std::fprintf(stderr,
                   "error: unknown kind '%s' (garbage, truncated, corrupt, oversized, spoof, misaddressed, replay)\n",
                   kind.c_str());
      return 2;
    }
    plan.emplace_back(kind, std::move(b));
  }

  try {
    zmq::context_t ctx(1);
    zmq::socket_t d(ctx, zmq::socket_type::dealer);
    d.set(zmq::sockopt::linger, 2000);  // the frames leave before the socket closes
    d.set(zmq::sockopt::immediate, 1);
    if (config->curve) {
      d.set(zmq::sockopt::curve_serverkey, to->public_key);
      d.set(zmq::sockopt::curve_publickey, as->public_key);
      d.set(zmq::sockopt::curve_secretkey, secret);
    }
    d.connect(to->endpoint);
    for (const auto& [k, bytes] : plan) {
      int sent = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (sent < a.count && std::chrono::steady_clock::now() < deadline) {
        zmq::message_t msg(bytes.data(), bytes.size());
        if (d.send(msg, zmq::send_flags::dontwait)) {
          ++sent;
          // An oversized message ends the connection: wait for the reconnect.
          if (k == "oversized") std::this_thread::sleep_for(std::chrono::milliseconds(300));
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // not connected (yet, or again)
        }
      }
      std::printf("%s: sent %d of %d %s frame(s) (%zu bytes each) to %s\n", as->name.c_str(), sent, a.count, k.c_str(),
                  bytes.size(), to->name.c_str());
      if (sent < a.count) return 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "error: ZeroMQ: %s\n", e.what());
    return 1;
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_inject_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<InjectArgs>();
  CLI::App* cmd = app.add_subcommand("inject", "send hostile frames to a running node, as one of its peers (tests)");
  cmd->footer(
      "Example (the multi-host test does this):\n"
      "  uepool inject --config set.yaml --as smf4 --to smf1 --what garbage,corrupt,replay \\\n"
      "                --from-inc 3.8812 --to-inc 2.1177   # incarnations from `state` on the control sockets\n"
      "The target counts each kind and keeps serving.");
  cmd->add_option("--config", args->config, "the set's configuration (YAML)")->required();
  cmd->add_option("--as", args->as, "the member whose key the frames come with")->required();
  cmd->add_option("--to", args->to, "the member that receives them")->required();
  cmd->add_option("--what", args->what, "comma-separated kinds")->capture_default_str();
  cmd->add_option("--count", args->count, "frames of each kind")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--secret-key-file", args->secret_key_file, "the --as member's secret key (default: its key file)");
  cmd->add_option("--from-inc", args->from_inc, "the --as member's incarnation, GENERATION.NONCE (replay)");
  cmd->add_option("--to-inc", args->to_inc, "the --to member's incarnation, GENERATION.NONCE (replay)");
  cmd->callback([args, &exit_code] { exit_code = run_inject(*args); });
}

}  // namespace uepool::tools
