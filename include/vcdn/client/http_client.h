#pragma once
// A small blocking HTTP/1.1 client with keep-alive and timeouts, for tools that need a few
// connections (demo, catalog checks, control-plane calls). Not a load generator.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/http/response_parser.h>
#include <vcdn/io/address.h>

namespace vcdn::client {

struct Response {
    http::ResponseHead head;
    std::string body;
    int64_t duration_us = 0; // request sent → last body byte received
};

class HttpClient {
public:
    HttpClient(io::SocketAddress server, int timeout_ms = 5000);

    // Sends one request and reads the full response. Reconnects when the previous response
    // closed the connection. `headers` are extra header lines ("Range: bytes=0-99"); a body
    // (POST, PUT) goes with a Content-Length.
    Result<Response> request(const std::string& method, const std::string& target,
                             const std::vector<std::string>& headers = {},
                             const std::string& body = {});
    void close() { fd_.reset(); }

private:
    Status connect();
    Status send_all(const std::string& data);
    Status read_more();

    io::SocketAddress server_;
    int timeout_ms_;
    UniqueFd fd_;
    std::string buf_;
};

// GET a URL path on an address and return the body; convenience for small documents.
Result<Response> http_get(const io::SocketAddress& server, const std::string& target,
                          int timeout_ms = 5000);

} // namespace vcdn::client
