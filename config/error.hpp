// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace z2z {

/// The one exception type of the project: thrown only when start-up or construction fails or an
/// invariant is broken. Expected failures (bad input from the network or a user) use Result.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Why an operation failed, in words that name the input.
struct Failure {
  std::string message;
};

inline Failure fail(std::string message) {
  return Failure{std::move(message)};
}

/// A value or the Failure that prevented it: a small std::expected for C++20.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Failure f) : v_(std::move(f)) {}    // NOLINT(google-explicit-constructor)

  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  /// The failure message; only valid when !ok().
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Failure> v_;
};

/// Result of an operation that yields nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Failure f) : failed_(true), message_(std::move(f.message)) {}  // NOLINT

  explicit operator bool() const { return !failed_; }
  bool ok() const { return !failed_; }
  const std::string& error() const { return message_; }

 private:
  bool failed_ = false;
  std::string message_;
};

using Status = Result<void>;

}  // namespace z2z
