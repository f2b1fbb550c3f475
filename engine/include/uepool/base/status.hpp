// uepool/base/status.hpp — errors as values: `Status` and `Result<T>`.
//
// Overview
//   Every fallible call in uepool returns a `Status` (no value) or a
//   `Result<T>` (a value or a `Status`). Nothing on a hot path throws.
//   `std::expected` is not usable with clang 14 on libstdc++ 12, hence these.
//
//     uepool::Result<uepool::net::Prefix> p = uepool::net::Prefix::parse(text);
//     if (!p.ok()) { fmt::print(stderr, "{}\n", p.status().to_string()); return 2; }
//     use(p.value());
//
// Allocation
//   A `Status` never allocates: its reason is a string with static storage
//   duration (a literal), plus an optional byte position and an optional
//   number. Building the human-readable text (`to_string`) allocates, and
//   is only done by tools and tests, never on a hot path.
//
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace uepool {

// StatusCode — the kind of error; return the most specific one.
enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,     // malformed input: text, message, configuration
  kOutOfRange,          // a well-formed value outside what is allowed
  kNotFound,            // no such pool / member / unit
  kAlreadyExists,       // the unit is in use already; overlapping pools
  kResourceExhausted,   // no free unit; a buffer is full
  kFailedPrecondition,  // the operation is not allowed in this state
  kUnavailable,         // not ready yet (e.g. no acknowledged window)
  kInternal,            // an invariant of uepool itself was violated
};

// status_code_name — "invalid argument", "out of range", ...
const char* status_code_name(StatusCode code) noexcept;

// Status — a code, a static reason, and optional position / number details.
class [[nodiscard]] Status {
 public:
  static constexpr std::uint32_t kNoPosition = UINT32_MAX;

  constexpr Status() noexcept = default;
  constexpr Status(StatusCode code, const char* reason) noexcept : code_(code), reason_(reason) {}

  // Returns: an OK status.
  static constexpr Status ok_status() noexcept { return Status(); }

  // at — the same status, naming the byte offset in the input where it was found.
  [[nodiscard]] constexpr Status at(std::size_t position) const noexcept {
    Status s = *this;
    s.position_ = static_cast<std::uint32_t>(position);
    return s;
  }
  // with_number — the same status, carrying a number that explains it (a
  // length, an index), optionally named by a static `label` ("units").
  [[nodiscard]] constexpr Status with_number(std::uint64_t number, const char* label = nullptr) const noexcept {
    Status s = *this;
    s.number_ = number;
    s.number_label_ = label;
    s.has_number_ = true;
    return s;
  }

  [[nodiscard]] constexpr bool ok() const noexcept { return code_ == StatusCode::kOk; }
  [[nodiscard]] constexpr StatusCode code() const noexcept { return code_; }
  // reason — the static description, e.g. "leading zero in IPv4 octet"; "" when OK.
  [[nodiscard]] constexpr const char* reason() const noexcept { return reason_; }
  [[nodiscard]] constexpr std::optional<std::uint32_t> position() const noexcept {
    return position_ == kNoPosition ? std::nullopt : std::optional<std::uint32_t>(position_);
  }
  [[nodiscard]] constexpr std::optional<std::uint64_t> number() const noexcept {
    return has_number_ ? std::optional<std::uint64_t>(number_) : std::nullopt;
  }

  // to_string — "leading zero in IPv4 octet at offset 4", "index beyond the last unit (units: 256)"; "ok" when OK.
  // Allocates.
  [[nodiscard]] std::string to_string() const;

  friend constexpr bool operator==(const Status& a, const Status& b) noexcept {
    return a.code_ == b.code_ && a.reason_ == b.reason_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  bool has_number_ = false;
  std::uint32_t position_ = kNoPosition;
  const char* reason_ = "";
  const char* number_label_ = nullptr;
  std::uint64_t number_ = 0;
};

// Result<T> — a T, or the Status that explains why there is none.
// Requires: T is not Status.
template <class T>
class [[nodiscard]] Result {
 public:
  // NOLINTNEXTLINE(google-explicit-constructor): implicit, like absl::StatusOr.
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>) : value_(std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  Result(Status status) noexcept : status_(status) {
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "Result built from an OK status");
  }

  [[nodiscard]] bool ok() const noexcept { return value_.has_value(); }
  [[nodiscard]] const Status& status() const noexcept { return status_; }
  // value — Requires: ok().
  [[nodiscard]] T& value() & noexcept { return *value_; }
  [[nodiscard]] const T& value() const& noexcept { return *value_; }
  [[nodiscard]] T&& value() && noexcept { return std::move(*value_); }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }
  T& operator*() & noexcept { return *value_; }
  const T& operator*() const& noexcept { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace uepool
