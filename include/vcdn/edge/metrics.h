#pragma once
// Per-worker edge metrics. Each worker owns one WorkerMetrics and is its only writer; the
// admin thread reads all of them to render Prometheus text. Cache-line aligned so workers do
// not share lines.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <vcdn/base/counter.h>

namespace vcdn::edge {

// The statuses the edge can produce, for a fixed-size counter array.
inline constexpr std::array<uint16_t, 20> kTrackedStatuses = {200, 206, 304, 400, 403, 404, 405,
                                                              408, 412, 414, 416, 417, 421, 431,
                                                              500, 501, 503, 505, 204, 0};
inline constexpr size_t kStatusSlots = 19; // slots used in kTrackedStatuses; the last is "other"

inline size_t status_slot(uint16_t status) {
    for (size_t i = 0; i < kStatusSlots; ++i)
        if (kTrackedStatuses[i] == status) return i;
    return kStatusSlots; // "other"
}

// Request duration buckets, seconds (upper bounds; +Inf implied).
inline constexpr std::array<double, 16> kDurationBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

// A latency histogram with the buckets above (non-cumulative counts; rendered cumulative).
struct Histogram {
    std::array<Counter, kDurationBuckets.size() + 1> buckets;
    Counter sum_us;
    Counter count;

    void observe_us(uint64_t us) {
        const double s = static_cast<double>(us) / 1e6;
        size_t i = 0;
        while (i < kDurationBuckets.size() && s > kDurationBuckets[i])
            ++i;
        buckets[i].add();
        sum_us.add(us);
        count.add();
    }
};

struct alignas(64) WorkerMetrics {
    std::array<Counter, kStatusSlots + 1> responses_by_status;
    Counter bytes_sent; // head + body bytes written to sockets
    Counter body_bytes_sent;
    Counter connections_open; // gauge
    Counter connections_accepted;
    Counter connections_refused_limit;  // over max_connections: answered 503
    Counter connections_refused_nofile; // accept hit RLIMIT_NOFILE: answered 503
    Counter connections_refused_client; // over max_connections_per_client: answered 503
    Counter sendfile_errors;
    Counter send_errors; // peer reset, broken pipe
    Counter timeouts_header;
    Counter timeouts_idle;
    Counter timeouts_send;
    Counter timeouts_slow; // responses cut for averaging less than min_send_rate_bps
    Counter pipelined_requests;
    Counter file_cache_hits;
    Counter file_cache_misses;
    Counter file_cache_entries; // gauge
    Counter file_cache_revalidations;
    Counter access_log_dropped;
    std::array<Counter, 8> signed_url_refusals; // by auth::SigCheck
    Counter refused_no_control;                 // new players refused: no control plane
    // TLS.
    Counter tls_handshakes;
    Counter tls_handshake_failures;
    Counter tls_resumed;
    Counter tls_responses_ktls; // bodies sent by the kernel (SSL_sendfile)
    Counter tls_responses_user; // bodies encrypted in user space (SSL_write)
    Counter tls_body_bytes_ktls;
    Counter tls_body_bytes_user;
    Counter tls_body_bytes_mapped;   // of those, encrypted straight from the file's mapping
    Counter tls_mapped_faults;       // bodies cut: a mapped page unreadable, or the file shrank
    Counter tls_handshakes_deferred; // handshakes put off to keep a turn short
    Histogram tls_handshake;         // first byte to handshake done
    Histogram request_duration;      // complete head → last byte handed to the kernel

    // Disk.
    Counter pagecache_hits;       // residency checks that found the pages in memory
    Counter pagecache_misses;     // ... that started a read into the page cache
    Counter residency_remembered; // residency questions answered by the worker's memory
    Counter residency_asked;      // ... by the kernel (mincore)
    Counter residency_looks_kept; // a slot learnt before a fall of file pages, still cached
    Counter residency_looks_lost; // ... not wholly cached (or cachestat failed): asked again
    Counter disk_reads;
    Counter disk_readaheads; // background read-ahead windows started
    Counter disk_read_bytes;
    Counter disk_read_errors;
    Counter disk_reads_inflight; // gauge
    Counter disk_reads_queued;   // gauge
    Counter lost_file_requests;  // 503: the file was on a failed root
    Histogram disk_read;         // submit → completion of a read into the page cache
};

} // namespace vcdn::edge
