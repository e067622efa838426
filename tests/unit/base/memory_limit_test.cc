#include <gtest/gtest.h>

#include <filesystem>

#include <vcdn/base/process.h>

#include "temp_dir.h"

namespace vcdn {
namespace {

void put(const test::TempDir& d, const std::string& rel, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(d / rel).parent_path());
    test::write_file(d / rel, text);
}

TEST(CgroupMemoryLimit, V2TakesTheSmallestOfTheCgroupAndItsAncestors) {
    test::TempDir d;
    put(d, "a/b/c/memory.max", "max\n");
    put(d, "a/b/memory.max", "8589934592\n"); // 8 GiB
    put(d, "a/memory.max", "17179869184\n");
    EXPECT_EQ(cgroup_memory_limit("0::/a/b/c\n", d.path()), uint64_t{8} << 30);
    EXPECT_EQ(cgroup_memory_limit("0::/a\n", d.path()), uint64_t{16} << 30);
    // A container's namespace: its own cgroup is the root of the mount.
    put(d, "memory.max", "1073741824\n");
    EXPECT_EQ(cgroup_memory_limit("0::/\n", d.path()), uint64_t{1} << 30);
}

TEST(CgroupMemoryLimit, V1ReadsTheMemoryHierarchyAndSkipsUnlimited) {
    test::TempDir d;
    put(d, "memory/svc/edge/memory.limit_in_bytes", "9223372036854771712\n"); // unlimited
    put(d, "memory/svc/memory.limit_in_bytes", "4294967296\n");
    put(d, "memory/memory.limit_in_bytes", "9223372036854771712\n");
    put(d, "cpu/svc/edge/memory.limit_in_bytes", "1\n"); // not the memory hierarchy
    const char* self = "12:pids:/svc/edge\n"
                       "4:cpu,memory:/svc/edge\n"
                       "3:cpu:/svc/edge\n"
                       "0::/\n";
    EXPECT_EQ(cgroup_memory_limit(self, d.path()), uint64_t{4} << 30);
}

TEST(CgroupMemoryLimit, NothingReadableOrLimitedIsNoLimit) {
    test::TempDir d;
    EXPECT_EQ(cgroup_memory_limit("", d.path()), UINT64_MAX);
    EXPECT_EQ(cgroup_memory_limit("0::/missing\n", d.path()), UINT64_MAX);
    put(d, "x/memory.max", "garbage\n");
    EXPECT_EQ(cgroup_memory_limit("0::/x\n", d.path()), UINT64_MAX);
    // Lines that are not cgroup lines, or climb out of the tree, are ignored.
    put(d, "memory.max", "1024\n");
    EXPECT_EQ(cgroup_memory_limit("junk\n0:memory\n5:memory:relative\n0::/../..\n", d.path()),
              UINT64_MAX);
    // This machine: whatever its cgroups say, some memory.
    EXPECT_GT(usable_memory_bytes(), 0u);
}

} // namespace
} // namespace vcdn
