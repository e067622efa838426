#pragma once
// Signed content URLs: only players that the control plane steered may fetch.
//
//   /t/1/v-3000k.mp4?e=<unix-expiry>&k=<key-id>&s=<sig>[&p=<client-cidr>]
//   sig = base64url(HMAC-SHA256(key[k], "<path>|<e>|<cidr or empty>")) truncated to 128 bits
//
// <path> is the URL path exactly as it appears in the request (before percent-decoding), so
// signer and edge agree byte for byte. The same code signs (control plane, `vcdn sign`) and
// verifies (edge); verification compares in constant time and reports why it refused.
//
// Threads: pure functions and immutable key sets; any thread, the edge's workers included.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/io/ip_prefix.h>

namespace vcdn::auth {

struct SigningKey {
    std::string id;     // [A-Za-z0-9_-], at most 32 characters
    std::string secret; // raw bytes, at least 32
};

// The keys an edge accepts. Several are valid at once so that keys can rotate: the control
// plane signs with the newest while URLs signed with the previous one are still out there.
class KeySet {
public:
    // One key per line: "<key-id> <secret in hex>"; blank lines and '#' comments ignored.
    static Result<KeySet> parse(std::string_view text, std::string_view source = "keys");
    static Result<KeySet> load(const std::string& path);
    // From keys already checked (ids and secret lengths), oldest first.
    static Result<KeySet> from_keys(std::vector<SigningKey> keys);

    const SigningKey* find(std::string_view id) const;
    // The key to sign with: the last one listed (the newest).
    const SigningKey* newest() const { return keys_.empty() ? nullptr : &keys_.back(); }
    size_t size() const { return keys_.size(); }
    const std::vector<SigningKey>& keys() const { return keys_; }
    bool empty() const { return keys_.empty(); }

private:
    std::vector<SigningKey> keys_;
};

inline constexpr size_t kMinSecretBytes = 32;

// The signature string (22 characters of base64url) for path, expiry and optional prefix.
std::string signature(const SigningKey& key, std::string_view path, int64_t expiry,
                      std::string_view prefix);

// The key one holder (an edge, by its id; the origin) is given: derived from the control
// plane's key of the same id, so that a URL signed for one edge is valid on it alone and no
// edge holds a secret that opens another. HMAC-SHA256(key.secret, "vcdn-holder-key|" + holder).
SigningKey derive_key(const SigningKey& key, std::string_view holder);

// "path?e=..&k=..&s=..[&p=..]" (the prefix, when given, is bound into the signature).
std::string sign_url(std::string_view path, int64_t expiry, const SigningKey& key,
                     std::string_view prefix = {});

enum class SigCheck : uint8_t {
    kOk,
    kMissing,     // no e, k or s
    kMalformed,   // a parameter that does not parse
    kUnknownKey,  // k names no key this edge has
    kForged,      // the signature does not match
    kExpired,     // e is in the past
    kWrongPrefix, // bound to a client network that does not contain the client
    kTooLong,     // e is further ahead than the edge's maximum URL lifetime
};
const char* sig_check_reason(SigCheck c);

// What the verifier allows beyond the signature: a URL may be valid at most max_lifetime_s
// into the future (0: no limit), and expiry is judged with clock_skew_s of slack either way.
struct VerifyPolicy {
    int64_t max_lifetime_s = 0;
    int64_t clock_skew_s = 0;
};

// Checks the signature of a request: `path` as sent, `query` without '?', the client's address.
SigCheck verify(std::string_view path, std::string_view query, const KeySet& keys, int64_t now,
                const io::IpAddress& client, const VerifyPolicy& policy = {});

// Title tokens: one token for every file of a title, carried as the first path segment so
// that the relative URLs inside packaged manifests (DASH, HLS) keep it:
//
//   /vt=<key-id>~<expiry>~<n>~<cidr or empty>~<sig>/t/1/manifest.mpd
//   sig = base64url(HMAC-SHA256(key[k], "vcdn-title|<scope>|<e>|<cidr or empty>")) (128 bits)
//
// <scope> is the first n segments of the decoded path after the token, each followed by '/'
// ("t/1/" above): the token opens every file below it and nothing else (a relative "../2/x"
// resolves to /vt=<token>/t/2/x, whose scope "t/2/" the signature does not cover). The cidr
// is written with '_' for '/' (10.1.0.0_16), as '/' cannot be in a segment. The domain string
// "vcdn-title|" keeps title tokens and URL signatures apart; keys, expiry and the policy are
// the same as for signed URLs (and a token is valid only on the holder whose key signed it).
inline constexpr std::string_view kTitleTokenTag = "vt=";
inline constexpr size_t kMaxTitleSegments = 16;

// The scope of a path: its first `segments` segments. "/t/1/v.mp4", 2 -> "t/1/"; empty when
// the path has no file below that many segments (a scope always leaves a file name).
std::string title_scope(std::string_view path, size_t segments);
// "vt=..." for a scope ("t/1/") and an optional client prefix ("10.1.0.0/16").
std::string title_token(const SigningKey& key, std::string_view scope, int64_t expiry,
                        std::string_view prefix = {});
// "/vt=<token>/t/1/v.mp4" for path "/t/1/v.mp4" and its first `segments` segments; empty when
// the path has too few segments (see title_scope).
std::string sign_title_url(std::string_view path, size_t segments, int64_t expiry,
                           const SigningKey& key, std::string_view prefix = {});
// Splits a decoded relative path ("vt=.../t/1/v.mp4") into its token and the rest
// ("t/1/v.mp4"); false when the first segment is not a title token.
bool split_title_token(std::string_view path, std::string_view* token, std::string_view* rest);
// Checks a title token for `path`: the decoded relative path after the token ("t/1/v.mp4").
SigCheck verify_title(std::string_view token, std::string_view path, const KeySet& keys,
                      int64_t now, const io::IpAddress& client, const VerifyPolicy& policy = {});
const char* title_check_reason(SigCheck c);

std::string base64url(const unsigned char* data, size_t n);

bool valid_key_id(std::string_view id); // 1-32 of [A-Za-z0-9_-]
bool decode_hex(std::string_view hex, std::string* out);
std::string encode_hex(std::string_view bytes);

} // namespace vcdn::auth
