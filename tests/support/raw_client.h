#pragma once
// Test support: byte-level HTTP over real sockets, so tests see exactly what the server sent.
#include <cstdint>
#include <string>

#include <vcdn/base/unique_fd.h>
#include <vcdn/http/response_parser.h>

namespace vcdn::test {

// Connects to 127.0.0.1:port (or another host); blocking socket with receive/send timeouts.
// rcvbuf > 0 sets SO_RCVBUF before connecting (shrinking it after the handshake makes the
// kernel drop data it already advertised room for, which slows any server to a crawl).
UniqueFd connect_to(uint16_t port, const std::string& host = "127.0.0.1", int timeout_ms = 5000,
                    const std::string& source = "", int rcvbuf = 0);
bool send_all(int fd, const std::string& data);

struct RawResponse {
    bool ok = false; // a complete response was read
    std::string error;
    http::ResponseHead head;
    std::string head_text; // the head exactly as received
    std::string body;
    std::string header(const std::string& name) const {
        const std::string* v = head.find(name);
        return v ? *v : std::string();
    }
};

// Reads one response from fd. Bytes after it stay in `carry` for the next call.
RawResponse read_response(int fd, std::string* carry, bool head_request = false,
                          int timeout_ms = 5000);
// One request on a new connection, one response.
RawResponse fetch(uint16_t port, const std::string& raw_request, bool head_request = false);
// "GET <target> HTTP/1.1\r\nHost: t\r\n<extra>\r\n"
std::string get_request(const std::string& target, const std::string& extra_headers = "",
                        const std::string& method = "GET");
// True when the peer closes (EOF or reset) within timeout_ms; unread data is discarded.
bool wait_closed(int fd, int timeout_ms);
// Reads whatever arrives until close or timeout.
std::string read_all(int fd, int timeout_ms);
// Reads until the peer closes; false when timeout_ms passes first. *data gets the bytes.
bool read_until_closed(int fd, int timeout_ms, std::string* data);

} // namespace vcdn::test
