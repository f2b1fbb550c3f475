// Member: creation, frame dispatch, the tick order, flush and view. The
// other jobs live in member_*.cpp (hot path, windows, stream, releases,
// recovery); what the hot path shares with the message thread is described
// in member_state.hpp. See uepool/set/member.hpp and DESIGN.md section 2.
#include "uepool/set/member.hpp"

#include "member_state.hpp"

namespace uepool::set {

const char* member_status_name(MemberStatus s) noexcept {
  switch (s) {
    case MemberStatus::kOk: return "ok";
    case MemberStatus::kNoneFree: return "none free";
    case MemberStatus::kNotReady: return "not ready";
    case MemberStatus::kNoSuchPool: return "no such pool";
    case MemberStatus::kNotStatic: return "not a static unit";
    case MemberStatus::kOutOfRange: return "unit beyond the pool";
  }
  return "?";
}

namespace detail {
namespace {
struct RuleField {
  const char* name;
  bool Rules::*field;
};
constexpr RuleField kRuleFields[] = {
    {"peers_only_quorum", &Rules::peers_only_quorum},
    {"peers_only_answers", &Rules::peers_only_answers},
    {"complete_replica_votes", &Rules::complete_replica_votes},
    {"quarantine_open_windows", &Rules::quarantine_open_windows},
    {"restore_hold_down", &Rules::restore_hold_down},
    {"reseed_quarantined_in_use", &Rules::reseed_quarantined_in_use},
    {"fence_old_incarnations", &Rules::fence_old_incarnations},
    {"releases_die_with_incarnation", &Rules::releases_die_with_incarnation},
    {"audit_grace", &Rules::audit_grace},
    {"audit_skip_freed_words", &Rules::audit_skip_freed_words},
    {"stale_release_check", &Rules::stale_release_check},
    {"rebuild_lease_wait", &Rules::rebuild_lease_wait},
    {"rebuild_fence_quorum", &Rules::rebuild_fence_quorum},
    {"restored_releases_exact", &Rules::restored_releases_exact},
    {"replica_not_older", &Rules::replica_not_older},
    {"take_after_handover", &Rules::take_after_handover},
    {"retired_take_waits", &Rules::retired_take_waits},
    {"take_after_earlier_owners", &Rules::take_after_earlier_owners},
    {"returning_keeps_own", &Rules::returning_keeps_own},
};
}  // namespace

const std::vector<const char*>& rule_names() {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> v;
    for (const RuleField& f : kRuleFields) v.push_back(f.name);
    return v;
  }();
  return names;
}

bool switch_off(Rules& rules, std::string_view name) {
  for (const RuleField& f : kRuleFields) {
    if (name == f.name) {
      rules.*f.field = false;
      return true;
    }
  }
  return false;
}
}  // namespace detail

// ---------------------------------------------------------------- creation

Member::Member(const MemberOptions& options) : id_(options.id), options_(options), plan_(options.plan) {}
Member::~Member() = default;

