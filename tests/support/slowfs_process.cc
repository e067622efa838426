#include "slowfs_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

namespace vcdn::test {

namespace {
std::string slowfs_binary() {
    return VCDN_SLOWFS;
}

// From the mount table, not stat(): a FUSE mount whose daemon died fails every stat
// ("Transport endpoint is not connected") but is still mounted.
bool mounted(const std::string& mnt) {
    std::ifstream in("/proc/self/mounts");
    std::string dev, point, rest;
    while (in >> dev >> point && std::getline(in, rest))
        if (point == mnt) return true;
    return false;
}

bool answering(const std::string& mnt) {
    struct stat st {};
    return ::stat(mnt.c_str(), &st) == 0;
}
} // namespace

std::string SlowFs::unavailable_reason() {
    if (slowfs_binary().empty()) return "vcdn_slowfs was not built (libfuse3-dev missing)";
    if (::access("/dev/fuse", R_OK | W_OK) != 0) return "no usable /dev/fuse";
    if (::access("/usr/bin/fusermount3", X_OK) != 0 && ::access("/bin/fusermount3", X_OK) != 0)
        return "fusermount3 not installed (Debian package fuse3)";
    return "";
}

SlowFs::~SlowFs() {
    stop();
}

bool SlowFs::start(const std::string& source, const std::string& mountpoint, int delay_ms) {
    mountpoint_ = mountpoint;
    ::mkdir(mountpoint.c_str(), 0755);
    if (!proc_.start({slowfs_binary(), source, mountpoint, "--delay-ms", std::to_string(delay_ms)}))
        return false;
    for (int i = 0; i < 250; ++i) {
        if (mounted(mountpoint) && answering(mountpoint)) return true;
        if (!proc_.running()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void SlowFs::fail() {
    proc_.signal(SIGUSR1);
    proc_.wait_for_line(std::regex("slowfs: failing"), 5000);
}
void SlowFs::heal() {
    proc_.signal(SIGUSR2);
    proc_.wait_for_line(std::regex("slowfs: healthy"), 5000);
}

void SlowFs::kill_hard() {
    proc_.signal(SIGKILL);
    proc_.wait_exit(5000);
}

void SlowFs::stop() {
    if (mountpoint_.empty()) return;
    if (proc_.running()) {
        proc_.signal(SIGTERM);
        if (!proc_.wait_exit(5000)) proc_.kill_and_reap();
    }
    // A killed daemon leaves its mount behind: detach it lazily (as root directly, else
    // through fusermount3).
    if (mounted(mountpoint_) && ::umount2(mountpoint_.c_str(), MNT_DETACH) != 0)
        run_command({"fusermount3", "-u", "-z", mountpoint_}, 10000);
    mountpoint_.clear();
}

bool evict_from_page_cache(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size == 0) {
        ::close(fd);
        return st.st_size == 0;
    }
    // Pages under a read that is still in flight (the server's read-ahead on a loaded
    // machine) survive DONTNEED: repeat until mincore shows none resident, bounded.
    void* map = ::mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    bool evicted = false;
    std::vector<unsigned char> pages((st.st_size + 4095) / 4096);
    for (int attempt = 0; attempt < 100 && !evicted; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) break;
        if (map == MAP_FAILED) {
            evicted = true; // cannot check: trust the advice
            break;
        }
        if (::mincore(map, st.st_size, pages.data()) != 0) break;
        evicted = std::none_of(pages.begin(), pages.end(), [](unsigned char p) { return p & 1; });
    }
    if (map != MAP_FAILED) ::munmap(map, st.st_size);
    ::close(fd);
    return evicted;
}

} // namespace vcdn::test
