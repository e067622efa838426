#pragma once
// Fast deterministic pseudo-random numbers (xoshiro256**, seeded by splitmix64). Used where
// a run must be reproducible from a seed: synthetic catalogs, simulations, load patterns.
// Not for anything secret.
#include <cstdint>

namespace vcdn {

class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (auto& s : s_)
            s = splitmix(seed);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is < n / 2^64).
    uint64_t below(uint64_t n) {
        return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    static uint64_t splitmix(uint64_t& x) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t s_[4];
};

// FNV-1a, for deriving per-item seeds from names.
inline uint64_t fnv1a64(const char* p, unsigned long n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned long i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(p[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

} // namespace vcdn
