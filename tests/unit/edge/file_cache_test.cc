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
        root_.reset(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY));
    }
    test::TempDir dir_;
    UniqueFd root_;
};

TEST_F(FileCacheTest, OpensCachesAndReleases) {
    FileCache c(root_.get(), 10, 1000);
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
    FileCache c(root_.get(), 10, 1000);
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

TEST_F(FileCacheTest, EvictsLeastRecentlyUsedButKeepsReferencedEntriesAlive) {
    FileCache c(root_.get(), 2, 1000);
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
    FileCache c(root_.get(), 10, 100);
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

} // namespace
} // namespace vcdn::edge
