#pragma once
// Clock readings. Event loops read the clock once per iteration and pass "now" down, so
// pure code takes time as a parameter and tests can inject it.
#include <cstdint>
#include <ctime>

namespace vcdn {

inline int64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline int64_t monotonic_us() {
    return monotonic_ns() / 1000;
}
inline int64_t monotonic_ms() {
    return monotonic_ns() / 1000000;
}
// Cheaper, ~4 ms resolution: good enough for timeouts.
inline int64_t monotonic_coarse_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
inline int64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

} // namespace vcdn
