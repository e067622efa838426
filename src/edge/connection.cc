// The per-connection HTTP/1.1 state machine of an edge worker: read a request head, decide
// (response_plan.h), write the head and send the body with sendfile, then keep-alive,
// pipelining or close. Runs on the worker's thread only.
#include "control_client.h"
#include "worker.h"

#include <linux/tcp.h> // struct tcp_info with tcpi_delivery_rate (glibc's copy is older)
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/time.h>
#include <vcdn/edge/access_line.h>
#include <vcdn/edge/response_plan.h>
#include <vcdn/http/target.h>

namespace vcdn::edge {

namespace {

// What a signature is checked against before the worker has any keys: every key is unknown.
const auth::KeySet kNoKeys;

// "Bearer <token>" compared in constant time (the token is a secret).
bool bearer_matches(std::string_view authorization, std::string_view token) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() != kBearer.size() + token.size() ||
        authorization.substr(0, kBearer.size()) != kBearer)
        return false;
    return CRYPTO_memcmp(authorization.data() + kBearer.size(), token.data(), token.size()) == 0;
}

// Rounds of work for one connection per event before it yields to the others (a client
// pipelining many requests must not monopolise the worker).
constexpr int kMaxRounds = 16;
// Body bytes one connection may send per turn before yielding (fairness between fast
// readers on the same worker).
constexpr uint64_t kSendBudget = 4u << 20;
// Largest single sendfile() call.
constexpr size_t kMaxSendfileChunk = 2u << 20;
// Bytes read and thrown away while lingering before we give up and close.
constexpr size_t kMaxLingerBytes = 1u << 20;

uint16_t file_error_status(FileError e) {
    switch (e) {
    case FileError::kNotFound:
        return 404;
    case FileError::kForbidden:
        return 403;
    case FileError::kNoFiles:
    case FileError::kIo:
    case FileError::kLost:
        return 503;
    default:
        return 500;
    }
}

const char* file_error_reason(FileError e) {
    switch (e) {
    case FileError::kNotFound:
        return "no such file";
    case FileError::kForbidden:
        return "access to this path is forbidden";
    case FileError::kNoFiles:
        return "edge out of file descriptors";
    case FileError::kIo:
        return "storage error";
    case FileError::kLost:
        return "the file was on a failed disk";
    default:
        return "internal error opening the file";
    }
}

} // namespace

void Worker::on_conn_event(Connection* c, uint32_t events) {
    if (c->state == ConnState::kClosed) return;
    if (events & EPOLLERR) {
        m_.send_errors.add();
        close_conn(c);
        return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP)) c->rdhup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) c->readable = true;
    switch (c->state) {
    case ConnState::kOpening:
        // Its file is being opened; new bytes wait, a vanished client is noticed now.
        if (events & EPOLLHUP) {
            m_.send_errors.add();
            close_conn(c);
        }
        return;
    case ConnState::kLingering:
        linger_read(c);
        return;
    case ConnState::kSending:
        if (events & EPOLLHUP) { // both directions gone: nobody to send to
            m_.send_errors.add();
            close_conn(c);
            return;
        }
        if (!(events & EPOLLOUT)) return; // request bytes: read once this response is out
        break;
    default:
        break;
    }
    drive(c);
}

