// uepool — the command line: `uepool net ...`, `uepool sim ...`, `uepool example`,
// `uepool node ...`, `uepool check ...`, `uepool plan ...`, `uepool inject ...` (more come later: demo, inspect,
// bench).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "example_command.hpp"
#include "inject_command.hpp"
#include "net_command.hpp"
#include "node_command.hpp"
#include "plan_command.hpp"
#include "sim_command.hpp"

// Under ThreadSanitizer (the tsan preset): libzmq and libsodium are not
// instrumented, and TSan reports the hand-over of their own buffers between
// their threads as races; reports with a libzmq or libsodium frame are
// suppressed, uepool's own code is still checked (tests/transport/zmq_transport_test.cpp).
// NOLINTNEXTLINE(bugprone-reserved-identifier,readability-identifier-naming): the sanitizer's hook
extern "C" const char* __tsan_default_suppressions() {
  return "race:libzmq.so.5\nrace:libsodium.so.23\n";
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
