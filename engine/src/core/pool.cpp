// Pool: configuration checks, reservations, hold-down. See uepool/core/pool.hpp.
#include "uepool/core/pool.hpp"

#include <algorithm>
#include <new>

namespace uepool::core {
namespace {

constexpr std::uint64_t kMaxReservedUnits = std::uint64_t{1} << 26;

Status config_error(const char* reason) {
  return Status(StatusCode::kInvalidArgument, reason);
}

// units_of — the unit range a prefix inside the pool covers (a prefix longer
// than a unit stands for the unit that contains it).
UnitRange units_of(const net::Prefix& pool, int unit_length, const net::Prefix& p) {
  const int width = net::max_length(pool.family());
  const int shift = width - unit_length;
  const net::u128 offset = p.address().bits() - pool.address().bits();
  const std::uint64_t first = static_cast<std::uint64_t>(shift >= 128 ? 0 : offset >> shift);
  if (p.length() >= unit_length) return {first, first + 1};
  const int bits = unit_length - p.length();
  return {first, first + (std::uint64_t{1} << bits)};
}

Result<std::vector<UnitRange>> ranges_of(const PoolConfig& c, const std::vector<net::Prefix>& prefixes,
                                         const char* what_outside, const char* what_overlap) {
  std::vector<UnitRange> out;
  for (const net::Prefix& p : prefixes) {
    if (!c.prefix.contains(p)) return config_error(what_outside);
    if (p.length() < c.unit_length && c.unit_length - p.length() > 32) {
      return config_error("excluded or static range larger than 2^32 units");
    }
    out.push_back(units_of(c.prefix, c.unit_length, p));
  }
  std::sort(out.begin(), out.end(), [](const UnitRange& a, const UnitRange& b) { return a.begin < b.begin; });
  if (what_overlap == nullptr) {
    // Exclusions may overlap (two addresses in one /64 unit, a /30 and its
    // gateway /32): merge them.
    std::vector<UnitRange> merged;
    for (const UnitRange& r : out) {
      if (!merged.empty() && r.begin <= merged.back().end) {
        merged.back().end = std::max(merged.back().end, r.end);
      } else {
        merged.push_back(r);
      }
    }
    return merged;
  }
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].begin < out[i - 1].end) return config_error(what_overlap);
  }
  return out;
}

bool in_ranges(const std::vector<UnitRange>& ranges, std::uint64_t unit) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), unit,
                             [](std::uint64_t u, const UnitRange& r) { return u < r.begin; });
  return it != ranges.begin() && unit < std::prev(it)->end;
}

}  // namespace

const char* unit_status_name(UnitStatus s) noexcept {
  switch (s) {
    case UnitStatus::kOk: return "ok";
    case UnitStatus::kInUse: return "in use";
    case UnitStatus::kNotInUse: return "not in use (double release)";
    case UnitStatus::kExcluded: return "excluded unit";
    case UnitStatus::kOutOfRange: return "unit index beyond the pool";
    case UnitStatus::kNotInPool: return "prefix not a unit of this pool";
    case UnitStatus::kNoMemory: return "out of memory";
    case UnitStatus::kWrongWorker: return "worker belongs to another pool";
  }
  return "unknown";
}

Pool::Pool(const PoolConfig& config, std::uint64_t units)
    : config_(config), units_(units), dynamic_(units), static_claims_(units), released_(units) {}

Pool::~Pool() = default;

