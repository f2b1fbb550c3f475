// Replica — applying a peer's usage stream and bulk copies. See uepool/set/replica.hpp.
#include "uepool/set/replica.hpp"

#include <algorithm>
#include <bit>

namespace uepool::set {

// retire_consistent — a member retired in an epoch stays retired in every
// later one (it never runs again): a plan that breaks that against a known
// one is refused.
bool PlanBook::retire_consistent(const Plan& plan) const {
  for (const auto& [e, known] : plans_) {
    if (e == plan.epoch()) continue;
    const Plan& before = e < plan.epoch() ? *known : plan;
    const Plan& after = e < plan.epoch() ? plan : *known;
    for (const MemberSpec& m : before.members())
      if (m.retired && !after.retired(m.id)) return false;
  }
  return true;
}

bool PlanBook::add(const std::shared_ptr<const Plan>& plan) {
  if (!plan || !base_->same_roster(plan->members()) || plan->pool_count() != base_->pool_count()) return false;
  if (!retire_consistent(*plan)) return false;
  for (std::size_t i = 0; i < plan->pool_count(); ++i)
    if (plan->units(i) != base_->units(i) || plan->block_units(i) != base_->block_units(i)) return false;
  auto [it, fresh] = plans_.try_emplace(plan->epoch(), plan);
  return fresh || it->second == plan || it->second->same_assignment(*plan);
}

std::shared_ptr<const Plan> PlanBook::get(std::uint64_t epoch, const std::vector<MemberSpec>& members) {
  if (!base_->same_roster(members)) return nullptr;
  auto it = plans_.find(epoch);
  if (it != plans_.end()) {
    // The same weights, or it is another plan for that epoch (the members disagree).
    std::vector<MemberSpec> sorted = members;
    std::sort(sorted.begin(), sorted.end(), [](const MemberSpec& a, const MemberSpec& b) { return a.id < b.id; });
    const auto have = it->second->members();
    for (std::size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i].id != have[i].id || sorted[i].weight != have[i].weight || sorted[i].retired != have[i].retired)
        return nullptr;
    return it->second;
  }
  auto made = base_->reweighted(epoch, members);
  if (!made.ok()) return nullptr;
  auto plan = std::make_shared<const Plan>(std::move(made.value()));
  if (!retire_consistent(*plan)) return nullptr;
  plans_.emplace(epoch, plan);
  return plan;
}

std::vector<UsageSnapshot::EpochMembers> PlanBook::history_before(std::uint64_t epoch) const {
  std::vector<UsageSnapshot::EpochMembers> out;
  const std::uint64_t first = epoch > UsageSnapshot::kMaxHistory ? epoch - UsageSnapshot::kMaxHistory : 0;
  for (auto it = plans_.lower_bound(first); it != plans_.end() && it->first < epoch; ++it)
    out.push_back({it->first, {it->second->members().begin(), it->second->members().end()}});
  return out;
}

bool Replica::owns(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < pools_.size() && unit < pools_[pool].pool->size() && plan_->owner(pool, unit) == owner_;
}

bool Replica::allocates(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return owns(pool, unit) && (pending_.empty() || !pending(pool, plan_->block_of(pool, unit)));
}

bool Replica::frozen(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < frozen_.size() && unit < pools_[pool].pool->size() &&
         frozen_[pool].contains(static_cast<std::uint32_t>(plan_->block_of(pool, unit)));
}

