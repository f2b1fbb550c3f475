// `uepool inject` (hostile frames for a running node: the multi-host test's security checks).
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_inject_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
