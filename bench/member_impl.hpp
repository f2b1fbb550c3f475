// member_impl.hpp — the set layer's Member as a churn implementation
// ("churn_dense/member"): the hot path as an SMF worker sees it.
//
// A two-member set in one process: the measured member owns about half of a
// pool of 2 x capacity units (so about `capacity` units), its peer acks its
// windows, and a message thread (as in production: its own thread) ticks
// both members every 20 microseconds and carries their frames. Windows are
// acknowledged before the timed loop starts (the pre-fill waits for them);
// in the loop, allocate and release are the Member's: a window check, the
// allocation in the window, and a release pushed to the worker's ring. The
// message thread's work (draining releases, streaming, re-filling windows)
// runs beside the measured threads, on the same cores.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "uepool/testing/loopback_set.hpp"

namespace uepool::bench {

class MemberImpl {
 public:
  static constexpr const char* kName = "member";
  static constexpr bool kHolds2To32 = false;
  static constexpr bool kCanClaim = false;

  explicit MemberImpl(std::uint64_t capacity) {
    std::vector<set::MemberSpec> specs = {{1, 1}, {2, 1}};
    std::vector<set::PoolSpec> pools = {{"bench", 2 * capacity, 1024}};
    plan_ = std::make_shared<const set::Plan>(set::Plan::create(1, specs, pools).value());
    core::PoolConfig cfg;
    cfg.name = "bench";
    int bits = 0;
    while ((std::uint64_t{1} << bits) < 2 * capacity) ++bits;
    cfg.prefix = net::Prefix::make(net::IpAddress(net::Ipv4Address(0x0a000000)), 32 - bits).value();
    cfg.unit_length = 32;
    testing::LoopbackOptions lo;
    lo.plan = plan_;
    lo.pools = {cfg};
    lo.first_nonce = 11;
    lo.tune = [](set::MemberOptions& o) {
      o.window_units = 1024;
      o.windows_ahead = 16;
      o.lease = std::uint64_t{1} << 50;  // microseconds: no lease runs out during a benchmark
      o.heartbeat = 100;
      o.stream_interval = 200;  // microseconds
      o.retransmit = 1'000;
      o.channel_capacity = std::size_t{1} << 22;
      o.release_ring = std::size_t{1} << 16;
      // No release is ever repeated here, and each free unit is reused about
      // a thousand times a second: 1 ms keeps a wrapped unit (1 release in
      // 14) out of use briefly. A deployment's window is seconds, its units
      // are reused far less often (member.hpp, release_repeat_window).
      o.release_repeat_window = 1'000;
    };
    set_ = std::move(testing::LoopbackSet::create(lo).value());
    owner_ = set_->member(1);
    nonce_ = owner_->incarnation().nonce;  // a lease names its owner incarnation
    // create_worker is a message-side call: make them before the message thread starts.
    for (auto& w : spare_) w = owner_->create_worker();
    message_ = std::thread([this] { message_loop(); });
  }
  std::atomic<std::uint64_t> waits_{0};  // allocations that found no acknowledged window and waited
  ~MemberImpl() {
    stop_.store(true);
    message_.join();
  }
  MemberImpl(const MemberImpl&) = delete;
  MemberImpl& operator=(const MemberImpl&) = delete;

  static constexpr unsigned kSerialShift = 56;  // units of the member benchmarks are below 2^56

  struct Worker {
    explicit Worker(MemberImpl& impl) : w(impl.spare_[impl.next_spare_.fetch_add(1) % kSpare]) {}
    set::Member::Worker* w = nullptr;
  };

  bool allocate(Worker& w, std::uint64_t& unit) noexcept {
    for (int spin = 0;; ++spin) {
      const set::MemberAllocation a = owner_->allocate(*w.w, 0);
      if (a.ok()) {
        // The handle: the unit and its allocation serial (the release must
        // name the allocation it ends), as the embedding's session would keep the lease.
        unit = a.lease.unit | (std::uint64_t{a.lease.serial} << kSerialShift);
        return true;
      }
      if (a.status != set::MemberStatus::kNotReady || spin > 2'000'000) return false;
      waits_.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::yield();  // the next window is on its way
    }
  }
  void release(Worker& w, std::uint64_t unit) noexcept {
    owner_->release(*w.w, set::Lease{0, unit & ((std::uint64_t{1} << kSerialShift) - 1), set::LeaseTag{1, 1}, 0,
                                     static_cast<std::uint8_t>(unit >> kSerialShift), nonce_});
  }
  bool claim(Worker&, std::uint64_t) noexcept { return false; }

 private:
  void message_loop() {
    const auto t0 = std::chrono::steady_clock::now();
    while (!stop_.load(std::memory_order_relaxed)) {
      const auto now = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count() + 1);
      set_->pump(now);
      // Tick every 20 us, or at once while a worker waits for a window (a
      // node's event loop does the same: Member::starving).
      if (!owner_->starving()) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  std::shared_ptr<const set::Plan> plan_;
  std::unique_ptr<testing::LoopbackSet> set_;  // the two members; pumped by message_loop
  set::Member* owner_ = nullptr;               // member 1, the one measured
  std::uint64_t nonce_ = 0;
  std::atomic<bool> stop_{false};
  static constexpr std::size_t kSpare = 64;  // Google Benchmark makes one Worker per thread per run
  set::Member::Worker* spare_[kSpare] = {};
  std::atomic<std::size_t> next_spare_{0};
  std::thread message_;
};

}  // namespace uepool::bench
