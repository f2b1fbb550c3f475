// uepool — the command line: `uepool net ...`, `uepool sim ...`, `uepool example`
// (more subcommands come with later layers: plan, node, demo, inspect, bench).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "example_command.hpp"
#include "net_command.hpp"
#include "sim_command.hpp"

int main(int argc, char** argv) {
  try {
    CLI::App app{"uepool — lock-free UE IP address and prefix allocation for 5G SMF sets"};
    app.require_subcommand(1);
    int exit_code = 0;
    uepool::tools::add_net_command(app, exit_code);
    uepool::tools::add_example_command(app, exit_code);
    uepool::tools::add_sim_command(app, exit_code);
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
