#pragma once
// Pure pieces of the player: buffer-based bitrate choice and a latency histogram.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vcdn::player {

struct AbrConfig {
    double reservoir_s = 5; // below this buffer: the lowest rung
    double cushion_s = 10;  // above reservoir + cushion: the highest rung
};

// BBA-0 (Huang et al., "A Buffer-Based Approach to Rate Adaptation", SIGCOMM 2014): the rate
// is a function of the buffer alone, linear from the lowest rung at the reservoir to the
// highest at reservoir + cushion; the current rung is kept until the map crosses the next
// rung up or down, so a buffer hovering near a boundary does not oscillate.
// `ladder` is ascending (kbit/s); returns an index into it.
size_t bba_choose(const std::vector<uint32_t>& ladder, size_t current, double buffer_s,
                  const AbrConfig& cfg);

// Log-linear histogram of microsecond values (HDR-style): exact below 32, then 32
// sub-buckets per power of two, so a percentile is within ~3% of the true value.
class LatencyHistogram {
public:
    void record(uint64_t us);
    void merge(const LatencyHistogram& o);
    uint64_t count() const { return count_; }
    // The value at quantile q in [0, 1] (the bucket's upper bound); 0 when empty.
    uint64_t percentile(double q) const;
    uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }

private:
    static constexpr size_t kSub = 32;
    static constexpr size_t kBuckets = kSub + 59 * kSub;
    static size_t index(uint64_t v);
    static uint64_t upper(size_t i);
    std::array<uint64_t, kBuckets> b_{};
    uint64_t count_ = 0, sum_ = 0, max_ = 0;
};

} // namespace vcdn::player
