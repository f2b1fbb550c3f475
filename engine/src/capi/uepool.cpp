// The C API (uepool/uepool.h) over node::Node: the configuration, the
// generation file, the member, and its transport (ZeroMQ, or the
// embedding's through transport::ExternalTransport). Every entry point
// catches what C++ may throw (memory) and answers UEPOOL_INTERNAL: no
// exception crosses into C.
#include "uepool/uepool.h"

#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "uepool/node/config.hpp"
#include "uepool/node/control.hpp"
#include "uepool/node/node.hpp"
#include "uepool/transport/external_transport.hpp"

using uepool::Status;
using uepool::StatusCode;
namespace node = uepool::node;
namespace set = uepool::set;
namespace net = uepool::net;
namespace transport = uepool::transport;

struct uepool_held_list {
  std::vector<set::Lease>* out = nullptr;
};

namespace {

// CallbackStore — the session store as the embedding's read_held callback.
class CallbackStore final : public set::SessionStore {
 public:
  CallbackStore(uepool_read_held_fn fn, void* user) : fn_(fn), user_(user) {}
  // The SMF lists every stored session (it cannot know the plan, least of
  // all an older epoch's): what `owner` owns under `plan` is kept, as the
  // node's HeldListStore does.
  bool read_held(std::uint32_t owner, const set::Plan& plan, std::vector<set::Lease>& out) override {
    std::vector<set::Lease> all;
    uepool_held_list list{&all};
    if (fn_(user_, owner, &list) == 0) return false;  // unreadable: what it added is no list
    for (const set::Lease& l : all)
      if (l.pool < plan.pool_count() && l.unit < plan.units(l.pool) && plan.owner(l.pool, l.unit) == owner)
        out.push_back(l);
    return true;
  }

 private:
  uepool_read_held_fn fn_;
  void* user_;
};

}  // namespace

struct uepool_worker {
  uepool_member* u = nullptr;
  set::Member::Worker* w = nullptr;
};

struct uepool_member {
  std::unique_ptr<CallbackStore> store;
  std::shared_ptr<transport::ExternalTransport> external;  // null: the built-in ZeroMQ transport
  std::unique_ptr<node::Node> node;
  std::vector<std::unique_ptr<uepool_worker>> workers;  // message side only
  std::thread loop;
  // stop — set by uepool_destroy (release), read by the loop (acquire): the
  // loop ends after its current step.
  std::atomic<bool> stop{false};
  bool started = false;  // the caller's thread only (start, destroy)

  // on_message_side — `fn` on the message thread: the library's loop after
  // uepool_start (Node::run waits for it), otherwise the caller is it.
  template <class F>
  bool on_message_side(F&& fn) {
    if (started) return node->run(std::forward<F>(fn));
    fn();
    return true;
  }
};

