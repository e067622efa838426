#pragma once
// Player-session tokens: the credential a streaming service's front end gives each playback
// so that steering answers only its players (steering is otherwise an anonymous oracle of
// signed URLs).
//
//   <key-id>~<expiry>~<client address or empty>~<sig>
//   sig = base64url(HMAC-SHA256(key, "vcdn-session|<expiry>|<client or empty>")), 128 bits
//
// The front end holds the keys (a KeySet file, rotated like the URL keys); steering verifies
// in constant time. A token bound to a client address is valid only from that address. '~' is
// URL-safe and in no key id, number or address, so the token goes into a query as it is.
// Pure: any thread.
#include <cstdint>
#include <string>
#include <string_view>

#include <vcdn/auth/signed_url.h>
#include <vcdn/io/ip_prefix.h>

namespace vcdn::auth {

inline constexpr size_t kMaxSessionTokenBytes = 256;

std::string make_session_token(const SigningKey& key, int64_t expiry, std::string_view client = {});

// kOk, kMissing (empty), kMalformed, kUnknownKey, kForged, kExpired, kTooLong (expiry further
// ahead than policy.max_lifetime_s), kWrongPrefix (bound to another client address).
SigCheck verify_session_token(std::string_view token, const KeySet& keys, int64_t now,
                              const io::IpAddress& client, const VerifyPolicy& policy);

} // namespace vcdn::auth