Result<std::unique_ptr<Member>> Member::create(const MemberOptions& options) {
  if (!options.plan) return Status(StatusCode::kInvalidArgument, "member has no plan");
  const Plan& plan = *options.plan;
  auto book = std::make_shared<PlanBook>(options.history.empty() ? options.plan : options.history.front());
  for (const auto& h : options.history)
    if (!book->add(h))
      return Status(StatusCode::kInvalidArgument,
                    "a plan of the history names other members or pools, or differs from another of its epoch")
          .with_number(h ? h->epoch() : 0, "epoch");
  if (!book->add(options.plan))
    return Status(StatusCode::kInvalidArgument, "the plan names other members or pools than its history")
        .with_number(plan.epoch(), "epoch");
  if (!plan.has_member(options.id))
    return Status(StatusCode::kNotFound, "member id is not in the plan").with_number(options.id, "member");
  if (options.pools.size() != plan.pool_count())
    return Status(StatusCode::kInvalidArgument, "pool count differs from the plan")
        .with_number(options.pools.size(), "pools");
  if (!std::has_single_bit(options.window_units) || options.window_units < 64)
    return Status(StatusCode::kInvalidArgument, "window size is not a power of two of at least 64 units")
        .with_number(options.window_units, "units");
  if (options.lease == 0) return Status(StatusCode::kInvalidArgument, "lease is zero");
  if (options.windows_ahead == 0 || options.windows_ahead > kSlots / 2)
    return Status(StatusCode::kOutOfRange, "windows_ahead must be 1..32").with_number(options.windows_ahead);
  const std::uint32_t p = static_cast<std::uint32_t>(plan.members().size() - 1);
  std::uint32_t a = options.ack_quorum != 0 ? options.ack_quorum : (p + 1) / 2;
  std::uint32_t r = options.answer_quorum != 0 ? options.answer_quorum : p - a + 1;
  if (p == 0) a = r = 0;
  if (p > 0 && (a > p || r > p || a + r <= p || 2 * r <= p))
    return Status(StatusCode::kInvalidArgument, "quorums must satisfy A + R > p and 2R > p, A <= p, R <= p")
        .with_number(p, "peers");

  std::unique_ptr<Member> m(new Member(options));
  m->book_ = std::move(book);
  m->target_epoch_ = m->book_->newest();
  m->frozen_.assign(options.pools.size(), ::Roaring());
  m->returning_.assign(options.pools.size(), ::Roaring());
  m->ack_quorum_ = a;
  m->answer_quorum_ = r;
  for (std::size_t i = 0; i < options.pools.size(); ++i) {
    core::PoolConfig cfg = options.pools[i];
    const std::uint64_t hold = cfg.hold_down;
    cfg.hold_down = 0;  // the member holds units down itself (the hold-down is replicated)
    auto pool = core::Pool::create(cfg);
    if (!pool.ok()) return pool.status();
    if (pool.value()->size() != plan.units(i))
      return Status(StatusCode::kInvalidArgument, "pool size differs from the plan").with_number(i, "pool");
    auto ps = std::make_unique<PoolState>();
    ps->pool = std::move(pool.value());
    ps->hold_down = hold;
    ps->window_units = std::min(options.window_units, plan.block_units(i));
    ps->owned = plan.ranges_of(i, options.id);
    for (const auto& rg : ps->owned) {
      ps->chunk_start.push_back(ps->chunks);
      ps->chunks += (rg.size() + ps->window_units - 1) / ps->window_units;
    }
    m->pools_.push_back(std::move(ps));
  }
  for (const MemberSpec& spec : plan.members()) {
    if (spec.id == options.id) continue;
    auto peer = std::make_unique<Peer>();
    peer->id = spec.id;
    peer->ch = Channel(options.channel_capacity);
    std::vector<Replica::PoolShape> shapes;
    for (const auto& ps : m->pools_) shapes.push_back({ps->pool.get(), ps->hold_down});
    peer->replica = Replica(options.plan, spec.id, std::move(shapes), m->book_);
    m->peers_.emplace(spec.id, std::move(peer));
  }
  for (auto& ps : m->pools_) m->msg_workers_.push_back(std::make_unique<core::Pool::Worker>(*ps->pool));
  m->self_index_ = plan.member_index(options.id);
  m->hot_ = std::make_unique<HotPool[]>(m->pools_.size());
  m->hot_count_ = m->pools_.size();
  for (std::size_t i = 0; i < m->pools_.size(); ++i) {
    PoolState& ps = *m->pools_[i];
    ps.serials = std::make_unique<detail::UnitSerials>(ps.pool->size());
    HotPool& hp = m->hot_[i];
    hp.pool = ps.pool.get();
    hp.run_owner.store(plan.owner_table(i), std::memory_order_relaxed);  // before any worker exists
    hp.serials = ps.serials.get();
    hp.units = ps.pool->size();
    hp.run_shift = plan.run_shift(i);
    hp.direct_release = ps.hold_down == 0;
    hp.has_static = !options.pools[i].static_ranges.empty();
  }
  m->audit_ = std::make_unique<AuditState>();
  m->audit_->freed_at.assign(m->pools_.size(), {});
  if (options.fresh) {
    if (!m->take_generation(1))
      return Status(StatusCode::kUnavailable, "could not save the first generation to the generation store");
    m->phase_ = MemberPhase::kReady;
    m->generation_hot_.store(m->inc_.generation, std::memory_order_relaxed);
    m->ready_.store(true, std::memory_order_release);
  } else {
    m->inc_ = Incarnation{0, options.nonce};
  }
  return m;
}

