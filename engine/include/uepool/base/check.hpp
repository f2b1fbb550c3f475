// uepool/base/check.hpp — UEPOOL_DCHECK, a debug assertion on an internal
// invariant.
//
//   UEPOOL_DCHECK(unit < capacity_, "allocation outside the bitmap");
//
// Active when UEPOOL_DCHECKS is defined (the debug and tsan presets set it
// for every target); compiled out otherwise (the condition is not evaluated).
// A failed check prints file, line, condition and message to stderr and
// aborts. Only for facts the code itself guarantees: never on input from a
// caller, a peer or the wire (those get a Status), and never on a value that
// another thread may legitimately be changing.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace uepool::detail {

[[noreturn]] inline void dcheck_failed(const char* file, int line, const char* condition,
                                       const char* message) noexcept {
  std::fprintf(stderr, "%s:%d: UEPOOL_DCHECK(%s) failed: %s\n", file, line, condition, message);
  std::abort();
}

}  // namespace uepool::detail

#if defined(UEPOOL_DCHECKS)
#define UEPOOL_DCHECK(condition, message) \
  ((condition) ? static_cast<void>(0) : ::uepool::detail::dcheck_failed(__FILE__, __LINE__, #condition, message))
#else
#define UEPOOL_DCHECK(condition, message) static_cast<void>(sizeof((condition) ? 1 : 0))
#endif