Result<std::unique_ptr<Pool>> Pool::create(const PoolConfig& config) {
  if (config.name.empty()) return config_error("pool name is empty");
  auto bits = config.prefix.unit_bits(config.unit_length);
  if (!bits.ok()) return bits.status();
  if (bits.value() > 32) {
    return config_error("pool has more than 2^32 units; split it or use a longer prefix")
        .with_number(static_cast<std::uint64_t>(bits.value()), "log2 units");
  }
  auto excluded = ranges_of(config, config.excluded, "excluded prefix outside the pool", nullptr);
  if (!excluded.ok()) return excluded.status();
  auto statics = ranges_of(config, config.static_ranges, "static range outside the pool", "static ranges overlap");
  if (!statics.ok()) return statics.status();
  for (const auto& p : config.static_ranges) {
    if (p.length() > config.unit_length) return config_error("static range is longer than a unit");
  }
  std::uint64_t reserved = 0;
  for (const auto& r : excluded.value()) reserved += r.size();
  for (const auto& r : statics.value()) {
    if (in_ranges(excluded.value(), r.begin) || in_ranges(excluded.value(), r.end - 1)) {
      return config_error("static range overlaps an excluded prefix");
    }
    for (const auto& e : excluded.value()) {
      if (e.begin < r.end && r.begin < e.end) return config_error("static range overlaps an excluded prefix");
    }
    reserved += r.size();
  }
  if (reserved > kMaxReservedUnits) {
    return config_error("excluded and static ranges reserve more than 2^26 units").with_number(reserved, "units");
  }
  if (config.hold_down != 0 && config.hold_down_capacity == 0) {
    return config_error("hold-down is on but its per-worker capacity is 0");
  }
  const std::uint64_t units = std::uint64_t{1} << bits.value();
  std::unique_ptr<Pool> pool;
  try {
    pool.reset(new Pool(config, units));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted, "out of memory creating the pool");
  }
  pool->excluded_ranges_ = std::move(excluded.value());
  pool->static_ranges_ = std::move(statics.value());
  pool->reserved_units_ = reserved;
  // Reserve excluded and static units in the dynamic bitmap, so that no
  // dynamic allocation ever returns them.
  AtomicBitmap::Worker w(pool->dynamic_);
  std::vector<std::uint32_t> batch;
  batch.reserve(4096);
  bool no_memory = false;
  pool->for_each_reserved([&](UnitRange r) {
    for (std::uint64_t u = r.begin; u < r.end; ++u) {
      batch.push_back(static_cast<std::uint32_t>(u));
      if (batch.size() == batch.capacity()) {
        no_memory |= pool->dynamic_.claim_bulk(w, batch).no_memory;
        batch.clear();
      }
    }
  });
  no_memory |= pool->dynamic_.claim_bulk(w, batch).no_memory;
  if (no_memory) return Status(StatusCode::kResourceExhausted, "out of memory reserving excluded and static units");
  return pool;
}

PoolAllocation Pool::finish(const Allocation& a) const noexcept {
  PoolAllocation out;
  out.status = a.status;
  if (a.ok()) {
    out.unit = a.unit;
    out.prefix = prefix_of(a.unit);
  }
  return out;
}

Allocation Pool::handed_out(Worker& w, const Allocation& a) noexcept {
  // (1, 1) -> (1, 0): the unit is ours (its dynamic bit is set), so no
  // release can take the released bit until we return it; a stale double
  // release meanwhile finds the bit set and is refused. The test keeps
  // the common case (a unit never released, or already cleared) to a load.
  if (a.ok() && released_.test(a.unit)) (void)released_.release(w.released_, a.unit);
  return a;
}

PoolAllocation Pool::allocate(Worker& w, std::uint64_t now) noexcept {
  if (w.pool_ != this) [[unlikely]] {
    return finish({0, AllocStatus::kWrongWorker});
  }
  if (config_.hold_down != 0) [[unlikely]] {
    w.drain(now);
    return finish(handed_out(w, dynamic_.allocate(w.dynamic_)));
  }
  return finish(dynamic_.allocate(w.dynamic_));
}

PoolAllocation Pool::allocate_in(Worker& w, UnitRange range, std::uint64_t now) noexcept {
  return finish(allocate_unit_in(w, range, now));
}

PoolAllocation Pool::allocate_in_ranges(Worker& w, std::span<const UnitRange> blocks, std::uint64_t now) noexcept {
  if (w.pool_ != this) [[unlikely]] {
    return finish({0, AllocStatus::kWrongWorker});
  }
  if (config_.hold_down != 0) [[unlikely]] {
    w.drain(now);
    return finish(handed_out(w, dynamic_.allocate_in_ranges(w.dynamic_, blocks)));
  }
  return finish(dynamic_.allocate_in_ranges(w.dynamic_, blocks));
}

