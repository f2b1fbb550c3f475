// Simulator — the simulated network: delivery after a random delay (reordering), loss, duplication, and partitions
// (blocked pairs). See uepool/sim/simulator.hpp.
#include <cstdio>

#include "sim_state.hpp"

namespace uepool::sim {

bool Simulator::blocked(std::uint32_t a, std::uint32_t b) const {
  return blocks_.count({std::min(a, b), std::max(a, b)}) != 0 || (!one_way_.empty() && one_way_.count({a, b}) != 0);
}

void Simulator::send(set::Frame f) {
  ++result_.stats.frames_sent;
  if (faults_on_ && params_.loss_ppm > 0 && rng_.chance(params_.loss_ppm)) {
    ++result_.stats.frames_lost;
    any_fault_ = true;
    return;
  }
  const int copies = faults_on_ && params_.dup_ppm > 0 && rng_.chance(params_.dup_ppm) ? 2 : 1;
  auto arrival = [&] { return now_ + 1 + (params_.delay_max > 1 ? rng_.below(params_.delay_max) : 0); };
  if (copies == 2) {
    const std::uint64_t at = arrival();  // the duplicate: drawn first, as every copy in turn
    network_.emplace(std::pair(at, next_frame_++), f);
  }
  const std::uint64_t at = arrival();
  network_.emplace(std::pair(at, next_frame_++), std::move(f));
}

void Simulator::deliver() {
  while (!network_.empty() && network_.begin()->first.first <= now_ && result_.ok) {
    auto node = network_.extract(network_.begin());
    const set::Frame& f = node.mapped();  // moved into an inbox last
    if (f.to == 0 || f.to > nodes_.size() || blocked(f.from, f.to) ||
        (!data_one_way_.empty() && f.kind() == set::FrameKind::kData && data_one_way_.count({f.from, f.to}) != 0) ||
        (!nodes_[f.to - 1]->up && nodes_[f.to - 1]->zombie == nullptr)) {
      ++result_.stats.frames_lost;
      continue;
    }
    ++result_.stats.frames_delivered;
    const set::frame::Data* d = f.data();
    trace(TraceEvent::kDeliver, f.from * 8 + f.to,
          static_cast<std::uint64_t>(f.kind()) << 32 | (d != nullptr ? d->records.size() : 0),
          d != nullptr ? d->seq : 0);
    Node& to = *nodes_[f.to - 1];
    // Both incarnations answer to the member's address, unless the zombie is
    // cut off, or a split brain puts them on two sides (zombie_side). Each
    // endpoint's pump reads its inbox in this step.
    bool to_zombie = to.zombie != nullptr && !to.zombie_partitioned;
    bool to_current = to.up;
    if (to.zombie_side != 0 && to.zombie != nullptr) {
      to_zombie = to_zombie && f.from == to.zombie_side;
      to_current = to_current && f.from != to.zombie_side;
    }
    if (to_zombie && to_current) to.zombie_ep->inbox.push_back(f);
    if (to_current)
      to.ep->inbox.push_back(std::move(node.mapped()));
    else if (to_zombie)
      to.zombie_ep->inbox.push_back(std::move(node.mapped()));
  }
}

bool Simulator::Endpoint::send(const set::Frame& frame) {
  if (!sim_.send_from(member_, zombie_, frame)) {
    ++c_.send_dropped;
    return false;
  }
  ++c_.sent;
  return true;
}

bool Simulator::send_from(std::uint32_t member, bool zombie, const set::Frame& f) {
  const Node& n = *nodes_[member - 1];
  const bool passes = zombie ? !n.zombie_partitioned && (n.zombie_side == 0 || f.to == n.zombie_side)
                             : n.zombie_side == 0 || n.zombie == nullptr || f.to != n.zombie_side;
  if (passes) send(f);
  return passes;
}

void Simulator::block(std::uint32_t a, std::uint32_t b) {
  blocks_[{std::min(a, b), std::max(a, b)}] = UINT64_MAX;
  any_fault_ = true;
}

void Simulator::block_one_way(std::uint32_t from, std::uint32_t to) {
  one_way_.insert({from, to});
  any_fault_ = true;
}

void Simulator::block_data_one_way(std::uint32_t from, std::uint32_t to) {
  data_one_way_.insert({from, to});
  any_fault_ = true;
}

void Simulator::unblock(std::uint32_t a, std::uint32_t b) {
  blocks_.erase({std::min(a, b), std::max(a, b)});
  one_way_.erase({a, b});
  one_way_.erase({b, a});
  data_one_way_.erase({a, b});
  data_one_way_.erase({b, a});
}

void Simulator::isolate(std::uint32_t m) {
  for (std::uint32_t o = 1; o <= params_.members; ++o)
    if (o != m) block(m, o);
}

void Simulator::heal() {
  blocks_.clear();
  one_way_.clear();
  data_one_way_.clear();
  for (auto& n : nodes_) n->zombie_side = 0;
}

}  // namespace uepool::sim
