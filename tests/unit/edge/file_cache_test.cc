#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcdn/edge/file_cache.h>

#include "temp_dir.h"

namespace vcdn::edge {
namespace {

class FileCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::write_file(dir_ / "a.mp4", "aaaa");
        test::write_file(dir_ / "b.mp4", "bbbbbbbb");
        ::mkdir((dir_ / "sub").c_str(), 0755);
        test::write_file(dir_ / "sub/c.bin", "c");
        ASSERT_EQ(::symlink("/etc/hostname", (dir_ / "out").c_str()), 0);
        auto s = io::Storage::open({io::RootConfig{dir_.path(), io::Tier::kDisk}});
        ASSERT_TRUE(s.ok()) << s.error().message;
        storage_ = std::move(*s);
    }
    test::TempDir dir_;
    std::unique_ptr<io::Storage> storage_;
};

TEST_F(FileCacheTest, OpensCachesAndReleases) {
    FileCache c(*storage_, 10, 1000);
    FileError e;
    FileEntry* a = c.lookup("a.mp4", 0, &e);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->size, 4u);
    EXPECT_EQ(a->content_type, "video/mp4");
    EXPECT_EQ(a->etag_view().front(), '"');
    FileEntry* a2 = c.lookup("a.mp4", 10, &e);
    EXPECT_EQ(a, a2);
    EXPECT_EQ(c.stats().hits, 1u);
    EXPECT_EQ(c.stats().misses, 1u);
    c.release(a);
    c.release(a2);
    EXPECT_EQ(c.size(), 1u);
}

