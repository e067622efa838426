#pragma once
// Stable 64-bit hashes of strings: the same value on every run and machine, so that the
// control plane, the simulator and the edges agree on them (placement and steering hash ids
// and paths; BGP route digests hash route lines). Not for security: no key, no resistance to
// chosen inputs (see SeededStringHash below for that). Pure; any thread.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace vcdn {

// The splitmix64 finaliser: spreads nearby inputs over all 64 bits.
inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// FNV-1a over the bytes, then mix64 so that nearby strings spread.
inline uint64_t hash64(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix64(h);
}

// For hash tables keyed by what clients choose (their addresses, networks, paths): a seed
// drawn once per process, so that nobody can work out inputs that all land in one bucket and
// turn each lookup into a walk over the table. Not cryptographic: enough against blind
// flooding of bounded tables.
inline uint64_t process_hash_seed() {
    static const uint64_t seed = [] {
        std::random_device rd;
        return (uint64_t{rd()} << 32) ^ rd();
    }();
    return seed;
}

inline uint64_t hash64_seeded(std::string_view s, uint64_t seed) {
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ seed);
}

struct SeededStringHash {
    using is_transparent = void;
    uint64_t seed = process_hash_seed();
    size_t operator()(std::string_view s) const { return hash64_seeded(s, seed); }
};

} // namespace vcdn
