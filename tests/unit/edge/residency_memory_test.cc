#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <vcdn/base/time.h>
#include <vcdn/edge/disk_io.h>
#include <vcdn/edge/residency_memory.h>

#include "temp_dir.h"

namespace vcdn::edge {
namespace {

constexpr uint64_t kB = ResidencyMemory::kBlock;

TEST(ResidencyMemory, KnowsOnlyTheBlocksItWasToldAbout) {
    ResidencyMemory m(64, 10000);
    EXPECT_FALSE(m.known(1, 0, 100, 1, 0)) << "empty";
    m.remember(1, 0, 1, 0);
    m.remember(1, 1, 1, 0);
    EXPECT_TRUE(m.known(1, 0, 2 * kB, 1, 0));
    EXPECT_TRUE(m.known(1, kB - 1, 2, 1, 0));
    EXPECT_FALSE(m.known(1, 0, 2 * kB + 1, 1, 0)) << "block 2 was never seen";
    EXPECT_FALSE(m.known(2, 0, 100, 1, 0)) << "another file";
    EXPECT_FALSE(m.known(1, 0, 100, 2, 0)) << "another generation: pages may have gone";
    m.remember(0, 5, 1, 0); // serial 0 is no file: ignored
    EXPECT_FALSE(m.known(0, 5 * kB, 1, 1, 0));
}

TEST(ResidencyMemory, RangesAcrossSlotsNeedEverySlot) {
    ResidencyMemory m(64, 10000);
    const uint64_t per = ResidencyMemory::kBlocksPerSlot;
    m.remember(7, per - 1, 3, 0); // the last block of the first MiB
    EXPECT_TRUE(m.known(7, per * kB - 10, 10, 3, 0));
    EXPECT_FALSE(m.known(7, per * kB - 10, 20, 3, 0)) << "reaches the next MiB";
    m.remember(7, per, 3, 0);
    EXPECT_TRUE(m.known(7, per * kB - 10, 20, 3, 0));
    // A range of many slots.
    for (uint64_t b = 0; b < 3 * per; ++b)
        m.remember(9, b, 3, 0);
    EXPECT_TRUE(m.known(9, 0, 3 * per * kB, 3, 0));
    EXPECT_FALSE(m.known(9, 0, 3 * per * kB + 1, 3, 0));
}

TEST(ResidencyMemory, TheLargestTableHoldsEverySetAndAPrefetchChangesNothing) {
    // 2^20 slots (32 MiB, the most the edge makes), mapped in huge pages: every set must be
    // inside the mapping. A few thousand regions of two files, then each is asked about.
    ResidencyMemory m(1u << 20, 10000);
    for (uint64_t region = 0; region < 4096; ++region) {
        m.prefetch(11, region * ResidencyMemory::kSlotBytes);
        m.remember(11, region * ResidencyMemory::kBlocksPerSlot, 3, 0);
        m.remember(12, region * ResidencyMemory::kBlocksPerSlot + 15, 3, 0);
    }
    int known11 = 0, known12 = 0, wrong = 0;
    for (uint64_t region = 0; region < 4096; ++region) {
        const uint64_t at = region * ResidencyMemory::kSlotBytes;
        known11 += m.known(11, at, kB, 3, 0);
        known12 += m.known(12, at + 15 * kB, kB, 3, 0);
        wrong += m.known(11, at + kB, 1, 3, 0) + m.known(12, at, 1, 3, 0);
    }
    // Two ways of 2^19 sets: 8,192 regions hashed into them rarely push one out.
    EXPECT_GE(known11, 4080);
    EXPECT_GE(known12, 4080);
    EXPECT_EQ(wrong, 0) << "blocks nobody remembered";
    // The smallest table (one set) works as well.
    ResidencyMemory one(1, 10000);
    one.prefetch(5, 0);
    one.remember(5, 0, 1, 0);
    EXPECT_TRUE(one.known(5, 0, kB, 1, 0));
}

TEST(ResidencyMemory, TrustEndsAfterItsTimeCountedFromTheSlotsFirstBlock) {
    ResidencyMemory m(64, 1000);
    m.remember(1, 0, 1, 5000);
    m.remember(1, 1, 1, 5900); // joins the slot: trusted until 6000 too, not 6900
    EXPECT_TRUE(m.known(1, 0, 2 * kB, 1, 5999));
    EXPECT_FALSE(m.known(1, 0, 1, 1, 6000));
    EXPECT_FALSE(m.known(1, kB, 1, 1, 6000));
    EXPECT_FALSE(m.known(1, 0, 1, 1, 4999)) << "a clock that went back trusts nothing";
    // Remembered again after expiry: the slot starts over, with only the new block.
    m.remember(1, 1, 1, 6500);
    EXPECT_TRUE(m.known(1, kB, 1, 1, 6500));
    EXPECT_FALSE(m.known(1, 0, 1, 1, 6500));
}

TEST(ResidencyMemory, TwoRegionsShareASetAndAThirdPushesOutTheOlder) {
    ResidencyMemory m(2, 10000); // one set of two slots for everything
    m.remember(1, 0, 1, 100);
    m.remember(2, 0, 1, 200);
    EXPECT_TRUE(m.known(1, 0, 1, 1, 300)) << "two regions fit";
    EXPECT_TRUE(m.known(2, 0, 1, 1, 300));
    m.remember(2, 1, 1, 300); // joins its own slot, takes no other
    EXPECT_TRUE(m.known(1, 0, 1, 1, 300));
    EXPECT_TRUE(m.known(2, 0, 2 * kB, 1, 300));
    m.remember(3, 0, 1, 400); // a third: file 1's slot, the one started first, goes
    EXPECT_FALSE(m.known(1, 0, 1, 1, 400));
    EXPECT_TRUE(m.known(2, 0, 2 * kB, 1, 400));
    EXPECT_TRUE(m.known(3, 0, 1, 1, 400));
    // A slot that trusts nothing any more (another generation) goes before an older one.
    m.remember(4, 0, 2, 500); // generation 2: both slots are spent; the first goes
    m.remember(5, 0, 2, 600); // the other spent one goes, not file 4's newer slot
    EXPECT_TRUE(m.known(4, 0, 1, 2, 600));
    EXPECT_TRUE(m.known(5, 0, 1, 2, 600));
    EXPECT_FALSE(m.known(2, 0, 1, 2, 600));
    EXPECT_FALSE(m.known(3, 0, 1, 2, 600));
}

TEST(ResidencyMemory, RemembersSeveralBlocksAtOnceAcrossSlots) {
    ResidencyMemory m(64, 10000);
    const uint64_t per = ResidencyMemory::kBlocksPerSlot;
    // Blocks per-2, per-1, per+1 and per+2 (bit 2 = block per is not set): two slots.
    m.remember(3, per - 2, 0b11011, 1, 0);
    EXPECT_TRUE(m.known(3, (per - 2) * kB, 2 * kB, 1, 0));
    EXPECT_TRUE(m.known(3, (per + 1) * kB, 2 * kB, 1, 0));
    EXPECT_FALSE(m.known(3, per * kB, 1, 1, 0)) << "its bit was clear";
    EXPECT_FALSE(m.known(3, (per - 3) * kB, 1, 1, 0));
    EXPECT_FALSE(m.known(3, (per + 3) * kB, 1, 1, 0));
    // All 64 bits: four whole slots.
    m.remember(4, 0, ~uint64_t{0}, 1, 0);
    EXPECT_TRUE(m.known(4, 0, 4 * per * kB, 1, 0));
    EXPECT_FALSE(m.known(4, 0, 4 * per * kB + 1, 1, 0));
    m.remember(5, 7, 0, 1, 0); // no blocks: nothing
    EXPECT_FALSE(m.known(5, 7 * kB, 1, 1, 0));
}

// The workers share one memory. Writers keep replacing the slots of a small table (every file
// and region in the same few sets) while readers ask: a reader must never be told a block is
// known that no writer remembered for that file, whatever it overlaps with.
TEST(ResidencyMemory, ReadersNeverSeeAMixOfTwoWritersSlots) {
    ResidencyMemory m(4, 100000); // two sets
    std::atomic<bool> stop{false};
    std::atomic<int> readers_started{0};
    std::atomic<uint64_t> wrong{0}, seen{0};
    // File f (1..8) only ever has block (f % 16) remembered, in region 0.
    auto writer = [&](uint64_t first) {
        while (readers_started.load() < 2) // the readers must overlap the writers
            std::this_thread::yield();
        for (int i = 0; i < 200000; ++i) {
            const uint64_t f = 1 + (first + static_cast<uint64_t>(i)) % 8;
            m.remember(f, f % 16, 1, 100 + i % 50);
        }
    };
    auto reader = [&] {
        readers_started.fetch_add(1);
        auto ask = [&](uint64_t f) {
            for (uint64_t b = 0; b < 16; ++b) {
                if (!m.known(f, b * kB, 1, 1, 200)) continue;
                seen.fetch_add(1, std::memory_order_relaxed);
                if (b != f % 16) wrong.fetch_add(1, std::memory_order_relaxed);
            }
        };
        // Until the writers are done, and at least 20,000 rounds however fast they were.
        for (int i = 0; i < 2000000 && (i < 20000 || !stop.load(std::memory_order_acquire)); ++i)
            ask(1 + static_cast<uint64_t>(i) % 8);
        // Once more when the table no longer changes: what it holds must be seen.
        for (uint64_t f = 1; f <= 8; ++f)
            ask(f);
    };
    std::thread r1(reader), r2(reader), w1(writer, 0), w2(writer, 3);
    w1.join();
    w2.join();
    stop = true;
    r1.join();
    r2.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_GT(seen.load(), 0u) << "the readers saw nothing remembered: the test tested nothing";
}

std::string vmstat(uint64_t kswapd, uint64_t file, uint64_t drop, uint64_t file_pages) {
    return "nr_free_pages 1000\nnr_file_pages " + std::to_string(file_pages) +
           "\npgpgin 5\npgsteal_kswapd " + std::to_string(kswapd) + "\npgsteal_direct 0\n" +
           "pgsteal_file " + std::to_string(file) + "\ndrop_pagecache " + std::to_string(drop) +
           "\npginodesteal 0\nkswapd_inodesteal 0\n";
}

TEST(ReclaimWatch, MovesWhenPagesMayHaveLeftThePageCache) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    test::write_file(p, vmstat(10, 10, 1, 500));
    auto w = ReclaimWatch::start(p, 0);
    ASSERT_TRUE(w.ok()) << w.error().message;
    ReclaimWatch& rw = **w;
    uint32_t g = rw.generation();
    rw.poll();
    EXPECT_EQ(rw.generation(), g) << "nothing moved";
    test::write_file(p, vmstat(10, 10, 1, 900));
    rw.poll();
    EXPECT_EQ(rw.generation(), g) << "pages added take nothing out";
    test::write_file(p, vmstat(12, 12, 1, 900));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "reclaim";
    g = rw.generation();
    test::write_file(p, vmstat(12, 12, 2, 900));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "drop_caches";
    g = rw.generation();
    test::write_file(p, vmstat(12, 12, 2, 899));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "fewer file pages: truncation, deletion, fadvise";
    g = rw.generation();
    test::write_file(p, "garbage\n");
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "unreadable counters: nothing is known";
    g = rw.generation();
    test::write_file(p, vmstat(12, 12, 2, 899));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "the first reading after a bad one knows no baseline";
    g = rw.generation();
    rw.poll();
    EXPECT_EQ(rw.generation(), g);
    EXPECT_EQ(rw.polls(), 8u);
    EXPECT_EQ(rw.changes(), 5u);
}

// With recheck: a fall of nr_file_pages alone is a suspicion for the workers to look into, not a
// new generation; what names no file (reclaim, drop_caches, unreadable counters) still is.
TEST(ReclaimWatch, WithRecheckAFallOfFilePagesAloneIsOnlyASuspicion) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    test::write_file(p, vmstat(10, 10, 1, 500));
    auto w = ReclaimWatch::start(p, 0, true);
    ASSERT_TRUE(w.ok()) << w.error().message;
    ReclaimWatch& rw = **w;
    EXPECT_TRUE(rw.recheck());
    uint32_t g = rw.generation();
    rw.poll();
    EXPECT_EQ(rw.suspicions(), 0u);
    test::write_file(p, vmstat(10, 10, 1, 499));
    rw.poll();
    EXPECT_EQ(rw.generation(), g) << "fewer file pages: only the files that lost them";
    EXPECT_EQ(rw.suspicions(), 1u);
    test::write_file(p, vmstat(10, 10, 1, 600));
    rw.poll();
    EXPECT_EQ(rw.suspicions(), 1u) << "more file pages: nothing to look into";
    test::write_file(p, vmstat(11, 11, 1, 590));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "reclaim names no file: everything goes";
    EXPECT_EQ(rw.suspicions(), 1u) << "and there is nothing left to look into";
    g = rw.generation();
    test::write_file(p, vmstat(11, 11, 2, 590));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "drop_caches";
    g = rw.generation();
    test::write_file(p, "garbage\n");
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "unreadable counters";
    g = rw.generation();
    test::write_file(p, vmstat(11, 11, 2, 10));
    rw.poll();
    EXPECT_NE(rw.generation(), g) << "no baseline after a bad reading";
    EXPECT_EQ(rw.suspicions(), 1u) << "a fall from an unknown count is not measured";
    test::write_file(p, vmstat(11, 11, 2, 9));
    rw.poll();
    EXPECT_EQ(rw.suspicions(), 2u);
    EXPECT_EQ(rw.changes(), 4u);
}