namespace {

uepool_status from_member(set::MemberStatus s) {
  switch (s) {
    case set::MemberStatus::kOk: return UEPOOL_OK;
    case set::MemberStatus::kNoneFree: return UEPOOL_NONE_FREE;
    case set::MemberStatus::kNotReady: return UEPOOL_NOT_READY;
    case set::MemberStatus::kNoSuchPool: return UEPOOL_NO_SUCH_POOL;
    case set::MemberStatus::kNotStatic: return UEPOOL_NOT_STATIC;
    case set::MemberStatus::kOutOfRange: return UEPOOL_OUT_OF_RANGE;
  }
  return UEPOOL_INTERNAL;
}

void write_error(char* error, std::size_t size, const std::string& text) {
  if (error == nullptr || size == 0) return;
  const std::size_t n = std::min(size - 1, text.size());
  std::memcpy(error, text.data(), n);
  error[n] = '\0';
}

uepool_status copy_text(const std::string& text, char* buffer, std::size_t capacity) {
  if (buffer == nullptr || capacity <= text.size()) return UEPOOL_BAD_ARGUMENT;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return UEPOOL_OK;
}

set::Lease to_lease(const uepool_lease& l) {
  return set::Lease{l.pool, l.unit, set::LeaseTag{l.generation, l.window}, l.claim, l.serial, l.nonce};
}

uepool_lease from_lease(const set::Lease& l) {
  uepool_lease c{};
  c.pool = l.pool;
  c.generation = l.tag.generation;
  c.unit = l.unit;
  c.window = l.tag.window;
  c.serial = l.serial;
  c.claim = l.claim;
  c.nonce = l.nonce;
  return c;
}

uepool_address from_prefix(const net::Prefix& p) {
  uepool_address a{};
  a.length = static_cast<std::uint8_t>(p.length());
  const net::u128 bits = p.address().bits();
  if (p.address().is_v4()) {
    a.family = 4;
    for (int i = 0; i < 4; ++i) a.bytes[i] = static_cast<std::uint8_t>(bits >> (8 * (3 - i)));
  } else {
    a.family = 6;
    for (int i = 0; i < 16; ++i) a.bytes[i] = static_cast<std::uint8_t>(bits >> (8 * (15 - i)));
  }
  return a;
}

std::optional<net::Prefix> to_prefix(const uepool_address& a) {
  if (a.family != 4 && a.family != 6) return std::nullopt;
  const int n = a.family == 4 ? 4 : 16;
  net::u128 bits = 0;
  for (int i = 0; i < n; ++i) bits = (bits << 8) | a.bytes[i];
  const net::IpAddress ip = net::IpAddress::from_bits(a.family == 4 ? net::Family::kV4 : net::Family::kV6, bits);
  auto p = net::Prefix::make(ip, a.length);
  if (!p.ok()) return std::nullopt;
  return p.value();
}

uepool_status unit_address(const node::NodeConfig& config, std::uint32_t pool, std::uint64_t unit,
                           uepool_address* out) {
  if (pool >= config.pools.size()) return UEPOOL_NO_SUCH_POOL;
  const uepool::core::PoolConfig& pc = config.pools[pool];
  auto p = pc.prefix.nth(pc.unit_length, unit);
  if (!p.ok()) return UEPOOL_OUT_OF_RANGE;
  *out = from_prefix(p.value());
  return UEPOOL_OK;
}

uepool_status create(const std::string& text, const uepool_options* o, uepool_member** out, char* error,
                     std::size_t error_size) {
  if (out == nullptr) {
    write_error(error, error_size, "out is NULL");
    return UEPOOL_BAD_ARGUMENT;
  }
  *out = nullptr;
  if (o == nullptr || o->member == nullptr || o->data_dir == nullptr) {
    write_error(error, error_size, "options, options->member and options->data_dir are required");
    return UEPOOL_BAD_ARGUMENT;
  }
  node::ConfigLoad c = node::load_config(text);
  if (!c.errors.empty()) {
    std::string all;
    for (const node::ConfigError& e : c.errors) all += (all.empty() ? "" : "; ") + e.to_string();
    write_error(error, error_size, "configuration: " + all);
    return UEPOOL_BAD_CONFIG;
  }
  auto u = std::make_unique<uepool_member>();
  node::NodeOptions no;
  no.config = *c.config;
  no.member = o->member;
  no.data_dir = o->data_dir;
  if (o->secret_key != nullptr) no.secret_key = o->secret_key;
  no.fresh = o->fresh != 0;
  const node::MemberConfig* self = no.config.member(no.member);
  if (self == nullptr) {
    write_error(error, error_size, std::string("no member named '") + o->member + "' in the configuration");
    return UEPOOL_BAD_CONFIG;
  }
  if (o->external_transport != 0) {
    u->external = std::make_shared<transport::ExternalTransport>(self->id);
    no.transport = u->external;
  }
  if (o->read_held != nullptr) {
    u->store = std::make_unique<CallbackStore>(o->read_held, o->read_held_user);
    no.store = u->store.get();
  }
  auto n = node::Node::create(no);
  if (!n.ok()) {
    write_error(error, error_size, std::string(o->member) + ": " + n.status().to_string());
    const StatusCode code = n.status().code();
    return code == StatusCode::kInvalidArgument ? UEPOOL_BAD_CONFIG : UEPOOL_IO;
  }
  u->node = std::move(n.value());
  *out = u.release();
  return UEPOOL_OK;
}

}  // namespace

// guarded — every entry point runs its body through this: no exception
// crosses into C (out of memory is the only one the library throws).
template <class F>
uepool_status guarded(F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return UEPOOL_INTERNAL;
  }
}

