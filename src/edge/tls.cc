// TLS on a worker: the non-blocking handshake (bounded per loop turn, so that a burst of new
// connections cannot starve the streams already running), reads and writes through OpenSSL,
// and the two ways a body leaves: the kernel encrypts (kTLS: SSL_sendfile, zero-copy kept) or
// we do (read the range, which the disk path made resident, and SSL_write it).
#include "worker.h"

#include <openssl/err.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/mapped_read.h>
#include <vcdn/base/time.h>

namespace vcdn::edge {

namespace {
// User-space path: file data read per step. 64 KiB = four full TLS records.
constexpr size_t kTlsBufBytes = 64u << 10;
constexpr uint64_t kTlsRecordBytes = 16u << 10; // the TLS maximum plaintext per record

// SSL_get_error needs an empty error queue before the call it explains. The queue is nearly
// always empty already, and looking costs less than ERR_clear_error's sweep of all its slots
// (~2% of a TLS stream's CPU in a profile).
inline void clear_ssl_errors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
}
} // namespace

void Worker::post_tls(std::shared_ptr<const tls::ServerContext> ctx) {
    {
        std::lock_guard<std::mutex> lk(mailbox_mu_);
        posted_tls_ = std::move(ctx);
    }
    mail_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::start_tls(Connection* c) {
    c->tls_ctx = tls_ctx_;
    c->tls_more = false;
    c->hs_started = false;
    c->ssl = tls_ctx_ ? tls_ctx_->new_ssl(c->fd, &c->tls_more) : nullptr;
    c->state = ConnState::kHandshake;
    c->hs_start_ns = monotonic_ns();
}

bool Worker::step_handshake(Connection* c) {
    if (!c->ssl) {
        m_.tls_handshake_failures.add();
        close_conn(c);
        return false;
    }
    if (!c->hs_started) {
        // Only the first step (the ClientHello: key exchange and, for a full handshake, the
        // certificate signature) counts against the turn's budget; the steps that finish a
        // handshake are cheap and let a request through.
        c->hs_started = true;
        ++handshakes_this_turn_;
    }
    ERR_clear_error();
    const int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        m_.tls_handshakes.add();
        m_.tls_handshake.observe_us(
            static_cast<uint64_t>((monotonic_ns() - c->hs_start_ns) / 1000));
        c->resumed = SSL_session_reused(c->ssl) == 1;
        if (c->resumed) m_.tls_resumed.add();
        c->ktls = c->tls_ctx->ktls_enabled() && tls::ktls_send_active(c->ssl);
        c->state = ConnState::kIdle;
        c->readable = true; // the request may already sit in OpenSSL's buffer
        return true;
    }
    const int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return true;
    m_.tls_handshake_failures.add();
    uint64_t held;
    if (error_log_limit_.allow(now_ms_, &held)) {
        const std::string why =
            err == SSL_ERROR_SYSCALL
                ? (errno ? std::string(strerror(errno)) : std::string("connection closed"))
                : tls::openssl_errors();
        log::info("worker {}: TLS handshake with {} failed: {} ({} similar suppressed)", index_,
                  std::string_view(c->peer, c->peer_len), why, held);
    }
    ERR_clear_error();
    close_conn(c);
    return false;
}

