// `uepool node` (one member of an SMF set) and `uepool check` (a set's configuration).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "uepool/node/config.hpp"

namespace uepool::tools {

void add_node_command(CLI::App& app, int& exit_code);
void add_check_command(CLI::App& app, int& exit_code);

// load_config_file — a set's configuration from `path`, or nothing after
// printing why to stderr (unreadable, or every error with its line): the
// commands that need a good file exit 2 then.
std::optional<node::NodeConfig> load_config_file(const std::string& path);

}  // namespace uepool::tools