extern "C" {

const char* uepool_status_name(int status) {
  switch (status) {
    case UEPOOL_OK: return "ok";
    case UEPOOL_NONE_FREE: return "none_free";
    case UEPOOL_NOT_READY: return "not_ready";
    case UEPOOL_NO_SUCH_POOL: return "no_such_pool";
    case UEPOOL_NOT_STATIC: return "not_static";
    case UEPOOL_OUT_OF_RANGE: return "out_of_range";
    case UEPOOL_BAD_ARGUMENT: return "bad_argument";
    case UEPOOL_BAD_CONFIG: return "bad_config";
    case UEPOOL_BAD_FRAME: return "bad_frame";
    case UEPOOL_EMPTY: return "empty";
    case UEPOOL_UNSUPPORTED: return "unsupported";
    case UEPOOL_STOPPED: return "stopped";
    case UEPOOL_IO: return "io";
    case UEPOOL_FULL: return "full";
    case UEPOOL_INTERNAL: return "internal";
    default: return "unknown_status";
  }
}

uepool_options uepool_default_options(void) {
  uepool_options o{};
  return o;
}

uepool_status uepool_create(const char* config_yaml, const uepool_options* options, uepool_member** out, char* error,
                            size_t error_size) {
  return guarded([&]() -> uepool_status {
    if (config_yaml == nullptr) {
      if (out != nullptr) *out = nullptr;
      write_error(error, error_size, "config_yaml is NULL");
      return UEPOOL_BAD_ARGUMENT;
    }
    return create(config_yaml, options, out, error, error_size);
  });
}

uepool_status uepool_create_from_file(const char* path, const uepool_options* options, uepool_member** out, char* error,
                                      size_t error_size) {
  return guarded([&]() -> uepool_status {
    if (out != nullptr) *out = nullptr;
    if (path == nullptr) {
      write_error(error, error_size, "path is NULL");
      return UEPOOL_BAD_ARGUMENT;
    }
    std::ifstream in(path);
    if (!in) {
      write_error(error, error_size, std::string(path) + ": cannot be read");
      return UEPOOL_IO;
    }
    std::stringstream text;
    text << in.rdbuf();
    return create(text.str(), options, out, error, error_size);
  });
}

void uepool_destroy(uepool_member* u) {
  if (u == nullptr) return;
  u->stop.store(true, std::memory_order_release);
  if (u->loop.joinable()) u->loop.join();
  delete u;
}

uepool_status uepool_start(uepool_member* u) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr) return UEPOOL_BAD_ARGUMENT;
    if (u->started) return UEPOOL_UNSUPPORTED;
    u->started = true;
    u->loop = std::thread([u] {
      while (!u->stop.load(std::memory_order_acquire)) u->node->step(10);
      u->node->close_calls();  // calls waiting now, or later, answer UEPOOL_STOPPED
    });
    return UEPOOL_OK;
  });
}

uepool_status uepool_step(uepool_member* u, int timeout_ms) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || timeout_ms < 0) return UEPOOL_BAD_ARGUMENT;
    if (u->started) return UEPOOL_UNSUPPORTED;
    u->node->step(timeout_ms);
    return UEPOOL_OK;
  });
}

uepool_status uepool_feed(uepool_member* u, const uint8_t* bytes, size_t size) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || (bytes == nullptr && size != 0)) return UEPOOL_BAD_ARGUMENT;
    if (!u->external) return UEPOOL_UNSUPPORTED;
    const Status s = u->external->feed({bytes, size});
    if (s.ok()) return UEPOOL_OK;
    return s.code() == StatusCode::kResourceExhausted ? UEPOOL_FULL : UEPOOL_BAD_FRAME;
  });
}

uepool_status uepool_take(uepool_member* u, uint32_t* to_member, uint8_t* buffer, size_t capacity, size_t* size) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || to_member == nullptr || size == nullptr) return UEPOOL_BAD_ARGUMENT;
    if (!u->external) return UEPOOL_UNSUPPORTED;
    transport::ExternalTransport::Outgoing o;
    std::size_t need = 0;
    const auto taken = u->external->take(o, buffer == nullptr ? 0 : capacity, need);
    *size = need;
    if (taken == transport::ExternalTransport::Take::kNone) return UEPOOL_EMPTY;
    if (taken == transport::ExternalTransport::Take::kTooSmall) return UEPOOL_BAD_ARGUMENT;  // it stays
    std::memcpy(buffer, o.bytes.data(), o.bytes.size());
    *size = o.bytes.size();
    *to_member = o.to;
    return UEPOOL_OK;
  });
}

