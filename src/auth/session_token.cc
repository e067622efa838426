#include <vcdn/auth/session_token.h>

#include <charconv>
#include <fmt/format.h>
#include <openssl/crypto.h>

namespace vcdn::auth {

namespace {

// The session's MAC reuses the URL signature's construction over a "path" no URL can have
// (URL paths start with '/'), so a session token is never a valid URL signature or back.
constexpr std::string_view kDomain = "vcdn-session";

} // namespace

std::string make_session_token(const SigningKey& key, int64_t expiry, std::string_view client) {
    return fmt::format("{}~{}~{}~{}", key.id, expiry, client,
                       signature(key, kDomain, expiry, client));
}

SigCheck verify_session_token(std::string_view token, const KeySet& keys, int64_t now,
                              const io::IpAddress& client, const VerifyPolicy& policy) {
    if (token.empty()) return SigCheck::kMissing;
    if (token.size() > kMaxSessionTokenBytes) return SigCheck::kMalformed;
    std::string_view part[4];
    for (int i = 0; i < 4; ++i) {
        const size_t t = token.find('~');
        if ((t == std::string_view::npos) != (i == 3)) return SigCheck::kMalformed;
        part[i] = token.substr(0, t);
        token.remove_prefix(i == 3 ? token.size() : t + 1);
    }
    const std::string_view kid = part[0], exp = part[1], bound = part[2], sig = part[3];
    int64_t expiry = 0;
    auto [p, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), expiry);
    // One spelling per token: no leading zeros (the MAC covers the number, not its text).
    if (ec != std::errc() || p != exp.data() + exp.size() || expiry < 0 || !valid_key_id(kid) ||
        (exp.size() > 1 && exp[0] == '0'))
        return SigCheck::kMalformed;
    const SigningKey* key = keys.find(kid);
    if (!key) return SigCheck::kUnknownKey;
    const std::string want = signature(*key, kDomain, expiry, bound);
    if (want.size() != sig.size() || CRYPTO_memcmp(want.data(), sig.data(), want.size()) != 0)
        return SigCheck::kForged;
    if (expiry < now - policy.clock_skew_s) return SigCheck::kExpired;
    if (policy.max_lifetime_s > 0 && expiry > now + policy.max_lifetime_s + policy.clock_skew_s)
        return SigCheck::kTooLong;
    if (!bound.empty()) {
        auto a = io::IpAddress::parse(bound);
        if (!a || !(*a == client)) return SigCheck::kWrongPrefix;
    }
    return SigCheck::kOk;
}

} // namespace vcdn::auth
