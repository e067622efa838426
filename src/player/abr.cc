#include <vcdn/player/abr.h>

#include <algorithm>
#include <bit>

namespace vcdn::player {

size_t bba_choose(const std::vector<uint32_t>& ladder, size_t current, double buffer_s,
                  const AbrConfig& cfg) {
    if (ladder.empty()) return 0;
    const size_t top = ladder.size() - 1;
    current = std::min(current, top);
    if (buffer_s <= cfg.reservoir_s) return 0;
    if (buffer_s >= cfg.reservoir_s + cfg.cushion_s) return top;
    const double lo = ladder.front(), hi = ladder.back();
    const double f = lo + (buffer_s - cfg.reservoir_s) / cfg.cushion_s * (hi - lo);
    const double up = ladder[std::min(current + 1, top)];
    const double down = ladder[current > 0 ? current - 1 : 0];
    if (f >= up && current < top) { // the highest rung the map reaches
        size_t best = current + 1;
        for (size_t i = current + 1; i <= top; ++i)
            if (ladder[i] <= f) best = i;
        return best;
    }
    if (f <= down && current > 0) { // the lowest rung still at or above the map
        size_t best = current - 1;
        for (size_t i = current; i-- > 0;)
            if (ladder[i] >= f) best = i;
        return best;
    }
    return current;
}

size_t LatencyHistogram::index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    const unsigned e = 63 - static_cast<unsigned>(std::countl_zero(v)); // >= 5
    const size_t sub = static_cast<size_t>(v >> (e - 5)) & (kSub - 1);
    return std::min(kBuckets - 1, kSub + (e - 5) * kSub + sub);
}

uint64_t LatencyHistogram::upper(size_t i) {
    if (i < kSub) return i;
    const size_t e = (i - kSub) / kSub + 5;
    const uint64_t sub = (i - kSub) % kSub;
    return ((uint64_t{kSub} + sub + 1) << (e - 5)) - 1;
}

void LatencyHistogram::record(uint64_t us) {
    ++b_[index(us)];
    ++count_;
    sum_ += us;
    max_ = std::max(max_, us);
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < kBuckets; ++i)
        b_[i] += o.b_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
}

uint64_t LatencyHistogram::percentile(double q) const {
    if (count_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * count_ + 0.5));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
        seen += b_[i];
        if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
}

} // namespace vcdn::player
