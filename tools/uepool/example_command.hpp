// `uepool example` — the built-in showcase run by tools/run.sh.
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_example_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
