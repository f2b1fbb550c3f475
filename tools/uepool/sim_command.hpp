// `uepool sim` — the deterministic simulator (engine/sim).
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_sim_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
