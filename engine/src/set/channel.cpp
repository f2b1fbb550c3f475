// Channel: sequence numbers, cumulative acks, a reorder buffer. See uepool/set/channel.hpp.
#include "uepool/set/channel.hpp"

namespace uepool::set {

std::uint64_t Channel::push(std::vector<Record> batch) {
  if (!fits(batch.size())) return 0;
  unacked_records_ += batch.size();
  const std::uint64_t seq = next_seq_++;
  out_.push_back(Out{seq, std::move(batch), 0, false});
  return seq;
}

void Channel::on_ack(std::uint64_t ack) noexcept {
  while (!out_.empty() && out_.front().seq <= ack) {
    unacked_records_ -= out_.front().records.size();
    out_.pop_front();
  }
}

void Channel::reset() noexcept {
  out_.clear();
  unacked_records_ = 0;
  next_seq_ = 1;
  expected_ = 1;
  reorder_.clear();
}

}  // namespace uepool::set
