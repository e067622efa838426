#include <vcdn/tls/pki.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <functional>
#include <memory>

#include <vcdn/io/address.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/tls/server_context.h>

namespace vcdn::tls {

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

Error ssl_error(const std::string& what) {
    return Error{fmt::format("{}: {}", what, openssl_errors())};
}

// Writes with `mode` (0600 for keys), refusing to replace a file.
Status write_pem(const std::string& path, mode_t mode, const std::function<bool(FILE*)>& w) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return Error::from_errno(path);
    FILE* f = ::fdopen(fd, "w");
    if (!f) {
        ::close(fd);
        return Error::from_errno(path);
    }
    const bool ok = w(f);
    if (std::fclose(f) != 0 || !ok) {
        ::unlink(path.c_str());
        return ssl_error("write " + path);
    }
    return {};
}

// Writes a key and its certificate as a pair: neither is written when either exists, and the
// key goes again when the certificate cannot be written, so no half pair is ever left behind.
Status write_pair(const std::string& key_path, const std::string& cert_path,
                  const std::function<bool(FILE*)>& key_writer,
                  const std::function<bool(FILE*)>& cert_writer) {
    for (const std::string& p : {key_path, cert_path}) {
        struct stat st;
        if (::lstat(p.c_str(), &st) == 0)
            return Error{fmt::format("{}: exists; vcdn cert never replaces a file", p)};
    }
    if (Status s = write_pem(key_path, 0600, key_writer); !s) return s;
    if (Status s = write_pem(cert_path, 0644, cert_writer); !s) {
        ::unlink(key_path.c_str());
        return s;
    }
    return {};
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return false;
    const bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

Result<Cert> new_cert(EVP_PKEY* key, const std::string& cn, uint32_t days) {
    Cert c(X509_new());
    if (!c) return ssl_error("X509_new");
    X509_set_version(c.get(), 2);
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return ssl_error("RAND_bytes");
    serial[0] &= 0x7f; // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600); // an hour of clock skew
    X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(days) * 86400);
    X509_set_pubkey(c.get(), key);
    X509_NAME* name = X509_get_subject_name(c.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("vcdn"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    return c;
}

} // namespace

Status make_ca(const std::string& dir, const std::string& name, uint32_t days) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error{fmt::format("{}: {}", dir, ec.message())};
    Pkey key(EVP_EC_gen("P-256"));
    if (!key) return ssl_error("EC key");
    auto cert = new_cert(key.get(), name, days);
    if (!cert) return cert.error();
    X509_set_issuer_name(cert->get(), X509_get_subject_name(cert->get()));
    if (!add_ext(cert->get(), cert->get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(cert->get(), cert->get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(cert->get(), cert->get(), NID_subject_key_identifier, "hash"))
        return ssl_error("CA extensions");
    if (X509_sign(cert->get(), key.get(), EVP_sha256()) <= 0) return ssl_error("sign the CA");
    return write_pair(
        dir + "/ca.key", dir + "/ca.pem",
        [&](FILE* f) {
            return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
        },
        [&](FILE* f) { return PEM_write_X509(f, cert->get()) == 1; });
}

namespace {
Result<std::string> san_of(const CertRequest& req) {
    if (req.common_name.empty()) return Error{"a certificate needs a name"};
    if (req.days == 0 || req.days > 36500) return Error{"days: 1 to 36500"};
    if (req.dns.empty() && req.ips.empty())
        return Error{
            "a certificate needs at least one DNS name or IP address to be checked against"};
    std::string san;
    for (const std::string& d : req.dns) {
        if (d.empty() || d.size() > 253)
            return Error{fmt::format("DNS name '{}': 1 to 253 characters", d)};
        for (char c : d)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*'))
                return Error{
                    fmt::format("DNS name '{}': letters, digits, '-', '.' and '*' only", d)};
        san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    }
    for (const std::string& ip : req.ips) {
        if (!io::IpAddress::parse(ip)) return Error{fmt::format("'{}' is not an IP address", ip)};
        san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
    }
    return san;
}
} // namespace

Status check_cert_request(const CertRequest& req) {
    auto san = san_of(req);
    if (!san) return san.error();
    return {};
}

Status issue_cert(const std::string& ca_dir, const CertRequest& req, const std::string& out) {
    auto san_r = san_of(req);
    if (!san_r) return san_r.error();
    const std::string san = *san_r;
    FILE* f = std::fopen((ca_dir + "/ca.pem").c_str(), "r");
    if (!f) return Error::from_errno(ca_dir + "/ca.pem");
    Cert ca(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    f = std::fopen((ca_dir + "/ca.key").c_str(), "r");
    if (!f) return Error::from_errno(ca_dir + "/ca.key");
    Pkey ca_key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (!ca || !ca_key) return ssl_error("read the CA in " + ca_dir);
    Pkey key(EVP_EC_gen("P-256"));
    if (!key) return ssl_error("EC key");
    auto cert = new_cert(key.get(), req.common_name, req.days);
    if (!cert) return cert.error();
    X509_set_issuer_name(cert->get(), X509_get_subject_name(ca.get()));
    if (!add_ext(cert->get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(cert->get(), ca.get(), NID_key_usage, "critical,digitalSignature") ||
        !add_ext(cert->get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(cert->get(), ca.get(), NID_subject_alt_name, san) ||
        !add_ext(cert->get(), ca.get(), NID_authority_key_identifier, "keyid"))
        return ssl_error("certificate extensions");
    if (X509_sign(cert->get(), ca_key.get(), EVP_sha256()) <= 0)
        return ssl_error("sign the certificate");
    return write_pair(
        out + ".key", out + ".pem",
        [&](FILE* o) {
            return PEM_write_PrivateKey(o, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
        },
        [&](FILE* o) {
            return PEM_write_X509(o, cert->get()) == 1 && PEM_write_X509(o, ca.get()) == 1;
        });
}

} // namespace vcdn::tls
