#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <vcdn/edge/disk_io.h>

#include "temp_dir.h"

namespace vcdn::edge {
namespace {

// Waits for `n` completions from a reader's event fd.
std::vector<AsyncReader::Completion>
wait_for(int efd, const std::function<size_t(AsyncReader::Completion*, size_t)>& reap, size_t n) {
    std::vector<AsyncReader::Completion> got;
    for (int i = 0; i < 200 && got.size() < n; ++i) {
        pollfd p{efd, POLLIN, 0};
        ::poll(&p, 1, 50);
        AsyncReader::Completion c[16];
        size_t k = reap(c, 16);
        got.insert(got.end(), c, c + k);
    }
    return got;
}

class DiskIo : public ::testing::Test {
protected:
    void SetUp() override {
        data_.assign(3 << 20, 'x');
        for (size_t i = 0; i < data_.size(); i += 4096)
            data_[i] = static_cast<char>(i / 4096);
        test::write_file(dir_ / "f.bin", data_);
        fd_ = ::open((dir_ / "f.bin").c_str(), O_RDONLY);
        map_ = ::mmap(nullptr, data_.size(), PROT_READ, MAP_SHARED, fd_, 0);
        ASSERT_NE(map_, MAP_FAILED);
    }
    void TearDown() override {
        ::munmap(map_, data_.size());
        ::close(fd_);
    }
    // Freshly written pages are dirty and DONTNEED keeps dirty pages: write them back first.
    void evict() {
        ASSERT_EQ(::fdatasync(fd_), 0);
        ASSERT_EQ(::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED), 0);
    }
    test::TempDir dir_;
    std::string data_;
    int fd_ = -1;
    void* map_ = nullptr;
};

TEST_F(DiskIo, ResidencyFollowsThePageCache) {
    char buf[8192];
    ASSERT_EQ(::pread(fd_, buf, sizeof buf, 0), 8192);
    EXPECT_EQ(pages_resident(map_, data_.size(), 0, 8192), 1);
    evict();
    EXPECT_EQ(pages_resident(map_, data_.size(), 0, 8192), 0);
    ASSERT_EQ(::pread(fd_, buf, 4096, 4096), 4096); // only the second page back
    EXPECT_EQ(pages_resident(map_, data_.size(), 4096, 4096), 1);
    EXPECT_EQ(pages_resident(map_, data_.size(), 0, 8192), 0); // partly resident is not resident
    EXPECT_EQ(pages_resident(map_, data_.size(), data_.size(), 10),
              1); // past the end: nothing to read
    EXPECT_EQ(pages_resident(map_, data_.size(), 0, 0), 1);
}

TEST_F(DiskIo, ResidencyByBlocksReportsTheWholeBlocksItSaw) {
    constexpr uint64_t kB = 64 * 1024;
    std::string buf(4 * kB, '\0');
    ASSERT_EQ(::pread(fd_, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
    evict();
    ASSERT_EQ(::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM), 0); // no read-ahead around preads
    // Blocks 0 and 2 back in memory, block 1 only from its second page on.
    ASSERT_EQ(::pread(fd_, buf.data(), kB, 0), static_cast<ssize_t>(kB));
    ASSERT_EQ(::pread(fd_, buf.data(), kB - 4096, kB + 4096), static_cast<ssize_t>(kB - 4096));
    ASSERT_EQ(::pread(fd_, buf.data(), kB, 2 * kB), static_cast<ssize_t>(kB));
    uint64_t blocks = ~uint64_t{0};
    // A range inside blocks 0..2 that misses block 1's first page: resident; the widened check
    // saw blocks 0 and 2 whole, block 1 not.
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 1000, 3 * kB - 2000, kB, kB, &blocks), 0)
        << "block 1's first page is not resident";
    EXPECT_EQ(blocks, 0b101u) << "the whole blocks are reported whatever the answer";
    // Widened to 4 blocks: one question about block 2 also sees blocks 0, 1 and 3.
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 2 * kB + 10, 100, kB, 4 * kB, &blocks), 1);
    EXPECT_EQ(blocks, 0b0101u) << "bit 0 = block 0; block 1 is partly resident, block 3 not";
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 5 * kB, 100, kB, 4 * kB, &blocks), 0);
    EXPECT_EQ(blocks, 0u) << "bit 0 = block 4: nothing of blocks 4..7 is resident";
    // A range across two widened spans asks about both.
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 3 * kB, 2 * kB, kB, 2 * kB, &blocks), 0);
    EXPECT_EQ(blocks, 0b0001u) << "bit 0 = block 2 (whole), then 3, 4, 5 (none)";
    // A width that is not a multiple of the block widens to whole blocks only.
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 2 * kB + 10, 100, kB, kB + 4096, &blocks),
              1);
    EXPECT_EQ(blocks, 0b1u);
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), kB + 4096, 2 * kB - 4096, kB, kB, &blocks),
              1);
    EXPECT_EQ(blocks, 0b10u) << "bit 0 = block 1 (partly resident), bit 1 = block 2 (whole)";
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 100, 200, kB, kB, &blocks), 1);
    EXPECT_EQ(blocks, 0b1u);
    // The file's last block is whole when its pages up to the end of the file are resident.
    const uint64_t size = data_.size() - 5000; // as if the file ended inside a block
    const uint64_t last = (size - 1) / kB * kB;
    ASSERT_EQ(::pread(fd_, buf.data(), size - last, static_cast<off_t>(last)),
              static_cast<ssize_t>(size - last));
    EXPECT_EQ(pages_resident_blocks(map_, size, size - 10, 10, kB, kB, &blocks), 1);
    EXPECT_EQ(blocks, 0b1u);
    // Past the end, or empty: nothing to read, nothing seen.
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), data_.size(), 10, kB, kB, &blocks), 1);
    EXPECT_EQ(blocks, 0u);
    // Longer than 64 blocks: asked as is, no blocks reported.
    ASSERT_EQ(::pread(fd_, data_.data(), data_.size(), 0), static_cast<ssize_t>(data_.size()));
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 0, data_.size(), 4096, 4096, &blocks), 1);
    EXPECT_EQ(blocks, 0u);
    EXPECT_EQ(pages_resident_blocks(map_, data_.size(), 0, data_.size(), kB, kB, &blocks), 1);
    EXPECT_EQ(blocks, (uint64_t{1} << 48) - 1) << "3 MiB = 48 blocks";
}

