// Hashes (base/hash.h): the stable one agrees everywhere; the seeded one depends on its seed.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <vcdn/base/hash.h>

namespace vcdn {
namespace {

TEST(Hash, StableHashIsTheSameEverywhere) {
    EXPECT_EQ(hash64("/t/1/v-235k.mp4"), hash64(std::string("/t/1/v-235k.mp4")));
    EXPECT_NE(hash64("a1"), hash64("a2"));
}

// Tables keyed by what clients choose use a per-process seed: keys that collide under one
// seed are spread under another, so collisions cannot be worked out in advance.
TEST(Hash, SeededHashDependsOnTheSeed) {
    std::set<uint64_t> bucket_a, bucket_b;
    for (int i = 0; i < 64; ++i) {
        const std::string k = "198.51." + std::to_string(i) + ".0";
        EXPECT_NE(hash64_seeded(k, 1), hash64_seeded(k, 2));
        bucket_a.insert(hash64_seeded(k, 1) % 7);
        bucket_b.insert(hash64_seeded(k, 2) % 7);
    }
    EXPECT_EQ(bucket_a.size(), 7u);
    EXPECT_EQ(bucket_b.size(), 7u);
    EXPECT_EQ(process_hash_seed(), process_hash_seed());
    SeededStringHash h;
    EXPECT_EQ(h("x"), hash64_seeded("x", process_hash_seed()));
}

} // namespace
} // namespace vcdn
