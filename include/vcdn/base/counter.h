#pragma once
// Counters written by exactly one thread and read by others (the metrics scraper).
// add() is a plain load+store, not a locked read-modify-write: the owner is the only writer,
// so no update is lost, and readers see a value that is at most a moment old. This keeps
// the request path free of atomic RMW instructions and of locks.
#include <atomic>
#include <cstdint>

namespace vcdn {

class Counter {
public:
    void add(uint64_t n = 1) {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void sub(uint64_t n = 1) {
        v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
    }
    void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

} // namespace vcdn
