// Fuzz target: the frame decoder.
//
// Properties checked (not only "no crash", no leak, no undefined behaviour
// under ASan and UBSan):
//   * decode never throws and never accepts a frame above kMaxFrameBytes;
//   * a Reassembler given the same bytes agrees with decode on whole frames;
//   * whatever decodes encodes again, and that encoding decodes to the same
//     encoding (one round trip reaches the canonical form: the encoding is
//     a function of the decoded value).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "uepool/wire/codec.hpp"
#include "uepool/wire/crc32c.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace uepool::wire;
  // The first byte chooses: odd — the rest is decoded as it is (the header
  // and checksum checks); even — its length field and checksum are fixed
  // first, so that mutations reach the body decoders.
  if (size == 0) return 0;
  std::vector<std::uint8_t> frame(data + 1, data + size);
  if ((data[0] & 1) == 0 && frame.size() >= kHeaderBytes + kChecksumBytes && frame.size() <= kMaxFrameBytes) {
    const auto n = static_cast<std::uint32_t>(frame.size());
    for (int i = 0; i < 4; ++i) frame[4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    const std::uint32_t c = crc32c(std::span<const std::uint8_t>(frame).first(frame.size() - kChecksumBytes));
    for (int i = 0; i < 4; ++i)
      frame[frame.size() - kChecksumBytes + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c >> (8 * i));
  }
  // The reassembler takes every frame: a whole frame comes back as decode
  // gives it; a fragment is checked field by field (one piece never
  // completes a message: a fragmented one has at least two).
  Reassembler reassembler;
  auto r = reassembler.take(frame);
  auto d = decode(frame);
  if (r.ok() && r.value().has_value()) check(d.ok());
  if (d.ok()) check(r.ok() && r.value().has_value());
  if (!d.ok()) {
    check(d.status().reason() != nullptr && d.status().reason()[0] != '\0');
    return 0;
  }
  check(size <= kMaxFrameBytes);
  auto e = encode(d.value());
  check(e.ok());
  auto again = decode(e.value());
  check(again.ok());
  auto e2 = encode(again.value());
  check(e2.ok() && e2.value() == e.value());
  return 0;
}
