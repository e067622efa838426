// vcdn_slowfs: a read-only FUSE file system that mirrors a directory and behaves like a bad
// disk on demand. Tests and benchmarks use it for what device-mapper would do elsewhere:
//   --delay-ms N   every read() of file data sleeps N ms first (a hard disk's seek + rotation)
//   SIGUSR1        from now on every operation fails with EIO (a dying disk)
//   SIGUSR2        back to normal
//   SIGTERM/SIGINT unmount and exit
// Data goes through the kernel page cache like any file system's (keep_cache), so cached
// pages are fast and only page-cache misses pay the delay.
//
//   vcdn_slowfs SOURCE MOUNTPOINT [--delay-ms N]
#define FUSE_USE_VERSION 35
#include <fuse3/fuse.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

std::string g_source;
std::atomic<int> g_delay_ms{0};
std::atomic<bool> g_failing{false};

std::string full(const char* path) {
    return g_source + path;
}

void on_usr(int sig) {
    g_failing.store(sig == SIGUSR1);
    // Acknowledge (write(2) is async-signal-safe): SlowFs::fail() waits for this line, so a
    // test's next request cannot race the signal's delivery.
    static const char kFailing[] = "slowfs: failing\n";
    static const char kHealthy[] = "slowfs: healthy\n";
    if (sig == SIGUSR1)
        (void)!::write(2, kFailing, sizeof kFailing - 1);
    else
        (void)!::write(2, kHealthy, sizeof kHealthy - 1);
}

int fs_getattr(const char* path, struct stat* st, fuse_file_info*) {
    if (g_failing.load()) return -EIO;
    return lstat(full(path).c_str(), st) == 0 ? 0 : -errno;
}

int fs_readlink(const char* path, char* buf, size_t size) {
    if (g_failing.load()) return -EIO;
    ssize_t n = readlink(full(path).c_str(), buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = '\0';
    return 0;
}

int fs_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
               fuse_readdir_flags) {
    if (g_failing.load()) return -EIO;
    DIR* d = opendir(full(path).c_str());
    if (!d) return -errno;
    while (dirent* e = readdir(d)) {
        struct stat st {};
        st.st_ino = e->d_ino;
        st.st_mode = static_cast<mode_t>(e->d_type) << 12;
        if (fill(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
    }
    closedir(d);
    return 0;
}

int fs_open(const char* path, fuse_file_info* fi) {
    if (g_failing.load()) return -EIO;
    if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
    int fd = open(full(path).c_str(), O_RDONLY);
    if (fd < 0) return -errno;
    fi->fh = static_cast<uint64_t>(fd);
    fi->keep_cache = 1; // cached pages stay valid across opens: residency means something
    return 0;
}

int fs_read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
    if (g_failing.load()) return -EIO;
    int delay = g_delay_ms.load();
    if (delay > 0) {
        timespec ts{delay / 1000, (delay % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
    }
    if (g_failing.load()) return -EIO;
    ssize_t n = pread(static_cast<int>(fi->fh), buf, size, off);
    return n < 0 ? -errno : static_cast<int>(n);
}

int fs_release(const char*, fuse_file_info* fi) {
    close(static_cast<int>(fi->fh));
    return 0;
}

int fs_statfs(const char*, struct statvfs* st) {
    if (g_failing.load()) return -EIO;
    return statvfs(g_source.c_str(), st) == 0 ? 0 : -errno;
}

void* fs_init(fuse_conn_info*, fuse_config* cfg) {
    cfg->kernel_cache = 1;
    cfg->attr_timeout = 1.0;
    cfg->entry_timeout = 1.0;
    cfg->negative_timeout = 0;
    return nullptr;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: vcdn_slowfs SOURCE MOUNTPOINT [--delay-ms N]\n");
        return 2;
    }
    char* real = realpath(argv[1], nullptr);
    if (!real) {
        fprintf(stderr, "vcdn_slowfs: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    g_source = real;
    free(real);
    for (int i = 3; i + 1 < argc; i += 2) {
        if (std::string(argv[i]) == "--delay-ms") g_delay_ms.store(atoi(argv[i + 1]));
    }
    struct sigaction sa {};
    sa.sa_handler = on_usr;
    sigaction(SIGUSR1, &sa, nullptr);
    sigaction(SIGUSR2, &sa, nullptr);

    static fuse_operations ops{};
    ops.getattr = fs_getattr;
    ops.readlink = fs_readlink;
    ops.readdir = fs_readdir;
    ops.open = fs_open;
    ops.read = fs_read;
    ops.release = fs_release;
    ops.statfs = fs_statfs;
    ops.init = fs_init;
    std::vector<char*> fargs = {
        argv[0], argv[2], const_cast<char*>("-f"), const_cast<char*>("-o"),
        // allow_other: benchmark peers such as nginx read as an unprivileged user.
        const_cast<char*>(getuid() == 0 ? "ro,fsname=vcdn_slowfs,default_permissions,allow_other"
                                        : "ro,fsname=vcdn_slowfs,default_permissions")};
    fprintf(stderr, "vcdn_slowfs: %s on %s, delay %d ms per read\n", g_source.c_str(), argv[2],
            g_delay_ms.load());
    return fuse_main(static_cast<int>(fargs.size()), fargs.data(), &ops, nullptr);
}