Replica::Outcome Replica::seed(const Incarnation& of, const record::Seed& r, std::uint64_t now) {
  const UsageSnapshot* s = r.snapshot.get();
  if (s == nullptr || s->in_use.size() != pools_.size()) return refuse();
  // The snapshot's epoch first: what the owner owns, has pending and keeps frozen there.
  plan_ = start_plan_;
  for (const UsageSnapshot::EpochMembers& h : s->history)  // epochs this replica's member may have missed
    if (book_->get(h.epoch, h.members) == nullptr) return refuse();
  if (!s->members.empty()) plan_ = book_->get(s->epoch, s->members);
  if (plan_ == nullptr) {
    plan_ = start_plan_;
    return refuse();
  }
  handover_ = s->handover;
  pending_.clear();
  frozen_.assign(pools_.size(), ::Roaring());
  for (const UsageSnapshot::PendingBlock& b : s->pending) {
    if (b.pool >= pools_.size() || b.block >= plan_->blocks(b.pool) ||
        !owns(b.pool, b.block * plan_->block_units(b.pool)) || b.from == owner_)
      return refuse();
    pending_[{b.pool, b.block}] = b.from;
  }
  if (s->frozen.size() > pools_.size()) return refuse();
  for (std::uint32_t i = 0; i < s->frozen.size(); ++i) {
    for (std::uint32_t b : s->frozen[i])  // not owned, or owned again but not taken yet
      if (b >= plan_->blocks(i) || (owns(i, std::uint64_t{b} * plan_->block_units(i)) && !pending(i, b)))
        return refuse();
    frozen_[i] = s->frozen[i];
  }
  for (std::uint32_t i = 0; i < s->in_use.size(); ++i)
    for (std::uint32_t u : s->in_use[i])
      if (!owns(i, u) && !frozen(i, u)) return refuse();
  for (const OpenWindow& w : s->windows)
    if (w.end <= w.begin || !allocates(w.pool, w.begin) || !allocates(w.pool, w.end - 1)) return refuse();
  for (const HeldUnit& h : s->held)
    if (!owns(h.pool, h.unit) && !frozen(h.pool, h.unit)) return refuse();
  complete_ = true;
  of_ = of;
  seq_ = r.stream_seq;
  words_.assign(pools_.size(), {});
  statics_.assign(pools_.size(), ::Roaring());
  for (std::uint32_t i = 0; i < s->in_use.size(); ++i) {
    for (std::uint32_t u : s->in_use[i]) {
      if (pools_[i].pool->is_static(u)) {
        statics_[i].add(u);
      } else {
        words_[i].set(u >> 6, words_[i].get(u >> 6) | (std::uint64_t{1} << (u & 63)));
      }
    }
  }
  windows_.clear();
  held_.clear();
  for (const OpenWindow& w : s->windows) windows_.push_back({w, now + w.lease_left});
  for (const HeldUnit& h : s->held) held_[{h.pool, h.unit}] = now + h.remaining;
  pool_hold_until_.assign(pools_.size(), 0);
  for (std::size_t i = 0; i < s->pool_hold.size() && i < pools_.size(); ++i)
    if (s->pool_hold[i] != 0) pool_hold_until_[i] = now + s->pool_hold[i];
  return Outcome::kApplied;
}

void Replica::assume_complete(const Incarnation& of, std::uint64_t seq) {
  complete_ = true;
  of_ = of;
  seq_ = seq;
  words_.assign(pools_.size(), {});
  statics_.assign(pools_.size(), ::Roaring());
  windows_.clear();
  held_.clear();
  pool_hold_until_.clear();
  plan_ = start_plan_;
  handover_ = false;
  pending_.clear();
  frozen_.assign(pools_.size(), ::Roaring());
}

Replica::Outcome Replica::apply(const Incarnation& of, const Record& r, std::uint64_t now) {
  if (const auto* s = std::get_if<record::Seed>(&r)) return seed(of, *s, now);
  if (!is_stream(r)) return refuse();
  if (!complete_for(of)) return Outcome::kWaiting;    // waiting for a bulk copy of this incarnation
  if (stream_seq_of(r) != seq_ + 1) return refuse();  // a gap: the replica can no longer be trusted
  // Every unit a record names must lie in a block its sender owns. A word
  // lies in one block (blocks are at least 64 units and aligned).
  const bool ok = std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, record::Window>) {
          return x.end > x.begin && allocates(x.pool, x.begin) && allocates(x.pool, x.end - 1) &&
                 x.end - x.begin <= plan_->block_units(x.pool);
        } else if constexpr (std::is_same_v<T, record::Words>) {
          return x.word < (std::uint64_t{1} << 57) && owns(x.pool, x.word << 6);
        } else if constexpr (std::is_same_v<T, record::Close>) {
          return x.pool < pools_.size();
        } else if constexpr (std::is_same_v<T, record::Alloc> || std::is_same_v<T, record::Free>) {
          return owns(x.pool, x.unit);
        } else if constexpr (std::is_same_v<T, record::Epoch>) {
          return on_epoch(x);  // applied here: it changes what the owner owns
        } else if constexpr (std::is_same_v<T, record::Take>) {
          return pending(x.pool, x.block);
        } else if constexpr (std::is_same_v<T, record::Handover>) {
          return x.epoch == plan_->epoch();
        } else {
          return false;
        }
      },
      r);
  if (!ok) return refuse();
  seq_ = stream_seq_of(r);
  std::visit(
      [&](const auto& x) {
        if constexpr (requires { this->on(x, now); }) on(x, now);
      },
      r);
  return Outcome::kApplied;
}

void Replica::on(const record::Window& r, std::uint64_t now) {
  windows_.push_back({OpenWindow{r.pool, r.begin, r.end, r.tag, r.lease}, now + r.lease});
}

void Replica::on(const record::Words& r, std::uint64_t now) {
  const std::uint64_t hold = pools_[r.pool].hold_down;
  WordMap& words = words_[r.pool];
  const std::uint64_t old = words.get(r.word);
  // Units that went from in use to free without a Free record (a unit given
  // back in a close race): held down from now, to be safe.
  for (std::uint64_t freed = old & ~r.bits; hold > 0 && freed != 0; freed &= freed - 1)
    held_.try_emplace({r.pool, (r.word << 6) | static_cast<std::uint64_t>(std::countr_zero(freed))}, now + hold);
  for (std::uint64_t taken = held_.empty() ? 0 : r.bits & ~old; taken != 0; taken &= taken - 1)
    held_.erase({r.pool, (r.word << 6) | static_cast<std::uint64_t>(std::countr_zero(taken))});
  words.set(r.word, r.bits);
}

