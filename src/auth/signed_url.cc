#include <vcdn/auth/signed_url.h>

#include <cctype>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include <vcdn/base/strings.h>

namespace vcdn::auth {

namespace {
constexpr size_t kSigBytes = 16; // 128 bits of the HMAC

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace

bool valid_key_id(std::string_view id) {
    if (id.empty() || id.size() > 32) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
    return true;
}

bool decode_hex(std::string_view hex, std::string* out) {
    if (hex.size() % 2) return false;
    out->clear();
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out->push_back(static_cast<char>(hi * 16 + lo));
    }
    return true;
}

std::string encode_hex(std::string_view bytes) {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    return out;
}

namespace {

// Percent-decodes a query value; false on a bad escape.
bool decode_query_value(std::string_view in, std::string* out) {
    out->clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out->push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out->push_back(in[i]);
        }
    }
    return true;
}

void mac(const SigningKey& key, std::string_view path, int64_t expiry, std::string_view prefix,
         unsigned char out[EVP_MAX_MD_SIZE]) {
    std::string msg;
    msg.reserve(path.size() + prefix.size() + 24);
    msg.append(path);
    msg.push_back('|');
    msg.append(std::to_string(expiry));
    msg.push_back('|');
    msg.append(prefix);
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
}

} // namespace

std::string base64url(const unsigned char* data, size_t n) {
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = uint32_t{data[i]} << 16;
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out; // unpadded, as in URLs
}

Result<KeySet> KeySet::parse(std::string_view text, std::string_view source) {
    KeySet ks;
    size_t line_no = 0;
    for (std::string_view line : split(text, '\n')) {
        ++line_no;
        line = trim_ows(line);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        size_t sp = line.find_first_of(" \t");
        if (sp == std::string_view::npos)
            return Error{
                fmt::format("{}:{}: expected '<key-id> <secret in hex>'", source, line_no)};
        std::string_view id = line.substr(0, sp);
        std::string_view hex = trim_ows(line.substr(sp + 1));
        if (!valid_key_id(id))
            return Error{fmt::format("{}:{}: key id '{}': use 1-32 of A-Z a-z 0-9 _ -", source,
                                     line_no, id)};
        SigningKey k;
        k.id = std::string(id);
        if (!decode_hex(hex, &k.secret))
            return Error{
                fmt::format("{}:{}: key '{}': the secret is not hex", source, line_no, id)};
        if (k.secret.size() < kMinSecretBytes)
            return Error{
                fmt::format("{}:{}: key '{}': the secret has {} bytes; at least {} are needed",
                            source, line_no, id, k.secret.size(), kMinSecretBytes)};
        if (ks.find(id))
            return Error{fmt::format("{}:{}: key '{}' listed twice", source, line_no, id)};
        ks.keys_.push_back(std::move(k));
    }
    if (ks.keys_.empty()) return Error{fmt::format("{}: no keys", source)};
    return ks;
}

Result<KeySet> KeySet::from_keys(std::vector<SigningKey> keys) {
    KeySet ks;
    for (SigningKey& k : keys) {
        if (!valid_key_id(k.id))
            return Error{fmt::format("key id '{}': use 1-32 of A-Z a-z 0-9 _ -", k.id)};
        if (k.secret.size() < kMinSecretBytes)
            return Error{fmt::format("key '{}': the secret has {} bytes; at least {} are needed",
                                     k.id, k.secret.size(), kMinSecretBytes)};
        if (ks.find(k.id)) return Error{fmt::format("key '{}' listed twice", k.id)};
        ks.keys_.push_back(std::move(k));
    }
    if (ks.keys_.empty()) return Error{"no keys"};
    return ks;
}

Result<KeySet> KeySet::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error::from_errno("signing keys " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), path);
}

const SigningKey* KeySet::find(std::string_view id) const {
    for (const SigningKey& k : keys_)
        if (k.id == id) return &k;
    return nullptr;
}

std::string signature(const SigningKey& key, std::string_view path, int64_t expiry,
                      std::string_view prefix) {
    unsigned char md[EVP_MAX_MD_SIZE];
    mac(key, path, expiry, prefix, md);
    return base64url(md, kSigBytes);
}

std::string sign_url(std::string_view path, int64_t expiry, const SigningKey& key,
                     std::string_view prefix) {
    std::string url = fmt::format("{}?e={}&k={}&s={}", path, expiry, key.id,
                                  signature(key, path, expiry, prefix));
    if (!prefix.empty()) url += fmt::format("&p={}", prefix);
    return url;
}

