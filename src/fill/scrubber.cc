// The scrubber: re-reads stored files at a low rate and compares them with the manifest's
// SHA-256; a file that no longer matches (bit rot, a bad disk, an operator's mistake) is
// removed and handed back to the filler, which fills it again.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>

#include "filler_impl.h"

namespace vcdn::fill {

void Filler::Impl::scrub_run() {
    pthread_setname_np(pthread_self(), "edge-scrub");
    const double rate = opt.cfg.scrub_rate_mbps * 1e6 / 8; // bytes per second
    std::vector<char> buf(1 << 20);
    auto wait = [&](int64_t ms) {
        std::unique_lock lk(mu);
        return !cv.wait_for(lk, std::chrono::milliseconds(ms), [&] { return stopping; });
    };
    if (!wait(5000)) return;
    for (;;) {
        std::vector<std::pair<std::string, uint64_t>> list;
        std::shared_ptr<const Manifest> m;
        {
            std::lock_guard lk(mu);
            if (stopping) return;
            list = snap.scrub_list;
        }
        // The manifest is owned by the filler thread; the scrubber needs only path -> sha256,
        // which it takes from a copy made under the lock below.
        std::unordered_map<std::string, std::pair<std::string, uint64_t>> expect;
        {
            std::lock_guard lk(mu);
            m = scrub_manifest;
        }
        if (!m) {
            if (!wait(1000)) return;
            continue;
        }
        for (const auto& [path, idx] : list)
            if (idx < m->files.size() && m->files[idx].path == path)
                expect[path] = {m->files[idx].sha256, m->files[idx].size};
        for (const auto& [path, want] : expect) {
            for (size_t i = 0; i < storage->size(); ++i) {
                io::Root& r = storage->root(i);
                if (!r.up()) continue;
                const std::string rel = path.substr(1);
                int fd = openat(r.dir_fd(), rel.c_str(), O_RDONLY | O_CLOEXEC);
                if (fd < 0) continue;
                struct stat before {};
                fstat(fd, &before);
                Sha256 h;
                uint64_t off = 0;
                const int64_t t0 = monotonic_us();
                bool stop_now = false;
                for (;;) {
                    ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
                    if (n <= 0) break;
                    h.update(buf.data(), static_cast<size_t>(n));
                    off += static_cast<uint64_t>(n);
                    scrub_bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
                    // Hold the rate: sleep until this file's bytes are due.
                    const int64_t due = t0 + static_cast<int64_t>(off / rate * 1e6);
                    const int64_t now = monotonic_us();
                    if (due > now && !wait((due - now) / 1000)) {
                        stop_now = true;
                        break;
                    }
                }
                if (stop_now) {
                    ::close(fd);
                    return;
                }
                scrub_files.fetch_add(1, std::memory_order_relaxed);
                const std::string got = h.final_hex();
                if (m->version != scrub_version) {
                    scrub_version = m->version;
                    scrub_removed_for_version = 0;
                }
                // Against a manifest with wrong SHA-256s (a lying control plane): at most a
                // bounded share of its files is removed by the scrubber.
                const uint64_t scrub_cap = std::max<uint64_t>(
                    8, static_cast<uint64_t>(opt.cfg.max_delete_share *
                                             static_cast<double>(m->files.size())));
                const bool mismatch = got != want.first || off != want.second;
                if (mismatch && !has_fill_mark(r.dir_fd(), rel)) {
                    scrub_unowned.fetch_add(1);
                    log::warn("scrub: {} on {} does not match the manifest's SHA-256 but was not "
                              "written by the fill: kept",
                              path, r.path());
                } else if (mismatch && scrub_removed_for_version >= scrub_cap) {
                    scrub_held.fetch_add(1);
                    log::error("scrub: {} on {} does not match manifest version {}, but {} files "
                               "of it already did not: the manifest is suspect, not removing more",
                               path, r.path(), m->version, scrub_removed_for_version);
                } else if (mismatch) {
                    // Remove it only if it is still the file we read (not replaced meanwhile).
                    struct stat now_st {};
                    if (fstatat(r.dir_fd(), rel.c_str(), &now_st, 0) == 0 &&
                        now_st.st_ino == before.st_ino &&
                        unlinkat(r.dir_fd(), rel.c_str(), 0) == 0) {
                        scrub_mismatches.fetch_add(1);
                        ++scrub_removed_for_version;
                        log::error("scrub: {} on {} no longer matches its SHA-256 ({} instead of "
                                   "{}): removed, it will be filled again",
                                   path, r.path(), got.substr(0, 16), want.first.substr(0, 16));
                        {
                            std::lock_guard lk(mu);
                            refill.push_back(path);
                        }
                        curl_multi_wakeup(multi);
                    }
                }
                ::close(fd);
                break;
            }
        }
        if (!wait(int64_t{opt.cfg.scrub_pause_s} * 1000)) return;
    }
}

} // namespace vcdn::fill
