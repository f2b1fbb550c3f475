// uepool/transport/tsan_suppressions.hpp — what ThreadSanitizer must not
// report in a binary that runs ZeroMQ (each such binary returns this from
// its __tsan_default_suppressions hook).
//
// libzmq and libsodium (its CURVE cryptography) are not instrumented.
// Memory that libzmq allocates on one thread and hands to its I/O thread
// through its own lock-free pipes, and messages that libsodium decrypts on
// the I/O thread before libzmq hands them over, are reported as races,
// because TSan cannot see the synchronization inside those libraries.
// Reports with a libzmq or libsodium frame are suppressed. One more: the
// I/O thread formats an endpoint string through libstdc++'s streambuf
// (xsputn), from a string the application thread wrote before it handed
// the connection over; the uninstrumented libzmq frames below it are not
// unwound, so the report shows only libstdc++ (seen once in CI, with the
// sockets' monitors on). uepool's own code uses no stream across threads.
#pragma once

namespace uepool::transport {

inline constexpr const char* kTsanZmqSuppressions =
    "race:libzmq.so.5\n"
    "race:libsodium.so.23\n"
    "race:std::basic_streambuf<char, std::char_traits<char> >::xsputn\n";

}  // namespace uepool::transport
