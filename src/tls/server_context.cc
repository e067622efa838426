#include <vcdn/tls/server_context.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/strings.h>

namespace vcdn::tls {

namespace {

// AEAD only, forward secret only. AES-GCM first; SSL_OP_PRIORITIZE_CHACHA moves CHACHA20 to
// the front for a client that lists it first (clients without AES instructions do).
constexpr const char* kCiphers12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kCiphers13 =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
const unsigned char kSessionContext[] = "vcdn-edge";

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    // Only HTTP/1.1 is spoken; a client that offers only h2 gets no ALPN and may fall back.
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) ==
            OPENSSL_NPN_NEGOTIATED &&
        *outlen == 8 && std::memcmp(selected, "http/1.1", 8) == 0) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

int ticket_cb(SSL* ssl, unsigned char name[16], unsigned char iv[16], EVP_CIPHER_CTX* cipher,
              EVP_MAC_CTX* mac, int enc) {
    auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (!keys) return -1;
    int r = keys->callback(name, iv, cipher, mac, enc);
    // TLS 1.3 clients use a ticket once (RFC 8446, C.4), so a resumed TLS 1.3 session gets a
    // fresh ticket or the client's next connection is a full handshake. (TLS 1.2 clients reuse
    // theirs: renewed only when it was sealed under the previous key.)
    if (r == 1 && !enc && SSL_version(ssl) == TLS1_3_VERSION) r = 2;
    return r;
}

// The batching socket BIO (see ServerContext::new_ssl). OpenSSL's socket BIO write()s each
// record as it is sealed; on the user-space path a 100 KiB range is seven records, and seven
// separate TCP pushes cost the sender and the receiver a wake-up each. This one is the socket
// BIO plus MSG_MORE while the connection says more records follow at once.
struct BatchingBio {
    int fd;
    const bool* more;
    bool eof = false;
};

int batching_write(BIO* b, const char* buf, int len) {
    auto* s = static_cast<BatchingBio*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    const int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (*s->more ? MSG_MORE : 0);
    const ssize_t n = ::send(s->fd, buf, static_cast<size_t>(len), flags);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
    return -1;
}

int batching_read(BIO* b, char* buf, int len) {
    auto* s = static_cast<BatchingBio*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    const ssize_t n = ::recv(s->fd, buf, static_cast<size_t>(len), MSG_DONTWAIT);
    if (n > 0) return static_cast<int>(n);
    if (n == 0) {
        s->eof = true;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_read(b);
    return -1;
}

int batching_puts(BIO* b, const char* str) {
    return batching_write(b, str, static_cast<int>(std::strlen(str)));
}

long batching_ctrl(BIO* b, int cmd, long, void* ptr) {
    auto* s = static_cast<BatchingBio*>(BIO_get_data(b));
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return s->eof ? 1 : 0;
    case BIO_C_GET_FD:
        if (ptr) *static_cast<int*>(ptr) = s->fd;
        return s->fd;
    default:
        return 0; // no kTLS, no pending bytes of our own, nothing else to report
    }
}

int batching_destroy(BIO* b) {
    delete static_cast<BatchingBio*>(BIO_get_data(b));
    BIO_set_data(b, nullptr);
    return 1;
}

BIO_METHOD* batching_method() {
    static BIO_METHOD* m = [] {
        BIO_METHOD* bm =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                         "vcdn batching socket");
        BIO_meth_set_write(bm, batching_write);
        BIO_meth_set_read(bm, batching_read);
        BIO_meth_set_puts(bm, batching_puts);
        BIO_meth_set_ctrl(bm, batching_ctrl);
        BIO_meth_set_destroy(bm, batching_destroy);
        return bm;
    }();
    return m;
}

BIO* new_batching_bio(int fd, const bool* more) {
    BIO* b = BIO_new(batching_method());
    if (!b) return nullptr;
    BIO_set_data(b, new BatchingBio{fd, more});
    BIO_set_init(b, 1);
    return b;
}

