#pragma once
// The access log: one JSON line per request. Workers format a line and push it into their
// own ring (never blocking, never allocating); a writer thread drains all rings every few
// milliseconds and writes them with one writev per batch. If the disk cannot keep up, lines
// are dropped and counted (vcdn_access_log_dropped_total) rather than stalling a worker.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/spsc_ring.h>
#include <vcdn/base/unique_fd.h>

namespace vcdn::io {

class AccessLog {
public:
    // `target`: a file path (appended to), "-" for stderr, or "off".
    static Result<std::unique_ptr<AccessLog>> open(const std::string& target, size_t workers);
    ~AccessLog();

    bool enabled() const { return enabled_; }
    // Worker `w` only: queue one line (must end with '\n'). False = dropped.
    bool push(size_t w, const char* line, size_t n) { return rings_[w]->push(line, n); }

    void start();
    // Drains everything and stops the writer thread.
    void stop();
    // Re-opens the file (after log rotation); called from the signal-handling thread.
    void reopen();

private:
    AccessLog() = default;
    void run();
    size_t drain_once();

    bool enabled_ = false;
    std::string path_;
    UniqueFd fd_;
    int out_fd_ = -1;
    std::vector<std::unique_ptr<SpscRing>> rings_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> reopen_{false};
};

} // namespace vcdn::io
