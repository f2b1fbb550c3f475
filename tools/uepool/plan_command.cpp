// `uepool plan --config FILE [--join NAME[:WEIGHT]]... [--leave NAME]... [--retire NAME]... [--weight NAME:WEIGHT]...`:
// the division of a set's pools among its members, as a table (member,
// weight, blocks, units, share, ranges, the aggregated CIDR prefixes), and
// with a change, the division after it and what would move between whom.
// The plan is the one every node computes (set::Plan: weighted rendezvous
// hashing over runs of blocks), so this is what the nodes will do.
// Exit status: 0 ok, 2 usage or a configuration error.
//
// A join gives a standby member (weight 0) a weight, a leave sets one to 0
// (running sets keep their members: set/member.hpp, Re-division), a retire
// sets one to 0 for good (a member gone for good: its blocks are taken from
// the session store); the change is printed with the control-socket line
// that applies it. A joiner
// not in the configuration is modelled too, with a note: it needs a
// restart of the set.
#include "plan_command.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "node_command.hpp"
#include "uepool/node/config.hpp"
#include "uepool/set/plan.hpp"

namespace uepool::tools {

namespace {

struct PlanArgs {
  std::string config;
  std::vector<std::string> join, leave, retire, weight;
  int cidrs = 4;  // prefixes listed per member and pool (the rest are counted)
};

struct Member {
  std::string name;
  std::uint32_t id = 0;
  std::uint32_t weight = 1;
  bool retired = false;
};

// cidrs_of — a unit range [begin, end) of a pool as the fewest aligned prefixes.
std::vector<net::Prefix> cidrs_of(const core::PoolConfig& pool, std::uint64_t begin, std::uint64_t end) {
  std::vector<net::Prefix> out;
  while (begin < end) {
    int k = 0;
    while (k < 63 && begin % (std::uint64_t{1} << (k + 1)) == 0 && begin + (std::uint64_t{1} << (k + 1)) <= end) ++k;
    auto first = pool.prefix.nth(pool.unit_length, begin);
    if (!first.ok()) break;
    auto p = net::Prefix::make(first.value().address(), pool.unit_length - k);
    if (!p.ok()) break;
    out.push_back(p.value());
    begin += std::uint64_t{1} << k;
  }
  return out;
}

std::string with_commas(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

void print_plan(const node::NodeConfig& c, const set::Plan& plan, const std::vector<Member>& members, int cidrs) {
  for (std::size_t i = 0; i < c.pools.size(); ++i) {
    const core::PoolConfig& pool = c.pools[i];
    std::printf("pool %s %s: %s units of /%d, blocks of %s units, %llu ranges in all\n", pool.name.c_str(),
                pool.prefix.to_string().c_str(), with_commas(plan.units(i)).c_str(), pool.unit_length,
                with_commas(plan.block_units(i)).c_str(), static_cast<unsigned long long>(plan.range_count(i)));
    std::printf("  %-12s %6s %8s %14s %7s %7s  %s\n", "member", "weight", "blocks", "units", "share", "ranges",
                "prefixes");
    for (const Member& m : members) {
      const std::uint64_t units = plan.units_of(i, m.id);
      const std::vector<core::UnitRange> ranges = plan.ranges_of(i, m.id);
      std::vector<net::Prefix> all;
      for (const core::UnitRange& r : ranges)
        for (const net::Prefix& p : cidrs_of(pool, r.begin, r.end)) all.push_back(p);
      std::string list;
      for (std::size_t k = 0; k < all.size() && static_cast<int>(k) < cidrs; ++k)
        list += (k == 0 ? "" : ", ") + all[k].to_string();
      if (all.size() > static_cast<std::size_t>(cidrs)) list += ", ... (" + with_commas(all.size()) + " prefixes)";
      std::printf("  %-12s %6u %8s %14s %6.2f%% %7zu  %s\n", m.name.c_str(), m.weight,
                  with_commas(units / plan.block_units(i)).c_str(), with_commas(units).c_str(),
                  100.0 * static_cast<double>(units) / static_cast<double>(plan.units(i)), ranges.size(), list.c_str());
    }
  }
}

bool split_weight(const std::string& text, std::string& name, std::uint32_t& weight, bool weight_required) {
  const auto colon = text.find(':');
  name = text.substr(0, colon);
  if (name.empty()) return false;
  if (colon == std::string::npos) return !weight_required;
  const std::string w = text.substr(colon + 1);
  if (w.empty() || w.size() > 9 || w.find_first_not_of("0123456789") != std::string::npos) return false;
  weight = static_cast<std::uint32_t>(std::stoul(w));
  return weight > 0;
}

int run_plan(const PlanArgs& a) {
  const std::optional<node::NodeConfig> config = load_config_file(a.config);
  if (!config) return 2;
  const node::NodeConfig& c = *config;
  std::vector<Member> before;
  for (const node::MemberConfig& m : c.members) before.push_back({m.name, m.id, m.weight, m.retired});
  const bool change = !a.join.empty() || !a.leave.empty() || !a.retire.empty() || !a.weight.empty();

  // The change: a joiner takes the next free id.
  std::vector<Member> after = before;
  std::uint32_t next_id = 0;
  for (const Member& m : after) next_id = std::max(next_id, m.id);
  auto find = [&](const std::string& name) {
    return std::find_if(after.begin(), after.end(), [&](const Member& m) { return m.name == name; });
  };
  std::string what;
  std::vector<std::string> added;  // joiners that are not in the configuration
  for (const std::string& j : a.join) {
    Member m;
    if (!split_weight(j, m.name, m.weight, false)) {
      std::fprintf(stderr, "error: --join %s: give NAME or NAME:WEIGHT (a positive integer)\n", j.c_str());
      return 2;
    }
    if (auto it = find(m.name); it != after.end()) {
      if (it->retired) {
        std::fprintf(stderr, "error: --join %s: retired (gone for good): it cannot come back\n", m.name.c_str());
        return 2;
      }
      if (it->weight != 0) {
        std::fprintf(stderr, "error: --join %s: already a member (with weight %u)\n", m.name.c_str(), it->weight);
        return 2;
      }
      it->weight = m.weight;  // a standby joins: it gets a weight
      what += " join " + m.name + " (standby, weight " + std::to_string(m.weight) + ")";
      continue;
    }
    m.id = ++next_id;
    after.push_back(m);
    added.push_back(m.name);
    what += " join " + m.name + " (id " + std::to_string(m.id) + ", weight " + std::to_string(m.weight) + ")";
  }
  for (const std::string& l : a.leave) {
    auto it = find(l);
    if (it == after.end()) {
      std::fprintf(stderr, "error: --leave %s: not a member\n", l.c_str());
      return 2;
    }
    it->weight = 0;  // it stays a member (a peer), owning nothing: a standby
    what += " leave " + l;
  }
  for (const std::string& r : a.retire) {
    auto it = find(r);
    if (it == after.end()) {
      std::fprintf(stderr, "error: --retire %s: not a member\n", r.c_str());
      return 2;
    }
    it->weight = 0;  // gone for good: a peer that never runs again, owning nothing
    it->retired = true;
    what += " retire " + r;
  }
  for (const std::string& w : a.weight) {
    std::string name;
    std::uint32_t weight = 0;
    if (!split_weight(w, name, weight, true)) {
      std::fprintf(stderr, "error: --weight %s: give NAME:WEIGHT (a positive integer)\n", w.c_str());
      return 2;
    }
    auto it = find(name);
    if (it == after.end()) {
      std::fprintf(stderr, "error: --weight %s: not a member\n", name.c_str());
      return 2;
    }
    it->weight = weight;
    what += " weight " + name + " " + std::to_string(weight);
  }
  std::vector<set::MemberSpec> specs;
  specs.reserve(after.size());
  for (const Member& m : after) specs.push_back({m.id, m.weight, m.retired});
  auto next = change ? set::Plan::create(c.epoch + 1, specs, c.pool_specs) : Result<set::Plan>(*c.plan);
  if (!next.ok()) {
    std::fprintf(stderr, "error: the changed set has no plan: %s\n", next.status().to_string().c_str());
    return 2;
  }
  // Every error is reported before anything is printed.
  std::printf("%s: epoch %llu, %zu members, %zu pools\n\n", a.config.c_str(), static_cast<unsigned long long>(c.epoch),
              before.size(), c.pools.size());
  print_plan(c, *c.plan, before, a.cidrs);
  if (!change) return 0;
  std::sort(after.begin(), after.end(), [](const Member& x, const Member& y) { return x.id < y.id; });
  std::printf("\nafter%s: epoch %llu, %zu members\n\n", what.c_str(), static_cast<unsigned long long>(c.epoch) + 1,
              after.size());
  print_plan(c, next.value(), after, a.cidrs);

  // What moves: blocks from each old owner to each new one.
  std::map<std::uint32_t, std::string> names;
  for (const Member& m : before) names[m.id] = m.name;
  for (const Member& m : after) names[m.id] = m.name;
  std::printf("\nwhat would move\n");
  for (std::size_t i = 0; i < c.pools.size(); ++i) {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> moved;  // (from, to) -> blocks
    std::uint64_t blocks = 0;
    const std::uint64_t step = c.plan->block_units(i);
    for (std::uint64_t u = 0; u < c.plan->units(i); u += step) {
      const std::uint32_t from = c.plan->owner(i, u), to = next.value().owner(i, u);
      if (from != to) {
        ++moved[{from, to}];
        ++blocks;
      }
    }
    const std::uint64_t total = c.plan->units(i) / step;
    std::printf("  pool %s: %s of %s blocks (%.2f%%)\n", c.pools[i].name.c_str(), with_commas(blocks).c_str(),
                with_commas(total).c_str(), 100.0 * static_cast<double>(blocks) / static_cast<double>(total));
    for (const auto& [ft, n] : moved)
      std::printf("    %-12s -> %-12s %8s blocks\n", names[ft.first].c_str(), names[ft.second].c_str(),
                  with_commas(n).c_str());
  }
  if (!added.empty()) {
    std::printf(
        "\nA running set's members are fixed: %s is not in the configuration. Add it to every member's\n"
        "configuration as a standby (weight 0) and restart the set; then it joins by getting a weight.\n",
        added.front().c_str());
    return 0;
  }
  // How to apply it to a running set: the next epoch, to every node.
  std::string line = "membership " + std::to_string(c.epoch + 1);
  bool retiring = false;
  for (const Member& m : after) {
    line += " " + m.name + "=" + (m.retired ? std::string("retired") : std::to_string(m.weight));
    retiring = retiring || m.retired;
  }
  std::printf(
      "\nTo apply it to a running set, send every node this line on its control socket\n"
      "(and set epoch: %llu and the weights in the configuration file, for restarts):\n  %s\n",
      static_cast<unsigned long long>(c.epoch) + 1, line.c_str());
  if (retiring)
    std::printf(
        "A retired member must never run again: stop it for good (and fence its host) first. Its blocks\n"
        "are taken from the session store (every node needs --session-store); write retired: true for it.\n");
  return 0;
}

}  // namespace

void add_plan_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* cmd =
      app.add_subcommand("plan", "the division of a set's pools among its members, and what a change moves");
  cmd->footer(
      "Examples:\n"
      "  uepool plan --config set.yaml                        # who owns which prefixes\n"
      "  uepool plan --config set.yaml --join smf4:2          # a new member of weight 2: what moves to it\n"
      "  uepool plan --config set.yaml --leave smf2 --weight smf1:3");
  cmd->add_option("--config", args->config, "the set's configuration (YAML)")->required();
  cmd->add_option("--join", args->join, "a member that joins, NAME or NAME:WEIGHT (repeatable)");
  cmd->add_option("--leave", args->leave, "a member that leaves (repeatable)");
  cmd->add_option("--retire", args->retire, "a member gone for good: weight 0, retired (repeatable)");
  cmd->add_option("--weight", args->weight, "a member's new weight, NAME:WEIGHT (repeatable)");
  cmd->add_option("--prefixes", args->cidrs, "prefixes listed per member and pool")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->callback([args, &exit_code] { exit_code = run_plan(*args); });
}

}  // namespace uepool::tools