std::vector<std::string> certificate_names(SSL_CTX* ctx) {
    std::vector<std::string> names;
    X509* x = SSL_CTX_get0_certificate(ctx);
    if (!x) return names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS) continue;
            const unsigned char* data = ASN1_STRING_get0_data(g->d.dNSName);
            names.emplace_back(reinterpret_cast<const char*>(data),
                               static_cast<size_t>(ASN1_STRING_length(g->d.dNSName)));
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        char cn[256] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
        if (cn[0]) names.emplace_back(cn);
    }
    return names;
}

bool name_matches(std::string_view pattern, std::string_view host) {
    if (iequals(pattern, host)) return true;
    // "*.example.com" matches exactly one more label.
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
        size_t dot = host.find('.');
        return dot != std::string_view::npos && dot > 0 &&
               iequals(host.substr(dot), pattern.substr(1));
    }
    return false;
}

} // namespace

std::string openssl_errors() {
    std::string out;
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

TicketKeys::Key TicketKeys::fresh() {
    Key k;
    RAND_bytes(k.name, sizeof k.name);
    RAND_bytes(k.aes, sizeof k.aes);
    RAND_bytes(k.hmac, sizeof k.hmac);
    return k;
}

TicketKeys::TicketKeys()
    : current_(fresh()), previous_{}, aes_cbc_(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr)) {}

TicketKeys::~TicketKeys() {
    EVP_CIPHER_free(aes_cbc_);
}

void TicketKeys::rotate() {
    std::lock_guard<std::mutex> lk(mu_);
    previous_ = current_;
    have_previous_ = true;
    current_ = fresh();
    ++rotations_;
}

uint64_t TicketKeys::rotations() const {
    std::lock_guard<std::mutex> lk(mu_);
    return rotations_;
}

int TicketKeys::callback(unsigned char name[16], unsigned char iv[16], EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int encrypt) {
    Key k;
    int ret = 1;
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (encrypt) {
            k = current_;
        } else if (std::memcmp(name, current_.name, 16) == 0) {
            k = current_;
        } else if (have_previous_ && std::memcmp(name, previous_.name, 16) == 0) {
            k = previous_;
            ret = 2; // valid, but issue a new ticket under the current key
        } else {
            return 0; // unknown key: full handshake
        }
    }
    if (encrypt) {
        std::memcpy(name, k.name, 16);
        if (RAND_bytes(iv, 16) != 1) return -1;
    }
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
        OSSL_PARAM_construct_end()};
    static char kDigest[] = "SHA256";
    OSSL_PARAM digest[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, kDigest, 0),
                            OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, digest) != 1 || EVP_MAC_CTX_set_params(mac, params) != 1)
        return -1;
    const EVP_CIPHER* aes = aes_cbc_ ? aes_cbc_ : EVP_aes_256_cbc();
    const int ok = encrypt ? EVP_EncryptInit_ex(cipher, aes, nullptr, k.aes, iv)
                           : EVP_DecryptInit_ex(cipher, aes, nullptr, k.aes, iv);
    OPENSSL_cleanse(&k, sizeof k);
    return ok == 1 ? ret : -1;
}

