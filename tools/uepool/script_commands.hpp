// `uepool bench` (the benchmark comparison report, perf/compare) and `uepool demo` (a local SMF set at work,
// tools/demo/demo.py): commands that run a Python script of the project.
#pragma once

#include <CLI/CLI.hpp>

namespace uepool::tools {

void add_bench_command(CLI::App& app, int& exit_code);
void add_demo_command(CLI::App& app, int& exit_code);

}  // namespace uepool::tools