class Readers : public DiskIo, public ::testing::WithParamInterface<const char*> {};

TEST_P(Readers, ReadIntoThePageCacheAndReportCompletion) {
    auto r = AsyncReader::create(GetParam(), 8, 1 << 20);
    if (!r.ok() && std::string(GetParam()) == "io_uring") GTEST_SKIP() << r.error().message;
    ASSERT_TRUE(r.ok()) << r.error().message;
    AsyncReader& reader = **r;
    evict();
    ASSERT_TRUE(reader.submit(fd_, 1 << 20, 256 << 10, 7));
    ASSERT_TRUE(reader.submit(fd_, 2 << 20, 4096, 8));
    ASSERT_TRUE(reader.submit(fd_, (3 << 20) - 100, 4096, 9)); // short: at the end of the file
    auto done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        3);
    ASSERT_EQ(done.size(), 3u);
    for (const auto& c : done) {
        const int64_t want = c.token == 7 ? (256 << 10) : c.token == 8 ? 4096 : 100;
        EXPECT_EQ(c.result, want) << "token " << c.token;
    }
    EXPECT_EQ(pages_resident(map_, data_.size(), 1 << 20, 256 << 10), 1);
    EXPECT_EQ(pages_resident(map_, data_.size(), 0, 4096), 0); // nothing else was read
    // An error is reported, not thrown: a closed descriptor.
    ASSERT_TRUE(reader.submit(-1, 0, 4096, 10));
    done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result, -EBADF);
}

INSTANTIATE_TEST_SUITE_P(Kinds, Readers,
                         ::testing::Values("io_uring", "threads", "sendfile", "populate"));

