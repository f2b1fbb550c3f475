// `uepool net parse|nth|index` — one case from the operands, or one case per
// stdin line when the only operand is "-" (exactly one output line per input
// line, errors as "error: <reason>", nothing trimmed or skipped).
#include "net_command.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "uepool/net/prefix.hpp"

namespace uepool::tools {
namespace {

using net::Prefix;

// Each operation turns one operand set into one output line, or a Status.
using Line = Result<net::TextBuffer>;

Result<std::uint64_t> parse_u64(std::string_view text, const char* what) {
  if (text.empty()) return Status(StatusCode::kInvalidArgument, what);
  std::uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return Status(StatusCode::kInvalidArgument, what);
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return Status(StatusCode::kOutOfRange, "index above 2^64-1");
    v = v * 10 + d;
  }
  return v;
}

Result<int> parse_unit_length(std::string_view text) {
  if (text.empty() || text.size() > 3) return Status(StatusCode::kInvalidArgument, "bad unit length");
  if (text.size() > 1 && text[0] == '0') return Status(StatusCode::kInvalidArgument, "leading zero in unit length");
  auto v = parse_u64(text, "bad unit length");
  if (!v.ok()) return v.status();
  return static_cast<int>(v.value());
}

Line op_parse(const std::vector<std::string_view>& args) {
  if (args.size() != 1) return Status(StatusCode::kInvalidArgument, "expected one operand: TEXT");
  const std::string_view text = args[0];
  net::TextBuffer out;
  if (text.find('/') == std::string_view::npos) {
    auto a = net::IpAddress::parse(text);
    if (!a.ok()) return a.status();
    a.value().format_to(out);
  } else {
    auto p = Prefix::parse(text);
    if (!p.ok()) return p.status();
    p.value().format_to(out);
  }
  return out;
}

Line op_nth(const std::vector<std::string_view>& args) {
  if (args.size() != 3) return Status(StatusCode::kInvalidArgument, "expected three operands: POOL UNITLEN INDEX");
  auto pool = Prefix::parse(args[0]);
  if (!pool.ok()) return pool.status();
  auto unit_length = parse_unit_length(args[1]);
  if (!unit_length.ok()) return unit_length.status();
  auto index = parse_u64(args[2], "bad index");
  if (!index.ok()) return index.status();
  auto unit = pool.value().nth(unit_length.value(), index.value());
  if (!unit.ok()) return unit.status();
  return unit.value().format();
}

Line op_index(const std::vector<std::string_view>& args) {
  if (args.size() != 3) return Status(StatusCode::kInvalidArgument, "expected three operands: POOL UNITLEN PREFIX");
  auto pool = Prefix::parse(args[0]);
  if (!pool.ok()) return pool.status();
  auto unit_length = parse_unit_length(args[1]);
  if (!unit_length.ok()) return unit_length.status();
  auto unit = Prefix::parse(args[2]);
  if (!unit.ok()) return unit.status();
  auto index = pool.value().index_of(unit_length.value(), unit.value());
  if (!index.ok()) return index.status();
  net::TextBuffer out;
  const auto r = fmt::format_to_n(out.data, net::TextBuffer::kCapacity, "{}", index.value());
  out.size = static_cast<std::uint8_t>(r.size);
  return out;
}

// split_exact — operands separated by exactly one space; an empty field (from
// a leading, trailing or doubled space, or an empty line) is kept, so that
// the operation reports it instead of the line being silently repaired.
void split_exact(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t start = 0;
  while (true) {
    const auto sp = line.find(' ', start);
    out.push_back(line.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
}

Line checked(Line (*op)(const std::vector<std::string_view>&), const std::vector<std::string_view>& args) {
  for (const auto a : args) {
    if (a.empty()) return Status(StatusCode::kInvalidArgument, "empty operand (empty line or stray space)");
  }
  return op(args);
}

int run_stdin(Line (*op)(const std::vector<std::string_view>&)) {
  std::ios::sync_with_stdio(false);
  std::string line;
  std::vector<std::string_view> args;
  std::string out;
  out.reserve(1 << 16);
  while (std::getline(std::cin, line)) {
    split_exact(line, args);
    const Line r = checked(op, args);
    if (r.ok()) {
      out.append(r.value().view());
    } else {
      out.append("error: ");
      out.append(r.status().to_string());
    }
    out.push_back('\n');
    if (out.size() > (1 << 15)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return 0;
}

int run_once(Line (*op)(const std::vector<std::string_view>&), const std::vector<std::string>& operands) {
  if (operands.size() == 1 && operands[0] == "-") return run_stdin(op);
  std::vector<std::string_view> args(operands.begin(), operands.end());
  const Line r = checked(op, args);
  if (!r.ok()) {
    fmt::print(stderr, "uepool: error: {}\n", r.status().to_string());
    return 2;
  }
  fmt::print("{}\n", r.value().view());
  return 0;
}

}  // namespace

void add_net_command(CLI::App& app, int& exit_code) {
  auto* net = app.add_subcommand("net", "IPv4/IPv6 addresses and prefixes");
  net->require_subcommand(1);
  struct Spec {
    const char* name;
    const char* help;
    const char* operands;
    Line (*op)(const std::vector<std::string_view>&);
  };
  static constexpr Spec kSpecs[] = {
      {"parse", "Print the canonical form of an address or prefix", "TEXT, or - to read one per line", op_parse},
      {"nth", "Print the INDEX-th /UNITLEN unit of POOL", "POOL UNITLEN INDEX, or - to read them per line", op_nth},
      {"index", "Print the index of PREFIX among the /UNITLEN units of POOL",
       "POOL UNITLEN PREFIX, or - to read them per line", op_index},
  };
  for (const Spec& spec : kSpecs) {
    auto* sub = net->add_subcommand(spec.name, spec.help);
    auto operands = std::make_shared<std::vector<std::string>>();
    sub->add_option("operands", *operands, spec.operands)->required()->allow_extra_args();
    sub->callback([&exit_code, operands, op = spec.op] { exit_code = run_once(op, *operands); });
  }
}

}  // namespace uepool::tools