void Worker::drive(Connection* c) {
    for (int round = 0; round < kMaxRounds; ++round) {
        switch (c->state) {
        case ConnState::kSending: {
            SendResult r = send_some(c);
            if (r == SendResult::kBlocked && too_slow(c)) {
                close_conn(c); // the client's socket is full and it reads too slowly
                return;
            }
            if (r == SendResult::kBlocked || r == SendResult::kWaitDisk) {
                // Waiting for the client or for the disk: either way, no progress for
                // send_timeout_ms ends the connection.
                link_send_timer(c);
                return;
            }
            if (r != SendResult::kDone && r != SendResult::kYield && r != SendResult::kFailed) {
                close_conn(c); // kDiskError is handled inside send_some(); never seen here
                return;
            }
            if (r == SendResult::kYield) {
                timer_unlink(c);
                enqueue(c);
                return;
            }
            if (r == SendResult::kFailed) {
                close_conn(c);
                return;
            }
            finish_response(c);
            if (c->state == ConnState::kClosed || c->state == ConnState::kLingering) return;
            continue;
        }
        case ConnState::kIdle:
        case ConnState::kReading: {
            if (c->parse_pending) {
                c->parse_pending = false;
                http::ParseResult r =
                    http::parse_request(c->rbuf, c->rlen, limits_, &c->scan, &c->x->req);
                if (r.status == http::ParseStatus::kComplete) {
                    handle_request(c);
                    continue;
                }
                if (r.status == http::ParseStatus::kError) {
                    c->x->req.clear();
                    c->head_request = false;
                    c->start_ns = monotonic_ns();
                    respond_error(c, r.error_status, r.error_reason, true);
                    continue;
                }
            }
            if (!c->readable) {
                if (c->rlen == 0 && c->served == 0) {
                    // A new connection that has sent nothing yet: it gets the header timeout,
                    // not the (longer) keep-alive one, and holds no Exchange while it waits.
                    give_exchange(c);
                    if (c->tlist != TimerList::kHeader)
                        timer_link(c, TimerList::kHeader, cfg_->limits.header_timeout_ms);
                } else if (c->rlen == 0) {
                    give_exchange(c);
                    c->state = ConnState::kIdle;
                    if (c->tlist != TimerList::kIdle)
                        timer_link(c, TimerList::kIdle, cfg_->limits.idle_timeout_ms);
                } else if (c->tlist != TimerList::kHeader) {
                    timer_link(c, TimerList::kHeader, cfg_->limits.header_timeout_ms);
                }
                return;
            }
            if (!read_some(c)) return;
            continue;
        }
        case ConnState::kOpening:
            return; // the opener's completion drives it again
        case ConnState::kHandshake:
            if (!c->hs_started && handshakes_this_turn_ >= cfg_->tls.handshakes_per_turn) {
                // Enough handshakes this turn: let the running streams have the loop first.
                m_.tls_handshakes_deferred.add();
                enqueue(c);
                return;
            }
            if (c->tlist != TimerList::kHeader)
                timer_link(c, TimerList::kHeader, cfg_->limits.header_timeout_ms);
            if (!step_handshake(c)) return;
            if (c->state == ConnState::kHandshake) return; // waiting for the client
            continue;
        case ConnState::kLingering:
            linger_read(c);
            return;
        case ConnState::kClosed:
            return;
        }
    }
    enqueue(c);
}

bool Worker::read_some(Connection* c) {
    if (!c->x) take_exchange(c);
    const size_t cap = cfg_->limits.max_head_bytes;
    if (c->rlen >= cap) {
        // Full buffer: the parser reports 431 on it.
        c->parse_pending = true;
        return true;
    }
    const size_t space = cap - c->rlen;
    ssize_t n = conn_read(c, c->rbuf + c->rlen, space);
    if (n > 0) {
        if (c->rlen == 0) {
            c->state = ConnState::kReading;
            timer_link(c, TimerList::kHeader, cfg_->limits.header_timeout_ms);
        }
        c->rlen += static_cast<uint32_t>(n);
        c->parse_pending = true;
        // A short read drained the socket: with edge-triggered epoll the next arrival raises
        // a new event, so skip the recv() that would only return EAGAIN. Not after the peer
        // shut down: its FIN raised its event already, and we still have to read the 0.
        // (Not with TLS: OpenSSL may hold decrypted bytes the socket no longer signals.)
        if (static_cast<size_t>(n) < space && !c->rdhup && !c->ssl) c->readable = false;
        return true;
    }
    if (n == 0) {
        // The peer closed. A partial request can never complete: nothing to answer.
        close_conn(c);
        return false;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->readable = false;
        return true;
    }
    if (errno == EINTR) return true;
    close_conn(c);
    return false;
}