// Slots keep the suspicion count's low 16 bits: when those wrap, the generation moves, so a
// slot of 65,536 suspicions ago never passes for a current one.
TEST(ReclaimWatch, WhenTheStampWrapsTheGenerationMoves) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    // Rewritten in place, same length every time (7 digits): 65,536 readings quickly.
    test::write_file(p, vmstat(10, 10, 1, 2000000));
    const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    auto fall_to = [&](uint64_t pages) {
        const std::string text = vmstat(10, 10, 1, pages);
        return ::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size());
    };
    auto w = ReclaimWatch::start(p, 0, true);
    ASSERT_TRUE(w.ok()) << w.error().message;
    ReclaimWatch& rw = **w;
    const uint32_t g = rw.generation();
    const uint16_t stamp0 = rw.stamp();
    for (uint64_t i = 1; i < 65536; ++i) {
        ASSERT_TRUE(fall_to(2000000 - i));
        rw.poll();
    }
    EXPECT_EQ(rw.suspicions(), 65535u);
    EXPECT_EQ(rw.generation(), g) << "suspicions alone";
    ASSERT_TRUE(fall_to(2000000 - 65536));
    rw.poll();
    EXPECT_EQ(rw.stamp(), stamp0) << "wrapped";
    EXPECT_NE(rw.generation(), g) << "and so everything is forgotten";
    ::close(fd);
}