ssize_t Worker::conn_read(Connection* c, char* buf, size_t n) {
    if (!c->ssl) return ::recv(c->fd, buf, n, 0);
    clear_ssl_errors();
    const int r = SSL_read(c->ssl, buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
    if (r > 0) return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: // close_notify
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) return 0; // EOF without close_notify: the same for us
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

ssize_t Worker::conn_write(Connection* c, const char* buf, size_t n) {
    if (!c->ssl) return ::send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    clear_ssl_errors();
    const int r = SSL_write(c->ssl, buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
    if (r > 0) return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) errno = EPIPE;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

// Sends up to `limit` body bytes of a TLS response. The caller has checked that these bytes
// are in the page cache, so neither path below waits for a disk.
Worker::SendResult Worker::send_tls_body(Connection* c, uint64_t limit, uint64_t* budget) {
    FileEntry* f = c->file;
    if (c->ktls) {
        ERR_clear_error();
        const ossl_ssize_t n = SSL_sendfile(c->ssl, f->fd, static_cast<off_t>(c->off), limit, 0);
        if (n <= 0) {
            const int err = SSL_get_error(c->ssl, static_cast<int>(n));
            if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
                return SendResult::kBlocked;
            ERR_clear_error();
            m_.sendfile_errors.add();
            return SendResult::kFailed;
        }
        count_body_sent(c, static_cast<uint64_t>(n));
        m_.tls_body_bytes_ktls.add(static_cast<uint64_t>(n));
        *budget -= std::min<uint64_t>(*budget, static_cast<uint64_t>(n));
        return SendResult::kDone;
    }
    if (c->tls_off == c->tls_len && cfg_->tls.map_bodies && mapped_tls_ && f->ensure_map() &&
        c->off < f->map_len)
        return send_tls_mapped(c, limit, budget);
    if (c->tls_off == c->tls_len) {
        if (!c->tls_buf) {
            if (free_tls_bufs_.empty()) {
                all_tls_bufs_.push_back(std::make_unique<char[]>(kTlsBufBytes));
                free_tls_bufs_.push_back(all_tls_bufs_.back().get());
            }
            c->tls_buf = free_tls_bufs_.back();
            free_tls_bufs_.pop_back();
        }
        const size_t want = static_cast<size_t>(std::min<uint64_t>(limit, kTlsBufBytes));
        ssize_t got = ::pread(f->fd, c->tls_buf, want, static_cast<off_t>(c->off));
        if (got <= 0) {
            const int err = got < 0 ? errno : ENODATA;
            m_.sendfile_errors.add();
            if (io::Storage::is_disk_error(err)) {
                io::Root& root = storage_.root(f->root);
                root.read_errors.fetch_add(1);
                root.fail(fmt::format("read {}: {}", f->key, strerror(err)));
            }
            return SendResult::kFailed;
        }
        c->tls_len = static_cast<uint32_t>(got);
        c->tls_off = 0;
    }
    // One record (16 KiB at most) per SSL_write. When more of this body is ready and within
    // this turn's budget, the record goes out with MSG_MORE and joins the next in one push.
    const uint64_t record = std::min<uint64_t>(c->tls_len - c->tls_off, kTlsRecordBytes);
    c->tls_more = limit > record && *budget > record;
    const ssize_t n = conn_write(c, c->tls_buf + c->tls_off, c->tls_len - c->tls_off);
    c->tls_more = false;
    if (n < 0) {
        if (errno == EAGAIN) return SendResult::kBlocked; // retried with the same bytes
        m_.send_errors.add();
        return SendResult::kFailed;
    }
    c->tls_off += static_cast<uint32_t>(n);
    if (c->tls_off == c->tls_len) c->tls_off = c->tls_len = 0;
    count_body_sent(c, static_cast<uint64_t>(n));
    m_.tls_body_bytes_user.add(static_cast<uint64_t>(n));
    *budget -= std::min<uint64_t>(*budget, static_cast<uint64_t>(n));
    return SendResult::kDone;
}

// The user-space path without the copy into tls_buf: OpenSSL reads the plaintext straight from
// the file's mapping (into its record buffer, where it is encrypted). That saves a pass over
// the body's bytes and a pread per 64 KiB: +12% requests per CPU-second (bench/RESULTS.md).
//
// What a mapping can do that pread cannot, and what is done about it:
//  - A page that cannot be read (wholly past the end of a file truncated since it was opened;
//    evicted and unreadable; bad memory) raises SIGBUS. base/mapped_read.h turns it into the end
//    of this connection only. The pages OpenSSL will read in this call (one record, or two when
//    it first flushes a record a blocked write left pending) are touched under the guard
//    first, so a bad page is nearly always found before OpenSSL begins a record; the write is
//    guarded too, for a page that goes bad in between (abandoning SSL_write leaks its ~80 bytes
//    of packet bookkeeping; its SSL object is never used again: close_conn → end_tls frees it).
//  - The page holding a truncated file's new end reads as zeros past that end, without a
//    fault. pread would return short there; so before the call that may send a response's
//    last byte, fstat checks that the file still holds it, and the connection ends otherwise
//    (the client sees a short body, as with plain HTTP's sendfile, never zeros as data).
Worker::SendResult Worker::send_tls_mapped(Connection* c, uint64_t limit, uint64_t* budget) {
    FileEntry* f = c->file;
    const uint64_t avail = std::min<uint64_t>(limit, f->map_len - c->off);
    const uint64_t record = std::min<uint64_t>(avail, kTlsRecordBytes);
    const uint64_t touched = std::min<uint64_t>(avail, 2 * kTlsRecordBytes);
    const char* src = static_cast<const char*>(f->map) + c->off;
    uint64_t fault_at = 0;
    bool read = true, shrunk = false, memory = false;
    if (c->end - c->off <= touched) {
        struct stat st;
        if (::fstat(f->fd, &st) == 0 && static_cast<uint64_t>(st.st_size) < c->end) {
            read = false;
            shrunk = true;
            fault_at = static_cast<uint64_t>(st.st_size);
        }
    }
    ssize_t n = -1;
    int err = 0;
    if (read)
        read = base::guarded_mapped_read(src, static_cast<size_t>(touched), [&] {
            base::touch_pages(src, static_cast<size_t>(touched));
        });
    c->tls_more = limit > record && *budget > record;
    // All of `avail` is offered: SSL_write (partial-write mode) takes a record of it and
    // returns, and keeps its record buffer until the last one (SSL_MODE_RELEASE_BUFFERS frees it
    // after a write that took everything it was offered).
    if (read)
        read = base::guarded_mapped_read(src, static_cast<size_t>(avail), [&] {
            n = conn_write(c, src, static_cast<size_t>(avail));
            err = errno;
        });
    c->tls_more = false;
    if (!read) {
        m_.tls_mapped_faults.add();
        m_.sendfile_errors.add();
        if (!shrunk) {
            const base::MappedReadGuard& g = base::mapped_read_guard();
            fault_at = static_cast<uint64_t>(static_cast<const char*>(g.fault_addr) -
                                             static_cast<const char*>(f->map));
            struct stat st;
            shrunk = ::fstat(f->fd, &st) == 0 && static_cast<uint64_t>(st.st_size) <= fault_at;
            memory = g.fault_code == BUS_MCEERR_AR;
        }
        // A read error here cannot say which errno it was (a failing disk, or a passing error
        // of a FUSE or network file system), so the root is not failed on it: it is counted,
        // and the root's health check and the next read through the disk path decide.
        if (!shrunk && !memory) storage_.root(f->root).read_errors.fetch_add(1);
        uint64_t held;
        if (error_log_limit_.allow(now_ms_, &held))
            log::warn("worker {}: {}: byte {} could not be read from its mapping ({}); closing the "
                      "connection at offset {} ({} similar suppressed)",
                      index_, f->key, fault_at,
                      shrunk ? "the file shrank" : (memory ? "memory error" : "read error"), c->off,
                      held);
        return SendResult::kFailed;
    }
    if (n < 0) {
        if (err == EAGAIN) return SendResult::kBlocked; // retried with the same bytes
        m_.send_errors.add();
        return SendResult::kFailed;
    }
    count_body_sent(c, static_cast<uint64_t>(n));
    m_.tls_body_bytes_user.add(static_cast<uint64_t>(n));
    m_.tls_body_bytes_mapped.add(static_cast<uint64_t>(n));
    *budget -= std::min<uint64_t>(*budget, static_cast<uint64_t>(n));
    return SendResult::kDone;
}

void Worker::end_tls(Connection* c) {
    if (c->tls_buf) {
        free_tls_bufs_.push_back(c->tls_buf);
        c->tls_buf = nullptr;
    }
    c->tls_len = c->tls_off = 0;
    if (c->ssl) {
        // Without this OpenSSL drops the session from the server cache of TLS 1.2 session
        // IDs whenever a connection ends without close_notify (idle timeouts, clients that
        // just close), and resumption by session ID stops working.
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = nullptr;
    }
    c->tls_ctx.reset();
}

} // namespace vcdn::edge
