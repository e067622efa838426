#pragma once
// A small PKI for one fleet, so that the control link can be TLS from the first start: a CA,
// and the certificates it issues for the control plane's listeners (and, where an operator
// wants them, for edges). `vcdn cert` runs it; tests and `vcdn demo` make their own CA with it.
// An operator with a PKI of their own uses that instead: every consumer only reads PEM files.
//
// EC P-256 keys, SHA-256 signatures, X.509 v3 with subjectAltName (DNS names and IP addresses,
// which is what a client checks), serverAuth + clientAuth. Private keys are written 0600.
// Pure file I/O; any thread.
#include <cstdint>
#include <string>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::tls {

struct CertRequest {
    std::string common_name;
    std::vector<std::string> dns; // subjectAltName DNS names
    std::vector<std::string> ips; // subjectAltName IP addresses (v4 or v6)
    uint32_t days = 825;
};

// Writes DIR/ca.pem and DIR/ca.key (0600). DIR is created if missing; existing files are kept
// (an error says so) so that a CA is never replaced by accident.
Status make_ca(const std::string& dir, const std::string& name, uint32_t days = 3650);
// The request's own errors (no name, no DNS name or address, a malformed one), before any file
// is touched.
Status check_cert_request(const CertRequest& req);
// Issues a certificate signed by the CA in CA_DIR: writes OUT.pem (the certificate, then the
// CA's, a chain) and OUT.key (0600).
Status issue_cert(const std::string& ca_dir, const CertRequest& req, const std::string& out);

} // namespace vcdn::tls
