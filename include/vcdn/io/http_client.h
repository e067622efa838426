#pragma once
// The one blocking HTTP(S) client of vcdn's control traffic: heartbeats, manifests, the demo's
// and the players' API calls. libcurl's easy interface (already linked for the fill), not a
// hand-written client: TLS, keep-alive, proxies-free defaults and timeouts come with it.
//
// Bounded: every request has a total deadline (connect + send + receive), a response body
// larger than max_body_bytes is an error (the transfer is cut off, nothing is buffered past
// the cap), only http:// and https:// are spoken, redirects are not followed.
//
// Threads: one HttpClient per thread (it reuses its connection for keep-alive); none of its
// calls may run on a serving event loop (they block).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::io {

struct HttpClientOptions {
    uint32_t timeout_ms = 5000;         // the whole request
    uint32_t connect_timeout_ms = 2000; // of that, the connect (and TLS handshake)
    size_t max_body_bytes = 16u << 20;
    // https: the server's certificate must chain to this CA (PEM) and name the URL's host
    // (DNS name or IP address in its subjectAltName). Empty: the system's CA bundle. Always
    // verified; there is no switch to turn verification off.
    std::string ca_file;
    // Optional: a client certificate and key (PEM) for servers that want one.
    std::string client_cert, client_key;
};

struct HttpResponse {
    uint16_t status = 0;
    std::string content_type;
    std::string body;
    int64_t duration_us = 0;
};

class HttpClient {
public:
    explicit HttpClient(HttpClientOptions opt = {});
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // `url` is absolute ("http://127.0.0.1:8070/api/v1/..."); `headers` are whole lines
    // ("Authorization: Bearer x"). A body goes with POST/PUT (Content-Length). An HTTP error
    // status is a response, not an error; errors are transport failures, one line each
    // ("... SSL peer certificate or SSH remote key was not OK" for a server that could not be
    // verified).
    Result<HttpResponse> request(std::string_view method, const std::string& url,
                                 const std::vector<std::string>& headers = {},
                                 std::string_view body = {});
    Result<HttpResponse> get(const std::string& url, const std::vector<std::string>& headers = {}) {
        return request("GET", url, headers);
    }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A one-off GET.
Result<HttpResponse> http_get(const std::string& url, uint32_t timeout_ms = 5000);

} // namespace vcdn::io