uint32_t uepool_member_id(const uepool_member* u) {
  return u == nullptr ? 0 : u->node->self().id;
}

uint32_t uepool_peer_id(const uepool_member* u, const char* name) {
  if (u == nullptr || name == nullptr) return 0;
  try {
    const node::MemberConfig* m = u->node->config().member(name);
    return m == nullptr ? 0 : m->id;
  } catch (...) {
    return 0;
  }
}

int uepool_pool(const uepool_member* u, const char* name) {
  if (u == nullptr || name == nullptr) return -1;
  const auto& pools = u->node->config().pools;
  for (std::size_t i = 0; i < pools.size(); ++i)
    if (pools[i].name == name) return static_cast<int>(i);
  return -1;
}

uint32_t uepool_pool_count(const uepool_member* u) {
  return u == nullptr ? 0 : static_cast<std::uint32_t>(u->node->config().pools.size());
}

uepool_status uepool_pool_get(uepool_member* u, uint32_t pool, uepool_pool_info* info) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || info == nullptr) return UEPOOL_BAD_ARGUMENT;
    const auto& pools = u->node->config().pools;
    if (pool >= pools.size()) return UEPOOL_NO_SUCH_POOL;
    uepool_pool_info out{};
    const uepool::core::PoolConfig& pc = pools[pool];
    const auto units_of = [&](const net::Prefix& p) -> std::uint64_t {
      auto n = p.unit_count(pc.unit_length);
      return n.ok() ? n.value() : 0;
    };
    out.units = units_of(pc.prefix);
    for (const net::Prefix& r : pc.static_ranges) out.static_units += units_of(r);
    out.prefix = from_prefix(pc.prefix);
    out.unit_length = static_cast<std::uint8_t>(pc.unit_length);
    const bool ran = u->on_message_side([&] {
      const set::MemberView v = u->node->member().view();
      out.owned_units = v.pools[pool].owned_units;
      out.in_use_units = v.pools[pool].in_use;
    });
    if (!ran) return UEPOOL_STOPPED;
    *info = out;
    return UEPOOL_OK;
  });
}

uepool_worker* uepool_worker_create(uepool_member* u) {
  if (u == nullptr) return nullptr;
  try {
    uepool_worker* made = nullptr;
    const bool ran = u->on_message_side([&] {
      auto w = std::make_unique<uepool_worker>();
      w->u = u;
      w->w = u->node->member().create_worker();
      made = w.get();
      u->workers.push_back(std::move(w));
    });
    return ran ? made : nullptr;
  } catch (...) {
    return nullptr;
  }
}

uepool_status uepool_allocate(uepool_worker* w, uint32_t pool, uepool_lease* lease, uepool_address* address) {
  if (w == nullptr || lease == nullptr) return UEPOOL_BAD_ARGUMENT;
  const set::MemberAllocation a = w->u->node->member().allocate(*w->w, pool);  // noexcept
  if (!a.ok()) return from_member(a.status);
  *lease = from_lease(a.lease);
  return address == nullptr ? UEPOOL_OK : unit_address(w->u->node->config(), pool, a.lease.unit, address);
}

uepool_status uepool_allocate_dual(uepool_worker* w, uint32_t pool_a, uint32_t pool_b, uepool_lease leases[2],
                                   uepool_address addresses[2]) {
  if (w == nullptr || leases == nullptr || pool_a == pool_b) return UEPOOL_BAD_ARGUMENT;
  const auto [a, b] = w->u->node->member().allocate_dual(*w->w, pool_a, pool_b);  // noexcept
  if (!a.ok()) return from_member(a.status);
  if (!b.ok()) return from_member(b.status);
  leases[0] = from_lease(a.lease);
  leases[1] = from_lease(b.lease);
  if (addresses == nullptr) return UEPOOL_OK;
  const uepool_status s = unit_address(w->u->node->config(), pool_a, a.lease.unit, &addresses[0]);
  return s != UEPOOL_OK ? s : unit_address(w->u->node->config(), pool_b, b.lease.unit, &addresses[1]);
}

