// `uepool net` — parse, nth, index: the net layer from the command line.
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

// add_net_command — registers `net parse|nth|index` on `app`.
void add_net_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
