// ExternalTransport: see uepool/transport/external_transport.hpp.
#include "uepool/transport/external_transport.hpp"

namespace uepool::transport {

bool ExternalTransport::send(const set::Frame& frame) {
  auto pieces = wire::encode_fragments(frame, ++message_id_);
  const std::lock_guard<std::mutex> lock(mu_);
  if (!pieces.ok()) {
    ++c_.send_refused;
    return false;
  }
  if (out_.size() + pieces.value().size() > kMaxQueued) {
    ++c_.send_dropped;  // the embedding is not taking: the channel retransmits
    return false;
  }
  for (std::vector<std::uint8_t>& b : pieces.value()) {
    c_.bytes_sent += b.size();
    out_.push_back({frame.to, std::move(b)});
  }
  ++c_.sent;
  return true;
}

Status ExternalTransport::feed(std::span<const std::uint8_t> bytes) {
  const std::lock_guard<std::mutex> lock(mu_);
  c_.bytes_received += bytes.size();
  if (in_.size() >= kMaxQueued) {
    ++c_.decode_errors;
    return Status(StatusCode::kResourceExhausted, "too many frames waiting for the message loop (is it running?)");
  }
  auto f = reassembler_.take(bytes);
  if (!f.ok()) {
    ++c_.decode_errors;
    return f.status();
  }
  if (!f.value().has_value()) return Status::ok_status();  // a piece of a larger message
  if (f.value()->to != self_) {
    ++c_.wrong_destination;
    return Status(StatusCode::kInvalidArgument, "the frame is addressed to another member")
        .with_number(f.value()->to, "member");
  }
  in_.push_back(std::move(*f.value()));
  return Status::ok_status();
}

Status ExternalTransport::receive(int /*timeout_ms*/, std::vector<set::Frame>& out) {
  const std::lock_guard<std::mutex> lock(mu_);
  c_.received += in_.size();
  for (set::Frame& f : in_) out.push_back(std::move(f));
  in_.clear();
  return Status::ok_status();
}

ExternalTransport::Take ExternalTransport::take(Outgoing& out, std::size_t capacity, std::size_t& need) {
  const std::lock_guard<std::mutex> lock(mu_);
  if (out_.empty()) {
    need = 0;
    return Take::kNone;
  }
  need = out_.front().bytes.size();
  if (need > capacity) return Take::kTooSmall;
  out = std::move(out_.front());
  out_.pop_front();
  return Take::kTaken;
}

TransportCounters ExternalTransport::counters() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return c_;
}

}  // namespace uepool::transport
