// uepool/node/control.hpp — a node's local control interface: a line
// protocol on a Unix socket through which an SMF process, a test driver or
// an operator allocates, claims and releases, supplies the session store's
// held lists, asks for an audit, and reads the member's state.
//
// The protocol (one request per line, one reply line each; README.md
// "The control interface" has examples):
//
//   allocate POOL                  -> ok LEASE PREFIX
//   allocate-dual POOL POOL        -> ok LEASE PREFIX LEASE PREFIX   (both or neither)
//   release LEASE                  -> ok
//   claim POOL PREFIX              -> ok LEASE                       (a static unit)
//   state                          -> ok member=1 phase=ready generation=3 owned=N in_use=N ...
//                                     (key=value pairs; in_use counts held-down and
//                                     wrap-held units too; reason= last, the rest of the line)
//   held-wanted                    -> ok TICKET | ok none
//   held TICKET LEASE...           -> ok COUNT       (part of the held list; as many lines as needed)
//   held-end TICKET                -> ok COUNT       (the list is complete: the member reads it)
//   audit                          -> ok             (start an audit now)
//   dump                           -> ok HEX         (the member's snapshot as a RecoverAnswer
//                                     message, hex: `uepool inspect -` reads it)
//   membership EPOCH               -> err ...        (re-division is not built yet: refused)
//   help                           -> ok COMMAND...
//
//   POOL is a pool's name or index; PREFIX a unit ("10.45.0.7/32",
//   "2001:db8:0:5::/64"). A failure is "err REASON TEXT", REASON one word
//   (not_ready, none_free, no_such_pool, bad_request, stale_ticket, ...).
//   LEASE is the token allocate returned, passed back unchanged:
//   POOL.UNIT.GENERATION.WINDOW.CLAIM.SERIAL.NONCE in decimal.
//
// The session store (HeldListStore): a member with a store reads "held
// lists" from it (the audit, and the rebuild of a member whose replicas are
// lost). Through the control interface the read is a request the SMF
// answers: the member asks (read_held returns false: not readable yet),
// `held-wanted` shows the request's ticket, and the SMF reads its session
// store *after* seeing the ticket and sends every lease it holds (all of
// them: the node keeps those of units this member owns). Only an answer to
// the current ticket is taken, so a list is never older than the request.
//
// Threads: the server runs its own thread. allocate / release / claim go
// straight to the member's hot path through the server's own Worker; the
// rest run on the message thread (Node::run).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/set/member.hpp"

namespace uepool::node {

class Node;

// format_lease / parse_lease — the LEASE token. parse_lease refuses
// anything but seven decimal fields that fit their types.
std::string format_lease(const set::Lease& lease);
Result<set::Lease> parse_lease(std::string_view token) noexcept;

// ControlStats — what the control interface served, for /metrics. Relaxed
// atomics: counters only, written by the server thread, read by the metrics
// renderer on the message thread; nothing else hangs on their order.
struct ControlStats {
  explicit ControlStats(std::size_t pools)
      : allocations(std::make_unique<std::atomic<std::uint64_t>[]>(pools)), pool_count(pools) {}
  std::unique_ptr<std::atomic<std::uint64_t>[]> allocations;  // per pool, successful
  std::size_t pool_count;
  std::atomic<std::uint64_t> not_ready{0};     // allocate refused: the member is not ready (or waits for a window)
  std::atomic<std::uint64_t> none_free{0};     // allocate refused: every owned unit in use
  std::atomic<std::uint64_t> releases{0};      // release requests passed to the member
  std::atomic<std::uint64_t> claims{0};        // static claims accepted
  std::atomic<std::uint64_t> bad_requests{0};  // lines refused: malformed, unknown, a bad lease or prefix
  std::atomic<std::uint64_t> held_leases{0};   // leases received in held lists
};

// HeldListStore — set::SessionStore answered through the control interface.
class HeldListStore final : public set::SessionStore {
 public:
  // read_held (message thread): the list answering the current ticket, if
  // it is complete (then the next read asks again); else false, and a
  // ticket is issued if none is pending.
  bool read_held(std::uint32_t owner, const set::Plan& plan, std::vector<set::Lease>& out) override;
  // wanted — the ticket waiting for an answer.
  std::optional<std::uint64_t> wanted();
  // add — part of the answer to `ticket`. kFailedPrecondition: not the
  // current ticket (late, or never issued).
  Status add(std::uint64_t ticket, const std::vector<set::Lease>& leases);
  // end — the answer to `ticket` is complete.
  Status end(std::uint64_t ticket);
  [[nodiscard]] std::uint64_t lists_read() const noexcept { return lists_read_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;  // guards everything below but lists_read_
  std::uint64_t next_ticket_ = 1;
  std::uint64_t ticket_ = 0;  // pending; 0: none
  bool complete_ = false;
  std::chrono::steady_clock::time_point completed_at_;
  std::vector<set::Lease> list_;
  std::atomic<std::uint64_t> lists_read_{0};  // a counter for metrics; relaxed: no data hangs on it
};

// Control — runs one request line against a node and returns the reply
// (without the newline). Its hot-path calls go through the node's control
// Worker (Node::control_worker): one Control per node at a time, used by
// one thread at a time.
class Control {
 public:
  Control(Node& node, HeldListStore* store);
  std::string execute(std::string_view line);

 private:
  std::string run(std::string_view line);
  std::optional<std::uint32_t> pool_of(std::string_view token) const;
  std::string lease_reply(const set::MemberAllocation& a) const;
  Node& node_;
  HeldListStore* store_;
  set::Member::Worker* worker_;
};

// ControlServer — a Unix socket (a stream socket; mode 0660) and the thread
// serving it. Many clients at once; a line longer than kMaxLineBytes is
// refused ("err line_too_long") and skipped.
class ControlServer {
 public:
  static constexpr std::size_t kMaxLineBytes = 1u << 20;
  // start — binds `path` (an existing socket file there is replaced) and
  // starts the thread.
  static Result<std::unique_ptr<ControlServer>> start(Node& node, HeldListStore* store, const std::string& path);
  ~ControlServer();  // stops the thread, closes the socket and removes its file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer(Node& node, HeldListStore* store) : control_(node, store) {}
  void serve();
  Control control_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};  // a pipe: the destructor writes to stop the thread
  std::thread thread_;
};

}  // namespace uepool::node
