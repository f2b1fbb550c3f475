// uepool — the command line: `uepool net ...`, `uepool sim ...`, `uepool example`, `uepool node ...`,
// `uepool check ...`, `uepool plan ...`, `uepool inject ...`, `uepool inspect ...`, `uepool bench` (more come later:
// demo).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "example_command.hpp"
#include "inject_command.hpp"
#include "inspect_command.hpp"
#include "net_command.hpp"
#include "node_command.hpp"
#include "plan_command.hpp"
#include "script_commands.hpp"
#include "sim_command.hpp"
#include "uepool/transport/tsan_suppressions.hpp"

// Under ThreadSanitizer (the tsan preset): what is not reported in a binary
// that runs ZeroMQ, and why: uepool/transport/tsan_suppressions.hpp.
// NOLINTNEXTLINE(bugprone-reserved-identifier,readability-identifier-naming): the sanitizer's hook
extern "C" const char* __tsan_default_suppressions() {  // uepool/transport/tsan_suppressions.hpp says why
  return uepool::transport::kTsanZmqSuppressions;
}

int main(int argc, char** argv) {
  try {
    CLI::App app{"uepool — lock-free UE IP address and prefix allocation for 5G SMF sets"};
    app.require_subcommand(1);
    int exit_code = 0;
    uepool::tools::add_net_command(app, exit_code);
    uepool::tools::add_example_command(app, exit_code);
    uepool::tools::add_sim_command(app, exit_code);
    uepool::tools::add_node_command(app, exit_code);
    uepool::tools::add_check_command(app, exit_code);
    uepool::tools::add_inject_command(app, exit_code);
    uepool::tools::add_plan_command(app, exit_code);
    uepool::tools::add_inspect_command(app, exit_code);
    uepool::tools::add_bench_command(app, exit_code);
    uepool::tools::add_demo_command(app, exit_code);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int rc = app.exit(e);
      return rc == 0 ? 0 : 2;
    }
    return exit_code;
  } catch (const std::exception& e) {  // e.g. out of memory in a command: a message, not a crash
    std::fprintf(stderr, "uepool: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "uepool: unexpected error\n");
  }
  return 2;
}
