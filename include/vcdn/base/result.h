#pragma once
// Result<T>: the return type of fallible functions in the core library. An expected-like
// value-or-error without exceptions (g++ 12 has no std::expected in C++20). The error is a
// short message plus an optional errno so that callers can both log and branch.
#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace vcdn {

struct Error {
    std::string message;
    int sys_errno = 0; // 0 when the error did not come from a system call

    static Error from_errno(std::string what, int err = errno);
};

template <class T> class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool failed_ = false;
};

using Status = Result<void>;

} // namespace vcdn
