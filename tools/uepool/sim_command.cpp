// `uepool sim --mode safety|liveness --seed N | --seeds A..B [--steps N]`
//
// Contract: per seed, the derived parameters, then exactly one line
// `trace-hash: <16 hex digits>` (no timings in it: identical on every run and
// compiler), then `ok` or the failure and the command that replays it. A
// summary with steps per second goes to stderr. Exit status: 0 all passed,
// 1 an invariant failed (stops at the first failing seed), 2 usage error.
#include "sim_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "uepool/sim/simulator.hpp"

namespace uepool::tools {

namespace {

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

struct SimArgs {
  std::string mode = "safety";
  std::string seed;
  std::string seeds;
  std::uint64_t steps = 10'000;
  bool quiet = false;
  std::string watch;  // POOL:UNIT
  std::vector<std::string> rules_off;
  // --exhaustive
  bool exhaustive = false;
  sim::ExploreParams explore;
  std::string replay;  // decision indices, dot-separated
};

// run_exhaustive — `uepool sim --exhaustive`: the depth-first search of
// sim::explore, or one schedule of it (--replay).
int run_exhaustive(const SimArgs& a, const set::detail::Rules& rules) {
  const sim::ExploreParams& p = a.explore;
  std::string offs;
  for (const std::string& name : a.rules_off) offs += " --rule-off " + name;
  char config[200];
  std::snprintf(config, sizeof config,
                "--members %u --blocks %u --depth %u --crashes %u --epochs %u --losses %u --sessions %u --rereleases "
                "%u --retires %u%s%s",
                p.members, p.blocks, p.depth, p.crashes, p.epochs, p.losses, p.sessions, p.rereleases, p.retires,
                p.zombies ? "" : " --no-zombies", p.check_windows ? "" : " --conflicts-only");
  std::printf("exhaustive: %s\n", sim::describe(p).c_str());
  std::optional<std::uint64_t> watch;
  if (!a.watch.empty()) {
    std::uint64_t unit = 0;
    if (a.watch.rfind("0:", 0) != 0 || !parse_u64(a.watch.substr(2), unit)) {
      std::fprintf(stderr, "error: --watch '%s' is not 0:UNIT (the exhaustive mode has one pool)\n", a.watch.c_str());
      return 2;
    }
    watch = unit;
  }
  const auto t0 = std::chrono::steady_clock::now();
  sim::ExploreResult r;
  if (!a.replay.empty()) {
    std::vector<std::uint32_t> choices;
    std::size_t at = 0;
    while (at <= a.replay.size()) {
      const std::size_t dot = std::min(a.replay.find('.', at), a.replay.size());
      std::uint64_t c = 0;
      if (!parse_u64(a.replay.substr(at, dot - at), c) || c > 1'000'000) {
        std::fprintf(stderr, "error: --replay '%s' is not decision numbers joined by dots (e.g. 3.0.12)\n",
                     a.replay.c_str());
        return 2;
      }
      choices.push_back(static_cast<std::uint32_t>(c));
      at = dot + 1;
    }
    std::vector<std::string> log;
    r = sim::replay_schedule(p, choices, rules, watch, &log);
    for (const std::string& line : log) std::fprintf(stderr, "watch: %s\n", line.c_str());
    for (std::size_t i = 0; i < r.schedule.size(); ++i) std::printf("  %zu. %s\n", i + 1, r.schedule[i].c_str());
  } else {
    r = sim::explore(p, rules);
  }
  if (r.bad_schedule) {
    std::fprintf(stderr, "error: --replay: %s\n", r.failure.c_str());
    return 2;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "searched: %llu schedules (%llu cut short at a state seen before), %llu distinct states, longest schedule %llu "
      "steps, %llu steps in all, %.1f s\n",
      static_cast<unsigned long long>(r.schedules), static_cast<unsigned long long>(r.pruned),
      static_cast<unsigned long long>(r.states), static_cast<unsigned long long>(r.longest),
      static_cast<unsigned long long>(r.steps), secs);
  if (!r.ok) {
    std::printf("FAILED: %s\nschedule:\n", r.failure.c_str());
    std::string seq;
    for (std::size_t i = 0; i < r.schedule.size(); ++i) std::printf("  %zu. %s\n", i + 1, r.schedule[i].c_str());
    for (std::uint32_t c : r.choices) seq += (seq.empty() ? "" : ".") + std::to_string(c);
    std::printf("replay: uepool sim --exhaustive %s%s --replay %s\n", config, offs.c_str(), seq.c_str());
    return 1;
  }
  std::printf(r.complete ? "ok: no violation, every member ready and nothing leaked at the end of every schedule\n"
                         : "ok so far: stopped at --max-schedules, the search is not complete\n");
  return 0;
}

int run_sim(const SimArgs& a) {
  set::detail::Rules rules;
  for (const std::string& name : a.rules_off) {
    if (!set::detail::switch_off(rules, name)) {
      std::string known;
      for (const char* n : set::detail::rule_names()) known += std::string(known.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "error: --rule-off '%s' is not a rule (rules: %s)\n", name.c_str(), known.c_str());
      return 2;
    }
  }
  if (a.exhaustive) {
    if (!a.seed.empty() || !a.seeds.empty()) {
      std::fprintf(stderr, "error: --exhaustive searches every schedule: it takes no --seed or --seeds\n");
      return 2;
    }
    if (a.explore.retires > 0 && a.explore.members < 3) {
      std::fprintf(stderr, "error: --retires needs --members 3 (two members must stay, each with a peer that runs)\n");
      return 2;
    }
    return run_exhaustive(a, rules);
  }
  if (!a.replay.empty()) {
    std::fprintf(stderr, "error: --replay replays a schedule of --exhaustive\n");
    return 2;
  }
  sim::Mode mode;
  if (a.mode == "safety") {
    mode = sim::Mode::kSafety;
  } else if (a.mode == "liveness") {
    mode = sim::Mode::kLiveness;
  } else {
    std::fprintf(stderr, "error: --mode must be safety or liveness, not '%s'\n", a.mode.c_str());
    return 2;
  }
  std::uint64_t first = 0, last = 0;
  if (!a.seed.empty() == !a.seeds.empty()) {
    std::fprintf(stderr, "error: give exactly one of --seed N and --seeds A..B\n");
    return 2;
  }
  if (!a.seed.empty()) {
    if (!parse_u64(a.seed, first)) {
      std::fprintf(stderr, "error: --seed '%s' is not a non-negative integer\n", a.seed.c_str());
      return 2;
    }
    last = first;
  } else {
    const auto dots = a.seeds.find("..");
    if (dots == std::string::npos || !parse_u64(a.seeds.substr(0, dots), first) ||
        !parse_u64(a.seeds.substr(dots + 2), last) || last < first) {
      std::fprintf(stderr, "error: --seeds '%s' is not A..B with A <= B\n", a.seeds.c_str());
      return 2;
    }
  }
  if (a.steps == 0) {
    std::fprintf(stderr, "error: --steps must be at least 1\n");
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t steps = 0, seeds = 0, epochs = 0, moved = 0, leaked = 0, retired = 0, from_store = 0;
  for (std::uint64_t seed = first;; ++seed) {
    const sim::SimParams p = sim::SimParams::derive(seed, mode, a.steps);
    if (!a.quiet) std::printf("params: %s\n", p.describe().c_str());
    sim::Simulator s(p, rules);
    if (!a.watch.empty()) {
      const auto colon = a.watch.find(':');
      std::uint64_t pool = 0, unit = 0;
      if (colon == std::string::npos || !parse_u64(a.watch.substr(0, colon), pool) ||
          !parse_u64(a.watch.substr(colon + 1), unit)) {
        std::fprintf(stderr, "error: --watch '%s' is not POOL:UNIT\n", a.watch.c_str());
        return 2;
      }
      s.watch(static_cast<std::uint32_t>(pool), unit);
    }
    const sim::SimResult r = s.run();
    steps += r.steps_run;
    ++seeds;
    epochs += r.stats.epochs;
    moved += r.stats.blocks_moved;
    retired += r.stats.retired;
    from_store += r.stats.blocks_taken_retired;
    leaked += r.stats.leaked;
    for (const std::string& line : r.watch_log) std::fprintf(stderr, "watch: %s\n", line.c_str());
    for (const std::string& line : r.notes) std::printf("note: %s\n", line.c_str());
    std::printf("trace-hash: %016llx\n", static_cast<unsigned long long>(r.trace_hash));
    if (!r.ok) {
      std::printf("FAILED seed %llu: %s\n", static_cast<unsigned long long>(seed), r.failure.c_str());
      std::string offs;
      for (const std::string& name : a.rules_off) offs += " --rule-off " + name;
      std::printf("replay: uepool sim --mode %s --seed %llu --steps %llu%s\n", a.mode.c_str(),
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(a.steps), offs.c_str());
      return 1;
    }
    if (!a.quiet) {
      const sim::SimStats& st = r.stats;
      std::printf(
          "ok: %llu allocations, %llu releases, %llu claims, %llu moves, %llu crashes (%llu whole-set restarts), %llu "
          "takeovers, %llu frames "
          "(%llu lost), %llu releases repeated, leaked %llu, audits freed %llu, rebuilds %llu, %llu epochs, %llu "
          "blocks moved\n",
          static_cast<unsigned long long>(st.allocations), static_cast<unsigned long long>(st.releases),
          static_cast<unsigned long long>(st.claims), static_cast<unsigned long long>(st.moves),
          static_cast<unsigned long long>(st.crashes), static_cast<unsigned long long>(st.set_restarts),
          static_cast<unsigned long long>(st.takeovers), static_cast<unsigned long long>(st.frames_sent),
          static_cast<unsigned long long>(st.frames_lost), static_cast<unsigned long long>(st.rereleases),
          static_cast<unsigned long long>(st.leaked), static_cast<unsigned long long>(st.audit_freed),
          static_cast<unsigned long long>(st.rebuilds), static_cast<unsigned long long>(st.epochs),
          static_cast<unsigned long long>(st.blocks_moved));
    }
    if (seed == last) break;
  }
  std::fflush(stdout);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(
      stderr,
      "%llu seeds passed, %llu steps, %.0f steps/s; %llu membership epochs, %llu members retired, %llu blocks moved "
      "(%llu of them from a retired member, by the session store)%s, %llu units leaked\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(steps),
      secs > 0 ? static_cast<double>(steps) / secs : 0.0, static_cast<unsigned long long>(epochs),
      static_cast<unsigned long long>(retired), static_cast<unsigned long long>(moved),
      static_cast<unsigned long long>(from_store), mode == sim::Mode::kLiveness ? "" : " (counted in liveness mode)",
      static_cast<unsigned long long>(leaked));
  return 0;
}

}  // namespace

void add_sim_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<SimArgs>();
  CLI::App* cmd = app.add_subcommand("sim", "run the deterministic simulator of the SMF-set protocol");
  cmd->add_option("--mode", args->mode, "safety (unbounded faults) or liveness (bounded faults, then quiet)");
  cmd->add_option("--seed", args->seed, "one seed");
  cmd->add_option("--seeds", args->seeds, "seeds A..B, inclusive; stops at the first failure");
  cmd->add_option("--steps", args->steps, "steps per seed (default 10000)");
  cmd->add_option("--watch", args->watch, "POOL:UNIT — print that unit's events to stderr");
  cmd->add_flag("--quiet", args->quiet, "print only the trace-hash line per seed");
  cmd->add_option("--rule-off", args->rules_off,
                  "switch one protocol rule off (a deliberately broken member, to show the rule matters); "
                  "repeatable");
  cmd->add_flag("--exhaustive", args->exhaustive,
                "search every schedule of a small set (depth-first, with state hashing) instead of random runs");
  cmd->add_option("--members", args->explore.members, "--exhaustive: members, the last a standby (default 3)")
      ->check(CLI::Range(2, 3));
  cmd->add_option("--blocks", args->explore.blocks, "--exhaustive: 64-unit blocks in the one pool (default 2)")
      ->check(CLI::Range(1, 2));
  cmd->add_option("--depth", args->explore.depth, "--exhaustive: decisions per schedule (default 3)")
      ->check(CLI::Range(1, 12));
  cmd->add_option("--crashes", args->explore.crashes, "--exhaustive: crashes per schedule, at most (default 2)")
      ->check(CLI::Range(0, 4));
  cmd->add_option("--epochs", args->explore.epochs, "--exhaustive: joins or leaves per schedule, at most (default 1)")
      ->check(CLI::Range(0, 2));
  cmd->add_option("--retires", args->explore.retires,
                  "--exhaustive: members gone for good and retired per schedule, at most (default 0; needs 3 members)")
      ->check(CLI::Range(0, 1));
  cmd->add_option("--losses", args->explore.losses,
                  "--exhaustive: steps in which one member's frames are lost, at most (default 1)")
      ->check(CLI::Range(0, 4));
  cmd->add_option("--sessions", args->explore.sessions, "--exhaustive: sessions created, at most (default 2)")
      ->check(CLI::Range(0, 6));
  cmd->add_option("--rereleases", args->explore.rereleases, "--exhaustive: repeated releases, at most (default 1)")
      ->check(CLI::Range(0, 2));
  cmd->add_flag("--no-zombies{false}", args->explore.zombies, "--exhaustive: no crash leaves a zombie");
  cmd->add_flag(
      "--conflicts-only{false}", args->explore.check_windows,
      "--exhaustive: do not stop at a unit handed out outside an acknowledged window; only a unit held twice, "
      "a hold-down broken or a wrong free stops the search (where does a broken window rule lead?)");
  cmd->add_option("--max-schedules", args->explore.max_schedules,
                  "--exhaustive: stop after this many schedules (0: none; the search is then not complete)");
  cmd->add_option("--replay", args->replay,
                  "--exhaustive: run one schedule, by the decision numbers a failure printed");
  cmd->footer(
      "Examples:\n"
      "  uepool sim --mode liveness --seeds 1..100 --steps 5000 --quiet   # a sweep: the failing seed stops it\n"
      "  uepool sim --mode safety --seed 430 --steps 5000 --watch 1:473   # replay one, with a unit's history\n"
      "  uepool sim --mode safety --seeds 1..20 --rule-off stale_release_check   # a broken rule is caught\n"
      "  uepool sim --exhaustive --depth 3   # every schedule of 3 decisions: sessions, crashes, a join, a loss\n"
      "Exit status: 0 every seed passed, 1 a seed failed (the replay command is printed), 2 usage.");
  cmd->callback([args, &exit_code] { exit_code = run_sim(*args); });
}

}  // namespace uepool::tools
