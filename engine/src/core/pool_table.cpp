// PoolTable: immutable snapshots, branchless lookup. See uepool/core/pool_table.hpp.
#include "uepool/core/pool_table.hpp"

#include <algorithm>

namespace uepool::core {

struct PoolTable::Snapshot {
  // IPv4: first/last addresses, sorted by first.
  std::vector<std::uint32_t> v4_first;
  std::vector<std::uint32_t> v4_last;
  std::vector<Pool*> v4_pool;
  std::vector<net::u128> v6_first;
  std::vector<net::u128> v6_last;
  std::vector<Pool*> v6_pool;
  std::unordered_map<std::string, Pool*> by_name;
  std::unordered_map<std::string, Pool*> by_selector;
};

namespace {

// upper_index — the index of the last element <= key, or SIZE_MAX. Branchless.
template <class T>
std::size_t last_not_above(const std::vector<T>& sorted, T key) noexcept {
  std::size_t n = sorted.size();
  if (n == 0) return SIZE_MAX;
  const T* base = sorted.data();
  while (n > 1) {
    const std::size_t half = n / 2;
    base = (base[half] <= key) ? base + half : base;  // compiles to a cmov
    n -= half;
  }
  return *base <= key ? static_cast<std::size_t>(base - sorted.data()) : SIZE_MAX;
}

}  // namespace

PoolTable::PoolTable() {
  snapshots_.push_back(std::make_unique<Snapshot>());
  current_.store(snapshots_.back().get(), std::memory_order_release);
}

PoolTable::~PoolTable() = default;

std::string PoolTable::selector_key(const Selector& s, net::Family f) {
  std::string key = s.dnn;
  key += '\x1f';
  key += s.snssai;
  key += '\x1f';
  key += s.network_instance;
  key += f == net::Family::kV4 ? "\x1f" "4" : "\x1f" "6";
  return key;
}

Status PoolTable::add(const PoolConfig& config) {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  last_error_detail_.clear();
  const Snapshot* cur = current_.load(std::memory_order_relaxed);  // writers hold the mutex
  if (cur->by_name.count(config.name) != 0) {
    last_error_detail_ = "pool name '" + config.name + "' is taken";
    return Status(StatusCode::kAlreadyExists, "duplicate pool name");
  }
  const std::string key = selector_key(config.selector, config.prefix.family());
  if (!config.selector.dnn.empty() && cur->by_selector.count(key) != 0) {
    last_error_detail_ = "selector of '" + config.name + "' already served by '" + cur->by_selector.at(key)->name() + "'";
    return Status(StatusCode::kAlreadyExists, "another pool of this family serves the same selector");
  }
  for (const auto& p : pools_) {
    if (p->prefix().contains(config.prefix) || config.prefix.contains(p->prefix())) {
      last_error_detail_ = config.prefix.to_string() + " (" + config.name + ") overlaps " + p->prefix().to_string() +
                           " (" + p->name() + ")";
      return Status(StatusCode::kInvalidArgument, "pool overlaps another pool");
    }
  }
  auto pool = Pool::create(config);
  if (!pool.ok()) {
    last_error_detail_ = "pool '" + config.name + "': " + pool.status().to_string();
    return pool.status();
  }
  Pool* raw = pool.value().get();
  pools_.push_back(std::move(pool.value()));

  auto next = std::make_unique<Snapshot>(*cur);
  next->by_name.emplace(config.name, raw);
  if (!config.selector.dnn.empty()) next->by_selector.emplace(key, raw);
  const net::Prefix& pfx = raw->prefix();
  const net::u128 first = pfx.address().bits();
  const net::u128 last = first | net::host_mask(net::max_length(pfx.family()), pfx.length());
  if (pfx.family() == net::Family::kV4) {
    const auto at = std::upper_bound(next->v4_first.begin(), next->v4_first.end(), static_cast<std::uint32_t>(first)) -
                    next->v4_first.begin();
    next->v4_first.insert(next->v4_first.begin() + at, static_cast<std::uint32_t>(first));
    next->v4_last.insert(next->v4_last.begin() + at, static_cast<std::uint32_t>(last));
    next->v4_pool.insert(next->v4_pool.begin() + at, raw);
  } else {
    const auto at = std::upper_bound(next->v6_first.begin(), next->v6_first.end(), first) - next->v6_first.begin();
    next->v6_first.insert(next->v6_first.begin() + at, first);
    next->v6_last.insert(next->v6_last.begin() + at, last);
    next->v6_pool.insert(next->v6_pool.begin() + at, raw);
  }
  snapshots_.push_back(std::move(next));
  // release: pairs with the acquire loads of readers, so they see a fully built snapshot.
  current_.store(snapshots_.back().get(), std::memory_order_release);
  return Status();
}

std::string PoolTable::last_error_detail() const {
  std::lock_guard<std::mutex> lock(writer_mutex_);
  return last_error_detail_;
}

Pool* PoolTable::find(std::string_view name) const noexcept {
  const Snapshot* s = current_.load(std::memory_order_acquire);  // pairs with the release in add()
  const auto it = s->by_name.find(std::string(name));
  return it == s->by_name.end() ? nullptr : it->second;
}

Pool* PoolTable::select(const Selector& selector, net::Family family) const noexcept {
  const Snapshot* s = current_.load(std::memory_order_acquire);  // pairs with the release in add()
  const auto it = s->by_selector.find(selector_key(selector, family));
  return it == s->by_selector.end() ? nullptr : it->second;
}

std::optional<PoolTable::Match> PoolTable::lookup(const net::IpAddress& address) const noexcept {
  const Snapshot* s = current_.load(std::memory_order_acquire);  // pairs with the release in add()
  Pool* pool = nullptr;
  net::u128 first = 0;
  if (address.is_v4()) {
    const auto key = static_cast<std::uint32_t>(address.bits());
    const std::size_t i = last_not_above(s->v4_first, key);
    if (i == SIZE_MAX || key > s->v4_last[i]) return std::nullopt;
    pool = s->v4_pool[i];
    first = s->v4_first[i];
  } else {
    const net::u128 key = address.bits();
    const std::size_t i = last_not_above(s->v6_first, key);
    if (i == SIZE_MAX || key > s->v6_last[i]) return std::nullopt;
    pool = s->v6_pool[i];
    first = s->v6_first[i];
  }
  const int shift = net::max_length(address.family()) - pool->unit_length();
  const net::u128 offset = address.bits() - first;
  return Match{pool, static_cast<std::uint64_t>(shift >= 128 ? 0 : offset >> shift)};
}

std::optional<PoolTable::Match> PoolTable::lookup(const net::Prefix& prefix) const noexcept {
  auto m = lookup(prefix.address());
  if (!m || prefix.length() < m->pool->unit_length()) return std::nullopt;
  return m;
}

std::size_t PoolTable::size() const noexcept {
  return current_.load(std::memory_order_acquire)->by_name.size();  // pairs with the release in add()
}

}  // namespace uepool::core
