// Never blocking on disk, several roots and a failing disk, with a real `vcdn edge` and a
// real slow/failing file system (vcdn_slowfs, FUSE).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <vcdn/catalog/catalog.h>
#include <vcdn/edge/disk_io.h>

#include "edge_fixture.h"
#include "slowfs_process.h"

namespace vcdn::test {
namespace {

using Clock = std::chrono::steady_clock;
int64_t ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Two roots: "hot" on the local disk and "slow" behind vcdn_slowfs.
class DiskTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string why = SlowFs::unavailable_reason();
        if (!why.empty()) GTEST_SKIP() << "slow-disk tests need FUSE: " << why;
        hot_ = dir_ / "hot";
        slow_src_ = dir_ / "slow-src";
        ::mkdir(hot_.c_str(), 0755);
        ::mkdir(slow_src_.c_str(), 0755);
        catalog::MakeOptions h;
        h.out_dir = hot_;
        h.titles = 1;
        h.bitrates_kbps = {1000};
        h.seconds = 8; // 1 MB
        ASSERT_TRUE(catalog::make_catalog(h).ok());
        catalog::MakeOptions s = h;
        s.out_dir = slow_src_;
        s.first_title = 100;
        s.titles = 3;
        s.bitrates_kbps = {4000};
        s.seconds = 10; // 5 MB each: /t/100..102/v-4000k.mp4
        ASSERT_TRUE(catalog::make_catalog(s).ok());
        cold_bytes_ = read_file(slow_src_ + "/t/100/v-4000k.mp4");
    }

    // Stands in for /proc/vmstat (disk.reclaim_counters): `stolen` pages reclaimed so far.
    void write_counters(const std::string& path, int stolen) {
        write_file(path, "nr_file_pages 1000\npgsteal_kswapd " + std::to_string(stolen) +
                             "\npgsteal_file " + std::to_string(stolen) + "\ndrop_pagecache 0\n");
    }

    void mount_slow(int delay_ms) {
        ASSERT_TRUE(slowfs_.start(slow_src_, dir_ / "slow", delay_ms))
            << "vcdn_slowfs did not mount";
    }
    void start_edge(const std::string& toml) {
        EdgeOptions o;
        o.workers = 1; // one loop: a blocked read would stall everything
        o.toml = toml;
        ASSERT_TRUE(edge_.start({hot_, slowfs_.mountpoint()}, dir_.path(), o))
            << edge_.proc.stderr_text();
    }
    RawResponse get(const std::string& target, const std::string& range) {
        return fetch(edge_.port, get_request(target, "Range: bytes=" + range + "\r\n"));
    }

    TempDir dir_;
    std::string hot_, slow_src_, cold_bytes_;
    SlowFs slowfs_;
    EdgeProcess edge_;
};

