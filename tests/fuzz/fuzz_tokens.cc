// libFuzzer target: the credentials a client sends that are checked before anything else — a
// signed URL's query and a title token (the edge, every request) and a player-session token
// (steering). Never accepted without the key's MAC; never a crash or unbounded work, whatever
// the bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <vcdn/auth/session_token.h>
#include <vcdn/auth/signed_url.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn;
    static const auth::KeySet keys =
        *auth::KeySet::parse("k1 " + std::string(64, 'a') + "\nk2 " + std::string(64, 'b') + "\n");
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const io::IpAddress client = *io::IpAddress::parse("10.1.2.3");
    const auth::VerifyPolicy policy{86400, 60};
    // A signed URL: the input is "path?query" (or just a query).
    const size_t q = in.find('?');
    const std::string_view path = q == std::string_view::npos ? "/t/1/v.mp4" : in.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? in : in.substr(q + 1);
    if (auth::verify(path, query, keys, 1000, client, policy) == auth::SigCheck::kOk) {
        // Only a URL the key really signed: the signature in it must be the key's.
        if (query.find("s=") == std::string_view::npos) abort();
    }
    // A session token.
    if (auth::verify_session_token(in, keys, 1000, client, policy) == auth::SigCheck::kOk) {
        const size_t t = in.rfind('~');
        const std::string_view head = in.substr(0, t);
        const size_t a = head.find('~'), b = head.find('~', a + 1);
        const std::string kid(head.substr(0, a));
        const int64_t expiry = std::atoll(std::string(head.substr(a + 1, b - a - 1)).c_str());
        const std::string bound(head.substr(b + 1));
        if (auth::make_session_token(*keys.find(kid), expiry, bound) != in) abort();
    }
    // A title token and the path after it: "vt=<token>/<path>". Accepted only when the key
    // signed exactly this token for the path's scope.
    std::string_view token, rest;
    if (auth::split_title_token(in, &token, &rest) &&
        auth::verify_title(token, rest, keys, 1000, client, policy) == auth::SigCheck::kOk) {
        const std::string_view body = token.substr(auth::kTitleTokenTag.size());
        const size_t a = body.find('~'), b = body.find('~', a + 1), c = body.find('~', b + 1),
                     d = body.find('~', c + 1);
        const std::string kid(body.substr(0, a));
        const int64_t expiry = std::atoll(std::string(body.substr(a + 1, b - a - 1)).c_str());
        const size_t n =
            static_cast<size_t>(std::atoi(std::string(body.substr(b + 1, c - b - 1)).c_str()));
        std::string prefix(body.substr(c + 1, d - c - 1));
        for (char& ch : prefix)
            if (ch == '_') ch = '/';
        const std::string scope = auth::title_scope(rest, n);
        if (scope.empty() || auth::title_token(*keys.find(kid), scope, expiry, prefix) != token)
            abort();
    }
    return 0;
}
