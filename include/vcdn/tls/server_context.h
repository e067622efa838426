#pragma once
// The edge's TLS configuration as OpenSSL objects: one SSL_CTX per certificate (the first is
// the default, the others are chosen by SNI), TLS 1.2 and 1.3 with AEAD ciphers only (AES-GCM
// first, CHACHA20-POLY1305 first for clients that prefer it, i.e. that lack AES hardware),
// ALPN http/1.1, session resumption by tickets under rotating keys, and kernel TLS when the
// kernel has it.
//
// Thread safety: a ServerContext is immutable once built and shared by all workers, which
// create SSL objects from it (OpenSSL allows that concurrently). A reload builds a new one;
// connections keep a reference to the one they started with. TicketKeys is shared by every
// context and rotated by the server; its callbacks run during handshakes on any worker.
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::tls {

struct CertFiles {
    std::string cert; // PEM chain
    std::string key;  // PEM private key
};

struct ServerOptions {
    std::vector<CertFiles> certs; // [0] is the default
    std::string min_version = "TLSv1.2";
    bool ktls = true;
};

// Keys that encrypt session tickets. The current key encrypts new tickets; the previous one
// still decrypts (and those tickets are renewed), so rotation does not force full handshakes.
class TicketKeys {
public:
    TicketKeys();
    ~TicketKeys();
    TicketKeys(const TicketKeys&) = delete;
    TicketKeys& operator=(const TicketKeys&) = delete;
    void rotate();
    uint64_t rotations() const;
    // The OpenSSL ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb semantics).
    int callback(unsigned char name[16], unsigned char iv[16], EVP_CIPHER_CTX* cipher,
                 EVP_MAC_CTX* mac, int encrypt);

private:
    struct Key {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
    };
    static Key fresh();
    mutable std::mutex mu_;
    Key current_;
    Key previous_;
    bool have_previous_ = false;
    uint64_t rotations_ = 0;
    // Fetched once: EVP_aes_256_cbc() would look the cipher up by name on every ticket.
    EVP_CIPHER* aes_cbc_ = nullptr;
};

class ServerContext {
public:
    static Result<std::shared_ptr<ServerContext>> build(const ServerOptions& opt,
                                                        std::shared_ptr<TicketKeys> keys);
    ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;

    // A new server-side SSL for an accepted socket (nullptr on allocation failure). Where the
    // kernel cannot take over encryption (no kTLS), records go out through a socket BIO that
    // sends with MSG_MORE while *more is true, so that several 16 KiB records leave as one
    // TCP push; the caller sets *more around writes that will be followed by others.
    SSL* new_ssl(int fd, const bool* more = nullptr) const;
    // Names the certificates answer to, for the log ("a.example, *.b.example; c.example").
    std::string describe() const;
    bool ktls_enabled() const { return ktls_; }
    // Whether this kernel accepts the TLS upper-layer protocol on TCP sockets (probed once).
    static bool kernel_has_ktls();

private:
    struct Cert {
        SSL_CTX* ctx = nullptr;
        std::vector<std::string> names; // DNS names: SAN, else CN
    };
    ServerContext() = default;
    static int on_servername(SSL* ssl, int* alert, void* arg);
    const Cert* select(const char* servername) const;

    std::vector<Cert> certs_;
    std::shared_ptr<TicketKeys> keys_;
    bool ktls_ = false;
    bool batch_writes_ = false; // no kTLS here: the MSG_MORE socket BIO
};

// True when the kernel can take over TLS for this connection's sending side (kTLS), as
// OpenSSL negotiated it during the handshake.
bool ktls_send_active(SSL* ssl);

// The last OpenSSL errors as one line (and clears them).
std::string openssl_errors();

} // namespace vcdn::tls