// While a cold range waits for the (slow) disk, hot requests on the same single worker keep
// being answered promptly. Run for every reader.
class NonBlocking : public DiskTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(NonBlocking, ColdReadDoesNotDelayHotRequests) {
    mount_slow(600);
    start_edge(GetParam());
    auto t0 = Clock::now();
    auto cold =
        std::async(std::launch::async, [&] { return get("/t/100/v-4000k.mp4", "0-102399"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // the cold read is under way
    for (int i = 0; i < 5; ++i) {
        auto t = Clock::now();
        RawResponse hot = get("/t/1/v-1000k.mp4", "0-102399");
        ASSERT_EQ(hot.head.status, 206) << hot.error;
        EXPECT_LT(ms_since(t), 200) << "hot request " << i << " waited for the disk";
    }
    RawResponse c = cold.get();
    ASSERT_TRUE(c.ok) << c.error;
    EXPECT_EQ(c.head.status, 206);
    EXPECT_EQ(c.body, cold_bytes_.substr(0, 102400));
    EXPECT_GE(ms_since(t0), 550); // it really was slow
    EXPECT_GE(edge_.wait_metric("vcdn_pagecache_checks_total", "result=\"miss\"", 1), 1);
    EXPECT_GE(edge_.metric("vcdn_disk_reads_total"), 1);
    EXPECT_GE(edge_.metric("vcdn_disk_read_seconds_count"), 1);
}

INSTANTIATE_TEST_SUITE_P(Readers, NonBlocking,
                         ::testing::Values("[edge.disk]\nreader = \"io_uring\"\n",
                                           "[edge.disk]\nreader = \"threads\"\n",
                                           "[edge.disk]\nreader = \"sendfile\"\n",
                                           "[edge.disk]\nreader = \"populate\"\n"));

// The control: with plain blocking sendfile the same hot request does wait for the disk, so
// the test above would catch a regression.
TEST_F(DiskTest, BlockingSendfileStallsTheWorker) {
    mount_slow(600);
    start_edge("[edge.disk]\nmode = \"blocking\"\n");
    auto cold =
        std::async(std::launch::async, [&] { return get("/t/100/v-4000k.mp4", "0-102399"); });
    // The cold read (600 ms) starts within 250 ms, even when a loaded machine is slow to run
    // the client's thread; the hot request, sent at 250 ms, then waits 350 ms or more.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto t = Clock::now();
    RawResponse hot = get("/t/1/v-1000k.mp4", "0-102399");
    EXPECT_EQ(hot.head.status, 206);
    EXPECT_GE(ms_since(t), 300)
        << "blocking mode did not block: the non-blocking test proves nothing";
    EXPECT_EQ(cold.get().head.status, 206);
}

// A player walking a cold file in 100 KiB ranges, a little faster than real time (100 KiB of
// a 4 Mbit/s stream is 200 ms of video). Returns how many ranges had to wait for the disk.
int walk_cold_file(DiskTest* t, uint16_t port, const std::string& bytes, int ranges) {
    UniqueFd fd = connect_to(port, "127.0.0.1", 10000);
    std::string carry;
    int slow = 0;
    for (int i = 0; i < ranges; ++i) {
        uint64_t a = uint64_t(i) * 102400;
        EXPECT_TRUE(
            send_all(fd.get(), get_request("/t/100/v-4000k.mp4",
                                           fmt::format("Range: bytes={}-{}\r\n", a, a + 102399))));
        auto start = Clock::now();
        RawResponse r = read_response(fd.get(), &carry, false, 10000);
        EXPECT_TRUE(r.ok) << i << ": " << r.error;
        EXPECT_EQ(r.body, bytes.substr(a, 102400)) << i;
        slow += ms_since(start) >= 60;
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
    (void)t;
    return slow;
}

TEST_F(DiskTest, ReadAheadServesTheNextRangesOfAStreamFromMemory) {
    mount_slow(100);
    start_edge("[edge.disk]\nreadahead_kib = 2048\n");
    const int slow = walk_cold_file(this, edge_.port, cold_bytes_, 30);
    // The first range waits; read-ahead keeps the rest in memory (a little slack for a loaded
    // machine, where a piece can finish late).
    EXPECT_GE(slow, 1);
    EXPECT_LE(slow, 6);
    EXPECT_LE(edge_.wait_metric("vcdn_disk_reads_total", "", 1), 6);
    EXPECT_GE(edge_.metric("vcdn_pagecache_checks_total", "result=\"hit\""), 24);
    EXPECT_GE(edge_.metric("vcdn_disk_readaheads_total"), 20); // ~3 MB walked, 128 KiB pieces
}

// The populate reader is asked for read-ahead in whole 2 MiB blocks (one read each), and the
// stream is still served from memory.
TEST_F(DiskTest, PopulateReaderReadsAheadInWholeBlocks) {
    mount_slow(100);
    start_edge("[edge.disk]\nreader = \"populate\"\nreadahead_kib = 2048\n");
    const int slow = walk_cold_file(this, edge_.port, cold_bytes_, 30);
    EXPECT_GE(slow, 1);
    EXPECT_LE(slow, 6);
    EXPECT_GE(edge_.metric("vcdn_pagecache_checks_total", "result=\"hit\""), 24);
    // ~3 MB walked with 2 MiB ahead: the rest of block 0 (one piece), block 1, perhaps block
    // 2; 128 KiB pieces took 20+.
    const double blocks = edge_.metric("vcdn_disk_readaheads_total"); // counted when asked for
    EXPECT_GE(blocks, 2);
    EXPECT_LE(blocks, 3);
}

TEST_F(DiskTest, ManyColdStreamsShareTheDiskWithinItsBound) {
    mount_slow(50);
    start_edge("[edge.disk]\nmax_reads_per_root = 4\nreadahead_kib = 0\n");
    // 40 viewers start cold ranges at once; the disk takes at most 4 reads at a time.
    std::atomic<double> max_inflight{0}, max_queued{0};
    std::atomic<bool> done{false};
    std::thread sampler([&] {
        for (int i = 0; i < 300 && !done.load(); ++i) {
            max_inflight.store(
                std::max(max_inflight.load(), edge_.metric("vcdn_disk_reads_in_flight")));
            max_queued.store(std::max(max_queued.load(), edge_.metric("vcdn_disk_reads_queued")));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    std::vector<std::future<RawResponse>> viewers;
    auto t0 = Clock::now();
    for (int i = 0; i < 40; ++i) {
        const std::string file = fmt::format("/t/{}/v-4000k.mp4", 100 + i % 3);
        const uint64_t a = uint64_t(i) * 122880; // distinct, uncached ranges
        viewers.push_back(std::async(std::launch::async, [this, file, a] {
            return fetch(edge_.port,
                         get_request(file, fmt::format("Range: bytes={}-{}\r\n", a, a + 4095)));
        }));
    }
    int ok = 0;
    for (auto& v : viewers)
        ok += v.get().head.status == 206;
    const int64_t took = ms_since(t0);
    done.store(true);
    sampler.join();
    EXPECT_EQ(ok, 40);
    EXPECT_LE(max_inflight.load(), 4);
    EXPECT_GT(max_queued.load(), 0);
    EXPECT_GE(took, 40 / 4 * 50 - 100); // the bound really held
    EXPECT_LT(took, 5000);
    EXPECT_EQ(edge_.wait_metric("vcdn_disk_reads_in_flight", "", 0), 0);
    EXPECT_EQ(edge_.metric("vcdn_disk_reads_queued"), 0);
    EXPECT_GE(edge_.metric("vcdn_disk_reads_total"), 40);
}

TEST_F(DiskTest, LargeColdBodyIsSentWholeAcrossSeveralReads) {
    mount_slow(20);
    start_edge("[edge.disk]\nreadahead_kib = 512\n");
    RawResponse r = fetch(edge_.port, get_request("/t/100/v-4000k.mp4"));
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.head.status, 200);
    EXPECT_TRUE(r.body == cold_bytes_);
    EXPECT_GE(edge_.wait_metric("vcdn_disk_reads_total", "", 3), 3);
}

// The worker remembers blocks it found resident instead of asking mincore before every range,
// until the kernel's counters (here a file the test writes in place of /proc/vmstat) show
// pages taken out of the page cache: then it asks again, and a cold range goes to the disk
// without blocking the worker.
TEST_F(DiskTest, RememberedResidencyIsForgottenWhenTheKernelTakesPagesOut) {
    mount_slow(600);
    const std::string counters = dir_ / "vmstat";
    auto vmstat = [&](int stolen) { write_counters(counters, stolen); };
    vmstat(0);
    start_edge("[edge.disk]\nreclaim_counters = \"" + counters + "\"\n");
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("residency remembered"), 3000))
        << edge_.proc.stderr_text();
    const std::string path = "/t/100/v-4000k.mp4";
    ASSERT_EQ(get(path, "0-102399").head.status, 206); // cold: read through the disk path
    ASSERT_EQ(edge_.wait_metric("vcdn_disk_reads_in_flight", "", 0, 10000), 0) << "read-ahead";
    // What the read-ahead's own questions taught the memory depends on when its reads landed:
    // start from nothing known. The generation before this one lasted more than a second (two
    // reads of 600 ms), so the memory learns whole slots again (it does not under steady
    // reclaim: the next test).
    vmstat(1);
    const double forgotten = edge_.wait_metric("vcdn_residency_forgotten_total", "", 1);
    ASSERT_GE(forgotten, 1);
    const double memory0 = edge_.metric("vcdn_residency_answers_total", "by=\"memory\"");
    const double kernel0 = edge_.metric("vcdn_residency_answers_total", "by=\"kernel\"");
    EXPECT_EQ(get(path, "0-102399").head.status, 206); // asked of the kernel: resident
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory0);
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"kernel\""), kernel0 + 1);
    RawResponse r = get(path, "1000-99999");
    EXPECT_EQ(r.head.status, 206);
    EXPECT_EQ(r.body, cold_bytes_.substr(1000, 99000));
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory0 + 1)
        << "the third range is inside the slot the second one learnt";
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"kernel\""), kernel0 + 1);
    const double misses = edge_.metric("vcdn_pagecache_checks_total", "result=\"miss\"");

    // The kernel reclaims: the memory is dropped, and the next range of the evicted file is a
    // page-cache miss read off the worker while a hot request is answered at once.
    ASSERT_TRUE(evict_from_page_cache(slowfs_.mountpoint() + path));
    vmstat(7);
    EXPECT_GE(edge_.wait_metric("vcdn_residency_forgotten_total", "", forgotten + 1),
              forgotten + 1);
    auto cold = std::async(std::launch::async, [&] { return get(path, "0-102399"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto t = Clock::now();
    EXPECT_EQ(get("/t/1/v-1000k.mp4", "0-99").head.status, 206);
    EXPECT_LT(ms_since(t), 300) << "the cold range was trusted as resident and blocked";
    RawResponse c = cold.get();
    EXPECT_EQ(c.head.status, 206);
    EXPECT_EQ(c.body, cold_bytes_.substr(0, 102400));
    EXPECT_EQ(edge_.metric("vcdn_pagecache_checks_total", "result=\"miss\""), misses + 1);
}

// A fall of the page cache's file pages with no reclaim counted (a deletion, DAMON's page-out)
// forgets nothing at once: each slot learnt before it is looked at again (cachestat) when next
// asked about. The evicted file's slot is found lost, asked of the kernel again and read off
// the worker; another file's slot is found whole and still answered from memory.
TEST_F(DiskTest, AFallOfFilePagesAloneMakesEachSlotBeLookedAtAgain) {
    if (!edge::have_cachestat()) GTEST_SKIP() << "this kernel has no cachestat (Linux 6.5+)";
    mount_slow(600);
    const std::string counters = dir_ / "vmstat";
    // Rewritten in place, always the same length, in one write: the edge's thread reads the
    // file every 10 ms, and a reading of a file cut short by a truncating rewrite would forget
    // everything (unreadable counters), which is not what this test is about.
    auto vmstat = [&](int stolen, int file_pages) {
        const std::string text = fmt::format(
            "nr_file_pages {:010}\npgsteal_file {:010}\ndrop_pagecache 0\n", file_pages, stolen);
        UniqueFd fd(::open(counters.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        ASSERT_TRUE(fd.valid());
        ASSERT_EQ(::pwrite(fd.get(), text.data(), text.size(), 0),
                  static_cast<ssize_t>(text.size()));
    };
    vmstat(0, 1000);
    start_edge("[edge.disk]\nreclaim_counters = \"" + counters + "\"\n");
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("each slot is looked at again"), 3000))
        << edge_.proc.stderr_text();
    const std::string cold = "/t/100/v-4000k.mp4", hot = "/t/1/v-1000k.mp4";
    ASSERT_EQ(get(cold, "0-102399").head.status, 206); // read through the disk path
    ASSERT_EQ(edge_.wait_metric("vcdn_disk_reads_in_flight", "", 0, 10000), 0) << "read-ahead";
    // Start from nothing known (as in the test above), then learn one slot of each file.
    vmstat(1, 1000);
    const double forgotten = edge_.wait_metric("vcdn_residency_forgotten_total", "", 1);
    ASSERT_GE(forgotten, 1);
    // This machine's proactive reclaim (DAMON) pages out file pages left idle for a few
    // seconds: the hot file is kept in use, so that only the test takes pages out.
    (void)read_file(hot_ + hot);
    std::atomic<bool> warm{true};
    std::thread keep_warm([&] {
        for (int i = 0; i < 1000 && warm.load(); ++i) { // <= 20 s
            (void)read_file(hot_ + hot);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    const double memory0 = edge_.metric("vcdn_residency_answers_total", "by=\"memory\"");
    const double kernel0 = edge_.metric("vcdn_residency_answers_total", "by=\"kernel\"");
    EXPECT_EQ(get(cold, "0-102399").head.status, 206);
    EXPECT_EQ(get(cold, "1000-99999").head.status, 206);
    EXPECT_EQ(get(hot, "0-999").head.status, 206);
    EXPECT_EQ(get(hot, "1000-1999").head.status, 206);
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory0 + 2);
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"kernel\""), kernel0 + 2);
    const double misses = edge_.metric("vcdn_pagecache_checks_total", "result=\"miss\"");
    EXPECT_EQ(edge_.metric("vcdn_residency_looks_total", "result=\"kept\""), 0);
    EXPECT_EQ(edge_.metric("vcdn_residency_looks_total", "result=\"lost\""), 0);

    ASSERT_TRUE(evict_from_page_cache(slowfs_.mountpoint() + cold));
    vmstat(1, 990);
    ASSERT_GE(edge_.wait_metric("vcdn_residency_suspicions_total", "", 1), 1);
    EXPECT_EQ(edge_.metric("vcdn_residency_forgotten_total", ""), forgotten)
        << "no reclaim counted: nothing forgotten at once";
    EXPECT_EQ(get(hot, "2000-2999").head.status, 206);
    EXPECT_EQ(edge_.metric("vcdn_residency_looks_total", "result=\"kept\""), 1);
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory0 + 3)
        << "the hot file's slot is whole: still answered from memory";
    EXPECT_EQ(get(hot, "3000-3999").head.status, 206);
    EXPECT_EQ(edge_.metric("vcdn_residency_looks_total", "result=\"kept\""), 1)
        << "one look per slot";
    auto c = std::async(std::launch::async, [&] { return get(cold, "0-102399"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto t = Clock::now();
    EXPECT_EQ(get(hot, "0-99").head.status, 206);
    EXPECT_LT(ms_since(t), 300) << "the evicted range was trusted as resident and blocked";
    RawResponse r = c.get();
    EXPECT_EQ(r.head.status, 206);
    EXPECT_EQ(r.body, cold_bytes_.substr(0, 102400));
    EXPECT_EQ(edge_.metric("vcdn_residency_looks_total", "result=\"lost\""), 1);
    EXPECT_EQ(edge_.metric("vcdn_pagecache_checks_total", "result=\"miss\""), misses + 1);
    warm.store(false);
    keep_warm.join();
}

// Under steady reclaim (a full page cache taking cold reads) the counters move at nearly every
// reading: what the memory learns is forgotten before it is asked again, so the edge asks the
// kernel about each range alone and remembers nothing. Once a generation lasts a second, it
// learns again.
TEST_F(DiskTest, UnderSteadyReclaimEveryRangeIsAskedOfTheKernel) {
    mount_slow(0);
    const std::string counters = dir_ / "vmstat";
    auto vmstat = [&](int stolen) { write_counters(counters, stolen); };
    vmstat(0);
    start_edge("[edge.disk]\nreclaim_counters = \"" + counters + "\"\n");
    std::atomic<bool> reclaiming{true};
    std::thread kernel([&] {
        for (int stolen = 1; stolen < 2000 && reclaiming.load(); ++stolen) { // <= 60 s
            vmstat(stolen);
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
        }
    });
    const double forgotten = edge_.wait_metric("vcdn_residency_forgotten_total", "", 3);
    EXPECT_GE(forgotten, 3);
    const std::string hot = "/t/1/v-1000k.mp4";
    const double memory0 = edge_.metric("vcdn_residency_answers_total", "by=\"memory\"");
    const double kernel0 = edge_.metric("vcdn_residency_answers_total", "by=\"kernel\"");
    // Pairs of the same range back to back: most pairs fall in one generation (30 ms), where a
    // block remembered by the first would answer the second.
    for (int i = 0; i < 20; ++i) {
        const std::string range = fmt::format("{}-{}", i * 4096, i * 4096 + 999);
        ASSERT_EQ(get(hot, range).head.status, 206);
        ASSERT_EQ(get(hot, range).head.status, 206);
    }
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory0)
        << "learnt under steady reclaim";
    EXPECT_GE(edge_.metric("vcdn_residency_answers_total", "by=\"kernel\""), kernel0 + 40);
    reclaiming.store(false);
    kernel.join();

    // Reclaim stops; after a generation has lasted a second the memory answers again.
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    const double memory1 = edge_.metric("vcdn_residency_answers_total", "by=\"memory\"");
    ASSERT_EQ(get(hot, "0-999").head.status, 206);
    ASSERT_EQ(get(hot, "0-999").head.status, 206);
    EXPECT_GE(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory1 + 1);
}

// A root that failed is never answered from memory: its pages may be gone, and a sendfile()
// from a dead disk must not be what finds out. A response under way when its root fails asks
// the kernel about each of its next chunks, although the memory had learnt them all.
TEST_F(DiskTest, AFailedRootIsNeverAnsweredFromMemory) {
    mount_slow(0);
    const std::string counters = dir_ / "vmstat";
    write_counters(counters, 0); // and never again: nothing reclaimed, what is learnt stays
    start_edge("[edge.disk]\nhealth_interval_ms = 100\nreclaim_counters = \"" + counters + "\"\n");
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("residency remembered"), 3000))
        << edge_.proc.stderr_text();
    const std::string path = "/t/102/v-4000k.mp4";
    const std::string bytes = read_file(slow_src_ + path);
    // The first reading brings the file in; the second teaches the memory each of its chunks,
    // and the third is answered by it alone.
    for (int i = 0; i < 3; ++i) {
        RawResponse whole = fetch(edge_.port, get_request(path));
        ASSERT_EQ(whole.head.status, 200);
        ASSERT_TRUE(whole.body == bytes) << i << ": " << whole.body.size() << " bytes";
        ASSERT_EQ(edge_.wait_metric("vcdn_disk_reads_in_flight", "", 0, 10000), 0);
    }
    const double by_memory = edge_.metric("vcdn_residency_answers_total", "by=\"memory\"");
    ASSERT_GE(by_memory, 3) << "the third reading's chunks (0, 2 and 4 MiB) were remembered";

    // A viewer reading slowly: the first chunk is checked (from memory) and under way.
    UniqueFd fd = connect_to(edge_.port, "127.0.0.1", 10000, "", 16384);
    ASSERT_TRUE(send_all(fd.get(), get_request(path)));
    ASSERT_GE(edge_.wait_metric("vcdn_residency_answers_total", "by=\"memory\"", by_memory + 1),
              by_memory + 1);
    const double memory0 = edge_.metric("vcdn_residency_answers_total", "by=\"memory\"");
    const double kernel0 = edge_.metric("vcdn_residency_answers_total", "by=\"kernel\"");
    slowfs_.kill_hard(); // the disk dies; its pages stay in the page cache
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("root 1 .* FAILED"), 5000))
        << edge_.proc.stderr_text();
    // Its pages are still in the page cache: the response completes from there, right, and each
    // chunk after the failure is asked of the kernel. (Were they gone, it would end early; it
    // must never hang.)
    std::string carry;
    RawResponse r = read_response(fd.get(), &carry, false, 10000);
    if (r.ok) {
        EXPECT_TRUE(r.body == bytes) << r.body.size() << " bytes";
        EXPECT_GE(edge_.metric("vcdn_residency_answers_total", "by=\"kernel\""), kernel0 + 1)
            << "the chunks after the failure were not asked about at all";
    } else {
        // A dead FUSE server sometimes fails a read of pages that are in the page cache
        // (sendfile: ENOTCONN). Seen in ~1 run of 20 here, with every page of the file resident
        // at the kill (mincore through the mount), with this build and the one before it: the
        // response then ends inside the chunk it was sending, before any later chunk is asked
        // about.
        EXPECT_TRUE(wait_closed(fd.get(), 1000)) << "neither completed nor ended: " << r.error;
    }
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), memory0)
        << "a chunk of the failed root was answered from memory";
    EXPECT_TRUE(edge_.proc.running());
}

