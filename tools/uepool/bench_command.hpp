// `uepool bench` (the benchmark comparison report, perf/compare, from the tool).
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_bench_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