Result<std::shared_ptr<ServerContext>> ServerContext::build(const ServerOptions& opt,
                                                            std::shared_ptr<TicketKeys> keys) {
    if (opt.certs.empty()) return Error{"TLS: no certificate"};
    std::shared_ptr<ServerContext> sc(new ServerContext());
    sc->keys_ = std::move(keys);
    sc->ktls_ = opt.ktls;
    sc->batch_writes_ = !(opt.ktls && kernel_has_ktls());
    for (const CertFiles& f : opt.certs) {
        ERR_clear_error();
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx) return Error{"TLS: " + openssl_errors()};
        Cert c;
        c.ctx = ctx;
        sc->certs_.push_back(c); // freed by the destructor from here on
        if (SSL_CTX_use_certificate_chain_file(ctx, f.cert.c_str()) != 1)
            return Error{fmt::format("TLS certificate {}: {}", f.cert, openssl_errors())};
        if (SSL_CTX_use_PrivateKey_file(ctx, f.key.c_str(), SSL_FILETYPE_PEM) != 1)
            return Error{fmt::format("TLS key {}: {}", f.key, openssl_errors())};
        if (SSL_CTX_check_private_key(ctx) != 1)
            return Error{fmt::format("TLS key {} does not match certificate {}", f.key, f.cert)};
        SSL_CTX_set_min_proto_version(ctx, opt.min_version == "TLSv1.3" ? TLS1_3_VERSION
                                                                        : TLS1_2_VERSION);
        if (SSL_CTX_set_cipher_list(ctx, kCiphers12) != 1 ||
            SSL_CTX_set_ciphersuites(ctx, kCiphers13) != 1)
            return Error{"TLS ciphers: " + openssl_errors()};
        uint64_t options = SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                           SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
        if (opt.ktls) options |= SSL_OP_ENABLE_KTLS;
        SSL_CTX_set_options(ctx, options);
        // Partial writes and moving buffers suit a non-blocking loop; RELEASE_BUFFERS frees
        // the ~34 KiB of record buffers of idle keep-alive connections.
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
        // Read what the socket has (up to a record buffer) in one recv, not each record's
        // header and body in two: a handshake flight or a request is then one system call.
        SSL_CTX_set_read_ahead(ctx, 1);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, nullptr);
        SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, 20000);
        SSL_CTX_set_app_data(ctx, sc->keys_.get());
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
        SSL_CTX_set_num_tickets(ctx, 1);
        sc->certs_.back().names = certificate_names(ctx);
    }
    SSL_CTX_set_tlsext_servername_callback(sc->certs_.front().ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(sc->certs_.front().ctx, sc.get());
    return sc;
}

ServerContext::~ServerContext() {
    for (Cert& c : certs_)
        SSL_CTX_free(c.ctx);
}

const ServerContext::Cert* ServerContext::select(const char* servername) const {
    if (!servername) return nullptr;
    for (const Cert& c : certs_)
        for (const std::string& n : c.names)
            if (name_matches(n, servername)) return &c;
    return nullptr;
}

int ServerContext::on_servername(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<ServerContext*>(arg);
    const Cert* c = self->select(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
    // An unknown or missing name gets the default certificate (the client decides).
    if (c && c->ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, c->ctx);
    return SSL_TLSEXT_ERR_OK;
}

SSL* ServerContext::new_ssl(int fd, const bool* more) const {
    SSL* ssl = SSL_new(certs_.front().ctx);
    if (!ssl) return nullptr;
    if (batch_writes_ && more) {
        BIO* b = new_batching_bio(fd, more);
        if (!b) {
            SSL_free(ssl);
            return nullptr;
        }
        SSL_set_bio(ssl, b, b); // one BIO for both directions: the SSL owns it
    } else if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

std::string ServerContext::describe() const {
    std::string out;
    for (const Cert& c : certs_) {
        if (!out.empty()) out += "; ";
        for (size_t i = 0; i < c.names.size(); ++i)
            out += (i ? ", " : "") + c.names[i];
    }
    return out;
}

bool ServerContext::kernel_has_ktls() {
    // The tls ULP only attaches to an established TCP socket, and asking for it loads the
    // module where the kernel has one: try it once on a loopback connection.
    static const bool has = [] {
        int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int a = -1;
        bool ok = false;
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof sa;
        if (l >= 0 && c >= 0 && ::bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
            ::listen(l, 1) == 0 && ::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &sl) == 0 &&
            ::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
            a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
            ok = ::setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") == 0;
        }
        for (int fd : {a, c, l})
            if (fd >= 0) ::close(fd);
        return ok;
    }();
    return has;
}

bool ktls_send_active(SSL* ssl) {
    BIO* w = SSL_get_wbio(ssl);
    return w && BIO_get_ktls_send(w);
}

} // namespace vcdn::tls
