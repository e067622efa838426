#include "tls_client.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "process.h"

namespace vcdn::test {

TlsConn::~TlsConn() {
    if (!ssl_) return;
    // A session whose connection was not shut down cleanly is marked not resumable.
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
}

namespace {
// One client context for every test connection: a session may only be used with the context
// it came from, and everything a test varies can be set per connection.
SSL_CTX* client_ctx() {
    static SSL_CTX* ctx = [] {
        SSL_CTX* c = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr); // self-signed test certificates
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        return c;
    }();
    return ctx;
}
} // namespace

std::unique_ptr<TlsConn> TlsConn::open(uint16_t port, const TlsOptions& opt, std::string* error) {
    std::unique_ptr<TlsConn> c(new TlsConn());
    c->fd_ = connect_to(port, "127.0.0.1", 10000, "", opt.rcvbuf);
    if (!c->fd_) {
        *error = "connect failed";
        return nullptr;
    }
    c->ssl_ = SSL_new(client_ctx());
    if (opt.min_version) SSL_set_min_proto_version(c->ssl_, opt.min_version);
    if (opt.max_version) SSL_set_max_proto_version(c->ssl_, opt.max_version);
    if (!opt.ciphers12.empty() && SSL_set_cipher_list(c->ssl_, opt.ciphers12.c_str()) != 1) {
        *error = "bad cipher list";
        return nullptr;
    }
    if (!opt.ciphers13.empty()) SSL_set_ciphersuites(c->ssl_, opt.ciphers13.c_str());
    SSL_set_fd(c->ssl_, c->fd_.get());
    if (!opt.servername.empty()) SSL_set_tlsext_host_name(c->ssl_, opt.servername.c_str());
    if (!opt.alpn.empty()) {
        std::string wire(1, static_cast<char>(opt.alpn.size()));
        wire += opt.alpn;
        SSL_set_alpn_protos(c->ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    }
    if (opt.session) SSL_set_session(c->ssl_, opt.session);
    if (SSL_connect(c->ssl_) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        *error = std::string("handshake failed: ") + buf;
        return nullptr;
    }
    return c;
}

bool TlsConn::send_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        int n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

bool TlsConn::fill(int timeout_ms) {
    if (SSL_pending(ssl_) == 0) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;
    }
    char tmp[65536];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
}

RawResponse TlsConn::read_response(bool head_request, int timeout_ms) {
    RawResponse r;
    std::string err;
    for (;;) {
        auto pr = http::parse_response_head(buf_, &r.head, &err);
        if (pr == http::ResponseParse::kError) {
            r.error = err;
            return r;
        }
        if (pr == http::ResponseParse::kComplete) break;
        if (!fill(timeout_ms)) {
            r.error = "no response";
            return r;
        }
    }
    r.head_text = buf_.substr(0, r.head.head_bytes);
    buf_.erase(0, r.head.head_bytes);
    if (!head_request && r.head.status != 304) {
        while (buf_.size() < r.head.content_length) {
            if (!fill(timeout_ms)) {
                r.error = "body cut short at " + std::to_string(buf_.size());
                return r;
            }
        }
        r.body = buf_.substr(0, r.head.content_length);
        buf_.erase(0, r.head.content_length);
    }
    r.ok = true;
    return r;
}

std::string TlsConn::version() const {
    return SSL_get_version(ssl_);
}
std::string TlsConn::cipher() const {
    return SSL_get_cipher_name(ssl_);
}

std::string TlsConn::alpn() const {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return std::string(reinterpret_cast<const char*>(p), len);
}

std::string TlsConn::peer_common_name() const {
    X509* x = SSL_get1_peer_certificate(ssl_);
    if (!x) return "";
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    X509_free(x);
    return cn;
}

bool TlsConn::resumed() const {
    return SSL_session_reused(ssl_) == 1;
}

SSL_SESSION* TlsConn::take_session() {
    // TLS 1.3 tickets arrive after the handshake: read once so that OpenSSL sees them.
    if (SSL_version(ssl_) == TLS1_3_VERSION) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 500) > 0) {
            // Non-blocking for one peek: it processes the ticket records and stops at WANT_READ.
            const int flags = ::fcntl(fd_.get(), F_GETFL);
            ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
            char tmp[1];
            SSL_peek(ssl_, tmp, 1);
            ERR_clear_error();
            ::fcntl(fd_.get(), F_SETFL, flags);
        }
    }
    return SSL_get1_session(ssl_);
}

bool make_certificate(const std::string& cert, const std::string& key,
                      const std::vector<std::string>& names, const std::string& type) {
    std::string san = "subjectAltName=";
    for (size_t i = 0; i < names.size(); ++i)
        san += (i ? ",DNS:" : "DNS:") + names[i];
    std::vector<std::string> argv = {"openssl", "req", "-x509",   "-nodes",
                                     "-days",   "30",  "-keyout", key,
                                     "-out",    cert,  "-subj",   "/CN=" + names.front(),
                                     "-addext", san};
    if (type == "rsa")
        argv.insert(argv.end(), {"-newkey", "rsa:2048"});
    else
        argv.insert(argv.end(), {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"});
    return run_command(argv, 60000).status == 0;
}

} // namespace vcdn::test
