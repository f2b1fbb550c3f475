// `uepool node` (one member of an SMF set) and `uepool check` (a set's configuration).
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_node_command(CLI::App& app, int& exit_code);
void add_check_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