void Worker::handle_request(Connection* c) {
    // Keys posted by a reload apply to every request parsed after the post (one plain load;
    // the loop's own check can be a whole batch of events behind).
    if (mail_.load(std::memory_order_acquire)) take_mail();
    timer_unlink(c);
    const http::Request& req = c->x->req;
    c->start_ns = monotonic_ns();
    ++c->served;
    c->head_request = req.method == http::Method::kHead;
    c->keep_alive = req.version_minor >= 1 ? !req.connection_close : req.connection_keep_alive;
    if (c->served >= cfg_->limits.max_requests_per_connection || draining_) c->keep_alive = false;
    if (req.has_transfer_encoding || (req.has_content_length && req.content_length > 0)) {
        // A body we do not read: the framing of anything after it is unknown. Answer, then
        // close (lingering, so that the answer is not lost to a reset).
        c->keep_alive = false;
        c->linger_after = true;
    }

    Verdict v = check_request(req, cors_.enabled);
    if (v.status) {
        // A malformed request (400) may be followed by bytes we cannot frame: close.
        respond_error(c, v.status, v.reason, v.status == 400);
        return;
    }
    if (req.method == http::Method::kOptions) {
        // CORS preflight (or a plain OPTIONS): answered before the target, the signature or
        // any file is looked at, so it needs no token and says nothing about what exists.
        respond_options(c);
        return;
    }
    http::Target target;
    http::TargetError te =
        http::parse_target(req.target, path_buf_.get(), cfg_->limits.max_target_bytes, &target);
    if (te != http::TargetError::kNone) {
        respond_error(c, http::target_error_status(te), http::target_error_reason(te), false);
        return;
    }
    v = check_host(req, target.authority, cfg_->server_names);
    if (v.status) {
        respond_error(c, v.status, v.reason, false);
        return;
    }
    if (c->served == 1 && refuse_new_players_) {
        if (const uint8_t why = refuse_new_players_->load(std::memory_order_relaxed)) {
            // The Open Connect rule: an edge cut off from its control plane keeps serving the
            // players it has but takes no new ones (steering no longer knows about it).
            m_.refused_no_control.add();
            c->keep_alive = false;
            respond_error(c, 503, ControlClient::refusal_text(why), false);
            return;
        }
    }
    if (!cfg_->access_token.empty() && !bearer_matches(req.authorization, cfg_->access_token)) {
        c->keep_alive = false;
        respond_error(c, 401, "this server needs 'Authorization: Bearer <access token>'", false);
        return;
    }
    // A title token ("/vt=<token>/t/1/...") is the first segment: the file is what follows.
    // Stripped on every listener, so that one URL form works signed or not.
    std::string_view title_token;
    const bool titled = auth::split_title_token(target.path, &title_token, &target.path);
    if (titled && target.path.empty()) {
        respond_error(c, 404, "a title token names no file", false);
        return;
    }
    // Out of range cannot happen (the listeners are the config's); if it did, refuse.
    if (c->listener >= listener_signed_.size() || listener_signed_[c->listener]) {
        // Before the file is touched: an unsigned request costs no disk work.
        const auth::VerifyPolicy policy{cfg_->max_url_lifetime_s, cfg_->url_clock_skew_s};
        auto check = [&] {
            const auth::KeySet& keys = keys_ ? *keys_ : kNoKeys;
            return titled ? auth::verify_title(title_token, target.path, keys, date_second_,
                                               c->peer_ip, policy)
                          : auth::verify(target.raw_path, target.query, keys, date_second_,
                                         c->peer_ip, policy);
        };
        auth::SigCheck sc = check();
        if (sc == auth::SigCheck::kUnknownKey && control_keys_pending_) {
            // Before the control plane's first keys (an edge that has just started, or has not
            // reached it yet) a key it does not know may well be one of them: "not yet", not
            // "forbidden", so that a peer filling from it waits instead of going to the origin.
            // The flag is read before the mailbox: keys published before it dropped are seen.
            const bool pending = control_keys_pending_->load(std::memory_order_acquire);
            if (take_posted_keys()) sc = check();
            if (sc == auth::SigCheck::kUnknownKey && pending) {
                m_.refused_no_control.add();
                c->keep_alive = false;
                respond_error(c, 503, "no signing keys from the control plane yet", false);
                return;
            }
        }
        if (sc != auth::SigCheck::kOk) {
            m_.signed_url_refusals[static_cast<size_t>(sc)].add();
            respond_error(
                c, 403, titled ? auth::title_check_reason(sc) : auth::sig_check_reason(sc), false);
            return;
        }
    }

    if (async_disk_) {
        // No file system access on this thread: a cached descriptor, or an open in a helper.
        bool stale = false;
        FileEntry* f = files_.find(target.path, now_ms_, &stale);
        m_.file_cache_entries.set(files_.size());
        if (!f) {
            m_.file_cache_misses.add();
            start_open(c, target.path, 0);
            return;
        }
        m_.file_cache_hits.add();
        if (stale) start_revalidation(f); // serve the cached file meanwhile
        serve_file(c, f);
        return;
    }
    FileError fe = FileError::kNone;
    const uint64_t misses_before = files_.stats().misses;
    FileEntry* f = files_.lookup(target.path, now_ms_, &fe);
    if (files_.stats().misses != misses_before)
        m_.file_cache_misses.add();
    else
        m_.file_cache_hits.add();
    m_.file_cache_entries.set(files_.size());
    if (!f) {
        respond_file_error(c, fe, target.path);
        return;
    }
    serve_file(c, f);
}

