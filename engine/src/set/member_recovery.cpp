// Member — incarnations and recovery (message thread): adopting and fencing peers' incarnations, the generation query,
// recovery from the most recent of R complete replicas, and being superseded. See uepool/set/member.hpp and DESIGN.md
// section 2.
#include "member_state.hpp"

namespace uepool::set {

void Member::adopt(Peer& p, const Incarnation& inc) {
  // A new incarnation of the peer: what was queued for the old one is gone
  // with it (releases are never re-sent to a later incarnation: the old one
  // may have applied a release and handed its unit out again before it
  // died, its ack lost; the new one would free the unit under that holder).
  std::vector<Record> resend;  // only with the rule switched off (tests)
  auto count_releases = [&](const auto& rs) {
    for (const Record& r : rs) {
      if (std::holds_alternative<record::Release>(r)) {
        ++counters_.releases_dropped_gone;
        if (!options_.rules.releases_die_with_incarnation) resend.push_back(r);
      }
      if (std::holds_alternative<record::Claim>(r)) ++counters_.claims_dropped;
    }
  };
  // The first incarnation heard (generation 0 before it) is the exception:
  // nothing was sent to any, so what waits in the outbox (releases and
  // claims routed before it answered, Member::route_release) is its own.
  if (p.inc.generation != 0) {
    p.ch.for_each_unacked(count_releases);
    count_releases(p.outbox);
    p.outbox.assign(std::make_move_iterator(resend.begin()), std::make_move_iterator(resend.end()));
  }
  p.ch.reset();
  p.inc = inc;
  p.needs_seed = true;
  p.report_valid = false;
  p.report = {};
  p.recover_answered = false;
  p.recover_snapshot.reset();
}

// accept_incarnation — a frame of an older incarnation than the one we hold
// for the peer is fenced: dropped and answered with Fenced
// (Rules::fence_old_incarnations). What that rule alone guards, measured
// (issue 12 asks for a unit handed out twice with it off; none was found):
//   * with it off, a zombie's Data frame is applied as the new incarnation's:
//     its acknowledgement moves our channel to the peer, and its replica
//     report, in the zombie's stream numbering, stands for the new
//     incarnation's. The exhaustive search (2 members, depth 6) finds the
//     second: the new incarnation uses a window no replica acknowledged
//     (sim_exhaustive_rule_off_fence_old_incarnations); liveness seed 387
//     finds the first: a channel stalls for good (sim_rule_off_*); and
//     Member.FencesOlderIncarnationsAndAlarmsOnTwins shows a zombie's
//     forwarded release applied.
//   * It did not become a double hand-out in any search (depth 6, and the
//     schedules above extended by a crash, a restart and new sessions, with
//     --conflicts-only) because other rules stand behind it: a zombie stops
//     at the first frame addressed to a newer incarnation of itself (so it
//     never counts an acknowledgement sent after its peer learned of the
//     newer one); a channel reset for the new incarnation refuses the
//     zombie's batches as out of sequence unless the numbers happen to
//     line up; a restarted peer answers without a complete replica until
//     the owner re-seeds it; and a recovery quarantines the open windows it
//     finds, the zombie's included. Fencing is kept as the rule that does
//     not depend on those coincidences.
bool Member::accept_incarnation(Peer& p, const Incarnation& inc) {
  if (inc.generation > p.inc.generation) {
    adopt(p, inc);
    return true;
  }
  if (inc.generation == p.inc.generation) {
    if (inc.nonce == p.inc.nonce) return true;
    ++counters_.incarnation_alarms;  // two incarnations of one generation: the first seen wins
    return false;
  }
  ++counters_.fenced_frames;
  return !options_.rules.fence_old_incarnations;  // switched off (tests only): heard like the current one
}

// query_generation — the generation query. Why R answers and not R - 1
// (issue 12, point 3): the generation only has to be new; what makes a
// reused one harmless is the recovery quorum behind it. Say a member took
// generation g again (it heard R - 1 peers, none of the A that acknowledged
// its older incarnation (g, n1), and its disk was lost). Each of those A
// peers either holds (g, n1) as current — a frame of (g, n2) is a twin to
// it (first seen wins): it drops it and answers Fenced — or lost its memory
// since, and with it its replica (it answers incomplete). So the new
// incarnation gathers at most p - A = R - 1 complete recovery answers,
// never R (or, with too many incomplete ones, rebuilds from the session
// store, which is safe on its own argument); the Fenced makes it start
// over above g (restart_query). It never becomes ready under g: a liveness
// cost, not a conflict. With R answers the A-R intersection makes the
// query see g itself. Counting itself among R (Rules::peers_only_answers
// off) lowers both quorums together and is unsafe (counterexample 1).
void Member::query_generation() {
  const std::uint32_t need =
      options_.rules.peers_only_answers ? answer_quorum_ : (answer_quorum_ > 0 ? answer_quorum_ - 1 : 0);
  std::uint32_t complete = 0;
  std::uint32_t max_gen = 0;
  for (auto& [pid, p] : peers_) {
    if (!p->gen_answered) continue;
    max_gen = std::max(max_gen, p->gen_max);
    if (p->gen_complete) ++complete;
  }
  if (!peers_.empty() && complete >= need) {
    if (!take_generation(max_gen + 1)) return;  // not saved: asked again next tick
    phase_ = MemberPhase::kRecovering;
    for (auto& [pid, p] : peers_) p->last_request = 0;
    request_recovery();
    return;
  }
  if (options_.store != nullptr && replicas_lost()) {
    if (!take_generation(max_gen + 1)) return;
    begin_rebuild();
    return;
  }
  if (queried_once_ && now_local_ < last_query_ + options_.retransmit) return;
  queried_once_ = true;
  last_query_ = now_local_;
  for (auto& [pid, p] : peers_) {
    // Ask again whoever has not answered, or answered without a complete
    // replica: it may hold one by now (it was itself recovering, say).
    if (p->gen_answered && p->gen_complete) continue;
    outgoing_.push_back(Frame{.from = id_, .to = pid, .from_inc = inc_, .to_inc = {}, .body = frame::GenQuery{}});
  }
}

void Member::request_recovery() {
  const std::uint32_t need =
      options_.rules.peers_only_answers ? answer_quorum_ : (answer_quorum_ > 0 ? answer_quorum_ - 1 : 0);
  std::uint32_t complete = 0;
  for (auto& [pid, p] : peers_)
    if (p->recover_answered && p->recover_complete) ++complete;
  if (complete >= need) {
    finish_recovery();
    return;
  }
  if (options_.store != nullptr && replicas_lost()) {
    begin_rebuild();  // our generation is taken already: announce it
    return;
  }
  for (auto& [pid, p] : peers_) {
    if ((p->recover_answered && p->recover_complete) || p->inc.generation == 0) continue;
    if (p->last_request != 0 && now_local_ < p->last_request + options_.retransmit) continue;
    p->last_request = now_local_ + (now_local_ == 0 ? 1 : 0);
    Frame f = frame_to(*p);
    f.body = frame::RecoverRequest{};
    outgoing_.push_back(std::move(f));
  }
}

// replicas_lost — more than p - R peers said they hold no complete replica
// of this member (in the generation query, or since in recovery), a retired
// peer counting as one (it never runs again): R complete answers can never come. A peer's replica of us becomes
// complete only from a bulk copy of our own, and this incarnation has sent none.
bool Member::replicas_lost() const noexcept {
  std::size_t incomplete = 0;
  for (const auto& [pid, p] : peers_) {
    if (book_->retired(pid)) {
      ++incomplete;  // gone for good: its replicas with it
      continue;
    }
    const bool said_no = phase_ == MemberPhase::kRecovering ? (p->recover_answered && !p->recover_complete)
                                                            : (p->gen_answered && !p->gen_complete);
    if (said_no) ++incomplete;
  }
  return peers_.empty() || incomplete > peers_.size() - answer_quorum_;
}

void Member::restore_in_use(std::uint32_t pool, std::uint64_t unit, std::set<std::uint64_t>& words) {
  PoolState& ps = *pools_[pool];
  (void)ps.pool->claim(*msg_workers_[pool], unit);
  if (ps.pool->is_static(unit)) {
    ps.statics.add(static_cast<std::uint32_t>(unit));
    ps.claimed_by[unit] = 0;  // claim id unknown: any release of it ends it
  } else {
    mark_restored(pool, unit);
    words.insert(unit >> 6);
  }
}

void Member::mark_restored(std::uint32_t pool, std::uint64_t unit) {
  PoolState& ps = *pools_[pool];
  // Out of memory: the serial reads 0 and an older allocation's release is
  // refused as stale (the unit stays in use until an audit frees it).
  if (ps.serials->ensure(unit, unit + 1)) ps.serials->set(unit, detail::UnitSerials::kRestored);
}

void Member::finish_recovery() {
  // The most recent replica, by (generation, stream sequence); ties: the lowest peer id (map order).
  const UsageSnapshot* best = nullptr;
  for (auto& [pid, p] : peers_) {
    if (!p->recover_answered || !p->recover_complete) continue;
    const UsageSnapshot* s = p->recover_snapshot.get();
    if (best == nullptr ||
        std::pair(s->of.generation, s->stream_seq) > std::pair(best->of.generation, best->stream_seq))
      best = s;
  }
  if (best != nullptr && options_.rules.replica_not_older && options_.store != nullptr &&
      best->of.generation < last_generation_) {
    // Every replica offered is older than our last incarnation (a zombie
    // re-seeded them, or that incarnation's state was lost with its
    // holders): it may lack what that incarnation handed out. The session
    // store knows: rebuild from it.
    for (auto& [pid, p] : peers_) p->recover_snapshot.reset();
    begin_rebuild();
    return;
  }
  UsageSnapshot empty;
  empty.in_use.assign(pools_.size(), ::Roaring());
  if (best == nullptr) best = &empty;  // only when the owner counted itself (a rule switched off)
  // The epoch our stream was in, its blocks not taken yet and those frozen
  // for their taker (member_redivision.cpp): a block not shown taken is
  // taken again from its previous owner.
  adopt_epoch_state(*best);
  // kept — an own unit whose usage the replica tells: in a block we own and
  // have taken, or in a frozen one (kept for its taker).
  auto kept = [&](std::uint32_t pool, std::uint64_t u) {
    return (plan_->owner(pool, u) == id_ && !is_pending(pool, u)) || is_frozen(pool, u);
  };
  std::vector<std::set<std::uint64_t>> touched(pools_.size());  // words to mirror
  for (std::uint32_t i = 0; i < pools_.size() && i < best->in_use.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint32_t u : best->in_use[i]) {
      if (u >= ps.pool->size() || !kept(i, u) || ps.pool->is_excluded(u)) continue;
      restore_in_use(i, u, touched[i]);
    }
  }
  if (options_.rules.restore_hold_down)
    for (std::uint32_t i = 0; i < pools_.size() && i < best->pool_hold.size(); ++i)
      if (best->pool_hold[i] != 0) pools_[i]->reserve_not_before = now_local_ + best->pool_hold[i];
  // Hold-downs first: a held-down unit of an open window is quarantined too,
  // but keeps what is left of its hold-down (quarantining it as in use
  // would lose that: an audit could free it sooner). When its hold-down
  // ends it stays in use, quarantined (expire_hold_downs).
  if (options_.rules.restore_hold_down) {
    for (const HeldUnit& h : best->held) {
      if (h.pool >= pools_.size()) continue;
      PoolState& ps = *pools_[h.pool];
      if (h.unit >= ps.pool->size() || ps.pool->test(h.unit) || !kept(h.pool, h.unit) || ps.pool->is_excluded(h.unit) ||
          ps.pool->is_static(h.unit))
        continue;
      (void)ps.pool->claim(*msg_workers_[h.pool], h.unit);  // not allocatable until its hold-down ends
      if (is_frozen(h.pool, h.unit)) {
        touched[h.pool].insert(h.unit >> 6);  // frozen: in use for the taker (a leak its audit repairs)
        continue;
      }
      ps.set_held(h.unit, true);
      hold_.insert({now_local_ + h.remaining, h.pool, h.unit});
    }
  }
  if (options_.rules.quarantine_open_windows) {
    for (const OpenWindow& w : best->windows) {
      if (w.pool >= pools_.size()) continue;
      PoolState& ps = *pools_[w.pool];
      for (std::uint64_t u = w.begin; u < w.end && u < ps.pool->size(); ++u) {
        if (ps.held(u) && !ps.quarantined.contains(static_cast<std::uint32_t>(u))) {
          ps.quarantined.add(static_cast<std::uint32_t>(u));  // the old incarnation may allocate it once its hold ends
          mark_restored(w.pool, u);
          touched[w.pool].insert(u >> 6);  // in use for the peers (PoolState::free_held)
          ++counters_.quarantined;
          continue;
        }
        if (ps.pool->test(u) || plan_->owner(w.pool, u) != id_ || is_pending(w.pool, u) || ps.pool->is_excluded(u) ||
            ps.pool->is_static(u))
          continue;
        (void)ps.pool->claim(*msg_workers_[w.pool], u);  // maybe in use: quarantined until an audit
        ps.quarantined.add(static_cast<std::uint32_t>(u));
        mark_restored(w.pool, u);
        touched[w.pool].insert(u >> 6);
        ++counters_.quarantined;
      }
    }
  }
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint64_t word : touched[i]) {
      std::uint64_t v = ps.pool->dynamic_word(word);
      ps.mirror.set(word, v & ~ps.free_held(word));
    }
  }
  stream_seq_ = 0;
  for (auto& [pid, p] : peers_) {
    p->needs_seed = true;  // the re-seed: our rebuilt state, quarantined units in use
    p->recover_snapshot.reset();
  }
  for (std::uint32_t i = 0; i < pools_.size(); ++i) set_owned(i);
  publish_owner_table();  // before ready_ (release): a worker that sees ready sees the table
  phase_ = MemberPhase::kReady;
  generation_hot_.store(inc_.generation, std::memory_order_relaxed);
  ready_.store(true, std::memory_order_release);  // the rebuilt bitmap happens-before any direct release
  // An older incarnation (a zombie) may allocate in its windows until their
  // leases end, and store those sessions up to audit_grace later.
  audit_->not_before = now_local_ + options_.lease + options_.audit_grace + options_.retransmit;
  // Which older allocation holds a restored unit is known only from the
  // store: its releases wait for one read at not_before (restart_read).
  for (auto& ps : pools_) ps->listed.clear();
  audit_->restart_read = options_.store != nullptr && options_.rules.restored_releases_exact;
  std::vector<RingItem> pending;
  pending.swap(pending_own_);
  for (const RingItem& item : pending) route_release(item);
}

void Member::supersede() {
  ++counters_.superseded;
  stop(MemberPhase::kSuperseded);
}

void Member::stop(MemberPhase why) {
  phase_ = why;
  ready_.store(false, std::memory_order_release);
  for (auto& ps : pools_) {
    for (WindowSlot& slot : ps->slots) slot.seal();  // Closing sticks and stops the workers
  }
  outgoing_.clear();
  for (auto& [pid, p] : peers_) {
    p->outbox.clear();
    p->ch.reset();
  }
}

}  // namespace uepool::set