std::uint64_t Pool::reserved_mask(std::uint64_t word) const noexcept {
  const std::uint64_t b = word << 6;
  const std::uint64_t e = b + 64;
  std::uint64_t mask = 0;
  for (const auto* ranges : {&excluded_ranges_, &static_ranges_}) {
    auto it = std::upper_bound(ranges->begin(), ranges->end(), b,
                               [](std::uint64_t x, const UnitRange& r) { return x < r.end; });
    for (; it != ranges->end() && it->begin < e; ++it) {
      const std::uint64_t lo = std::max(it->begin, b) - b;
      const std::uint64_t hi = std::min(it->end, e) - b;
      mask |= (hi == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << hi) - 1) & ~((std::uint64_t{1} << lo) - 1);
    }
  }
  return mask;
}

std::uint64_t Pool::dynamic_word(std::uint64_t word) const noexcept {
  const std::uint64_t v = dynamic_.load_word(word);
  if (v == 0 || (excluded_ranges_.empty() && static_ranges_.empty())) return v;
  return v & ~reserved_mask(word);
}

bool Pool::is_excluded(std::uint64_t unit) const noexcept {
  return in_ranges(excluded_ranges_, unit);
}
bool Pool::is_static(std::uint64_t unit) const noexcept {
  return in_ranges(static_ranges_, unit);
}

UnitStatus Pool::claim(Worker& w, std::uint64_t unit) noexcept {
  if (w.pool_ != this) [[unlikely]] {
    return UnitStatus::kWrongWorker;
  }
  if (unit >= units_) return UnitStatus::kOutOfRange;
  if (!excluded_ranges_.empty() && is_excluded(unit)) return UnitStatus::kExcluded;
  const bool is_static_unit = !static_ranges_.empty() && is_static(unit);
  AtomicBitmap& bitmap = is_static_unit ? static_claims_ : dynamic_;
  switch (bitmap.claim(is_static_unit ? w.static_claims_ : w.dynamic_, unit)) {
    case ClaimStatus::kClaimed:
      if (!is_static_unit && config_.hold_down != 0) (void)handed_out(w, {unit, AllocStatus::kOk});
      return UnitStatus::kOk;
    case ClaimStatus::kInUse: return UnitStatus::kInUse;
    case ClaimStatus::kNoMemory: return UnitStatus::kNoMemory;
    case ClaimStatus::kOutOfRange: return UnitStatus::kOutOfRange;
    case ClaimStatus::kWrongWorker: return UnitStatus::kWrongWorker;
  }
  return UnitStatus::kOutOfRange;
}

UnitStatus Pool::claim(Worker& w, const net::Prefix& p) noexcept {
  auto unit = unit_of(p);
  if (!unit.ok()) return UnitStatus::kNotInPool;
  return claim(w, unit.value());
}

AtomicBitmap::BulkResult Pool::claim_bulk(Worker& w, std::span<const std::uint32_t> sorted_units) noexcept {
  AtomicBitmap::BulkResult total;
  if (w.pool_ != this) [[unlikely]] {
    total.wrong_worker = true;
    return total;
  }
  // In chunks, so that the reserved units can be filtered out on the stack.
  constexpr std::size_t kChunk = 1024;
  std::uint32_t kept[kChunk];
  const bool reserved = !excluded_ranges_.empty() || !static_ranges_.empty();
  for (std::size_t at = 0; at < sorted_units.size(); at += kChunk) {
    const std::span<const std::uint32_t> chunk = sorted_units.subspan(at, std::min(kChunk, sorted_units.size() - at));
    std::uint32_t k = 0;
    for (const std::uint32_t u : chunk) {
      if (u < units_ && (!reserved || (!is_excluded(u) && !is_static(u)))) {
        kept[k++] = u;
      } else {
        ++total.out_of_range;  // beyond the pool, excluded or static: refused
      }
    }
    const auto r = dynamic_.claim_bulk(w.dynamic_, std::span<const std::uint32_t>(kept, k));
    if (config_.hold_down != 0) {
      // Units released earlier and claimed now are handed out: (1, 1) -> (1, 0).
      for (std::uint32_t i = 0; i < k; ++i) (void)handed_out(w, {kept[i], AllocStatus::kOk});
    }
    total.claimed += r.claimed;
    total.already_in_use += r.already_in_use;
    total.out_of_range += r.out_of_range;
    if (r.no_memory) {
      total.no_memory = true;
      break;
    }
  }
  return total;
}