TEST_F(DiskTest, ResidencyMemoryCanBeTurnedOff) {
    mount_slow(0);
    start_edge("[edge.disk]\nresidency_memory_ms = 0\n");
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(get("/t/1/v-1000k.mp4", "0-99").head.status, 206);
    EXPECT_EQ(edge_.metric("vcdn_residency_answers_total", "by=\"memory\""), 0);
    EXPECT_GE(edge_.metric("vcdn_residency_answers_total", "by=\"kernel\""), 3);
    EXPECT_EQ(edge_.metrics().find("vcdn_residency_forgotten_total"), std::string::npos);
}

TEST_F(DiskTest, FailingDiskIsDroppedAndTheOtherRootKeepsServing) {
    mount_slow(0);
    start_edge("[edge.disk]\nhealth_interval_ms = 100\n");
    // Serve one slow-root file, then make the disk die (its pages dropped, so reads reach it).
    ASSERT_EQ(get("/t/100/v-4000k.mp4", "0-99").head.status, 206);
    // Let its read-ahead (the first 2 MiB) finish before dropping the pages.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(evict_from_page_cache(slowfs_.mountpoint() + "/t/100/v-4000k.mp4"));
    slowfs_.fail();

    auto t = Clock::now();
    RawResponse dead = get("/t/100/v-4000k.mp4", "4000000-4000099");
    EXPECT_EQ(dead.head.status, 503) << dead.head_text;
    EXPECT_NE(dead.body.find("storage error"), std::string::npos) << dead.body;
    EXPECT_LT(ms_since(t), 1000);
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("root 1 .* FAILED"), 3000))
        << edge_.proc.stderr_text();

    // The root is no longer used: its other files are lost (503 at once), the hot root serves.
    t = Clock::now();
    RawResponse lost = get("/t/101/v-4000k.mp4", "0-99");
    EXPECT_EQ(lost.head.status, 503);
    EXPECT_NE(lost.body.find("failed disk"), std::string::npos) << lost.body;
    EXPECT_LT(ms_since(t), 500);
    RawResponse hot = get("/t/1/v-1000k.mp4", "0-99");
    EXPECT_EQ(hot.head.status, 206);
    EXPECT_EQ(get("/t/9/none.mp4", "0-0").head.status, 404); // never existed: still 404

    EXPECT_EQ(edge_.metric("vcdn_root_up", "root=\"1\""), 0);
    EXPECT_EQ(edge_.metric("vcdn_root_up", "root=\"0\""), 1);
    EXPECT_EQ(edge_.metric("vcdn_lost_files"), 3);
    RawResponse st = fetch(edge_.admin_port, "GET /storage HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(st.head.status, 200);
    auto j = nlohmann::json::parse(st.body);
    EXPECT_EQ(j["roots"][0]["state"], "up");
    EXPECT_EQ(j["roots"][1]["state"], "failed");
    EXPECT_FALSE(j["roots"][1]["reason"].get<std::string>().empty());
    ASSERT_EQ(j["lost_files"].size(), 3u);
    EXPECT_EQ(j["lost_files"][0]["path"], "/t/100/v-4000k.mp4");
    EXPECT_EQ(j["lost_files"][0]["root"], 1);
    RawResponse health = fetch(edge_.admin_port, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(health.head.status, 200);
    EXPECT_EQ(health.body, "degraded: 1 of 2 content roots failed\n");
}

TEST_F(DiskTest, DiskThatDiesUnderAStreamFailsItsResponseNotTheServer) {
    mount_slow(0);
    start_edge("");
    // A whole-file response in flight to a slow reader while the disk dies.
    UniqueFd fd = connect_to(edge_.port, "127.0.0.1", 10000, "", 16384);
    ASSERT_TRUE(evict_from_page_cache(slowfs_.mountpoint() + "/t/102/v-4000k.mp4"));
    ASSERT_TRUE(send_all(fd.get(), get_request("/t/102/v-4000k.mp4")));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (const char* p : {"/t/102/v-4000k.mp4"})
        evict_from_page_cache(slowfs_.mountpoint() + p);
    slowfs_.fail();
    std::string got;
    EXPECT_TRUE(read_until_closed(fd.get(), 5000, &got)) << "the response hung instead of failing";
    EXPECT_LT(got.size(), cold_bytes_.size());
    EXPECT_EQ(get("/t/1/v-1000k.mp4", "0-99").head.status, 206);
    EXPECT_TRUE(edge_.proc.running());
}

TEST_F(DiskTest, RootWhoseFileSystemVanishesIsNoticedByTheHealthCheck) {
    mount_slow(0);
    start_edge("[edge.disk]\nhealth_interval_ms = 100\n");
    ASSERT_EQ(get("/t/100/v-4000k.mp4", "0-99").head.status, 206);
    slowfs_.kill_hard(); // the daemon dies: "Transport endpoint is not connected"
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("root 1 .* FAILED"), 5000))
        << edge_.proc.stderr_text();
    EXPECT_EQ(edge_.wait_metric("vcdn_root_up", "root=\"1\"", 0), 0);
    auto t = Clock::now();
    EXPECT_EQ(get("/t/101/v-4000k.mp4", "0-99").head.status, 503);
    EXPECT_LT(ms_since(t), 500);
    EXPECT_EQ(get("/t/1/v-1000k.mp4", "0-99").head.status, 206);
}

TEST_F(DiskTest, RootsAreSearchedInOrderAndTaggedWithTiers) {
    mount_slow(0);
    EdgeOptions o;
    o.workers = 1;
    ASSERT_TRUE(edge_.start({hot_ + ":flash", slowfs_.mountpoint()}, dir_.path(), o))
        << edge_.proc.stderr_text();
    EXPECT_EQ(get("/t/1/v-1000k.mp4", "0-9").head.status, 206);   // first root
    EXPECT_EQ(get("/t/101/v-4000k.mp4", "0-9").head.status, 206); // second root
    RawResponse st = fetch(edge_.admin_port, "GET /storage HTTP/1.1\r\nHost: a\r\n\r\n");
    auto j = nlohmann::json::parse(st.body);
    EXPECT_EQ(j["roots"][0]["tier"], "flash");
    EXPECT_EQ(j["roots"][1]["tier"], "disk");
    EXPECT_EQ(j["roots"][1]["files"], 4); // three titles and catalog.json
    EXPECT_TRUE(j["lost_files"].empty());
}

} // namespace
} // namespace vcdn::test