void Worker::respond_file_error(Connection* c, FileError fe, std::string_view path) {
    if (fe == FileError::kLost) m_.lost_file_requests.add();
    if (fe == FileError::kIo || fe == FileError::kOther || fe == FileError::kNoFiles) {
        uint64_t held;
        if (error_log_limit_.allow(now_ms_, &held))
            log::error("worker {}: open {}: {} ({} similar suppressed)", index_, path,
                       file_error_reason(fe), held);
    }
    respond_error(c, file_error_status(fe), file_error_reason(fe), false);
}

// The request is valid and its file open (one reference held, passed to the connection or
// released here): preconditions, range, head, and the body plan.
void Worker::serve_file(Connection* c, FileEntry* f) {
    const http::Request& req = c->x->req;
    FileMeta meta{f->size, f->mtime, f->etag_view(), f->last_modified_view(), f->content_type};
    Plan p = plan_file_response(req, meta);
    // The residency memory's line loads while the head is written (ensure_resident reads it).
    if (memory_ && async_disk_ && p.send_file_body) memory_->prefetch(f->identity, p.offset);
    if (p.status == 412 || p.status == 416) {
        respond_error(c, p.status, p.reason, false, &meta);
        files_.release(f);
        return;
    }
    HeadContext ctx{std::string_view(date_, http::kHttpDateLen), c->keep_alive,
                    req.version_minor == 0,
                    f->manifest ? cfg_->manifest_cache_control : cfg_->cache_control, cors_for(c)};
    c->head_len =
        static_cast<uint32_t>(write_file_head(c->x->head, Connection::kHeadCap, p, meta, ctx));
    if (c->head_len == 0) {
        files_.release(f);
        respond_error(c, 500, "response head too large", true);
        return;
    }
    c->head_sent = 0;
    c->ready_until = 0;
    c->disk_err = 0;
    c->status = p.status;
    c->reason = nullptr;
    c->resp_bytes = 0;
    c->body_bytes = 0;
    c->blocked_at_bytes = ~0ull;
    c->range_first = p.offset;
    if (p.send_file_body) {
        // Stream detection for read-ahead: the same file as this connection's last response,
        // starting where that one ended.
        const bool same = c->ra_dev == f->dev && c->ra_ino == f->ino;
        c->sequential = same && p.offset == c->next_off;
        if (!same) {
            c->ra_dev = f->dev;
            c->ra_ino = f->ino;
            c->ra_until = 0;
            c->stream_cold = false;
        }
        c->next_off = p.offset + p.length;
        c->file = f;
        c->off = p.offset;
        c->end = p.offset + p.length;
    } else {
        files_.release(f);
        c->file = nullptr;
        c->off = c->end = 0;
    }
    c->state = ConnState::kSending;
}

void Worker::respond_options(Connection* c) {
    timer_unlink(c);
    if (draining_) c->keep_alive = false;
    HeadContext ctx{std::string_view(date_, http::kHttpDateLen), c->keep_alive,
                    c->x->req.version_minor == 0, cfg_->cache_control, cors_for(c)};
    c->head_len = static_cast<uint32_t>(
        write_options_response(c->x->head, Connection::kHeadCap, ctx, cors_.preflight_lines));
    if (c->head_len == 0) { // bounded by validate_cors; kept as the same safe answer
        respond_error(c, 500, "response head too large", true);
        return;
    }
    send_bodiless(c, 204, nullptr);
}