const char* sig_check_reason(SigCheck c) {
    switch (c) {
    case SigCheck::kOk:
        return "ok";
    case SigCheck::kMissing:
        return "signed URL required";
    case SigCheck::kMalformed:
        return "malformed URL signature";
    case SigCheck::kUnknownKey:
        return "unknown signing key";
    case SigCheck::kForged:
        return "bad URL signature";
    case SigCheck::kExpired:
        return "signed URL expired";
    case SigCheck::kWrongPrefix:
        return "signed URL not valid for this client network";
    case SigCheck::kTooLong:
        return "signed URL valid for longer than this edge allows";
    }
    return "bad URL signature";
}

SigningKey derive_key(const SigningKey& key, std::string_view holder) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const std::string label = std::string("vcdn-holder-key|") + std::string(holder);
    HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
         reinterpret_cast<const unsigned char*>(label.data()), label.size(), md, &len);
    return SigningKey{key.id, std::string(reinterpret_cast<const char*>(md), len)};
}

SigCheck verify(std::string_view path, std::string_view query, const KeySet& keys, int64_t now,
                const io::IpAddress& client, const VerifyPolicy& policy) {
    std::string_view e, k, s, p;
    bool have_p = false;
    int dup = 0;
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view kv = query.substr(0, amp);
        size_t eq = kv.find('=');
        std::string_view name = kv.substr(0, eq);
        std::string_view value =
            eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
        if (name == "e") {
            dup += !e.empty();
            e = value;
        } else if (name == "k") {
            dup += !k.empty();
            k = value;
        } else if (name == "s") {
            dup += !s.empty();
            s = value;
        } else if (name == "p") {
            dup += have_p;
            p = value;
            have_p = true;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    if (e.empty() || k.empty() || s.empty()) return SigCheck::kMissing;
    if (dup) return SigCheck::kMalformed;
    uint64_t expiry = 0;
    std::string kid, sig, prefix;
    // One spelling per expiry: plain digits, no leading zero, no percent-encoding (the
    // signature covers the number, so "e=0123" or "e=%3123" would verify as another URL).
    if ((e.size() > 1 && e[0] == '0') || !parse_u64(e, &expiry) || expiry > INT64_MAX)
        return SigCheck::kMalformed;
    if (!decode_query_value(k, &kid) || !decode_query_value(s, &sig) || sig.size() != 22 ||
        !decode_query_value(p, &prefix))
        return SigCheck::kMalformed;
    io::IpPrefix net;
    if (have_p) {
        auto parsed = io::IpPrefix::parse(prefix);
        if (!parsed) return SigCheck::kMalformed;
        net = *parsed;
    }
    const SigningKey* key = keys.find(kid);
    if (!key) return SigCheck::kUnknownKey;
    const std::string want = signature(*key, path, static_cast<int64_t>(expiry), prefix);
    if (CRYPTO_memcmp(want.data(), sig.data(), want.size()) != 0) return SigCheck::kForged;
    if (static_cast<int64_t>(expiry) < now - policy.clock_skew_s) return SigCheck::kExpired;
    if (policy.max_lifetime_s > 0 &&
        static_cast<int64_t>(expiry) > now + policy.max_lifetime_s + policy.clock_skew_s)
        return SigCheck::kTooLong;
    if (have_p && !net.contains(client)) return SigCheck::kWrongPrefix;
    return SigCheck::kOk;
}

namespace {

std::string title_mac(const SigningKey& key, std::string_view scope, int64_t expiry,
                      std::string_view prefix) {
    std::string msg;
    msg.reserve(scope.size() + prefix.size() + 40);
    msg.append("vcdn-title|").append(scope).push_back('|');
    msg.append(std::to_string(expiry)).push_back('|');
    msg.append(prefix);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &len);
    return base64url(md, kSigBytes);
}

// The length of the first `segments` segments of a relative path, with their trailing '/',
// when a non-empty file name follows; 0 otherwise.
size_t scope_length(std::string_view rel, size_t segments) {
    size_t at = 0;
    for (size_t i = 0; i < segments; ++i) {
        const size_t slash = rel.find('/', at);
        if (slash == std::string_view::npos || slash == at) return 0;
        at = slash + 1;
    }
    return at < rel.size() ? at : 0;
}

} // namespace

