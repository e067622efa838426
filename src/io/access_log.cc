#include <vcdn/io/access_log.h>

#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <vcdn/base/log.h>

namespace vcdn::io {

namespace {
constexpr size_t kRingBytes = 4 << 20; // per worker: ~10k lines, >100 ms at full rate
constexpr int kFlushIntervalMs = 20;
} // namespace

Result<std::unique_ptr<AccessLog>> AccessLog::open(const std::string& target, size_t workers) {
    std::unique_ptr<AccessLog> log(new AccessLog());
    if (target == "off") return log;
    log->enabled_ = true;
    log->path_ = target;
    if (target == "-") {
        log->out_fd_ = STDERR_FILENO;
    } else {
        log->fd_.reset(::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        if (!log->fd_) return Error::from_errno("access log " + target);
        log->out_fd_ = log->fd_.get();
    }
    for (size_t i = 0; i < workers; ++i)
        log->rings_.push_back(std::make_unique<SpscRing>(kRingBytes));
    return log;
}

AccessLog::~AccessLog() {
    stop();
}

void AccessLog::start() {
    if (!enabled_ || thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
}

void AccessLog::stop() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_release);
    thread_.join();
}

void AccessLog::reopen() {
    reopen_.store(true, std::memory_order_release);
}

size_t AccessLog::drain_once() {
    size_t total = 0;
    for (auto& ring : rings_) {
        const char *a, *b;
        size_t alen, blen;
        size_t n = ring->peek(&a, &alen, &b, &blen);
        if (n == 0) continue;
        iovec iov[2] = {{const_cast<char*>(a), alen}, {const_cast<char*>(b), blen}};
        int cnt = blen ? 2 : 1;
        size_t done = 0;
        while (done < n) {
            ssize_t w = ::writev(out_fd_, iov, cnt);
            if (w < 0) {
                if (errno == EINTR) continue;
                break; // a full disk: the lines are lost, the workers are not held up
            }
            done += static_cast<size_t>(w);
            // Advance the iovecs past what was written.
            size_t left = static_cast<size_t>(w);
            for (int i = 0; i < cnt && left; ++i) {
                size_t take = std::min(left, iov[i].iov_len);
                iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + take;
                iov[i].iov_len -= take;
                left -= take;
            }
        }
        ring->consume(n);
        total += n;
    }
    return total;
}

void AccessLog::run() {
    for (;;) {
        if (reopen_.exchange(false) && fd_) {
            UniqueFd nfd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            if (nfd) {
                drain_once();
                fd_ = std::move(nfd);
                out_fd_ = fd_.get();
                log::info("access log reopened: {}", path_);
            } else {
                log::error("access log reopen {}: {}", path_, strerror(errno));
            }
        }
        bool stopping = stop_.load(std::memory_order_acquire);
        size_t n = drain_once();
        if (stopping && n == 0) return;
        if (n == 0) {
            timespec ts{0, kFlushIntervalMs * 1000000L};
            nanosleep(&ts, nullptr);
        }
    }
}

} // namespace vcdn::io