void Worker::respond_error(Connection* c, uint16_t status, const char* reason, bool close,
                           const FileMeta* file) {
    timer_unlink(c);
    if (!c->x) take_exchange(c); // every caller answers a request, which holds one already
    if (close) {
        c->keep_alive = false;
        c->linger_after = true;
    }
    if (draining_) c->keep_alive = false;
    HeadContext ctx{std::string_view(date_, http::kHttpDateLen), c->keep_alive,
                    c->x->req.version_minor == 0 && c->x->req.head_bytes > 0, cfg_->cache_control,
                    cors_for(c)};
    c->head_len = static_cast<uint32_t>(write_error_response(
        c->x->head, Connection::kHeadCap, status, reason, ctx, c->head_request, file));
    send_bodiless(c, status, reason);
}

// The head in c->x->head is the whole response (no file body): start sending it.
void Worker::send_bodiless(Connection* c, uint16_t status, const char* reason) {
    c->head_sent = 0;
    if (c->file) {
        files_.release(c->file);
        c->file = nullptr;
    }
    c->off = c->end = 0;
    c->ready_until = 0;
    c->status = status;
    c->reason = reason;
    c->resp_bytes = 0;
    c->body_bytes = 0;
    c->blocked_at_bytes = ~0ull;
    c->range_first = 0;
    c->state = ConnState::kSending;
}

Worker::SendResult Worker::send_some(Connection* c) {
    uint64_t budget = kSendBudget;
    for (;;) {
        if (c->file && c->off < c->end) {
            // Never let sendfile() block this loop on a disk read (disk.cc).
            SendResult d = ensure_resident(c);
            if (d == SendResult::kWaitDisk) return d;
            if (d == SendResult::kDiskError) {
                c->disk_err = 0;
                if (c->head_sent == 0) {
                    respond_error(c, 503, "storage error", false);
                    continue;
                }
                m_.sendfile_errors.add();
                return SendResult::kFailed;
            }
        }
        if (c->head_sent < c->head_len) {
            // The head goes out on its own by default: on loopback and LANs a head queued with
            // MSG_MORE measured slower (bench/RESULTS.md). TCP_NODELAY is set on the listener
            // and inherited, so neither the head nor the body's tail waits for an ACK.
            int flags = MSG_NOSIGNAL | MSG_DONTWAIT;
            if (cfg_->header_more && c->file && c->off < c->end) flags |= MSG_MORE;
            ssize_t n;
            if (c->ssl) {
                // Over TLS the head's record waits (MSG_MORE) for the body's first one.
                c->tls_more = c->file && c->off < c->end;
                n = conn_write(c, c->x->head + c->head_sent, c->head_len - c->head_sent);
                c->tls_more = false;
            } else {
                n = ::send(c->fd, c->x->head + c->head_sent, c->head_len - c->head_sent, flags);
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return SendResult::kBlocked;
                if (errno == EINTR) continue;
                m_.send_errors.add();
                return SendResult::kFailed;
            }
            c->head_sent += static_cast<uint32_t>(n);
            c->resp_bytes += static_cast<uint64_t>(n);
            m_.bytes_sent.add(static_cast<uint64_t>(n));
            continue;
        }
        if (c->file && c->off < c->end) {
            uint64_t limit = std::min<uint64_t>(c->end - c->off, kMaxSendfileChunk);
            if (async_disk_) limit = std::min(limit, c->ready_until - c->off); // checked bytes only
            if (c->ssl) {
                SendResult r = send_tls_body(c, limit, &budget);
                if (r != SendResult::kDone) return r;
                if (budget == 0 && c->off < c->end) return SendResult::kYield;
                continue;
            }
            size_t want = static_cast<size_t>(limit);
            off_t o = static_cast<off_t>(c->off);
            ssize_t n = ::sendfile(c->fd, c->file->fd, &o, want);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return SendResult::kBlocked;
                if (errno == EINTR) continue;
                if (errno == EPIPE || errno == ECONNRESET) {
                    m_.send_errors.add();
                    return SendResult::kFailed;
                }
                const int err = errno;
                m_.sendfile_errors.add();
                if (io::Storage::is_disk_error(err)) {
                    io::Root& root = storage_.root(c->file->root);
                    root.read_errors.fetch_add(1);
                    root.fail(fmt::format("sendfile {}: {}", c->file->key, strerror(err)));
                }
                uint64_t held;
                if (error_log_limit_.allow(now_ms_, &held))
                    log::error("worker {}: sendfile {}: {} ({} similar suppressed)", index_,
                               c->file->key, strerror(err), held);
                return SendResult::kFailed;
            }
            if (n == 0) {
                // The file is shorter than when we opened it: the promised Content-Length
                // cannot be met. Closing is the only honest signal left to the client.
                m_.sendfile_errors.add();
                uint64_t held;
                if (error_log_limit_.allow(now_ms_, &held))
                    log::error("worker {}: {} shrank while being sent ({} similar suppressed)",
                               index_, c->file->key, held);
                return SendResult::kFailed;
            }
            count_body_sent(c, static_cast<uint64_t>(n));
            if (static_cast<uint64_t>(n) >= budget) {
                if (c->off < c->end) return SendResult::kYield;
            } else {
                budget -= static_cast<uint64_t>(n);
            }
            continue;
        }
        return SendResult::kDone;
    }
}