// After a suspicion (a new stamp), a slot is trusted only once a look at the span of its
// remembered blocks says they are all still cached; it is then stamped and needs no more looks.
struct Looks {
    int calls = 0;
    bool answer = true;
    uint64_t off = 0, len = 0;
    static bool look(void* ctx, uint64_t off, uint64_t len) {
        auto* l = static_cast<Looks*>(ctx);
        ++l->calls;
        l->off = off;
        l->len = len;
        return l->answer;
    }
};

TEST(ResidencyMemory, ASlotOfAnOlderStampIsTrustedOnlyAfterALook) {
    ResidencyMemory m(64, 10000);
    const uint32_t gen = 3;
    const uint64_t per = ResidencyMemory::kBlocksPerSlot;
    m.remember(5, per + 2, 0b1011, gen, 0, /*stamp=*/7); // blocks 2, 3 and 5 of region 1
    Looks l;
    EXPECT_TRUE(m.known(5, (per + 2) * kB, 100, gen, 0, 7, &Looks::look, &l));
    EXPECT_EQ(l.calls, 0) << "same stamp: no look";
    EXPECT_FALSE(m.known(5, (per + 2) * kB, 100, gen, 0, 8)) << "a new stamp and no look";
    Looks lost;
    lost.answer = false;
    EXPECT_FALSE(m.known(5, (per + 2) * kB, 100, gen, 0, 8, &Looks::look, &lost));
    EXPECT_EQ(lost.calls, 1);
    EXPECT_EQ(lost.off, (per + 2) * kB) << "from the first remembered block";
    EXPECT_EQ(lost.len, 4 * kB) << "to the last one, whatever lies between";
    EXPECT_FALSE(m.known(5, (per + 3) * kB, 100, gen, 0, 8, &Looks::look, &lost));
    EXPECT_EQ(lost.calls, 1) << "a slot found not whole is emptied: nothing to look at again";
    m.remember(5, per + 2, 0b1011, gen, 0, 7); // learnt again (before the suspicion)
    EXPECT_TRUE(m.known(5, (per + 2) * kB, 100, gen, 0, 8, &Looks::look, &l));
    EXPECT_EQ(l.calls, 1);
    EXPECT_TRUE(m.known(5, (per + 5) * kB, 100, gen, 0, 8, &Looks::look, &l));
    EXPECT_EQ(l.calls, 1) << "stamped by the look: the slot's other ranges need none";
    EXPECT_FALSE(m.known(5, (per + 4) * kB, 100, gen, 0, 8, &Looks::look, &l))
        << "block 4 was never remembered, look or not";
    EXPECT_FALSE(m.known(5, (per + 2) * kB, 100, gen + 1, 0, 8, &Looks::look, &l))
        << "a new generation is never looked at: everything goes";
    EXPECT_EQ(l.calls, 1);
}

