// `uepool plan` (the division of a set's pools among its members, and what a change would move).
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_plan_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