uepool_status uepool_claim(uepool_worker* w, uint32_t pool, const uepool_address* address, uepool_lease* lease) {
  if (w == nullptr || address == nullptr || lease == nullptr) return UEPOOL_BAD_ARGUMENT;
  const auto& pools = w->u->node->config().pools;
  if (pool >= pools.size()) return UEPOOL_NO_SUCH_POOL;
  const std::optional<net::Prefix> p = to_prefix(*address);
  if (!p) return UEPOOL_BAD_ARGUMENT;
  auto unit = pools[pool].prefix.index_of(pools[pool].unit_length, *p);
  if (!unit.ok()) return UEPOOL_OUT_OF_RANGE;
  set::Lease l;
  const set::MemberStatus s = w->u->node->member().claim(*w->w, pool, unit.value(), &l);  // noexcept
  if (s != set::MemberStatus::kOk) return from_member(s);
  *lease = from_lease(l);
  return UEPOOL_OK;
}

uepool_status uepool_release(uepool_worker* w, const uepool_lease* lease) {
  if (w == nullptr || lease == nullptr) return UEPOOL_BAD_ARGUMENT;
  if (lease->pool >= w->u->node->config().pools.size()) return UEPOOL_NO_SUCH_POOL;
  w->u->node->member().release(*w->w, to_lease(*lease));  // noexcept; the owner judges it
  return UEPOOL_OK;
}

uepool_status uepool_lease_address(const uepool_member* u, const uepool_lease* lease, uepool_address* address) {
  if (u == nullptr || lease == nullptr || address == nullptr) return UEPOOL_BAD_ARGUMENT;
  return unit_address(u->node->config(), lease->pool, lease->unit, address);
}

uepool_status uepool_unit_address(const uepool_member* u, uint32_t pool, uint64_t unit, uepool_address* address) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || address == nullptr) return UEPOOL_BAD_ARGUMENT;
    return unit_address(u->node->config(), pool, unit, address);
  });
}

uepool_status uepool_address_unit(const uepool_member* u, uint32_t pool, const uepool_address* address, uint64_t* unit,
                                  int* is_static) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || address == nullptr || unit == nullptr) return UEPOOL_BAD_ARGUMENT;
    const auto& pools = u->node->config().pools;
    if (pool >= pools.size()) return UEPOOL_NO_SUCH_POOL;
    const std::optional<net::Prefix> p = to_prefix(*address);
    if (!p) return UEPOOL_BAD_ARGUMENT;
    const uepool::core::PoolConfig& pc = pools[pool];
    auto index = pc.prefix.index_of(pc.unit_length, *p);
    if (!index.ok()) return UEPOOL_OUT_OF_RANGE;
    *unit = index.value();
    if (is_static != nullptr) {
      *is_static = 0;
      for (const net::Prefix& r : pc.static_ranges) *is_static |= r.contains(*p) ? 1 : 0;
    }
    return UEPOOL_OK;
  });
}

uepool_status uepool_lease_format(const uepool_lease* lease, char* buffer, size_t capacity) {
  return guarded([&]() -> uepool_status {
    if (lease == nullptr) return UEPOOL_BAD_ARGUMENT;
    return copy_text(node::format_lease(to_lease(*lease)), buffer, capacity);
  });
}

uepool_status uepool_lease_parse(const char* text, uepool_lease* lease) {
  return guarded([&]() -> uepool_status {
    if (text == nullptr || lease == nullptr) return UEPOOL_BAD_ARGUMENT;
    auto l = node::parse_lease(text);
    if (!l.ok()) return UEPOOL_BAD_ARGUMENT;
    *lease = from_lease(l.value());
    return UEPOOL_OK;
  });
}

uepool_status uepool_address_format(const uepool_address* address, char* buffer, size_t capacity) {
  return guarded([&]() -> uepool_status {
    if (address == nullptr) return UEPOOL_BAD_ARGUMENT;
    const std::optional<net::Prefix> p = to_prefix(*address);
    if (!p) return UEPOOL_BAD_ARGUMENT;
    return copy_text(p->to_string(), buffer, capacity);
  });
}

uepool_status uepool_address_parse(const char* text, uepool_address* address) {
  return guarded([&]() -> uepool_status {
    if (text == nullptr || address == nullptr) return UEPOOL_BAD_ARGUMENT;
    auto p = net::Prefix::parse(text);
    if (!p.ok()) return UEPOOL_BAD_ARGUMENT;
    *address = from_prefix(p.value());
    return UEPOOL_OK;
  });
}