UnitStatus Pool::release(Worker& w, std::uint64_t unit, std::uint64_t now) noexcept {
  if (w.pool_ != this) [[unlikely]] {
    return UnitStatus::kWrongWorker;
  }
  if (unit >= units_) return UnitStatus::kOutOfRange;
  if (!excluded_ranges_.empty() && is_excluded(unit)) return UnitStatus::kExcluded;
  if (!static_ranges_.empty() && is_static(unit)) {
    return static_claims_.release(w.static_claims_, unit) == ReleaseStatus::kReleased ? UnitStatus::kOk
                                                                                      : UnitStatus::kNotInUse;
  }
  if (config_.hold_down == 0) {
    return dynamic_.release(w.dynamic_, unit) == ReleaseStatus::kReleased ? UnitStatus::kOk : UnitStatus::kNotInUse;
  }
  // Hold-down (the notes in pool.hpp): the unit stays set in `dynamic_` and
  // its released bit goes 0 -> 1; only the release that wins that bit queues
  // it. A unit whose dynamic bit is clear is free: a double release (its
  // hold-down ended) or a release of a unit never handed out.
  if (!dynamic_.test(unit)) return UnitStatus::kNotInUse;
  switch (released_.claim(w.released_, unit)) {
    case ClaimStatus::kClaimed: break;
    case ClaimStatus::kNoMemory: return UnitStatus::kNoMemory;
    default: return UnitStatus::kNotInUse;  // held down, or being handed out: a double release
  }
  // The dynamic bit is still set here: from (1, 0) only the released bit's
  // winner (us) can move the unit on, and a queue entry exists only for (1, 1).
  const std::uint64_t hold = config_.hold_down;
  w.push_held(unit, now > UINT64_MAX - hold ? UINT64_MAX : now + hold);  // saturating
  return UnitStatus::kOk;
}

UnitStatus Pool::release(Worker& w, const net::Prefix& p, std::uint64_t now) noexcept {
  auto unit = unit_of(p);
  if (!unit.ok()) return UnitStatus::kNotInPool;
  return release(w, unit.value(), now);
}

bool Pool::test(std::uint64_t unit) const noexcept {
  if (unit >= units_) return false;
  if (!static_ranges_.empty() && is_static(unit)) return static_claims_.test(unit);
  if (!excluded_ranges_.empty() && is_excluded(unit)) return false;
  return dynamic_.test(unit);
}

std::uint64_t Pool::count() const noexcept {
  const std::uint64_t dynamic = dynamic_.count();
  return (dynamic > reserved_units_ ? dynamic - reserved_units_ : 0) + static_claims_.count();
}

std::uint64_t Pool::hold_down_cut_short() const noexcept {
  return cut_short_.load(std::memory_order_relaxed);
}

Result<std::uint64_t> Pool::unit_of(const net::Prefix& p) const noexcept {
  return config_.prefix.index_of(config_.unit_length, p);
}

net::Prefix Pool::prefix_of(std::uint64_t unit) const noexcept {
  auto p = config_.prefix.nth(config_.unit_length, unit);
  return p.ok() ? p.value() : net::Prefix();
}

std::uint64_t Pool::memory_bytes() const noexcept {
  return sizeof(*this) + dynamic_.memory_bytes() - sizeof(dynamic_) + static_claims_.memory_bytes() -
         sizeof(static_claims_) + released_.memory_bytes() - sizeof(released_) +
         (excluded_ranges_.capacity() + static_ranges_.capacity()) * sizeof(UnitRange);
}