Member::Worker* Member::create_worker() {
  if (workers_.size() >= options_.max_workers) return nullptr;
  const std::uint64_t base =
      detail::mix64(options_.nonce ^ detail::mix64((std::uint64_t{id_} << 32) | workers_.size()));
  workers_.push_back(std::make_unique<Worker>(*this, options_.release_ring, base));
  return workers_.back().get();
}

Status Member::set_membership(const std::shared_ptr<const Plan>& plan) {
  if (!plan) return Status(StatusCode::kInvalidArgument, "no plan");
  if (plan->epoch() < target_epoch_) {
    if (auto known = book_->find(plan->epoch()); known != nullptr && known->same_assignment(*plan))
      return Status::ok_status();  // an epoch already given: nothing new
    ++counters_.refused_plans;
    return Status(StatusCode::kInvalidArgument, "plan epoch is older than the newest one given")
        .with_number(plan->epoch(), "epoch");
  }
  if (!plan_->same_roster(plan->members())) {
    ++counters_.refused_plans;
    return Status(StatusCode::kInvalidArgument,
                  "plan names other members: the set's members are fixed (a member joins or leaves by its weight, "
                  "0 = standby)")
        .with_number(plan->epoch(), "epoch");
  }
  std::uint32_t retired = 0;
  for (const MemberSpec& m : plan->members()) retired += m.retired ? 1 : 0;
  if (!plan->retired(id_) && plan->members().size() - 1 - retired < ack_quorum_) {
    // Windows need A acknowledgements from peers that run: with fewer
    // left, no window of anyone is ever acknowledged again.
    ++counters_.refused_plans;
    return Status(StatusCode::kInvalidArgument,
                  "plan retires too many members: fewer than A peers that are not retired would be left")
        .with_number(plan->epoch(), "epoch");
  }
  if (!book_->retire_consistent(*plan)) {
    ++counters_.refused_plans;
    return Status(StatusCode::kInvalidArgument,
                  "plan brings back a retired member (retired is for good), or retires one a later epoch has not")
        .with_number(plan->epoch(), "epoch");
  }
  if (!book_->add(plan)) {
    ++counters_.refused_plans;
    return Status(StatusCode::kInvalidArgument, "another plan for this epoch, or other pools")
        .with_number(plan->epoch(), "epoch");
  }
  target_epoch_ = std::max(target_epoch_, plan->epoch());
  return Status::ok_status();
}

// ---------------------------------------------------------------- message side

