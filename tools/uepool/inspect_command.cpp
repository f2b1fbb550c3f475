// `uepool inspect FILE|-`: the frames in a file (as they travel between
// members: the wire format of uepool/wire/codec.hpp) as readable text. The
// file holds one or more frames back to back, in binary or as hex text
// (whitespace ignored); a message in fragments is put together first. A
// node's own state comes this way from its control socket:
//   echo dump | socat - UNIX-CONNECT:/run/uepool/smf1.sock | cut -d' ' -f2 | uepool inspect -
// (`dump` answers the member's snapshot as a RecoverAnswer message in hex.)
// Corrupt input is refused with the reason and its offset, and nothing
// after it is read. Exit status: 0 every frame read, 2 usage or bad input.
#include "inspect_command.hpp"

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "uepool/wire/codec.hpp"

namespace uepool::tools {

namespace {

std::string inc_text(const set::Incarnation& i) {
  return "generation " + std::to_string(i.generation) + " nonce " + std::to_string(i.nonce);
}

const char* kind_name(const set::Frame& f) {
  switch (f.kind()) {
    case set::FrameKind::kData: return "Data";
    case set::FrameKind::kGenQuery: return "GenQuery";
    case set::FrameKind::kGenAnswer: return "GenAnswer";
    case set::FrameKind::kRecoverRequest: return "RecoverRequest";
    case set::FrameKind::kRecoverAnswer: return "RecoverAnswer";
    case set::FrameKind::kFenced: return "Fenced";
  }
  return "?";
}

std::string weights_text(const std::vector<set::MemberSpec>& members) {
  std::string out;
  for (const set::MemberSpec& m : members) out += " " + std::to_string(m.id) + "=" + std::to_string(m.weight);
  return out;
}

void print_snapshot(const set::UsageSnapshot& s, const char* indent) {
  std::printf("%ssnapshot of %s, stream seq %" PRIu64 "\n", indent, inc_text(s.of).c_str(), s.stream_seq);
  for (std::size_t p = 0; p < s.in_use.size(); ++p) {
    const ::Roaring& r = s.in_use[p];
    std::string first;
    int n = 0;
    for (auto it = r.begin(); it != r.end() && n < 8; ++it, ++n) first += (n == 0 ? "" : " ") + std::to_string(*it);
    std::printf("%s  pool %zu: %" PRIu64 " units in use%s%s%s\n", indent, p, r.cardinality(), n > 0 ? " (" : "",
                first.c_str(), n > 0 ? (r.cardinality() > 8 ? " ...)" : ")") : "");
  }
  for (const set::OpenWindow& w : s.windows)
    std::printf("%s  window pool %u units [%" PRIu64 ", %" PRIu64 ") tag %u.%u, lease left %" PRIu64 "\n", indent,
                w.pool, w.begin, w.end, w.tag.generation, w.tag.window, w.lease_left);
  for (const set::HeldUnit& h : s.held)
    std::printf("%s  held down: pool %u unit %" PRIu64 ", %" PRIu64 " left\n", indent, h.pool, h.unit, h.remaining);
  for (std::size_t p = 0; p < s.pool_hold.size(); ++p)
    if (s.pool_hold[p] != 0) std::printf("%s  pool %zu: no window for %" PRIu64 " more\n", indent, p, s.pool_hold[p]);
  std::printf("%s  membership epoch %" PRIu64 " (weights%s)%s\n", indent, s.epoch, weights_text(s.members).c_str(),
              s.handover ? ", its mark acknowledged" : "");
  for (const set::UsageSnapshot::PendingBlock& b : s.pending)
    std::printf("%s  to take: pool %u block %" PRIu64 " from member %u\n", indent, b.pool, b.block, b.from);
  for (std::size_t p = 0; p < s.frozen.size(); ++p)
    if (!s.frozen[p].isEmpty())
      std::printf("%s  pool %zu: %" PRIu64 " blocks frozen for their taker\n", indent, p, s.frozen[p].cardinality());
  for (const set::UsageSnapshot::EpochMembers& h : s.history)
    std::printf("%s  earlier epoch %" PRIu64 ": weights%s\n", indent, h.epoch, weights_text(h.members).c_str());
}

void print_record(const set::Record& r) {
  std::visit(
      [](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, set::record::Seed>) {
          std::printf("    seed (bulk copy), stream seq %" PRIu64 "\n", x.stream_seq);
          if (x.snapshot) print_snapshot(*x.snapshot, "      ");
        } else if constexpr (std::is_same_v<T, set::record::Window>) {
          std::printf("    window, stream seq %" PRIu64 ": pool %u units [%" PRIu64 ", %" PRIu64
                      ") tag %u.%u lease %" PRIu64 "\n",
                      x.stream_seq, x.pool, x.begin, x.end, x.tag.generation, x.tag.window, x.lease);
        } else if constexpr (std::is_same_v<T, set::record::Words>) {
          std::printf("    words, stream seq %" PRIu64 ": pool %u word %" PRIu64 " (units %" PRIu64
                      "..) in use %016" PRIx64 "\n",
                      x.stream_seq, x.pool, x.word, x.word * 64, x.bits);
        } else if constexpr (std::is_same_v<T, set::record::Alloc>) {
          std::printf("    static claim, stream seq %" PRIu64 ": pool %u unit %" PRIu64 "\n", x.stream_seq, x.pool,
                      x.unit);
        } else if constexpr (std::is_same_v<T, set::record::Free>) {
          std::printf("    free, stream seq %" PRIu64 ": pool %u unit %" PRIu64 "\n", x.stream_seq, x.pool, x.unit);
        } else if constexpr (std::is_same_v<T, set::record::Close>) {
          std::printf("    window closed, stream seq %" PRIu64 ": pool %u tag %u.%u\n", x.stream_seq, x.pool,
                      x.tag.generation, x.tag.window);
        } else if constexpr (std::is_same_v<T, set::record::Release>) {
          std::printf("    release: pool %u unit %" PRIu64 " tag %u.%u serial %u nonce %" PRIu64 " claim %" PRIu64 "\n",
                      x.pool, x.unit, x.tag.generation, x.tag.window, static_cast<unsigned>(x.serial), x.nonce,
                      x.claim);
        } else if constexpr (std::is_same_v<T, set::record::Claim>) {
          std::printf("    claim: pool %u unit %" PRIu64 " claim id %" PRIu64 "\n", x.pool, x.unit, x.claim);
        } else if constexpr (std::is_same_v<T, set::record::Epoch>) {
          std::printf("    epoch mark, stream seq %" PRIu64 ": membership epoch %" PRIu64 ", weights%s\n", x.stream_seq,
                      x.epoch, weights_text(x.members).c_str());
        } else if constexpr (std::is_same_v<T, set::record::Take>) {
          std::printf("    taken, stream seq %" PRIu64 ": pool %u block %" PRIu64 "\n", x.stream_seq, x.pool, x.block);
        } else if constexpr (std::is_same_v<T, set::record::Handover>) {
          std::printf("    handover, stream seq %" PRIu64 ": the mark of epoch %" PRIu64 " is acknowledged\n",
                      x.stream_seq, x.epoch);
        }
      },
      r);
}

void print_frame(const set::Frame& f, std::size_t bytes, std::size_t pieces) {
  std::printf("%s from member %u (%s) to member %u (%s), %zu bytes%s\n", kind_name(f), f.from,
              inc_text(f.from_inc).c_str(), f.to, inc_text(f.to_inc).c_str(), bytes,
              pieces > 1 ? (" in " + std::to_string(pieces) + " fragments").c_str() : "");
  if (const set::frame::Data* d = f.data()) {
    std::printf("  channel seq %" PRIu64 "%s, acknowledges up to %" PRIu64
                "; the sender's replica of the receiver: %s at stream seq %" PRIu64 "\n",
                d->seq, d->seq == 0 ? " (a heartbeat)" : "", d->ack, d->replica.complete ? "complete" : "incomplete",
                d->replica.seq);
    std::printf("  %zu records\n", d->records.size());
    for (const set::Record& r : d->records) print_record(r);
  } else if (const auto* g = std::get_if<set::frame::GenAnswer>(&f.body)) {
    std::printf("  highest generation known for the receiver %u; holds a complete replica: %s\n", g->max_generation,
                g->complete ? "yes" : "no");
  } else if (const auto* a = std::get_if<set::frame::RecoverAnswer>(&f.body)) {
    std::printf("  replica complete: %s\n", a->complete ? "yes" : "no");
    if (a->snapshot) print_snapshot(*a->snapshot, "  ");
  } else if (const auto* x = std::get_if<set::frame::Fenced>(&f.body)) {
    std::printf("  fenced: the sender knows generation %u of the receiver\n", x->max_generation);
  }
}

int run_inspect(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
      return 2;
    }
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::vector<std::uint8_t> bytes;
  bool hex = !text.empty();
  std::string digits;
  for (const char ch : text) {
    if (std::isxdigit(static_cast<unsigned char>(ch)) != 0) {
      digits.push_back(ch);
    } else if (std::isspace(static_cast<unsigned char>(ch)) == 0) {
      hex = false;
      break;
    }
  }
  if (hex && digits.size() % 2 == 0) {
    for (std::size_t i = 0; i < digits.size(); i += 2)
      bytes.push_back(static_cast<std::uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  } else {
    bytes.assign(text.begin(), text.end());
  }
  if (bytes.empty()) {
    std::fprintf(stderr, "error: %s holds no frame\n", path.c_str());
    return 2;
  }
  wire::Reassembler reassembler;
  std::size_t at = 0, frames = 0, pieces = 0, message_bytes = 0;
  while (at < bytes.size()) {
    // Each frame says its length (bytes 4..7); a shorter rest is refused by the decoder.
    std::size_t len = bytes.size() - at;
    if (len >= 8) {
      const std::size_t l = static_cast<std::size_t>(bytes[at + 4]) | static_cast<std::size_t>(bytes[at + 5]) << 8 |
                            static_cast<std::size_t>(bytes[at + 6]) << 16 |
                            static_cast<std::size_t>(bytes[at + 7]) << 24;
      if (l >= 8 && l <= len) len = l;
    }
    const std::span<const std::uint8_t> one(bytes.data() + at, len);
    auto got = reassembler.take(one);
    if (!got.ok()) {
      std::fprintf(stderr, "error: the frame at byte %zu is refused: %s\n", at, got.status().to_string().c_str());
      return 2;
    }
    ++pieces;
    message_bytes += len;
    at += len;
    if (!got.value().has_value()) continue;  // a fragment: more to come
    print_frame(*got.value(), message_bytes, pieces);
    ++frames;
    pieces = 0;
    message_bytes = 0;
  }
  if (pieces != 0) {
    std::fprintf(stderr, "error: a message in fragments ends before its last piece (%zu read)\n", pieces);
    return 2;
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("inspect", "frames between members (or a node's dump) as readable text");
  cmd->footer(
      "Examples:\n"
      "  uepool inspect frame.bin\n"
      "  echo dump | socat - UNIX-CONNECT:/run/uepool/smf1.sock | cut -d' ' -f2 | uepool inspect -\n"
      "Binary or hex text; frames back to back; fragments are put together. Corrupt input: exit 2 with the reason.");
  cmd->add_option("file", *path, "the file, or - for standard input")->required();
  cmd->callback([path, &exit_code] { exit_code = run_inspect(*path); });
}

}  // namespace uepool::tools