void Worker::finish_response(Connection* c) {
    const int64_t end_ns = monotonic_ns();
    m_.responses_by_status[status_slot(c->status)].add();
    if (c->start_ns > 0)
        m_.request_duration.observe_us(static_cast<uint64_t>((end_ns - c->start_ns) / 1000));
    if (access_log_ && access_log_->enabled()) write_access_log(c, end_ns);
    if (c->ssl && c->body_bytes > 0)
        (c->ktls ? m_.tls_responses_ktls : m_.tls_responses_user).add();
    if (c->tls_buf) {
        free_tls_bufs_.push_back(c->tls_buf);
        c->tls_buf = nullptr;
        c->tls_len = c->tls_off = 0;
    }
    if (c->file) {
        count_served(c);
        files_.release(c->file);
        c->file = nullptr;
    }
    if (!c->keep_alive) {
        begin_close(c);
        return;
    }
    const uint32_t used = static_cast<uint32_t>(c->x->req.head_bytes);
    if (used > 0 && used <= c->rlen) {
        std::memmove(c->rbuf, c->rbuf + used, c->rlen - used);
        c->rlen -= used;
    }
    c->scan.reset();
    c->start_ns = 0;
    c->blocked_at_bytes = ~0ull; // the next response's send timer starts afresh
    c->status = 0;
    c->x->req.head_bytes = 0;
    if (c->rlen > 0) {
        // Pipelined: the next request is (partly) here already.
        m_.pipelined_requests.add();
        c->state = ConnState::kReading;
        c->parse_pending = true;
        timer_link(c, TimerList::kHeader, cfg_->limits.header_timeout_ms);
    } else {
        give_exchange(c);
        c->state = ConnState::kIdle;
        // Draining, after a response that went out promising keep-alive (the drain began
        // while it was under way): the client may be sending its next request now. It gets
        // the drain's short while, as idle connections do; that request's response says
        // Connection: close.
        timer_link(c, TimerList::kIdle,
                   draining_ ? std::min(kDrainIdleMs, cfg_->limits.idle_timeout_ms)
                             : cfg_->limits.idle_timeout_ms);
    }
}

void Worker::begin_close(Connection* c) {
    bool unread = c->linger_after || (c->x && c->rlen > c->x->req.head_bytes);
    if (!unread && c->readable) {
        if (!c->ssl) {
            unread = true;
        } else {
            // A TLS connection stays "readable" after a complete request (OpenSSL may hold more
            // records), so ask the socket itself whether the client sent anything further.
            char b;
            unread =
                SSL_has_pending(c->ssl) == 1 || ::recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
        }
    }
    if (!unread || cfg_->limits.linger_ms == 0) {
        close_conn(c);
        return;
    }
    // Lingering close (as nginx does): shut our side, then read and drop what the client
    // still sends for a moment. Closing with unread bytes would send a RST, which can destroy
    // the response still in flight to the client. TLS says goodbye first (close_notify).
    if (c->ssl) SSL_shutdown(c->ssl);
    ::shutdown(c->fd, SHUT_WR);
    give_exchange(c);
    c->rlen = 0;
    c->state = ConnState::kLingering;
    c->readable = true;
    timer_link(c, TimerList::kLinger, cfg_->limits.linger_ms);
    linger_read(c);
}

void Worker::linger_read(Connection* c) {
    size_t total = 0;
    for (;;) {
        ssize_t n = ::recv(c->fd, scratch_, sizeof scratch_, 0);
        if (n > 0) {
            total += static_cast<size_t>(n);
            if (total > kMaxLingerBytes) break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->readable = false;
            return; // wait for more or for the linger timer
        }
        if (n < 0 && errno == EINTR) continue;
        break; // EOF or error
    }
    close_conn(c);
}