Member::Peer* Member::peer(std::uint32_t id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

Frame Member::frame_to(const Peer& p) const {
  return Frame{.from = id_,
               .to = p.id,
               .from_inc = inc_,
               .to_inc = p.inc,
               .body = frame::Data{.seq = 0, .ack = p.ch.cumulative_ack(), .replica = report_for(p), .records = {}}};
}

ReplicaReport Member::report_for(const Peer& p) const {
  ReplicaReport r;
  r.complete = p.replica.complete_for(p.inc) || !options_.rules.complete_replica_votes;
  r.seq = p.replica.seq();
  return r;
}

void Member::on_frame(const Frame& f, std::uint64_t now) {
  if (now > now_local_) {
    now_local_ = now;
    now_.store(now_local_, std::memory_order_relaxed);  // only when it moves: workers read this line
  }
  Peer* pp = f.to == id_ ? peer(f.from) : nullptr;
  if (pp == nullptr) {
    ++counters_.refused_records;
    return;
  }
  Peer& p = *pp;
  if (phase_ == MemberPhase::kSuperseded || phase_ == MemberPhase::kRetired) return;
  if (book_->retired(p.id)) {
    // Gone for good, the operator says: nothing it sends counts (a window of
    // it is never acknowledged here, a query never answered).
    ++counters_.retired_frames;
    return;
  }
  if (inc_.generation != 0 && f.to_inc.generation > inc_.generation) {
    // A peer knows a newer incarnation of this member: this one is a zombie
    // (it was replaced while it ran on, say behind a partition). It must not
    // allocate, seed, ack or answer any more.
    supersede();
    return;
  }
  if (std::holds_alternative<frame::GenQuery>(f.body)) {
    Frame a = frame_to(p);
    a.to_inc = f.from_inc;
    a.body = frame::GenAnswer{.max_generation = p.inc.generation,
                              .complete = p.replica.complete() || !options_.rules.complete_replica_votes};
    outgoing_.push_back(std::move(a));
    return;
  }
  if (const auto* g = std::get_if<frame::GenAnswer>(&f.body)) {
    // The answerer may itself be restarting (no generation yet): it answers all the same.
    if (f.from_inc.generation != 0 && !accept_incarnation(p, f.from_inc)) return;
    if (phase_ == MemberPhase::kQueryingGeneration && f.to_inc == inc_) {
      p.gen_answered = true;
      p.gen_max = g->max_generation;
      p.gen_complete = g->complete;
    }
    return;
  }
  if (f.from_inc.generation == 0) return;  // only queries and answers come from a member without a generation
  if (!accept_incarnation(p, f.from_inc)) {
    if (f.kind() != FrameKind::kFenced && options_.rules.fence_old_incarnations &&
        (p.last_fenced_notice == 0 || now_local_ >= p.last_fenced_notice + options_.retransmit)) {
      // Tell it: a restarting member that chose too low a generation (some
      // peer it did not hear remembered a higher one) starts over; a zombie stops.
      p.last_fenced_notice = now_local_ + 1;
      Frame n = frame_to(p);
      n.to_inc = f.from_inc;
      n.body = frame::Fenced{.max_generation = p.inc.generation};
      outgoing_.push_back(std::move(n));
    }
    return;
  }
  if (const auto* fenced = std::get_if<frame::Fenced>(&f.body)) {
    if (!(f.to_inc == inc_) || fenced->max_generation < inc_.generation) return;
    if (phase_ == MemberPhase::kRecovering || phase_ == MemberPhase::kRebuilding) {
      // Start over with a higher generation; answers collected so far are void.
      restart_query(fenced->max_generation + 1);
    } else if (phase_ == MemberPhase::kReady) {
      supersede();  // a newer incarnation, or a twin seen first, owns our blocks now
    }
    return;
  }
  if (!(f.to_inc == inc_) || inc_.generation == 0) {
    // Addressed to an older incarnation of us (or sent before the peer knew us).
    if (const frame::Data* d = f.data()) {
      for (const Record& r : d->records) {
        if (std::holds_alternative<record::Release>(r)) ++counters_.releases_to_gone_received;
        if (std::holds_alternative<record::Claim>(r)) ++counters_.claims_dropped;
      }
    }
    return;
  }
  if (phase_ == MemberPhase::kRebuilding) audit_->know_us.insert(p.id);  // it fences our older incarnations now
  if (std::holds_alternative<frame::RecoverRequest>(f.body)) {
    Frame a = frame_to(p);
    frame::RecoverAnswer ans{.complete = p.replica.complete() || !options_.rules.complete_replica_votes,
                             .snapshot = nullptr};
    if (ans.complete) ans.snapshot = p.replica.snapshot(now_local_);
    a.body = std::move(ans);
    outgoing_.push_back(std::move(a));
    return;
  }
  if (const auto* ans = std::get_if<frame::RecoverAnswer>(&f.body)) {
    if (phase_ == MemberPhase::kRecovering && !(p.recover_answered && p.recover_complete)) {
      p.recover_answered = true;
      p.recover_complete = ans->complete && ans->snapshot != nullptr;
      p.recover_snapshot = ans->snapshot;
    }
    return;
  }
  if (const frame::Data* d = f.data()) {
    p.ch.on_ack(d->ack);
    p.report = d->replica;
    p.report_valid = true;
    if (!d->replica.complete && phase_ == MemberPhase::kReady && !p.needs_seed && p.ch.unacked_batches() == 0)
      p.needs_seed = true;                                 // it lost or never got our bulk copy
    if (phase_ == MemberPhase::kReady) promote_windows();  // an acknowledgement opens windows at once
    if (d->seq != 0) {
      const Channel::Accept a =
          p.ch.receive(d->seq, d->records, [&](const std::vector<Record>& records) { apply_records(p, records); });
      if (a == Channel::Accept::kDuplicate) ++counters_.duplicate_batches;
      if (a == Channel::Accept::kRefused) ++counters_.refused_batches;
      p.owe = true;
    }
  }
}

void Member::flush() {
  for (auto& [pid, pp] : peers_) {
    Peer& p = *pp;
    if (book_->retired(p.id)) {
      // It never runs again: what waits for it is dropped (a release so lost
      // is a leak at worst; its blocks are taken from the session store).
      for (const Record& r : p.outbox) {
        if (std::holds_alternative<record::Release>(r)) ++counters_.releases_dropped_gone;
        if (std::holds_alternative<record::Claim>(r)) ++counters_.claims_dropped;
      }
      p.outbox.clear();
      p.ch.reset();
      continue;
    }
    bool sent = false;
    if (p.inc.generation != 0 && inc_.generation != 0) {
      if (phase_ == MemberPhase::kReady && p.needs_seed && p.ch.unacked_records() <= p.ch.capacity() / 2) {
        std::erase_if(p.outbox, [](const Record& r) { return is_stream(r); });  // the seed covers them
        if (p.ch.push({record::Seed{.stream_seq = stream_seq_, .snapshot = own_snapshot()}}) != 0) {
          p.needs_seed = false;
          ++counters_.seeds_sent;
        }
      }
      if (!p.outbox.empty()) {
        // As much as the channel has room for, in order, in batches that fit
        // (and of at most kMaxBatchRecords: a batch's vector stays below
        // malloc's mmap threshold, and its frame near one 64 KiB fragment).
        while (!p.outbox.empty() && p.ch.unacked_records() < p.ch.capacity()) {
          const auto take = static_cast<std::ptrdiff_t>(
              std::min({p.ch.capacity() - p.ch.unacked_records(), p.outbox.size(), kMaxBatchRecords}));
          (void)p.ch.push(std::vector<Record>(std::make_move_iterator(p.outbox.begin()),
                                              std::make_move_iterator(p.outbox.begin() + take)));
          p.outbox.erase(p.outbox.begin(), p.outbox.begin() + take);  // a deque: O(take)
        }
        // The rest waits for room, in order, up to kOutboxChannels times the
        // channel's capacity (65,536 records by default). Beyond that the
        // stream's records go (the peer is stale: a bulk copy later covers
        // them) and releases and claims wait up to kOutboxRequestsMax
        // (beyond: dropped and counted, a leak an audit repairs, never a
        // conflict).
        if (p.outbox.size() > kOutboxChannels * p.ch.capacity()) {
          std::deque<Record> waiting;
          bool stream = false;
          for (Record& r : p.outbox) {
            if (is_stream(r)) {
              stream = true;
            } else if (waiting.size() < kOutboxRequestsMax) {
              waiting.push_back(std::move(r));
            } else if (std::holds_alternative<record::Release>(r)) {
              ++counters_.releases_dropped_full;
            } else if (std::holds_alternative<record::Claim>(r)) {
              ++counters_.claims_dropped;
            }
          }
          if (stream && !p.needs_seed) {
            p.needs_seed = true;  // stale: a bulk copy later
            ++counters_.stale_peers;
          }
          p.outbox = std::move(waiting);
        }
      }
      p.ch.due(now_local_, options_.retransmit, [&](std::uint64_t seq, const std::vector<Record>& records) {
        Frame f = frame_to(p);
        f.data()->seq = seq;
        f.data()->records = records;
        outgoing_.push_back(std::move(f));
        sent = true;
      });
    }
    if (sent || p.owe || !p.greeted || now_local_ >= p.last_sent + options_.heartbeat) {
      if (!sent && inc_.generation != 0) {
        outgoing_.push_back(frame_to(p));
        p.greeted = true;  // the first heartbeat goes out at once: peers learn our incarnation
      }
      p.last_sent = now_local_;
      p.owe = false;
    }
  }
}

void Member::on_tick(std::uint64_t now) {
  if (phase_ == MemberPhase::kSuperseded || phase_ == MemberPhase::kRetired) return;
  if (book_->retired(id_)) {
    stop(MemberPhase::kRetired);
    return;
  }
  if (now > now_local_) {
    now_local_ = now;
    now_.store(now_local_, std::memory_order_relaxed);
  }
  if (phase_ == MemberPhase::kQueryingGeneration) query_generation();
  if (phase_ == MemberPhase::kRecovering) request_recovery();
  if (phase_ == MemberPhase::kRebuilding) rebuild_tick();
  const bool stream = options_.stream_interval == 0 || now_local_ >= last_stream_ + options_.stream_interval;
  if (stream) last_stream_ = now_local_;
  drain_rings(stream);
  if (phase_ == MemberPhase::kReady) {
    if (stream) {
      capture_allocations();
      sweep_words();
    }
    close_windows();
    expire_hold_downs();
    expire_wrap_holds();
    audit_tick();
    redivision_tick();
    promote_windows();
    reserve_windows();
  }
  std::uint64_t undone = 0, full = 0, doubles = 0, refused = 0, stale = 0, waits = 0;
  for (auto& w : workers_) {
    undone += w->undone_.load(std::memory_order_relaxed);
    waits += w->waits_.load(std::memory_order_relaxed);
    full += w->ring_full_.load(std::memory_order_relaxed);
    doubles += w->double_.load(std::memory_order_relaxed);
    refused += w->refused_.load(std::memory_order_relaxed);
    stale += w->stale_.load(std::memory_order_relaxed);
  }
  counters_.stale_releases += stale - direct_stale_seen_;
  direct_stale_seen_ = stale;
  counters_.refused_records += refused - hot_refused_seen_;  // releases naming no unit of any pool
  hot_refused_seen_ = refused;
  counters_.double_releases += doubles - direct_doubles_seen_;
  direct_doubles_seen_ = doubles;
  counters_.undone_allocations = undone;
  counters_.window_waits = waits;
  counters_.releases_ring_full = full;
  for (auto& [pid, p] : peers_) p->replica.expire(now_local_);
  flush();
}

std::vector<Frame> Member::take_outgoing() {
  std::vector<Frame> out;
  out.swap(outgoing_);
  return out;
}

const char* Member::not_ready_reason() const noexcept {
  switch (phase_) {
    case MemberPhase::kQueryingGeneration:
      if (peers_.empty() || replicas_lost())
        return options_.store == nullptr
                   ? "replicas lost and no session store to rebuild from: an operator must restore this member"
                   : "rebuilding from the session store";
      return "waiting for R peers with a complete replica of this member to state its generation";
    case MemberPhase::kRecovering: return "waiting for R peers with a complete replica to send it";
    case MemberPhase::kRebuilding:
      if (audit_->read_error != nullptr) return audit_->read_error;
      return audit_->fenced_at == 0 ? "rebuilding from the session store: waiting for R peers to learn the new "
                                      "incarnation (they fence older ones)"
                                    : "rebuilding from the session store: waiting out older incarnations' leases";
    case MemberPhase::kReady: return "";
    case MemberPhase::kSuperseded: return "superseded by a newer incarnation of this member: restart it";
    case MemberPhase::kRetired: return "retired by a membership epoch: it stops for good (do not restart it)";
  }
  return "";
}

bool Member::in_use(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < pools_.size() && pools_[pool]->pool->test(unit);
}
bool Member::quarantined(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < pools_.size() && pools_[pool]->quarantined.contains(static_cast<std::uint32_t>(unit));
}
bool Member::held_down(std::uint32_t pool, std::uint64_t unit) const noexcept {
  if (pool >= pools_.size()) return false;
  const PoolState& ps = *pools_[pool];
  return ps.held(unit) || (ps.pool->test(unit) && ps.serials->get(unit) == detail::UnitSerials::kWrapHeld);
}
bool Member::has_complete_replica(std::uint32_t owner) const noexcept {
  auto it = peers_.find(owner);
  return it != peers_.end() && it->second->replica.complete();
}
MemberView Member::view() const {
  MemberView v;
  v.phase = phase_;
  v.not_ready_reason = not_ready_reason();
  v.incarnation = inc_;
  v.stream_seq = stream_seq_;
  v.ack_quorum = ack_quorum_;
  v.answer_quorum = answer_quorum_;
  v.epoch = plan_->epoch();
  v.target_epoch = target_epoch_;
  v.pending_blocks = pending_.size();
  for (const auto& f : frozen_) v.frozen_blocks += f.cardinality();
  v.handover = handover_;
  v.epoch_wait = epoch_wait();
  v.counters = counters_;
  static constexpr const char* kNames[] = {"empty", "pending", "ready", "active", "exhausted", "closing", "?", "?"};
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const PoolState& ps = *pools_[i];
    MemberView::PoolFacts pf;
    for (const auto& r : ps.owned) {
      pf.owned_units += r.size();
      for (std::uint64_t u = r.begin; u < r.end; ++u) pf.in_use += ps.pool->test(u) ? 1 : 0;
    }
    pf.quarantined = ps.quarantined.cardinality();
    for (const auto& [word, bits] : ps.held_words) pf.held_down += static_cast<std::uint64_t>(std::popcount(bits));
    for (const HoldDown& h : wrap_holds_) pf.wrap_held += h.pool == i ? 1 : 0;
    pf.serial_bytes = ps.serials->bytes();
    pf.listed = ps.listed.size();
    v.pools.push_back(pf);
    for (const WindowSlot& w : ps.slots) {
      const std::uint64_t ph = phase_of(w.state.load(std::memory_order_acquire));
      if (ph == kEmpty) continue;
      v.windows.push_back({i, w.begin.load(std::memory_order_relaxed), w.end.load(std::memory_order_relaxed),
                           unpack_tag(w.tag.load(std::memory_order_relaxed)),
                           w.lease_end.load(std::memory_order_relaxed), kNames[ph]});
    }
  }
  v.peers = peer_facts();
  return v;
}

std::vector<MemberView::PeerFacts> Member::peer_facts() const {
  std::vector<MemberView::PeerFacts> out;
  out.reserve(peers_.size());
  for (const auto& [pid, p] : peers_) {
    MemberView::PeerFacts f;
    f.id = pid;
    f.incarnation = p->inc;
    f.replica_complete = p->replica.complete();
    f.replica_of = p->replica.of();
    f.replica_seq = p->replica.seq();
    f.replica_open_windows = p->replica.open_windows();
    f.acks_us = p->report_valid && p->report.complete;
    f.acked_seq = p->report.seq;
    f.unacked_records = p->ch.unacked_records();
    f.retransmitted = p->ch.retransmitted();
    f.needs_seed = p->needs_seed;
    out.push_back(f);
  }
  return out;
}

bool Member::starving() const noexcept {
  for (const auto& ps : pools_)
    if (ps->starved.load(std::memory_order_relaxed)) return true;
  return false;
}

std::size_t Member::open_windows() const noexcept {
  std::size_t n = 0;
  for (const auto& ps : pools_)
    for (const WindowSlot& s : ps->slots)
      if (phase_of(s.state.load(std::memory_order_relaxed)) != kEmpty) ++n;
  return n;
}

}  // namespace uepool::set
