// What it costs the CPU to bring a cold file into the page cache, by the ways an edge can ask
// for it. The files' pages are dropped (fdatasync + POSIX_FADV_DONTNEED), then every block of
// every file is asked for once, in a random order (many streams on many files look like that to
// the kernel), by one of:
//   pread          read into a buffer (what the io_uring and threads readers do: one copy)
//   splice         sendfile() to /dev/null (the sendfile reader: no copy)
//   populate       map the block, MADV_POPULATE_READ, unmap (small pages)
//   populate-huge  the same with MADV_HUGEPAGE + MADV_RANDOM first (the populate reader: one
//                  large folio per 2 MiB block where the file system has large folios)
// and the CPU is read: this process's (getrusage) and the whole machine's (/proc/stat, less
// idle, iowait and steal), the latter over the run plus one second for completions to land.
//
//   fill_cost [--block KiB] [--rounds N] FILE...      (files on a disk, not a tmpfs)
//
// Prints CPU seconds per GB for each way, per round, and the FileHugePages growth (large
// folios the way made, from /proc/meminfo: the machine's, so run it on a quiet machine).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

namespace {

double self_cpu() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// Busy ticks of the whole machine: user nice system irq softirq (not idle, iowait, steal).
double machine_cpu() {
    FILE* f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long v[8] = {};
    const int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                         &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 7) return 0;
    return static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) /
           static_cast<double>(sysconf(_SC_CLK_TCK));
}

long file_huge_kb() {
    FILE* f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "FileHugePages:", 14) == 0) kb = atol(line + 14);
    fclose(f);
    return kb;
}

struct File {
    int fd;
    off_t size;
};

bool fetch(const std::string& way, const File& f, off_t off, size_t len, char* buf, int null) {
    if (way == "pread") {
        for (size_t done = 0; done < len;) {
            ssize_t n = pread(f.fd, buf + done, len - done, off + static_cast<off_t>(done));
            if (n <= 0) return n == 0;
            done += static_cast<size_t>(n);
        }
        return true;
    }
    if (way == "splice") {
        off_t o = off;
        for (size_t left = len; left > 0;) {
            ssize_t n = sendfile(null, f.fd, &o, left);
            if (n <= 0) return n == 0;
            left -= static_cast<size_t>(n);
        }
        return true;
    }
    void* m = mmap(nullptr, len, PROT_READ, MAP_SHARED, f.fd, off);
    if (m == MAP_FAILED) return false;
    if (way == "populate-huge") {
        madvise(m, len, MADV_HUGEPAGE);
        madvise(m, len, MADV_RANDOM);
    }
    const bool ok = madvise(m, len, MADV_POPULATE_READ) == 0;
    munmap(m, len);
    return ok;
}

} // namespace

int main(int argc, char** argv) {
    size_t block = 2u << 20;
    int rounds = 2;
    std::vector<File> files;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--block" && i + 1 < argc) {
            block = static_cast<size_t>(atol(argv[++i])) * 1024;
        } else if (a == "--rounds" && i + 1 < argc) {
            rounds = std::max(1, atoi(argv[++i]));
        } else if (a == "-h" || a == "--help") {
            fprintf(stderr, "usage: fill_cost [--block KiB] [--rounds N] FILE...\n");
            return 0;
        } else {
            int fd = open(argv[i], O_RDONLY);
            struct stat st {};
            if (fd < 0 || fstat(fd, &st) != 0) {
                perror(argv[i]);
                return 2;
            }
            files.push_back({fd, st.st_size});
        }
    }
    if (files.empty() || block == 0 || block % 4096 != 0) {
        fprintf(stderr, "usage: fill_cost [--block KiB] [--rounds N] FILE...  (KiB: pages)\n");
        return 2;
    }
    std::vector<std::pair<size_t, off_t>> blocks;
    double bytes = 0;
    for (size_t i = 0; i < files.size(); ++i)
        for (off_t o = 0; o < files[i].size; o += static_cast<off_t>(block)) {
            blocks.emplace_back(i, o);
            bytes +=
                static_cast<double>(std::min<off_t>(static_cast<off_t>(block), files[i].size - o));
        }
    std::mt19937 rng(1);
    std::vector<char> buf(block);
    const int null = open("/dev/null", O_WRONLY);
    printf("%zu files, %.2f GB, blocks of %zu KiB in random order\n", files.size(), bytes / 1e9,
           block / 1024);
    printf("%-14s %5s %8s %14s %16s %12s\n", "way", "round", "seconds", "self CPU-s/GB",
           "machine CPU-s/GB", "FileHuge MB");
    for (int r = 0; r < rounds; ++r) {
        for (const char* way : {"pread", "splice", "populate", "populate-huge"}) {
            for (const File& f : files) {
                fdatasync(f.fd);
                posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED);
            }
            std::shuffle(blocks.begin(), blocks.end(), rng);
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            const long huge0 = file_huge_kb();
            const double s0 = self_cpu(), m0 = machine_cpu();
            const auto t0 = std::chrono::steady_clock::now();
            for (const auto& [i, o] : blocks) {
                const File& f = files[i];
                const size_t len =
                    static_cast<size_t>(std::min<off_t>(static_cast<off_t>(block), f.size - o));
                if (!fetch(way, f, o, len, buf.data(), null)) {
                    fprintf(stderr, "%s failed at %lld: %s\n", way, static_cast<long long>(o),
                            strerror(errno));
                    return 1;
                }
            }
            const double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::this_thread::sleep_for(std::chrono::seconds(1));
            const double s1 = self_cpu(), m1 = machine_cpu();
            printf("%-14s %5d %8.2f %14.3f %16.3f %12ld\n", way, r, secs, (s1 - s0) / (bytes / 1e9),
                   (m1 - m0) / (bytes / 1e9), (file_huge_kb() - huge0) / 1024);
            fflush(stdout);
        }
    }
    return 0;
}
