#include "uepool/base/status.hpp"

namespace uepool {

const char* status_code_name(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kOutOfRange: return "out of range";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kAlreadyExists: return "already exists";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kFailedPrecondition: return "failed precondition";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s = reason_;
  if (has_number_) {
    s += " (";
    if (number_label_ != nullptr) {
      s += number_label_;
      s += ": ";
    }
    s += std::to_string(number_);
    s += ")";
  }
  if (position_ != kNoPosition) {
    s += " at offset ";
    s += std::to_string(position_);
  }
  return s;
}

}  // namespace uepool
