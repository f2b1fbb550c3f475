// LoopbackSet: see uepool/testing/loopback_set.hpp.
#include "uepool/testing/loopback_set.hpp"

namespace uepool::testing {

// Endpoint — what a member sends joins the round's frames; what reaches it
// waits in its inbox for its pump.
class LoopbackSet::Endpoint final : public transport::InboxTransport {
 public:
  explicit Endpoint(std::vector<set::Frame>& wire) : wire_(wire) {}
  bool send(const set::Frame& frame) override {
    wire_.push_back(frame);
    ++c_.sent;
    return true;
  }

 private:
  std::vector<set::Frame>& wire_;
};

LoopbackSet::LoopbackSet(LoopbackOptions options) : options_(std::move(options)), nonce_(options_.first_nonce) {}
LoopbackSet::~LoopbackSet() = default;

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
  endpoints_[id] = std::make_unique<Endpoint>(frames_);
  workers_[id] = members_[id]->create_worker();
  return Status();
}

void LoopbackSet::crash(std::uint32_t id) {
  workers_.erase(id);
  members_.erase(id);
  endpoints_.erase(id);
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
  transport::PumpCounters c;
  for (auto& [id, m] : members_) (void)transport::pump_out(*m, *endpoints_.at(id), now, c);
  std::size_t delivered = 0;
  for (set::Frame& f : frames_) {
    if (down_.count(f.from) != 0 || down_.count(f.to) != 0) continue;
    const auto to = endpoints_.find(f.to);
    if (to == endpoints_.end()) continue;
    to->second->inbox.push_back(std::move(f));
    ++delivered;
  }
  for (auto& [id, m] : members_)
    (void)transport::pump_in(
        *m, *endpoints_.at(id), 0, [now] { return now; }, scratch_, c);
  return delivered;
}

}  // namespace uepool::testing
