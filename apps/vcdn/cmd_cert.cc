// `vcdn cert`: a fleet's own small CA, and the certificates it issues (the control plane's
// listeners, and the edges' where wanted), so that the control link is TLS from the first start.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unistd.h>

#include <vcdn/tls/pki.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct CertFlags {
    std::string ca_dir, name = "vcdn fleet CA", out;
    std::vector<std::string> dns, ips;
    uint32_t days = 0;
};
} // namespace

Runner add_cert(CLI::App& app) {
    auto f = std::make_shared<CertFlags>();
    CLI::App* cmd = app.add_subcommand(
        "cert",
        "Make a fleet CA and the certificates it signs (EC P-256, PEM): the control plane's "
        "TLS listeners, checked by edges against the CA (--control-ca).");
    cmd->require_subcommand(1);
    CLI::App* ca = cmd->add_subcommand("ca", "Make a CA: DIR/ca.pem and DIR/ca.key (0600)");
    ca->add_option("--dir", f->ca_dir, "Directory for ca.pem and ca.key")->required();
    ca->add_option("--name", f->name, "The CA's name")->capture_default_str();
    ca->add_option("--days", f->days, "Validity in days (default 3650)");
    CLI::App* issue = cmd->add_subcommand(
        "issue", "Issue a certificate: OUT.pem (the chain) and OUT.key (0600), for the names "
                 "and addresses clients reach it by");
    issue->add_option("--ca", f->ca_dir, "Directory with ca.pem and ca.key")->required();
    issue->add_option("--name", f->name, "Common name (e.g. control.example.net)")->required();
    issue->add_option("--dns", f->dns, "DNS name the certificate is valid for (repeatable)");
    issue->add_option("--ip", f->ips, "IP address the certificate is valid for (repeatable)");
    issue->add_option("--out", f->out, "Output prefix: OUT.pem and OUT.key")->required();
    issue->add_option("--days", f->days, "Validity in days (default 825)");
    cmd->footer("Example:\n  vcdn cert ca --dir /etc/vcdn/ca\n  vcdn cert issue --ca /etc/vcdn/ca "
                "--name control.example.net --dns control.example.net --out "
                "/etc/vcdn/control\nExisting files are never replaced.");
    return [f, ca, issue]() -> int {
        Status s;
        if (ca->parsed()) {
            s = tls::make_ca(f->ca_dir, f->name, f->days ? f->days : 3650);
            if (s) std::printf("%s/ca.pem\n%s/ca.key\n", f->ca_dir.c_str(), f->ca_dir.c_str());
        } else if (issue->parsed()) {
            tls::CertRequest req{f->name, f->dns, f->ips, f->days ? f->days : 825};
            if (Status bad = tls::check_cert_request(req); !bad) {
                std::fprintf(stderr, "vcdn cert issue: %s\n", bad.error().message.c_str());
                return 2;
            }
            // The CA named by --ca is input: a missing or unreadable one is a bad argument.
            for (const char* name : {"/ca.pem", "/ca.key"}) {
                const std::string path = f->ca_dir + name;
                if (::access(path.c_str(), R_OK) != 0) {
                    std::fprintf(stderr, "vcdn cert issue: --ca %s: %s: %s\n", f->ca_dir.c_str(),
                                 path.c_str(), std::strerror(errno));
                    return 2;
                }
            }
            s = tls::issue_cert(f->ca_dir, req, f->out);
            if (s) std::printf("%s.pem\n%s.key\n", f->out.c_str(), f->out.c_str());
        }
        if (!s) {
            std::fprintf(stderr, "vcdn cert %s: %s\n", ca->parsed() ? "ca" : "issue",
                         s.error().message.c_str());
            return 1;
        }
        return 0;
    };
}

} // namespace vcdn::app