TEST(ResidencyMemory, LearningUnderANewStampDropsTheBlocksNotLookedAt) {
    ResidencyMemory m(64, 10000);
    m.remember(5, 0, 0b11, 1, 0, 1); // blocks 0 and 1, stamp 1
    m.remember(5, 4, 1, 1, 0, 2);    // block 4 learnt after a suspicion (stamp 2)
    Looks l;                         // would say yes to anything
    EXPECT_TRUE(m.known(5, 4 * kB, 100, 1, 0, 2, &Looks::look, &l));
    EXPECT_FALSE(m.known(5, 0, 100, 1, 0, 2, &Looks::look, &l))
        << "blocks 0 and 1 went with the old slot, which was replaced, not kept beside the new";
    EXPECT_EQ(l.calls, 0) << "the slot is of the new stamp: nothing to look at";
}

TEST(FilePages, CountsWhatThePageCacheHoldsOfARange) {
    if (!have_cachestat()) GTEST_SKIP() << "this kernel has no cachestat (Linux 6.5+)";
    test::TempDir dir;
    struct statfs fs {};
    ASSERT_EQ(::statfs(dir.path().c_str(), &fs), 0);
    if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps its pages: nothing to drop";
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const std::string p = dir / "f";
    test::write_file(p, std::string(1 << 20, 'x'));
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fsync(fd), 0); // dirty pages cannot be dropped
    std::string buf(1 << 20, '\0');
    ASSERT_EQ(::pread(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
    FilePages all;
    ASSERT_EQ(file_pages(fd, 0, 0, &all), 0);
    EXPECT_EQ(all.cached, (1u << 20) / page) << "1 MiB read whole";
    FilePages part;
    ASSERT_EQ(file_pages(fd, 256 * 1024, 128 * 1024, &part), 0);
    EXPECT_EQ(part.cached, 128 * 1024 / page) << "only the range's pages, whatever the folios";
    // The whole file: a range inside a large folio is not dropped on its own.
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ASSERT_EQ(file_pages(fd, 256 * 1024, 128 * 1024, &part), 0);
    EXPECT_LT(part.cached, 128 * 1024 / page);
    FilePages after;
    ASSERT_EQ(file_pages(fd, 0, 0, &after), 0);
    EXPECT_LT(after.cached, all.cached);
    ::close(fd);
    FilePages none;
    EXPECT_EQ(file_pages(fd, 0, 0, &none), -EBADF);
}

// Whole slots are learnt only while generations last: a move that ends a short one (steady
// reclaim) unsettles it until a generation has held for a second again.
TEST(ReclaimWatch, IsSettledOnlyWhileGenerationsLast) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    test::write_file(p, vmstat(10, 10, 1, 500));
    const int64_t t0 = monotonic_ms();
    auto w = ReclaimWatch::start(p, 0);
    ASSERT_TRUE(w.ok()) << w.error().message;
    ReclaimWatch& rw = **w;
    EXPECT_TRUE(rw.settled()) << "at start";
    uint64_t stolen = 10;
    auto reclaim_at = [&](int64_t t) {
        ++stolen;
        test::write_file(p, vmstat(stolen, stolen, 1, 500));
        rw.poll_at(t0 + t);
    };
    reclaim_at(1500); // ends the first generation, which held 1.5 s: still settled
    EXPECT_TRUE(rw.settled());
    reclaim_at(1510); // a generation of 10 ms
    EXPECT_FALSE(rw.settled());
    reclaim_at(1520);
    EXPECT_FALSE(rw.settled());
    rw.poll_at(t0 + 2000); // this one has held 480 ms
    EXPECT_FALSE(rw.settled());
    rw.poll_at(t0 + 2520); // and now a second
    EXPECT_TRUE(rw.settled());
    reclaim_at(2530); // ends a generation of 1,010 ms
    EXPECT_TRUE(rw.settled());
    reclaim_at(2540);
    EXPECT_FALSE(rw.settled());
    EXPECT_EQ(rw.changes(), 5u);
}