Status Pool::validate() const {
  for (const AtomicBitmap* b : {&dynamic_, &static_claims_, &released_}) {
    if (Status s = b->validate(); !s.ok()) return s;
  }
  Status bad;
  for_each_reserved([&](UnitRange r) {
    for (std::uint64_t u = r.begin; u < r.end && bad.ok(); ++u) {
      if (!dynamic_.test(u))
        bad = Status(StatusCode::kInternal, "reserved unit is free in the bitmap").with_number(u, "unit");
    }
  });
  return bad;
}

Pool::Worker::Worker(Pool& pool)
    : pool_(&pool), dynamic_(pool.dynamic_), static_claims_(pool.static_claims_), released_(pool.released_) {
  if (pool.config_.hold_down != 0) held_.resize(pool.config_.hold_down_capacity);
}

Pool::Worker::~Worker() {
  // Units still waiting keep their hold-down: they go to the pool's list,
  // and any worker's drain frees them once their time has come.
  if (held_size_ == 0) return;
  std::lock_guard<std::mutex> lock(pool_->orphans_mutex_);
  UEPOOL_DCHECK(!held_.empty(), "units waiting in a worker without a hold-down queue");
  std::uint64_t due = pool_->orphans_due_.load(std::memory_order_relaxed);
  while (held_size_ != 0) {
    const Held h = held_[held_head_];
    try {
      pool_->orphans_.push_back(h);
      due = std::min(due, h.until);
    } catch (const std::bad_alloc&) {
      free_held(h);                                               // no memory for the list: free it early, and count it
      pool_->cut_short_.fetch_add(1, std::memory_order_relaxed);  // statistics
    }
    held_head_ = (held_head_ + 1) % held_.size();
    --held_size_;
  }
  // relaxed: written under the mutex; drain reads it as a hint.
  pool_->orphans_due_.store(due, std::memory_order_relaxed);
}

std::size_t Pool::orphaned_hold_downs() const {
  std::lock_guard<std::mutex> lock(orphans_mutex_);
  return orphans_.size();
}

void Pool::drain_orphans(Worker& w, std::uint64_t now) noexcept {
  std::unique_lock<std::mutex> lock(orphans_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another worker is draining them: never block
  std::uint64_t due = UINT64_MAX;
  std::size_t kept = 0;
  for (const Worker::Held& h : orphans_) {
    if (h.until <= now) {
      w.free_held(h);
    } else {
      orphans_[kept++] = h;
      due = std::min(due, h.until);
    }
  }
  orphans_.resize(kept);
  orphans_due_.store(due, std::memory_order_relaxed);  // relaxed: under the mutex; a hint to readers
}

void Pool::Worker::free_held(const Held& h) noexcept {
  // The end of a hold-down is ONE atomic step: (1, 1) -> (0, 1). The
  // released bit stays set until the unit is handed out again, so a double
  // release at this moment or later is refused (the notes in pool.hpp).
  (void)pool_->dynamic_.release(dynamic_, h.unit);
}

void Pool::Worker::push_held(std::uint64_t unit, std::uint64_t until) noexcept {
  if (held_size_ == held_.size()) {
    // Full: free the oldest early (bounded memory), and count it.
    free_held(held_[held_head_]);
    held_head_ = (held_head_ + 1) % held_.size();
    --held_size_;
    pool_->cut_short_.fetch_add(1, std::memory_order_relaxed);  // statistics; rare path
  }
  held_[(held_head_ + held_size_) % held_.size()] = {unit, until};
  ++held_size_;
  UEPOOL_DCHECK(held_size_ <= held_.size(), "hold-down queue overflowed its ring");
}

void Pool::Worker::drain(std::uint64_t now) noexcept {
  while (held_size_ != 0 && held_[held_head_].until <= now) {
    free_held(held_[held_head_]);
    held_head_ = (held_head_ + 1) % held_.size();
    --held_size_;
  }
  // relaxed: a hint (see orphans_due_).
  if (pool_->orphans_due_.load(std::memory_order_relaxed) <= now) [[unlikely]] {
    pool_->drain_orphans(*this, now);
  }
}

}  // namespace uepool::core
