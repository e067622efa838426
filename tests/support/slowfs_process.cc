#include "slowfs_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace vcdn::test {

namespace {
std::string slowfs_binary() {
    return VCDN_SLOWFS;
}

bool mounted(const std::string& mnt) {
    struct stat a {
    }, b{};
    if (::stat(mnt.c_str(), &a) != 0) return false;
    if (::stat((mnt + "/..").c_str(), &b) != 0) return false;
    return a.st_dev != b.st_dev;
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
        if (mounted(mountpoint)) return true;
        if (!proc_.running()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void SlowFs::fail() {
    proc_.signal(SIGUSR1);
}
void SlowFs::heal() {
    proc_.signal(SIGUSR2);
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
    // A killed daemon leaves its mount behind: detach it lazily.
    if (mounted(mountpoint_)) run_command({"fusermount3", "-u", "-z", mountpoint_}, 10000);
    mountpoint_.clear();
}

bool evict_from_page_cache(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    bool ok = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
    ::close(fd);
    return ok;
}

} // namespace vcdn::test