TEST(ReclaimWatch, FindsItsCountersWhenTheLinesBeforeThemChangeWidth) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    std::string filler;
    for (int i = 0; i < 40; ++i)
        filler += "nr_other_" + std::to_string(i) + " 7\n";
    test::write_file(p, filler + vmstat(10, 10, 1, 500));
    auto w = ReclaimWatch::start(p, 0);
    ASSERT_TRUE(w.ok()) << w.error().message;
    const uint32_t g = (*w)->generation();
    // Every number before the counters grows by 6 digits: the lines move by 240 bytes and more.
    std::string wide;
    for (int i = 0; i < 40; ++i)
        wide += "nr_other_" + std::to_string(i) + " 7000000\n";
    test::write_file(p, wide + vmstat(10, 10, 1, 500));
    (*w)->poll();
    EXPECT_EQ((*w)->generation(), g) << "the same counters, found where they moved";
    test::write_file(p, filler + vmstat(10, 10, 1, 500));
    (*w)->poll();
    EXPECT_EQ((*w)->generation(), g) << "and back, each found where it now is";
    test::write_file(p, filler + vmstat(10, 11, 1, 500));
    (*w)->poll();
    EXPECT_NE((*w)->generation(), g) << "a change is still seen";
    // Much shorter than where the counters were: found by a scan of the whole text.
    const uint32_t g2 = (*w)->generation();
    test::write_file(p, vmstat(10, 11, 1, 500));
    (*w)->poll();
    EXPECT_EQ((*w)->generation(), g2);
}

