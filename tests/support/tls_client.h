#pragma once
// Test support: a blocking TLS client (OpenSSL) for byte-level HTTPS checks.
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include <vcdn/base/unique_fd.h>

#include "raw_client.h"

namespace vcdn::test {

struct TlsOptions {
    std::string servername; // SNI; empty = none
    int min_version = 0;    // TLS1_2_VERSION, ...; 0 = library default
    int max_version = 0;
    std::string ciphers12;          // TLS 1.2 cipher list; empty = default
    std::string ciphers13;          // TLS 1.3 suites; empty = default
    std::string alpn;               // one protocol, e.g. "http/1.1"; empty = none
    SSL_SESSION* session = nullptr; // to resume
    int rcvbuf = 0;                 // SO_RCVBUF, set before connecting (a slow reader)
};

class TlsConn {
public:
    ~TlsConn();
    // Connects and completes the handshake; nullptr (with *error) on failure.
    static std::unique_ptr<TlsConn> open(uint16_t port, const TlsOptions& opt, std::string* error);

    bool send_all(const std::string& data);
    RawResponse read_response(bool head_request = false, int timeout_ms = 5000);

    std::string version() const;
    std::string cipher() const;
    std::string alpn() const;
    std::string peer_common_name() const;
    bool resumed() const;
    // The session to resume with later (owned by the caller: SSL_SESSION_free).
    SSL_SESSION* take_session();
    int fd() const { return fd_.get(); }

private:
    TlsConn() = default;
    bool fill(int timeout_ms);

    SSL* ssl_ = nullptr;
    UniqueFd fd_;
    std::string buf_;
};

// A self-signed certificate and key (PEM files) for `names` (the first is the CN).
// type "ec" (P-256) or "rsa" (2048). Returns false when openssl(1) is missing or fails.
bool make_certificate(const std::string& cert, const std::string& key,
                      const std::vector<std::string>& names, const std::string& type = "ec");

} // namespace vcdn::test