TEST_F(FileCacheTest, ErrorsAreClassified) {
    FileCache c(*storage_, 10, 1000);
    FileError e;
    EXPECT_EQ(c.lookup("missing", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
    EXPECT_EQ(c.lookup("sub", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
    EXPECT_EQ(c.lookup("out", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kForbidden);
    EXPECT_EQ(c.lookup("a.mp4/x", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
    EXPECT_EQ(c.lookup("", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
}

// Without openat2 (ENOSYS: an old kernel, or valgrind for the performance guard) the path is
// walked one component at a time: the same answers for plain paths and escapes, and no symlink
// followed at all, not even one that stays beneath the root.
TEST_F(FileCacheTest, TheComponentWalkRefusesWhatOpenat2RefusesAndEverySymlink) {
    ASSERT_EQ(::symlink("a.mp4", (dir_ / "inside").c_str()), 0);
    ASSERT_EQ(::symlink("/etc", (dir_ / "etcdir").c_str()), 0);
    ASSERT_EQ(::symlink("sub", (dir_ / "subdir").c_str()), 0);
    const int root = storage_->root(0).dir_fd();
    struct Case {
        const char* path;
        FileError openat2;
        FileError walk;
    };
    const Case cases[] = {
        {"a.mp4", FileError::kNone, FileError::kNone},
        {"sub/c.bin", FileError::kNone, FileError::kNone},
        {"sub//c.bin", FileError::kNone, FileError::kNone},
        {"./sub/./c.bin", FileError::kNone, FileError::kNone},
        {"missing", FileError::kNotFound, FileError::kNotFound},
        {"sub/missing", FileError::kNotFound, FileError::kNotFound},
        {"a.mp4/x", FileError::kNotFound, FileError::kNotFound},
        {"nodir/x", FileError::kNotFound, FileError::kNotFound},
        {"sub/", FileError::kNone, FileError::kNotFound}, // a directory; lookup refuses both
        {"out", FileError::kForbidden, FileError::kForbidden},
        {"etcdir/hostname", FileError::kForbidden, FileError::kForbidden},
        {"../etc/hostname", FileError::kForbidden, FileError::kForbidden},
        {"/etc/hostname", FileError::kForbidden, FileError::kForbidden},
        {"/a.mp4", FileError::kForbidden, FileError::kForbidden},
        {"sub/../../etc/hostname", FileError::kForbidden, FileError::kForbidden},
        {"sub/../a.mp4", FileError::kNone, FileError::kForbidden},
        {"inside", FileError::kNone, FileError::kForbidden},
        {"subdir/c.bin", FileError::kNone, FileError::kForbidden},
    };
    for (bool walk : {false, true}) {
        FileCache::use_component_walk(walk);
        for (const Case& c : cases) {
            UniqueFd fd;
            FileError e = FileCache::open_beneath(root, c.path, &fd);
            EXPECT_EQ(e, walk ? c.walk : c.openat2) << c.path << (walk ? " (walk)" : " (openat2)");
            EXPECT_EQ(fd.get() >= 0, e == FileError::kNone) << c.path;
        }
        EXPECT_EQ(FileCache::has_openat2(), !walk);
    }
    FileCache::use_component_walk(false);
    UniqueFd fd;
    EXPECT_EQ(FileCache::open_beneath(root, "a.mp4", &fd), FileError::kNone);
    EXPECT_TRUE(FileCache::has_openat2());
}

TEST_F(FileCacheTest, EvictsLeastRecentlyUsedButKeepsReferencedEntriesAlive) {
    FileCache c(*storage_, 2, 1000);
    FileError e;
    FileEntry* a = c.lookup("a.mp4", 0, &e);
    FileEntry* b = c.lookup("b.mp4", 0, &e);
    c.release(b);
    FileEntry* s = c.lookup("sub/c.bin", 0, &e); // evicts a (LRU) though it is referenced
    EXPECT_EQ(c.size(), 2u);
    char ch = 0;
    EXPECT_EQ(::pread(a->fd, &ch, 1, 0), 1); // still open for its holder
    EXPECT_EQ(ch, 'a');
    c.release(a);
    c.release(s);
    FileEntry* a3 = c.lookup("a.mp4", 0, &e);
    EXPECT_EQ(c.stats().misses, 4u);
    c.release(a3);
}

TEST_F(FileCacheTest, RevalidatesAfterTheInterval) {
    FileCache c(*storage_, 10, 100);
    FileError e;
    FileEntry* a = c.lookup("a.mp4", 0, &e);
    c.release(a);
    test::write_file(dir_ / ".tmp", "new content");
    ASSERT_EQ(::rename((dir_ / ".tmp").c_str(), (dir_ / "a.mp4").c_str()), 0);
    FileEntry* same = c.lookup("a.mp4", 50, &e); // within the interval: the old one
    EXPECT_EQ(same->size, 4u);
    c.release(same);
    FileEntry* fresh = c.lookup("a.mp4", 200, &e);
    ASSERT_NE(fresh, nullptr);
    EXPECT_EQ(fresh->size, 11u);
    c.release(fresh);
    ::unlink((dir_ / "a.mp4").c_str());
    EXPECT_EQ(c.lookup("a.mp4", 400, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
    EXPECT_EQ(c.size(), 0u);
}

// The residency memory is shared by the workers, each with its own file cache: their entries
// of one file must have one identity, and another version of the file another.
TEST_F(FileCacheTest, EveryWorkersEntryOfAFileHasTheSameIdentityAndANewVersionAnother) {
    FileCache w0(*storage_, 10, 100), w1(*storage_, 10, 100);
    FileError e;
    FileEntry* a0 = w0.lookup("a.mp4", 0, &e);
    FileEntry* a1 = w1.lookup("a.mp4", 0, &e);
    FileEntry* b0 = w0.lookup("b.mp4", 0, &e);
    ASSERT_TRUE(a0 && a1 && b0);
    EXPECT_NE(a0, a1);
    EXPECT_NE(a0->identity, 0u);
    EXPECT_EQ(a0->identity, a1->identity);
    EXPECT_NE(a0->identity, b0->identity);
    const uint64_t old_identity = a0->identity;
    w0.release(a0);
    w1.release(a1);
    w0.release(b0);
    // Rewritten in place (same inode, same size, a later modification time).
    struct timespec later[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ / "a.mp4").c_str(), later, 0), 0);
    FileEntry* again = w1.lookup("a.mp4", 200, &e);
    ASSERT_NE(again, nullptr);
    EXPECT_NE(again->identity, old_identity);
    w1.release(again);
}

} // namespace
} // namespace vcdn::edge

namespace vcdn::edge {
namespace {

TEST(FileCacheRoots, LooksAcrossRootsAndReportsLostFiles) {
    test::TempDir a, b;
    test::write_file(a / "only-a.mp4", "a");
    test::write_file(b / "only-b.mp4", "bb");
    test::write_file(b / "both.mp4", "from b");
    test::write_file(a / "both.mp4", "from a");
    auto s = io::Storage::open(
        {io::RootConfig{a.path(), io::Tier::kFlash}, io::RootConfig{b.path(), io::Tier::kDisk}});
    ASSERT_TRUE(s.ok());
    io::Storage& st = **s;
    FileCache c(st, 10, 1000);
    FileError e;
    FileEntry* f = c.lookup("both.mp4", 0, &e);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->root, 0u); // configured order wins
    c.release(f);
    f = c.lookup("only-b.mp4", 0, &e);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->root, 1u);
    c.release(f);

    EXPECT_TRUE(st.root(0).fail("test"));
    EXPECT_FALSE(st.root(0).fail("again")); // sticky, first reason kept
    EXPECT_EQ(st.root(0).failure_reason(), "test");
    // A cached entry from the failed root is dropped; the other root still has "both".
    f = c.lookup("both.mp4", 0, &e);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->root, 1u);
    EXPECT_EQ(f->size, 6u);
    c.release(f);
    EXPECT_EQ(c.lookup("only-a.mp4", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kLost);
    EXPECT_EQ(c.lookup("never.mp4", 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
    auto lost = st.lost_files();
    ASSERT_EQ(lost.size(), 1u); // "both" is still on root 1
    EXPECT_EQ(lost[0].path, "/only-a.mp4");
    EXPECT_EQ(lost[0].root, 0u);
    EXPECT_EQ(st.up_count(), 1u);
}

TEST(Storage, HealthCheckFailsARootThatIsReplaced) {
    test::TempDir d;
    ::mkdir((d / "root").c_str(), 0755);
    auto s = io::Storage::open({io::RootConfig{d / "root", io::Tier::kDisk}});
    ASSERT_TRUE(s.ok());
    (*s)->check_now();
    EXPECT_TRUE((*s)->root(0).up());
    // The directory goes away (as an unmounted disk's mount point would change).
    ASSERT_EQ(::rename((d / "root").c_str(), (d / "gone").c_str()), 0);
    (*s)->check_now();
    EXPECT_FALSE((*s)->root(0).up());
    EXPECT_NE((*s)->root(0).failure_reason().find("No such file"), std::string::npos);
}

TEST(Storage, InventorySkipsDotFiles) {
    test::TempDir d;
    ::mkdir((d / "t").c_str(), 0755);
    ::mkdir((d / ".partial").c_str(), 0755);
    test::write_file(d / "t/a.mp4", "12345");
    test::write_file(d / ".partial/b.mp4", "x");
    test::write_file(d / "t/.c.mp4.tmp", "x");
    auto inv = io::scan_inventory(d.path());
    ASSERT_EQ(inv->files.size(), 1u);
    EXPECT_EQ(inv->files.count("t/a.mp4"), 1u);
    EXPECT_EQ(inv->bytes, 5u);
}

} // namespace
} // namespace vcdn::edge

namespace vcdn::edge {
namespace {

TEST(FileCacheAsync, FindAdoptAndRevalidateWithoutTouchingTheDisk) {
    test::TempDir d;
    test::write_file(d / "a.mp4", "aaaa");
    auto s = io::Storage::open({io::RootConfig{d.path(), io::Tier::kDisk}});
    ASSERT_TRUE(s.ok());
    FileCache c(**s, 10, 100);
    bool stale = true;
    EXPECT_EQ(c.find("a.mp4", 0, &stale), nullptr);
    // A helper thread opened it:
    int fd = ::open((d / "a.mp4").c_str(), O_RDONLY);
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    FileError e;
    FileEntry* f = c.adopt("a.mp4", 0, fd, st, 0, &e);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->size, 4u);
    // A second open of the same path meanwhile: the first entry wins, the new fd is closed.
    int fd2 = ::open((d / "a.mp4").c_str(), O_RDONLY);
    FileEntry* f2 = c.adopt("a.mp4", 0, fd2, st, 0, &e);
    EXPECT_EQ(f2, f);
    EXPECT_EQ(::fcntl(fd2, F_GETFD), -1); // closed
    c.release(f2);
    c.release(f);
    FileEntry* g = c.find("a.mp4", 50, &stale);
    ASSERT_EQ(g, f);
    EXPECT_FALSE(stale);
    c.release(g);
    g = c.find("a.mp4", 150, &stale);
    EXPECT_TRUE(stale);
    g->revalidating = true;
    bool again = true;
    c.release(c.find("a.mp4", 160, &again));
    EXPECT_FALSE(again);        // one revalidation at a time
    c.revalidated(g, &st, 200); // unchanged
    EXPECT_EQ(c.size(), 1u);
    struct stat changed = st;
    changed.st_size = 5;
    g->revalidating = true;
    c.revalidated(g, &changed, 400);
    EXPECT_EQ(c.size(), 0u); // dropped: the next request opens the new file
    c.release(g);
    // Not a regular file.
    int dfd = ::open(d.path().c_str(), O_RDONLY | O_DIRECTORY);
    struct stat dst {};
    ::fstat(dfd, &dst);
    EXPECT_EQ(c.adopt("dir", 0, dfd, dst, 0, &e), nullptr);
    EXPECT_EQ(e, FileError::kNotFound);
}

} // namespace
} // namespace vcdn::edge