TEST(ReclaimWatch, RefusesAKernelWithoutPgstealFile) {
    // Before Linux 5.8 the global counters left out a memory cgroup's reclaim.
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    test::write_file(p, "nr_file_pages 5\npgsteal_kswapd 3\npgsteal_direct 4\n"
                        "drop_pagecache 0\n");
    auto w = ReclaimWatch::start(p, 0);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("pgsteal_file"), std::string::npos) << w.error().message;
}

TEST(ReclaimWatch, RefusesAFileWithoutTheCounters) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    test::write_file(p, "nr_file_pages 5\npgpgin 3\n");
    auto w = ReclaimWatch::start(p, 0);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("no nr_file_pages, pgsteal_file"), std::string::npos)
        << w.error().message;
    EXPECT_FALSE(ReclaimWatch::start(dir / "missing", 0).ok());
}

TEST(ReclaimWatch, ItsThreadNoticesAChange) {
    test::TempDir dir;
    const std::string p = dir / "vmstat";
    test::write_file(p, vmstat(1, 1, 0, 100));
    auto w = ReclaimWatch::start(p, 1);
    ASSERT_TRUE(w.ok()) << w.error().message;
    const uint32_t g = (*w)->generation();
    test::write_file(p, vmstat(2, 2, 0, 100));
    for (int i = 0; i < 2000 && (*w)->generation() == g; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_NE((*w)->generation(), g);
    EXPECT_GT((*w)->polls(), 0u);
}

TEST(ReclaimWatch, ReadsThisKernelsCounters) {
    auto w = ReclaimWatch::start("/proc/vmstat", 0);
    ASSERT_TRUE(w.ok()) << w.error().message;
    (*w)->poll();
    EXPECT_EQ((*w)->polls(), 1u);
}

} // namespace
} // namespace vcdn::edge