void Replica::on(const record::Alloc& r, std::uint64_t) {
  if (pools_[r.pool].pool->is_static(r.unit)) statics_[r.pool].add(static_cast<std::uint32_t>(r.unit));
}

void Replica::on(const record::Free& r, std::uint64_t now) {
  if (pools_[r.pool].pool->is_static(r.unit)) {
    statics_[r.pool].remove(static_cast<std::uint32_t>(r.unit));
    return;
  }
  WordMap& words = words_[r.pool];
  words.set(r.unit >> 6, words.get(r.unit >> 6) & ~(std::uint64_t{1} << (r.unit & 63)));
  held_[{r.pool, r.unit}] = now + pools_[r.pool].hold_down;
}

void Replica::on(const record::Close& r, std::uint64_t) {
  std::erase_if(windows_, [&](const Win& w) { return w.w.tag == r.tag && w.w.pool == r.pool; });
}

bool Replica::on_epoch(const record::Epoch& r) {
  if (r.epoch != plan_->epoch() + 1 || !pending_.empty()) return false;  // in order, each taken before the next
  std::shared_ptr<const Plan> next = book_->get(r.epoch, r.members);
  if (next == nullptr) return false;
  const Plan& old = *plan_;
  // Windows in blocks the owner loses were closed before its mark.
  for (const Win& w : windows_)
    if (next->owner(w.w.pool, w.w.begin) != owner_) return false;
  frozen_.resize(pools_.size());
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const std::uint64_t bu = old.block_units(i);
    for (std::uint64_t b = 0; b < old.blocks(i); ++b) {
      const std::uint32_t was = old.owner(i, b * bu), now = next->owner(i, b * bu);
      if (was == owner_ && now != owner_) frozen_[i].add(static_cast<std::uint32_t>(b));
      if (now == owner_ && was != owner_) pending_[{i, b}] = was;  // frozen (if it was) until its Take
    }
  }
  plan_ = std::move(next);
  handover_ = false;
  return true;
}

void Replica::on(const record::Take& r, std::uint64_t) {
  pending_.erase({r.pool, r.block});
  if (r.pool < frozen_.size()) frozen_[r.pool].remove(static_cast<std::uint32_t>(r.block));
}

void Replica::on(const record::Handover&, std::uint64_t) {
  handover_ = true;
}

void Replica::expire(std::uint64_t now) {
  std::erase_if(held_, [&](const auto& kv) { return kv.second <= now; });
}

bool Replica::in_use(std::uint32_t pool, std::uint64_t unit) const noexcept {
  if (pool >= words_.size()) return false;
  if (statics_[pool].contains(static_cast<std::uint32_t>(unit))) return true;
  return ((words_[pool].get(unit >> 6) >> (unit & 63)) & 1) != 0;
}

bool Replica::held(std::uint32_t pool, std::uint64_t unit, std::uint64_t now) const noexcept {
  auto it = held_.find({pool, unit});
  return it != held_.end() && it->second > now;
}

std::shared_ptr<const UsageSnapshot> Replica::snapshot(std::uint64_t now) const {
  auto s = std::make_shared<UsageSnapshot>();
  s->of = of_;
  s->stream_seq = seq_;
  s->in_use.assign(pools_.size(), ::Roaring());
  for (std::size_t i = 0; i < pools_.size(); ++i) {
    if (i < statics_.size()) s->in_use[i] = statics_[i];
    if (i >= words_.size()) continue;
    words_[i].for_each([&](std::uint64_t word, std::uint64_t bits) {
      for (std::uint64_t b = bits; b != 0; b &= b - 1)
        s->in_use[i].add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(b))));
    });
  }
  for (const Win& w : windows_) {
    OpenWindow ow = w.w;
    ow.lease_left = w.until > now ? w.until - now : 0;
    s->windows.push_back(ow);
  }
  for (const auto& [key, until] : held_)
    if (until > now) s->held.push_back({key.first, key.second, until - now});
  for (std::uint64_t until : pool_hold_until_) s->pool_hold.push_back(until > now ? until - now : 0);
  s->epoch = plan_->epoch();
  s->members.assign(plan_->members().begin(), plan_->members().end());
  s->handover = handover_;
  for (const auto& [key, from] : pending_) s->pending.push_back({key.first, key.second, from});
  s->frozen = frozen_;
  s->frozen.resize(pools_.size());
  s->history = book_->history_before(plan_->epoch());
  return s;
}

}  // namespace uepool::set
