#pragma once
// A single-producer single-consumer byte ring. The producer (a worker) never blocks and
// never allocates: a record that does not fit is refused and the caller counts it as
// dropped. The consumer (a writer thread) takes whole records in batches.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace vcdn {

class SpscRing {
public:
    explicit SpscRing(size_t capacity_pow2)
        : cap_(capacity_pow2), mask_(capacity_pow2 - 1), buf_(new char[capacity_pow2]) {}

    // Producer: appends n bytes as one unit, or returns false when there is no room.
    bool push(const char* p, size_t n) {
        const uint64_t head = head_.load(std::memory_order_relaxed);
        const uint64_t tail = tail_cache_;
        if (cap_ - (head - tail) < n) {
            tail_cache_ = tail_.load(std::memory_order_acquire);
            if (cap_ - (head - tail_cache_) < n) return false;
        }
        size_t off = head & mask_;
        size_t first = std::min(n, cap_ - off);
        std::memcpy(buf_.get() + off, p, first);
        std::memcpy(buf_.get(), p + first, n - first);
        head_.store(head + n, std::memory_order_release);
        return true;
    }
    // Producer: bytes queued and not yet consumed (approximate).
    size_t used() const {
        return head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_relaxed);
    }
    size_t capacity() const { return cap_; }

    // Consumer: the readable bytes as up to two contiguous spans.
    size_t peek(const char** a, size_t* alen, const char** b, size_t* blen) const {
        const uint64_t tail = tail_.load(std::memory_order_relaxed);
        const uint64_t head = head_.load(std::memory_order_acquire);
        size_t n = head - tail;
        size_t off = tail & mask_;
        size_t first = std::min(n, cap_ - off);
        *a = buf_.get() + off;
        *alen = first;
        *b = buf_.get();
        *blen = n - first;
        return n;
    }
    // Consumer: marks n bytes consumed.
    void consume(size_t n) {
        tail_.store(tail_.load(std::memory_order_relaxed) + n, std::memory_order_release);
    }

private:
    const size_t cap_;
    const size_t mask_;
    std::unique_ptr<char[]> buf_;
    alignas(64) std::atomic<uint64_t> head_{0};
    uint64_t tail_cache_ = 0; // producer's view of tail
    alignas(64) std::atomic<uint64_t> tail_{0};
};

} // namespace vcdn
