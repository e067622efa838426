#include <cstdio>
#include <ctime>
#include <memory>

#include <vcdn/auth/session_token.h>
#include <vcdn/auth/signed_url.h>
#include <vcdn/io/ip_prefix.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct SignFlags {
    std::string key_file, path, key_id, prefix, client;
    int64_t ttl = 3600;
    size_t title_segments = 0;
    bool session = false;
};
} // namespace

Runner add_sign(CLI::App& app) {
    auto f = std::make_shared<SignFlags>();
    CLI::App* cmd = app.add_subcommand(
        "sign",
        "Print a signed content URL path: PATH?e=<expiry>&k=<key-id>&s=<signature>[&p=<cidr>] "
        "(the last line of the output); with --session, a player-session token for steering "
        "([control.steering] session_keys).");
    cmd->add_option("--key-file", f->key_file, "Keys: one '<key-id> <secret in hex>' per line")
        ->required();
    cmd->add_option("--path", f->path,
                    "URL path to sign, as players will request it, e.g. /t/1/v-3000k.mp4 "
                    "(required without --session)");
    cmd->add_flag("--session", f->session,
                  "Print a session token (<key-id>~<expiry>~<client>~<sig>) that steering takes "
                  "as ?session=, instead of a URL");
    cmd->add_option("--client", f->client,
                    "With --session: bind the token to this client address (e.g. 10.1.2.3)");
    cmd->add_option("--ttl", f->ttl,
                    "Seconds the URL stays valid; negative = already expired (tests)")
        ->capture_default_str();
    cmd->add_option("--key-id", f->key_id, "Key to sign with (default: the last one in the file)");
    cmd->add_option("--prefix", f->prefix, "Bind the URL to a client network, e.g. 10.1.0.0/16");
    cmd->add_option("--title-segments", f->title_segments,
                    "Print a title URL instead: /vt=<token>PATH, whose token also covers every "
                    "other file under the first N directories of PATH (1-16; e.g. 2 for /t/1/), "
                    "so that a manifest's relative segment URLs play")
        ->check(CLI::Range(1, static_cast<int>(auth::kMaxTitleSegments)));
    return [f]() -> int {
        auto keys = auth::KeySet::load(f->key_file);
        if (!keys) {
            std::fprintf(stderr, "vcdn sign: %s\n", keys.error().message.c_str());
            return 2;
        }
        const auth::SigningKey* skey = f->key_id.empty() ? keys->newest() : keys->find(f->key_id);
        if (f->session) {
            if (!skey) {
                std::fprintf(stderr, "vcdn sign: no key '%s' in %s\n", f->key_id.c_str(),
                             f->key_file.c_str());
                return 2;
            }
            if (!f->path.empty() || !f->prefix.empty() || f->title_segments) {
                std::fprintf(
                    stderr, "vcdn sign: --session takes no --path, --prefix or --title-segments\n");
                return 2;
            }
            if (!f->client.empty()) {
                auto a = io::IpAddress::parse(f->client);
                if (!a) {
                    std::fprintf(stderr, "vcdn sign: --client: %s\n", a.error().message.c_str());
                    return 2;
                }
            }
            const int64_t expiry = static_cast<int64_t>(std::time(nullptr)) + f->ttl;
            std::printf("%s\n", auth::make_session_token(*skey, expiry, f->client).c_str());
            return 0;
        }
        if (!f->client.empty()) {
            std::fprintf(stderr, "vcdn sign: --client goes with --session (URLs take --prefix)\n");
            return 2;
        }
        if (f->path.empty() || f->path.front() != '/' ||
            f->path.find_first_of("?# ") != std::string::npos) {
            std::fprintf(
                stderr,
                "vcdn sign: --path must start with '/' and have no query, fragment or space\n");
            return 2;
        }
        const auth::SigningKey* key = f->key_id.empty() ? keys->newest() : keys->find(f->key_id);
        if (!key) {
            std::fprintf(stderr, "vcdn sign: no key '%s' in %s\n", f->key_id.c_str(),
                         f->key_file.c_str());
            return 2;
        }
        if (!f->prefix.empty()) {
            auto p = io::IpPrefix::parse(f->prefix);
            if (!p) {
                std::fprintf(stderr, "vcdn sign: --prefix: %s\n", p.error().message.c_str());
                return 2;
            }
        }
        const int64_t expiry = static_cast<int64_t>(std::time(nullptr)) + f->ttl;
        if (f->title_segments) {
            const std::string url =
                auth::sign_title_url(f->path, f->title_segments, expiry, *key, f->prefix);
            if (url.empty()) {
                std::fprintf(stderr,
                             "vcdn sign: --path %s has no file name below %zu directories\n",
                             f->path.c_str(), f->title_segments);
                return 2;
            }
            std::printf("%s\n", url.c_str());
            return 0;
        }
        std::printf("%s\n", auth::sign_url(f->path, expiry, *key, f->prefix).c_str());
        return 0;
    };
}

} // namespace vcdn::app
