// `uepool bench`: runs the benchmark suite (uepool-bench) through the
// comparison report (perf/compare: ratios against the in-process ceiling
// and baselines, a JSON file and an SVG chart). `uepool demo`: a local SMF
// set of `uepool node` processes at work, and its report (tools/demo/demo.py).
// The scripts and uepool-bench are found beside this program when installed
// (bin/uepool-bench, share/uepool/), else in the build and source trees it
// was built from.
#include "script_commands.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace uepool::tools {
namespace {

namespace fs = std::filesystem;

struct BenchArgs {
  int repetitions = 1;
  std::string filter;
  std::string out = "uepool-compare";
  std::string min_time = "0.2";
  std::string json;
  bool dry_run = false;
};

fs::path self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : exe.parent_path();
}

// first_existing — the first of `paths` that is a file ("" if none).
std::string first_existing(const std::vector<fs::path>& paths) {
  for (const fs::path& p : paths) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

// exec_python — replace this process with `args` (python3 SCRIPT ...): the
// script's output, exit status and Ctrl-C are the command's own.
int exec_python(std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execvp("python3", argv.data());
  std::perror("error: cannot run python3 (the command is a Python 3 script)");
  return 2;
}

int run_bench(const BenchArgs& a) {
  const fs::path here = self_dir();
  const std::string bench = first_existing(
      {here / "uepool-bench", here / "../bench/uepool-bench", fs::path(UEPOOL_BUILD_DIR) / "bench/uepool-bench"});
  const std::string compare =
      first_existing({here / "../share/uepool/compare", fs::path(UEPOOL_SOURCE_DIR) / "perf/compare"});
  if (a.json.empty() && bench.empty()) {
    std::fprintf(stderr,
                 "error: uepool-bench not found beside %s nor in the build tree (build it: cmake --build "
                 "--preset release; it needs -DUEPOOL_BUILD_BENCH=ON)\n",
                 here.c_str());
    return 2;
  }
  if (compare.empty()) {
    std::fprintf(stderr, "error: the comparison script (share/uepool/compare or perf/compare) was not found\n");
    return 2;
  }
  std::vector<std::string> args = {
      "python3", compare, "--out", a.out, "--repetitions", std::to_string(a.repetitions), "--min-time", a.min_time};
  if (!bench.empty()) args.insert(args.end(), {"--bench", bench});
  if (!a.filter.empty()) args.insert(args.end(), {"--filter", a.filter});
  if (!a.json.empty()) args.insert(args.end(), {"--json", a.json});
  if (a.dry_run) {
    for (const std::string& s : args) std::printf("%s ", s.c_str());
    std::printf("\n");
    return 0;
  }
  return exec_python(args);
}

struct DemoArgs {
  int members = 4;
  int sessions = 2000;
  double duration = 20.0;
  std::string config;
  std::string chart = "uepool-demo.svg";
  int seed = 1;
  bool keep = false;
};

int run_demo(const DemoArgs& a) {
  const fs::path here = self_dir();
  const std::string script =
      first_existing({here / "../share/uepool/demo.py", fs::path(UEPOOL_SOURCE_DIR) / "tools/demo/demo.py"});
  if (script.empty()) {
    std::fprintf(stderr, "error: the demo script (share/uepool/demo.py or tools/demo/demo.py) was not found\n");
    return 2;
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  std::vector<std::string> args = {"python3",    script,
                                   "--bin",      ec ? std::string("uepool") : self.string(),
                                   "--members",  std::to_string(a.members),
                                   "--sessions", std::to_string(a.sessions),
                                   "--duration", std::to_string(a.duration),
                                   "--chart",    a.chart,
                                   "--seed",     std::to_string(a.seed)};
  if (!a.config.empty()) args.insert(args.end(), {"--config", a.config});
  if (a.keep) args.emplace_back("--keep");
  return exec_python(args);
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "the benchmark comparison report: uepool-bench's suite as ratios against the ceiling and the baselines run "
      "in the same process (a table, <out>/uepool-bench.json and .svg)\n"
      "example: uepool bench --filter 'churn_full95|ceiling' --repetitions 3");
  cmd->add_option("--repetitions", a->repetitions, "runs of each benchmark; the report uses the medians")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--filter", a->filter, "a regular expression: only the benchmarks it matches (and the references)");
  cmd->add_option("--out", a->out, "where the JSON and the SVG chart go (default: ./uepool-compare)");
  cmd->add_option("--min-time", a->min_time, "seconds per benchmark (Google Benchmark's --benchmark_min_time)");
  cmd->add_option("--json", a->json, "tabulate an existing run's JSON (e.g. from a bigger machine) instead");
  cmd->add_flag("--dry-run", a->dry_run, "print the command it would run");
  cmd->callback([a, &exit_code] { exit_code = run_bench(*a); });
}

void add_demo_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "a local SMF set at work: uepool node processes on loopback (CurveZMQ), dual-stack sessions created, moved "
      "and ended across them, one SMF killed and recovered, a standby SMF joining and another leaving "
      "(re-division), an audit, then a report and an SVG chart; exit 0 only when no unit was held twice, every SMF "
      "is ready and settled at the last epoch and nothing leaked\n"
      "example: uepool demo --members 4 --sessions 2000 --duration 20");
  cmd->add_option("--members", a->members, "SMFs serving from the start (one more, a standby, joins)")
      ->check(CLI::Range(2, 7));
  cmd->add_option("--sessions", a->sessions, "sessions held at once, at most")->check(CLI::Range(10, 1000000));
  cmd->add_option("--duration", a->duration, "seconds of churn")->check(CLI::Range(3.0, 86400.0));
  cmd->add_option("--config", a->config, "a set configuration whose pools and settings to use (members: the demo's)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--chart", a->chart, "where the SVG chart goes (default: ./uepool-demo.svg)");
  cmd->add_option("--seed", a->seed, "the seed of the session churn");
  cmd->add_flag("--keep", a->keep, "keep the nodes' folder (logs, configuration)");
  cmd->callback([a, &exit_code] { exit_code = run_demo(*a); });
}

}  // namespace uepool::tools
