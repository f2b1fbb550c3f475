// LoopbackSet: see uepool/testing/loopback_set.hpp.
#include "uepool/testing/loopback_set.hpp"

namespace uepool::testing {

Result<std::unique_ptr<LoopbackSet>> LoopbackSet::create(LoopbackOptions options) {
  if (!options.plan) return Status(StatusCode::kInvalidArgument, "loopback set without a plan");
  std::unique_ptr<LoopbackSet> s(new LoopbackSet(std::move(options)));
  for (const set::MemberSpec& m : s->plan().members()) {
    if (Status st = s->start(m.id, /*fresh=*/true); !st.ok()) return st;
  }
  return s;
}

set::MemberOptions LoopbackSet::options(std::uint32_t id, bool fresh) {
  set::MemberOptions o;
  o.id = id;
  o.plan = options_.plan;
  o.pools = options_.pools;
  o.fresh = fresh;
  o.nonce = nonce_++;
  if (options_.tune) options_.tune(o);
  return o;
}

Status LoopbackSet::start(std::uint32_t id, bool fresh) {
  auto created = set::Member::create(options(id, fresh));
  if (!created.ok()) return created.status();
  crash(id);
  members_[id] = std::move(created.value());
  workers_[id] = members_[id]->create_worker();
  return Status();
}

void LoopbackSet::crash(std::uint32_t id) {
  workers_.erase(id);
  members_.erase(id);
}

set::Member* LoopbackSet::member(std::uint32_t id) const {
  const auto it = members_.find(id);
  return it == members_.end() ? nullptr : it->second.get();
}

set::Member::Worker* LoopbackSet::worker(std::uint32_t id) const {
  const auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second;
}

std::vector<std::uint32_t> LoopbackSet::ids() const {
  std::vector<std::uint32_t> out;
  for (const auto& [id, m] : members_) out.push_back(id);
  return out;
}

std::size_t LoopbackSet::pump(std::uint64_t now) {
  frames_.clear();
  for (auto& [id, m] : members_) {
    m->on_tick(now);
    for (set::Frame& f : m->take_outgoing()) frames_.push_back(std::move(f));
  }
  std::size_t delivered = 0;
  for (const set::Frame& f : frames_) {
    if (down_.count(f.from) != 0 || down_.count(f.to) != 0) continue;
    set::Member* to = member(f.to);
    if (to == nullptr) continue;
    to->on_frame(f, now);
    ++delivered;
  }
  return delivered;
}

}  // namespace uepool::testing
