// `uepool inspect` (frames between members, or a node's dump, as readable text).
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_inspect_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