// The populate reader maps whole aligned blocks; what it reports must still be what the file
// holds: a block cut by the end of the file, a block asked for past the end (as after the file
// shrank), ranges that are not whole blocks (spliced, exactly), and it announces its block.
TEST_F(DiskIo, PopulateReaderReadsWholeBlocksAndTellsTheTruthAtTheEnd) {
    auto r = AsyncReader::create("populate", 8, 1 << 20);
    ASSERT_TRUE(r.ok()) << r.error().message;
    AsyncReader& reader = **r;
    EXPECT_EQ(reader.block_bytes(), AsyncReader::kPopulateBlock);
    EXPECT_STREQ(reader_name(reader.kind()), "populate");
    constexpr uint32_t kBlock = AsyncReader::kPopulateBlock;
    evict();
    ASSERT_TRUE(reader.submit(fd_, 0, kBlock, 1));       // a whole block
    ASSERT_TRUE(reader.submit(fd_, kBlock, 1 << 20, 2)); // the last, cut by the end
    auto done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        2);
    ASSERT_EQ(done.size(), 2u);
    for (const auto& c : done)
        EXPECT_EQ(c.result, c.token == 1 ? int64_t{kBlock} : int64_t{1 << 20}) << c.token;
    EXPECT_EQ(pages_resident(map_, data_.size(), 0, data_.size()), 1);
    if (reader.blocks_refused()) GTEST_SKIP() << "this kernel refuses MADV_HUGEPAGE: spliced";
    EXPECT_EQ(reader.blocks_populated(), 2u) << "both were mapped and populated, not spliced";
    // The file is 3 MiB: a whole block asked for at 2 MiB runs past its end. The mapping
    // cannot be populated there; the answer is the bytes that exist, not an error.
    evict();
    ASSERT_TRUE(reader.submit(fd_, kBlock, kBlock, 3));
    ASSERT_TRUE(reader.submit(fd_, 4096, 8192, 4)); // not aligned: spliced, exactly this
    done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        2);
    ASSERT_EQ(done.size(), 2u);
    for (const auto& c : done)
        EXPECT_EQ(c.result, c.token == 3 ? int64_t{1 << 20} : int64_t{8192}) << c.token;
    EXPECT_EQ(pages_resident(map_, data_.size(), kBlock, 1 << 20), 1);
    EXPECT_EQ(pages_resident(map_, data_.size(), 4096, 8192), 1);
    EXPECT_EQ(reader.blocks_populated(), 2u) << "past the end and unaligned: spliced";
    // Aligned but short of a block and of the end: a viewer's own range, read exactly (the
    // descriptor is marked random so that the kernel's own read-ahead adds nothing).
    evict();
    ASSERT_EQ(::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM), 0);
    ASSERT_TRUE(reader.submit(fd_, kBlock, 8192, 6));
    done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result, 8192);
    EXPECT_EQ(pages_resident(map_, data_.size(), kBlock, 8192), 1);
    EXPECT_EQ(pages_resident(map_, data_.size(), data_.size() - 4096, 4096), 0)
        << "the rest of the block was read for a range that did not ask for it";
    // Not aligned, and short: exactly that too.
    ASSERT_TRUE(reader.submit(fd_, kBlock + 4096, 8192, 7));
    done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result, 8192);
    EXPECT_EQ(pages_resident(map_, data_.size(), data_.size() - 4096, 4096), 0);
    EXPECT_EQ(reader.blocks_populated(), 2u);
    // Past the end: nothing, as a read would say.
    ASSERT_TRUE(reader.submit(fd_, 2 * uint64_t{kBlock}, kBlock, 5));
    done = wait_for(
        reader.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return reader.reap(c, m); },
        1);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result, 0);
}

TEST(BlockingPool, RunsJobsAndBoundsThePending) {
    BlockingPool pool(2, 3);
    std::atomic<bool> release{false};
    auto slow = [&] {
        while (!release.load())
            usleep(1000);
        return int64_t{42};
    };
    EXPECT_TRUE(pool.submit(1, slow));
    EXPECT_TRUE(pool.submit(2, slow));
    EXPECT_TRUE(pool.submit(3, [] { return int64_t{-5}; }));
    EXPECT_FALSE(pool.submit(4, [] { return int64_t{0}; })); // three pending: full
    release.store(true);
    auto done = wait_for(
        pool.event_fd(), [&](AsyncReader::Completion* c, size_t m) { return pool.reap(c, m); }, 3);
    ASSERT_EQ(done.size(), 3u);
    int64_t sum = 0;
    for (const auto& c : done)
        sum += c.result;
    EXPECT_EQ(sum, 42 + 42 - 5);
    EXPECT_TRUE(pool.submit(5, [] { return int64_t{1}; }));
}

} // namespace
} // namespace vcdn::edge