uepool_status uepool_held_add(uepool_held_list* list, const uepool_lease* lease) {
  return guarded([&]() -> uepool_status {
    if (list == nullptr || list->out == nullptr || lease == nullptr) return UEPOOL_BAD_ARGUMENT;
    list->out->push_back(to_lease(*lease));
    return UEPOOL_OK;
  });
}

uepool_status uepool_audit(uepool_member* u) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr) return UEPOOL_BAD_ARGUMENT;
    if (!u->store) return UEPOOL_UNSUPPORTED;
    Status s;
    if (!u->on_message_side([&] { s = u->node->member().audit_now(); })) return UEPOOL_STOPPED;
    return s.ok() ? UEPOOL_OK : UEPOOL_UNSUPPORTED;
  });
}

uepool_status uepool_set_membership(uepool_member* u, uint64_t epoch, const uint32_t* member_ids,
                                    const uint32_t* weights, size_t count, char* error, size_t error_size) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || (count > 0 && (member_ids == nullptr || weights == nullptr))) {
      write_error(error, error_size, "member, member_ids and weights are required");
      return UEPOOL_BAD_ARGUMENT;
    }
    std::vector<set::MemberSpec> specs;
    specs.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
      specs.push_back(weights[i] == UEPOOL_WEIGHT_RETIRED ? set::MemberSpec{member_ids[i], 0, true}
                                                          : set::MemberSpec{member_ids[i], weights[i]});
    Status s;
    const bool ran = u->on_message_side([&] {
      set::Member& m = u->node->member();
      auto plan = m.plan().reweighted(epoch, specs);
      s = plan.ok() ? m.set_membership(std::make_shared<const set::Plan>(std::move(plan.value()))) : plan.status();
    });
    if (!ran) return UEPOOL_STOPPED;
    if (!s.ok()) {
      write_error(error, error_size, s.to_string());
      return UEPOOL_BAD_ARGUMENT;
    }
    return UEPOOL_OK;
  });
}

uepool_status uepool_stats_get(uepool_member* u, uepool_stats* stats) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr || stats == nullptr) return UEPOOL_BAD_ARGUMENT;
    uepool_stats s{};
    const bool ran = u->on_message_side([&] {
      const set::MemberView v = u->node->member().view();
      s.phase = static_cast<std::uint32_t>(v.phase);
      s.generation = v.incarnation.generation;
      for (const auto& pf : v.pools) {
        s.owned_units += pf.owned_units;
        s.in_use_units += pf.in_use;
        s.held_down_units += pf.held_down;
        s.quarantined_units += pf.quarantined;
        s.wrap_held_units += pf.wrap_held;
      }
      s.peers = static_cast<std::uint32_t>(v.peers.size());
      for (const auto& pf : v.peers) s.peers_acking += pf.acks_us ? 1 : 0;
      const set::MemberCounters& c = v.counters;
      s.releases_forwarded = c.releases_forwarded;
      s.releases_received = c.releases_received;
      s.releases_applied = c.releases_applied;
      s.stale_releases = c.stale_releases;
      s.double_releases = c.double_releases;
      s.audits = c.audits;
      s.audit_freed = c.audit_freed;
      s.rebuilds = c.rebuilds;
      const node::NodeStats& ns = u->node->stats();
      s.frames_sent = ns.frames_sent;
      s.frames_received = ns.frames_received;
      const transport::TransportCounters tc = u->node->transport().counters();
      s.bad_frames = tc.decode_errors + tc.impostors + tc.wrong_destination;
      s.epoch = v.epoch;
      s.target_epoch = v.target_epoch;
      s.settled = u->node->member().settled() ? 1 : 0;
      s.blocks_moved = c.blocks_moved;
      s.blocks_lost = c.blocks_lost;
    });
    if (!ran) return UEPOOL_STOPPED;
    *stats = s;
    return UEPOOL_OK;
  });
}

uepool_status uepool_not_ready_reason(uepool_member* u, char* buffer, size_t capacity) {
  return guarded([&]() -> uepool_status {
    if (u == nullptr) return UEPOOL_BAD_ARGUMENT;
    std::string reason;
    const bool ran = u->on_message_side([&] {
      if (u->node->member().phase() != set::MemberPhase::kReady) reason = u->node->member().not_ready_reason();
    });
    if (!ran) return UEPOOL_STOPPED;
    return copy_text(reason, buffer, capacity);
  });
}

}  // extern "C"
