// The PROXY protocol header: what a balancer writes, every way it can be cut or bent, and
// the HTTP service taking it from its proxies only.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/socket.h>

#include <vcdn/io/http_service.h>
#include <vcdn/io/proxy_protocol.h>

#include "raw_client.h"

namespace vcdn::io {
namespace {

std::string v2(uint8_t ver_cmd, uint8_t fam, const std::string& body) {
    std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
    h.push_back(static_cast<char>(ver_cmd));
    h.push_back(static_cast<char>(fam));
    h.push_back(static_cast<char>(body.size() >> 8));
    h.push_back(static_cast<char>(body.size() & 0xff));
    return h + body;
}

std::string inet(const char (&src)[5], uint16_t sport) {
    std::string b(src, 4);
    b += std::string("\xc6\x33\x64\x01", 4); // 198.51.100.1
    b.push_back(static_cast<char>(sport >> 8));
    b.push_back(static_cast<char>(sport & 0xff));
    b += std::string("\x01\xbb", 2);
    return b;
}

ProxyStatus parse(std::string_view in, ProxyHeader* h, const char** why) {
    return parse_proxy_header(in, h, why);
}

TEST(ProxyProtocol, VersionOneNamesTheClient) {
    ProxyHeader h;
    const char* why;
    const std::string line = "PROXY TCP4 203.0.113.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
    ASSERT_EQ(parse(line, &h, &why), ProxyStatus::kOk) << why;
    EXPECT_EQ(h.length, line.find("GET"));
    EXPECT_TRUE(h.has_client);
    EXPECT_EQ(h.client.to_string(), "203.0.113.7");
    EXPECT_EQ(h.client_port, 56324);
    ASSERT_EQ(parse("PROXY TCP6 2001:db8::7 2001:db8::1 1 443\r\n", &h, &why), ProxyStatus::kOk);
    EXPECT_EQ(h.client.to_string(), "2001:db8::7");
    ASSERT_EQ(parse("PROXY TCP6 ::ffff:203.0.113.9 ::ffff:198.51.100.1 1 2\r\n", &h, &why),
              ProxyStatus::kOk);
    EXPECT_EQ(h.client.to_string(), "203.0.113.9") << "an IPv4-mapped client is its IPv4";
    ASSERT_EQ(parse("PROXY UNKNOWN\r\n", &h, &why), ProxyStatus::kOk);
    EXPECT_FALSE(h.has_client);
    EXPECT_EQ(h.length, 15u);
    ASSERT_EQ(parse("PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n", &h, &why), ProxyStatus::kOk);
    EXPECT_FALSE(h.has_client);
}

TEST(ProxyProtocol, PrefixesWaitAndEverythingElseIsRefused) {
    ProxyHeader h;
    const char* why;
    for (std::string_view part : {"", "P", "PROX", "PROXY ", "PROXY TCP4 1.2.3.4",
                                  "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "\r\n\r\n\0"})
        EXPECT_EQ(parse(part, &h, &why), ProxyStatus::kIncomplete) << part;
    EXPECT_EQ(parse(std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00", 15), &h, &why),
              ProxyStatus::kIncomplete);
    EXPECT_EQ(parse(v2(0x21, 0x11, inet("\xcb\x00\x71\x07", 1)).substr(0, 20), &h, &why),
              ProxyStatus::kIncomplete);
    for (std::string_view bad :
         {"GET / HTTP/1.1\r\n", "PROXY\r\n", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
          "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
          "PROXY TCP4 1.2.3.4 2001:db8::1 1 2\r\n", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
          "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
          "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
          "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"}) {
        EXPECT_EQ(parse(bad, &h, &why), ProxyStatus::kBad) << bad;
        EXPECT_STRNE(why, "");
    }
    EXPECT_EQ(parse("PROXY " + std::string(200, 'A'), &h, &why), ProxyStatus::kBad)
        << "a v1 line has at most 107 bytes";
}

TEST(ProxyProtocol, VersionTwoNamesTheClientOrTheBalancerItself) {
    ProxyHeader h;
    const char* why;
    const std::string inet4 = v2(0x21, 0x11, inet("\xcb\x00\x71\x07", 40000)) + "GET";
    ASSERT_EQ(parse(inet4, &h, &why), ProxyStatus::kOk) << why;
    EXPECT_EQ(h.length, 28u);
    EXPECT_EQ(h.client.to_string(), "203.0.113.7");
    EXPECT_EQ(h.client_port, 40000);
    std::string six(36, '\0');
    six[0] = '\x20', six[1] = '\x01', six[2] = '\x0d', six[3] = '\xb8', six[15] = '\x07';
    ASSERT_EQ(parse(v2(0x21, 0x21, six + "tlv-bytes"), &h, &why), ProxyStatus::kOk);
    EXPECT_EQ(h.client.to_string(), "2001:db8::7");
    EXPECT_EQ(h.length, 16u + 36 + 9) << "TLVs after the addresses are skipped";
    ASSERT_EQ(parse(v2(0x20, 0x00, ""), &h, &why), ProxyStatus::kOk); // LOCAL
    EXPECT_FALSE(h.has_client);
    ASSERT_EQ(parse(v2(0x21, 0x31, std::string(216, 'u')), &h, &why), ProxyStatus::kOk); // UNIX
    EXPECT_FALSE(h.has_client);
    EXPECT_EQ(parse(v2(0x11, 0x11, inet("\x01\x02\x03\x04", 1)), &h, &why), ProxyStatus::kBad);
    EXPECT_EQ(parse(v2(0x22, 0x11, inet("\x01\x02\x03\x04", 1)), &h, &why), ProxyStatus::kBad);
    EXPECT_EQ(parse(v2(0x21, 0x11, "short"), &h, &why), ProxyStatus::kBad);
    EXPECT_EQ(parse(v2(0x21, 0x21, std::string(20, '\0')), &h, &why), ProxyStatus::kBad);
    EXPECT_EQ(parse(v2(0x21, 0x11, std::string(2000, '\0')), &h, &why), ProxyStatus::kBad)
        << "longer than kMaxProxyHeader";
}

// The service takes the header from its proxies only, before anything else.
struct WhoService {
    std::unique_ptr<HttpService> http;
    uint16_t port = 0;
    explicit WhoService(HttpServiceOptions o) {
        auto r = std::make_shared<Router>(json_error_answer);
        r->get("/who", [](const ApiRequest& q) {
            return ApiResponse{200, "text/plain", q.client.to_string(), ""};
        });
        auto h = HttpService::listen(*parse_socket_address("127.0.0.1:0"), r, o, "t");
        EXPECT_TRUE(h) << h.error().message;
        http = std::move(*h);
        port = http->address().port();
        http->start();
    }
    ~WhoService() { http->stop(); }
    test::RawResponse ask(const std::string& bytes, const std::string& source = "") {
        UniqueFd fd = test::connect_to(port, "127.0.0.1", 5000, source);
        EXPECT_TRUE(fd);
        EXPECT_TRUE(test::send_all(fd.get(), bytes));
        std::string carry;
        return test::read_response(fd.get(), &carry);
    }
};

TEST(ProxyProtocol, TheServiceTakesTheClientFromItsProxiesOnly) {
    HttpServiceOptions o;
    o.trusted_proxies = {*IpPrefix::parse("127.0.0.1/32")};
    o.proxy_protocol = true;
    o.request_timeout_ms = 2000;
    WhoService s(o);
    const std::string get = "GET /who HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.99\r\n\r\n";
    // From the proxy: the header's client; its X-Forwarded-For is that client's own word.
    test::RawResponse r = s.ask("PROXY TCP4 203.0.113.7 198.51.100.1 5 443\r\n" + get);
    EXPECT_EQ(r.head.status, 200) << r.error;
    EXPECT_EQ(r.body, "203.0.113.7");
    r = s.ask(v2(0x21, 0x11, inet("\xcb\x00\x71\x08", 1)) + get);
    EXPECT_EQ(r.body, "203.0.113.8");
    r = s.ask(v2(0x20, 0x00, "") + get); // the balancer's health check: its own connection
    EXPECT_EQ(r.body, "192.0.2.99") << "from a proxy without a client, X-Forwarded-For applies";
    // The header in two pieces (a slow balancer) is waited for.
    {
        UniqueFd fd = test::connect_to(s.port);
        ASSERT_TRUE(test::send_all(fd.get(), "PROXY TCP4 203.0.113"));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ASSERT_TRUE(test::send_all(fd.get(), ".9 198.51.100.1 5 443\r\n" + get));
        std::string carry;
        EXPECT_EQ(test::read_response(fd.get(), &carry).body, "203.0.113.9");
    }
    // A proxy's connection without a header is closed, and counted.
    {
        UniqueFd fd = test::connect_to(s.port);
        ASSERT_TRUE(test::send_all(fd.get(), get));
        EXPECT_TRUE(test::wait_closed(fd.get(), 3000));
    }
    EXPECT_EQ(s.http->proxy_header_failures(), 1u);
    // Anyone else speaks plain HTTP: a PROXY line from them is a bad request, not a client.
    r = s.ask("PROXY TCP4 203.0.113.7 198.51.100.1 5 443\r\n" + get, "127.0.0.2");
    EXPECT_EQ(r.head.status, 400);
    r = s.ask(get, "127.0.0.2");
    EXPECT_EQ(r.body, "127.0.0.2") << "nor is its X-Forwarded-For read";
}

} // namespace
} // namespace vcdn::io