void Worker::write_access_log(Connection* c, int64_t end_ns) {
    const int64_t duration_us = c->start_ns > 0 ? (end_ns - c->start_ns) / 1000 : 0;
    // TCP_INFO is a system call (~1.5% of a hot 100 KiB range's CPU): read where the TCP state
    // says something (a new connection, a failure, a slow response, one after which the edge
    // closes) and otherwise at most once per access_log_tcp_info_ms per connection. A line
    // without it has no TCP fields rather than stale ones.
    constexpr int64_t kSlowUs = 100000;
    const uint32_t every = cfg_->access_log_tcp_info_ms;
    const uint32_t now32 = static_cast<uint32_t>(now_ms_) | 1; // 0: never read
    const bool want_tcp = every == 0 || c->served <= 1 || c->status >= 400 || !c->keep_alive ||
                          duration_us >= kSlowUs || c->tcpi_ms == 0 || now32 - c->tcpi_ms >= every;
    tcp_info ti;
    if (want_tcp) {
        socklen_t tlen = sizeof ti;
        if (::getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) != 0)
            std::memset(&ti, 0, sizeof ti);
        c->tcpi_ms = now32;
    }
    if (c->cc_len < 0) {
        socklen_t cl = sizeof c->cc;
        if (::getsockopt(c->fd, IPPROTO_TCP, TCP_CONGESTION, c->cc, &cl) == 0)
            c->cc_len = static_cast<int8_t>(strnlen(c->cc, cl));
        else
            c->cc_len = 0;
    }
    // The wall time of the response's end: its monotonic time plus the wall clock's offset,
    // read again once a second (a clock step shows within a second; a clock call per line is
    // saved).
    if (wall_offset_at_ns_ == 0 || end_ns - wall_offset_at_ns_ >= 1000000000) {
        timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        wall_offset_at_ns_ = monotonic_ns();
        wall_offset_ns_ = rt.tv_sec * int64_t{1000000000} + rt.tv_nsec - wall_offset_at_ns_;
    }
    const int64_t wall_ns = end_ns + wall_offset_ns_;
    const int64_t wall_s = wall_ns >= 0 ? wall_ns / 1000000000 : 0;
    if (wall_s != log_second_) {
        log_second_ = wall_s;
        format_iso_second(wall_s, log_time_);
    }
    AccessRecord r;
    r.time_second = std::string_view(log_time_, sizeof log_time_);
    r.millis = static_cast<uint32_t>(wall_ns >= 0 ? wall_ns / 1000000 % 1000 : 0);
    r.worker = static_cast<uint32_t>(index_);
    r.conn = c->id & 0xffffffffffffULL;
    r.req = c->served;
    r.client = std::string_view(c->peer, c->peer_len);
    r.method = c->x->req.method_text;
    r.path = c->x->req.target;
    r.range = c->x->req.range;
    r.cc = std::string_view(c->cc, c->cc_len > 0 ? static_cast<size_t>(c->cc_len) : 0);
    r.status = c->status;
    r.bytes = c->resp_bytes;
    r.body_bytes = c->body_bytes;
    r.duration_us = duration_us;
    r.tcp = want_tcp;
    if (want_tcp) {
        r.rtt_us = ti.tcpi_rtt;
        r.rttvar_us = ti.tcpi_rttvar;
        r.retrans = ti.tcpi_total_retrans;
        r.delivery_rate = ti.tcpi_delivery_rate;
        r.cwnd = ti.tcpi_snd_cwnd;
    }
    if (c->reason) r.reason = c->reason;
    if (c->ssl) {
        r.tls_version = SSL_get_version(c->ssl);
        const char* cipher = SSL_get_cipher_name(c->ssl);
        r.tls_cipher = cipher ? cipher : "";
        r.tls_path = c->ktls ? "ktls" : "userspace";
        r.tls_resumed = c->resumed;
    }
    static_assert(sizeof scratch_ >= kMaxAccessLine);
    size_t n = format_access_line(r, scratch_, sizeof scratch_);
    if (!access_log_->push(index_, scratch_, n)) m_.access_log_dropped.add();
}

} // namespace vcdn::edge