std::string title_scope(std::string_view path, size_t segments) {
    if (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (segments == 0 || segments > kMaxTitleSegments) return {};
    const size_t n = scope_length(path, segments);
    return n ? std::string(path.substr(0, n)) : std::string();
}

std::string title_token(const SigningKey& key, std::string_view scope, int64_t expiry,
                        std::string_view prefix) {
    size_t n = 0;
    for (char c : scope)
        n += c == '/';
    std::string cidr(prefix);
    for (char& c : cidr)
        if (c == '/') c = '_';
    return fmt::format("{}{}~{}~{}~{}~{}", kTitleTokenTag, key.id, expiry, n, cidr,
                       title_mac(key, scope, expiry, prefix));
}

std::string sign_title_url(std::string_view path, size_t segments, int64_t expiry,
                           const SigningKey& key, std::string_view prefix) {
    const std::string scope = title_scope(path, segments);
    if (scope.empty()) return {};
    return fmt::format("/{}{}", title_token(key, scope, expiry, prefix),
                       path.front() == '/' ? path : "/" + std::string(path));
}

bool split_title_token(std::string_view path, std::string_view* token, std::string_view* rest) {
    if (path.substr(0, kTitleTokenTag.size()) != kTitleTokenTag) return false;
    const size_t slash = path.find('/');
    *token = path.substr(0, slash);
    *rest = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    return true;
}

SigCheck verify_title(std::string_view token, std::string_view path, const KeySet& keys,
                      int64_t now, const io::IpAddress& client, const VerifyPolicy& policy) {
    if (token.substr(0, kTitleTokenTag.size()) != kTitleTokenTag) return SigCheck::kMissing;
    token.remove_prefix(kTitleTokenTag.size());
    std::string_view part[5];
    for (size_t i = 0; i < 5; ++i) {
        const size_t tilde = token.find('~');
        if ((tilde == std::string_view::npos) != (i == 4)) return SigCheck::kMalformed;
        part[i] = token.substr(0, tilde);
        if (i < 4) token.remove_prefix(tilde + 1);
    }
    const std::string_view kid = part[0], e = part[1], n = part[2], cidr = part[3], sig = part[4];
    uint64_t expiry = 0, segments = 0;
    // One spelling per number (no leading zeros): the signature covers the number.
    if (!valid_key_id(kid) || (e.size() > 1 && e[0] == '0') || !parse_u64(e, &expiry) ||
        expiry > INT64_MAX || n.empty() || n.size() > 2 || n[0] == '0' ||
        !parse_u64(n, &segments) || segments == 0 || segments > kMaxTitleSegments ||
        sig.size() != 22 || cidr.size() > 64)
        return SigCheck::kMalformed;
    std::string prefix(cidr);
    for (char& c : prefix)
        if (c == '_') c = '/';
    io::IpPrefix net;
    if (!prefix.empty()) {
        auto parsed = io::IpPrefix::parse(prefix);
        if (!parsed) return SigCheck::kMalformed;
        net = *parsed;
    }
    const SigningKey* key = keys.find(kid);
    if (!key) return SigCheck::kUnknownKey;
    const size_t scope = scope_length(path, segments);
    // A path the token cannot cover (fewer segments than it names) is refused like a forgery:
    // the reason must not tell a prober more than "not this token".
    const std::string want =
        title_mac(*key, path.substr(0, scope), static_cast<int64_t>(expiry), prefix);
    if (CRYPTO_memcmp(want.data(), sig.data(), want.size()) != 0 || scope == 0)
        return SigCheck::kForged;
    if (static_cast<int64_t>(expiry) < now - policy.clock_skew_s) return SigCheck::kExpired;
    if (policy.max_lifetime_s > 0 &&
        static_cast<int64_t>(expiry) > now + policy.max_lifetime_s + policy.clock_skew_s)
        return SigCheck::kTooLong;
    if (!prefix.empty() && !net.contains(client)) return SigCheck::kWrongPrefix;
    return SigCheck::kOk;
}

const char* title_check_reason(SigCheck c) {
    switch (c) {
    case SigCheck::kOk:
        return "ok";
    case SigCheck::kMissing:
        return "signed URL or title token required";
    case SigCheck::kMalformed:
        return "malformed title token";
    case SigCheck::kUnknownKey:
        return "unknown signing key";
    case SigCheck::kForged:
        return "title token forged or for another title";
    case SigCheck::kExpired:
        return "title token expired";
    case SigCheck::kWrongPrefix:
        return "title token not valid for this client network";
    case SigCheck::kTooLong:
        return "title token valid for longer than this edge allows";
    }
    return "bad title token";
}

} // namespace vcdn::auth
