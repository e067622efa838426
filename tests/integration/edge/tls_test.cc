// HTTPS on a real `vcdn edge`, checked with OpenSSL (our client and `openssl s_client`) and
// curl: versions, ciphers, ALPN, SNI, resumption, both body paths, reloads, bad certificates.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include <vcdn/base/sha256.h>
#include <vcdn/tls/server_context.h>

#include "edge_fixture.h"
#include "tls_client.h"

namespace vcdn::test {
namespace {

bool kernel_has_ktls() {
    // The edge's own probe (it attaches the tls ULP to a loopback socket, which also loads a
    // module that is available but not loaded yet); the tests below check what the edge does
    // with the answer.
    return tls::ServerContext::kernel_has_ktls();
}

class Tls : public EdgeTest {
protected:
    void SetUp() override {
        certs_ = std::make_unique<TempDir>();
        ASSERT_TRUE(make_certificate(*certs_ / "ec.pem", *certs_ / "ec.key",
                                     {"edge.test", "*.edge.test"}, "ec"));
        ASSERT_TRUE(
            make_certificate(*certs_ / "rsa.pem", *certs_ / "rsa.key", {"other.test"}, "rsa"));
    }
    void start(const std::string& extra_toml = "", const std::vector<std::string>& args = {}) {
        EdgeOptions o;
        o.toml = "tls_listen = [\"127.0.0.1:0\"]\n" + extra_toml +
                 "[[edge.tls.certificate]]\ncert = \"" + *certs_ / "ec.pem" + "\"\nkey = \"" +
                 *certs_ / "ec.key" + "\"\n[[edge.tls.certificate]]\ncert = \"" +
                 *certs_ / "rsa.pem" + "\"\nkey = \"" + *certs_ / "rsa.key" + "\"\n";
        o.args = args;
        start_edge(o);
        auto m =
            edge_.proc.wait_for_line(std::regex(R"(listening https://127\.0\.0\.1:(\d+))"), 5000);
        ASSERT_TRUE(m) << edge_.proc.stderr_text();
        tls_port_ = static_cast<uint16_t>(std::stoi((*m)[1]));
    }
    std::unique_ptr<TlsConn> open(const TlsOptions& o = {}) {
        std::string err;
        auto c = TlsConn::open(tls_port_, o, &err);
        EXPECT_TRUE(c) << err;
        return c;
    }
    // openssl s_client's report of a handshake.
    RunResult s_client(const std::vector<std::string>& extra) {
        std::vector<std::string> argv = {"openssl", "s_client", "-connect",
                                         "127.0.0.1:" + std::to_string(tls_port_), "-brief"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        Process p;
        SpawnOptions so;
        so.stdin_path = "/dev/null";
        p.start(argv, so);
        auto st = p.wait_exit(10000);
        RunResult r;
        r.status = st ? WEXITSTATUS(*st) : -1;
        r.output = p.stderr_text();
        return r;
    }

    std::unique_ptr<TempDir> certs_;
    uint16_t tls_port_ = 0;
};

TEST_F(Tls, RangesAreByteExactOverBothVersions) {
    start();
    const std::string data = file_bytes("t/1/v-3000k.mp4");
    for (int v : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        TlsOptions o;
        o.min_version = o.max_version = v;
        auto c = open(o);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->version(), v == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3");
        for (uint64_t a : {uint64_t{0}, uint64_t{102400}, uint64_t{1499000}}) {
            ASSERT_TRUE(c->send_all(get_request(
                "/t/1/v-3000k.mp4", fmt::format("Range: bytes={}-{}\r\n", a, a + 102399))));
            RawResponse r = c->read_response();
            ASSERT_TRUE(r.ok) << r.error;
            EXPECT_EQ(r.head.status, 206);
            EXPECT_EQ(r.body, data.substr(a, 102400));
        }
        ASSERT_TRUE(c->send_all(get_request("/t/1/v-3000k.mp4")));
        RawResponse whole = c->read_response();
        ASSERT_TRUE(whole.ok) << whole.error;
        EXPECT_EQ(Sha256::hex_of(whole.body), Sha256::hex_of(data));
        ASSERT_TRUE(c->send_all(get_request("/t/1/v-235k.mp4", "", "HEAD")));
        EXPECT_EQ(c->read_response(true).header("Content-Length"), "117500");
    }
    TempDir out;
    RunResult curl = run_command({"curl", "-sSk", "-r", "5-14", "-o", out / "r.bin",
                                  fmt::format("https://127.0.0.1:{}/t/1/v-235k.mp4", tls_port_)});
    EXPECT_EQ(curl.status, 0) << curl.output;
    EXPECT_EQ(read_file(out / "r.bin"), file_bytes("t/1/v-235k.mp4").substr(5, 10));
}

// A real title (vcdn catalog make --media) over HTTPS to ffprobe, which checks the
// certificate: both manifests, every stream, and every frame of a rendition decodes.
TEST_F(Tls, FfprobeReadsARealTitleOverHttps) {
    TempDir media, work;
    RunResult made =
        run_command({vcdn_binary(), "catalog", "make", "--media", "--quiet", "--out", media.path(),
                     "--titles", "1", "--bitrates", "300", "--seconds", "4"},
                    120000);
    ASSERT_EQ(made.status, 0) << made.output;
    EdgeProcess e;
    EdgeOptions o;
    o.toml = "tls_listen = [\"127.0.0.1:0\"]\n[[edge.tls.certificate]]\ncert = \"" +
             *certs_ / "ec.pem" + "\"\nkey = \"" + *certs_ / "ec.key" + "\"\n";
    ASSERT_TRUE(e.start(media.path(), work.path(), o)) << e.proc.stderr_text();
    auto m = e.proc.wait_for_line(std::regex(R"(listening https://127\.0\.0\.1:(\d+))"), 5000);
    ASSERT_TRUE(m) << e.proc.stderr_text();
    const std::string base = "https://127.0.0.1:" + std::string((*m)[1]) + "/t/1/";
    const std::vector<std::string> verify = {"-tls_verify",      "1",           "-ca_file",
                                             *certs_ / "ec.pem", "-verifyhost", "edge.test"};
    for (const char* manifest : {"master.m3u8", "manifest.mpd"}) {
        std::vector<std::string> argv = {"ffprobe", "-v", "error"};
        argv.insert(argv.end(), verify.begin(), verify.end());
        argv.insert(argv.end(),
                    {"-show_entries", "stream=codec_name", "-of", "flat", base + manifest});
        RunResult probe = run_command(argv, 60000);
        ASSERT_EQ(probe.status, 0) << manifest << ": " << probe.output;
        EXPECT_NE(probe.output.find("codec_name=\"h264\""), std::string::npos) << probe.output;
        EXPECT_NE(probe.output.find("codec_name=\"aac\""), std::string::npos) << probe.output;
    }
    std::vector<std::string> argv = {"ffmpeg", "-v", "error", "-nostdin"};
    argv.insert(argv.end(), verify.begin(), verify.end());
    argv.insert(argv.end(), {"-i", base + "media_0.m3u8", "-f", "null", "-"});
    RunResult decode = run_command(argv, 60000);
    EXPECT_EQ(decode.status, 0) << decode.output;
    EXPECT_EQ(decode.output, "");
    // The certificate is checked: another name is refused.
    RunResult wrong =
        run_command({"ffprobe", "-v", "error", "-tls_verify", "1", "-ca_file", *certs_ / "ec.pem",
                     "-verifyhost", "wrong.example", base + "master.m3u8"},
                    60000);
    EXPECT_NE(wrong.status, 0) << wrong.output;
}

TEST_F(Tls, OldProtocolsAndWeakCiphersAreRefused) {
    start();
    for (int v : {TLS1_VERSION, TLS1_1_VERSION}) {
        TlsOptions o;
        o.min_version = o.max_version = v;
        std::string err;
        EXPECT_FALSE(TlsConn::open(tls_port_, o, &err)) << v;
    }
    TlsOptions cbc;
    cbc.max_version = TLS1_2_VERSION;
    cbc.ciphers12 = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA";
    std::string err;
    EXPECT_FALSE(TlsConn::open(tls_port_, cbc, &err)) << "non-AEAD cipher accepted";
    EXPECT_GE(edge_.wait_metric("vcdn_tls_handshake_failures_total", "", 3), 3);
}

TEST_F(Tls, AesGcmFirstChachaForClientsThatPreferIt) {
    start();
    struct Case {
        int version;
        std::string c12, c13, want;
    } cases[] = {
        {TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256", "",
         "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {TLS1_2_VERSION,
         "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-"
         "SHA256",
         "", "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {TLS1_3_VERSION, "", "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
         "TLS_CHACHA20_POLY1305_SHA256"},
        {TLS1_3_VERSION, "",
         "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
         "TLS_AES_128_GCM_SHA256"},
    };
    for (const Case& k : cases) {
        TlsOptions o;
        o.min_version = o.max_version = k.version;
        o.ciphers12 = k.c12;
        o.ciphers13 = k.c13;
        auto c = open(o);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->cipher(), k.want) << k.c12 << k.c13;
    }
}

TEST_F(Tls, AlpnSpeaksHttp11Only) {
    start();
    TlsOptions h1;
    h1.alpn = "http/1.1";
    EXPECT_EQ(open(h1)->alpn(), "http/1.1");
    TlsOptions h2;
    h2.alpn = "h2";
    auto c = open(h2);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->alpn(), ""); // no agreement: the client may go on with HTTP/1.1
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-235k.mp4", "Range: bytes=0-0\r\n")));
    EXPECT_EQ(c->read_response().head.status, 206);
}

TEST_F(Tls, SniChoosesTheCertificate) {
    start();
    for (auto [sni, cn] :
         std::vector<std::pair<std::string, std::string>>{{"edge.test", "edge.test"},
                                                          {"cdn.edge.test", "edge.test"},
                                                          {"other.test", "other.test"},
                                                          {"OTHER.TEST", "other.test"},
                                                          {"unknown.example", "edge.test"},
                                                          {"", "edge.test"}}) {
        TlsOptions o;
        o.servername = sni;
        auto c = open(o);
        ASSERT_TRUE(c) << sni;
        EXPECT_EQ(c->peer_common_name(), cn) << sni;
    }
    // The RSA certificate really is used: an RSA-only cipher works with its name.
    TlsOptions rsa;
    rsa.servername = "other.test";
    rsa.max_version = TLS1_2_VERSION;
    rsa.ciphers12 = "ECDHE-RSA-AES128-GCM-SHA256";
    auto c = open(rsa);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->cipher(), "ECDHE-RSA-AES128-GCM-SHA256");
}

TEST_F(Tls, SessionsResumeAcrossTicketKeyRotation) {
    start("[edge.tls]\nticket_key_rotation_s = 1\n");
    for (int v : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        TlsOptions o;
        o.min_version = o.max_version = v;
        auto first = open(o);
        ASSERT_TRUE(first);
        SSL_SESSION* s = first->take_session();
        ASSERT_NE(s, nullptr);
        first.reset();
        o.session = s;
        auto again = open(o);
        ASSERT_TRUE(again);
        EXPECT_TRUE(again->resumed()) << v;
        SSL_SESSION_free(s);
    }
    EXPECT_GE(edge_.wait_metric("vcdn_tls_resumed_total", "", 2), 2);
    // One rotation later the ticket still works (the previous key decrypts it); three later
    // it does not, and the handshake is simply a full one.
    TlsOptions o;
    o.min_version = o.max_version = TLS1_3_VERSION;
    // The count of rotations must be that of the key the ticket was sealed with: a rotation
    // between the handshake and the reading would make "one later" two. Keep only a ticket
    // got while the count stood still (a few tries at most; rotations are a second apart).
    SSL_SESSION* s = nullptr;
    double rot = 0;
    for (int attempt = 0; attempt < 5 && !s; ++attempt) {
        const double before = edge_.metric("vcdn_tls_ticket_key_rotations_total");
        auto first = open(o);
        ASSERT_TRUE(first);
        SSL_SESSION* got = first->take_session();
        ASSERT_NE(got, nullptr);
        first.reset();
        rot = edge_.metric("vcdn_tls_ticket_key_rotations_total");
        if (rot == before)
            s = got;
        else
            SSL_SESSION_free(got);
    }
    ASSERT_NE(s, nullptr) << "the ticket key rotated during every handshake";
    for (int i = 0; i < 40 && edge_.metric("vcdn_tls_ticket_key_rotations_total") < rot + 1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    o.session = s;
    EXPECT_TRUE(open(o)->resumed());
    for (int i = 0; i < 80 && edge_.metric("vcdn_tls_ticket_key_rotations_total") < rot + 3; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto late = open(o);
    ASSERT_TRUE(late);
    EXPECT_FALSE(late->resumed());
    SSL_SESSION_free(s);
    // openssl s_client agrees.
    RunResult r = s_client({"-tls1_3"});
    EXPECT_NE(r.output.find("Protocol version: TLSv1.3"), std::string::npos) << r.output;
}

std::string ticket_of(const SSL_SESSION* s) {
    const unsigned char* t = nullptr;
    size_t n = 0;
    SSL_SESSION_get0_ticket(s, &t, &n);
    return std::string(reinterpret_cast<const char*>(t), n);
}

TEST_F(Tls, ResumedTls13SessionsGetAFreshTicket) {
    // TLS 1.3 clients use a ticket once: each resumption must hand out the next one, or every
    // other connection of a client is a full handshake.
    start();
    TlsOptions o;
    o.min_version = o.max_version = TLS1_3_VERSION;
    auto c = open(o);
    ASSERT_TRUE(c);
    SSL_SESSION* s = c->take_session();
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 3; ++i) {
        o.session = s;
        auto next = open(o);
        ASSERT_TRUE(next);
        EXPECT_TRUE(next->resumed()) << i;
        ASSERT_TRUE(next->send_all(get_request("/t/1/v-235k.mp4", "Range: bytes=0-99\r\n")));
        ASSERT_TRUE(next->read_response().ok);
        SSL_SESSION* fresh = next->take_session();
        ASSERT_NE(fresh, nullptr);
        EXPECT_FALSE(ticket_of(fresh).empty());
        EXPECT_NE(ticket_of(fresh), ticket_of(s)) << "resumption " << i << " issued no new ticket";
        SSL_SESSION_free(s);
        s = fresh;
    }
    SSL_SESSION_free(s);
}

TEST_F(Tls, PipelinedRequestsAndManyRecordsArriveInOrder) {
    // Several requests in one TLS record, answered in order; bodies of many records (the
    // user-space path coalesces records into fewer TCP pushes) stay byte-exact.
    start("[edge.tls]\nktls = false\n");
    const std::string data = file_bytes("t/1/v-3000k.mp4");
    auto c = open();
    ASSERT_TRUE(c);
    std::string reqs;
    const uint64_t starts[] = {0, 70000, 333333, 1000000};
    for (uint64_t a : starts)
        reqs +=
            get_request("/t/1/v-3000k.mp4", fmt::format("Range: bytes={}-{}\r\n", a, a + 200000));
    ASSERT_TRUE(c->send_all(reqs));
    for (uint64_t a : starts) {
        RawResponse r = c->read_response();
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 206);
        EXPECT_EQ(r.body, data.substr(a, 200001)) << a;
    }
}

TEST_F(Tls, UserSpacePathIsUsedWithoutKtlsAndReported) {
    start("[edge.tls]\nktls = false\n");
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-235k.mp4", "Range: bytes=0-9999\r\n")));
    RawResponse r = c->read_response();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.body, file_bytes("t/1/v-235k.mp4").substr(0, 10000));
    auto lines = edge_.access_log(1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["tls_path"], "userspace");
    EXPECT_EQ(lines[0]["tls"], c->version());
    EXPECT_EQ(lines[0]["cipher"], c->cipher());
    EXPECT_EQ(lines[0]["resumed"], false);
    EXPECT_EQ(edge_.wait_metric("vcdn_tls_responses_total", "path=\"userspace\"", 1), 1);
    EXPECT_EQ(edge_.metric("vcdn_tls_body_bytes_total", "path=\"userspace\""), 10000);
    EXPECT_EQ(edge_.metric("vcdn_tls_mapped_body_bytes_total"), 10000); // tls.map_bodies default
}

// Without kTLS, bodies are encrypted straight from the file's mapping. A page of it that
// cannot be read raises SIGBUS; the edge must lose that one connection, not the process. A
// file truncated in place behind a cached entry does it (with disk.mode = blocking there is no
// residency check in between): the head promised the old length, the body stops, the
// connection closes, the root stays up and the next client is served.
TEST_F(Tls, MappedBodyThatCannotBeReadEndsOnlyItsConnection) {
    const std::string path = root() + "/shrinking.bin";
    std::string data(1 << 20, '\0');
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>(i * 7 + (i >> 12));
    {
        std::ofstream f(path, std::ios::binary);
        f << data;
    }
    start("[edge.tls]\nktls = false\n[edge.disk]\nmode = \"blocking\"\n"
          "[edge.file_cache]\nrevalidate_ms = 600000\n");
    {
        auto c = open();
        ASSERT_TRUE(c->send_all(get_request("/shrinking.bin", "Range: bytes=0-99999\r\n")));
        RawResponse r = c->read_response();
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.body, data.substr(0, 100000));
    }
    ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
    {
        auto c = open();
        ASSERT_TRUE(c->send_all(get_request("/shrinking.bin", "Range: bytes=500000-699999\r\n")));
        RawResponse r = c->read_response();
        EXPECT_FALSE(r.ok) << "a full body from a file that no longer has it";
        EXPECT_EQ(r.head.status, 206); // the head (from the cached entry) went out first
        EXPECT_LT(r.body.size(), 200000u);
    }
    EXPECT_TRUE(edge_.proc.wait_for_line(
        std::regex(R"(shrinking\.bin: byte \d+ could not be read from its mapping \(the file )"
                   R"(shrank\); closing the connection at offset 500000)"),
        3000))
        << edge_.proc.stderr_text();
    EXPECT_GE(edge_.metric("vcdn_sendfile_errors_total"), 1);
    EXPECT_EQ(edge_.metric("vcdn_tls_mapped_read_faults_total"), 1);
    ASSERT_TRUE(edge_.proc.running());
    // The same worker serves on: what is left of the file, and another file.
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request("/shrinking.bin", "Range: bytes=0-999\r\n")));
    RawResponse r = c->read_response();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, data.substr(0, 1000));
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-235k.mp4", "Range: bytes=0-65535\r\n")));
    r = c->read_response();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, file_bytes("t/1/v-235k.mp4").substr(0, 65536));
    EXPECT_EQ(edge_.metric("vcdn_root_up"), 1) << "a shrunk file is not a failing disk";
    ::unlink(path.c_str());
    // A clean exit: under AddressSanitizer also no leak (an SSL_write abandoned half-way
    // would leave OpenSSL's record bookkeeping behind).
    c.reset();
    edge_.proc.signal(SIGTERM);
    auto st = edge_.proc.wait_exit(15000);
    ASSERT_TRUE(st);
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << *st << edge_.proc.stderr_text();
}

// A file cut to a length that is not a whole number of pages: the page holding its new end
// reads as zeros past that end, with no fault. A range ending inside that page must not come
// back complete (zeros as content); it ends short, as over plain HTTP and with map_bodies off.
class TlsShrunk : public Tls, public ::testing::WithParamInterface<bool> {};

TEST_P(TlsShrunk, RangeEndingInTheLastPageOfAShrunkFileIsNeverCompletedWithZeros) {
    const bool mapped = GetParam();
    const std::string path = root() + "/cut.bin";
    std::string data(1 << 20, 'v');
    {
        std::ofstream f(path, std::ios::binary);
        f << data;
    }
    start(std::string("[edge.tls]\nktls = false\nmap_bodies = ") + (mapped ? "true" : "false") +
          "\n[edge.disk]\nmode = \"blocking\"\n[edge.file_cache]\nrevalidate_ms = 600000\n");
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request("/cut.bin", "Range: bytes=0-9999\r\n")));
    RawResponse r = c->read_response();
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(::truncate(path.c_str(), 4500), 0);
    c = open();
    ASSERT_TRUE(c->send_all(get_request("/cut.bin", "Range: bytes=4000-4999\r\n")));
    r = c->read_response();
    EXPECT_FALSE(r.ok) << "a complete body from bytes the file no longer has";
    EXPECT_EQ(r.body.find(std::string(1, '\0')), std::string::npos) << "zeros sent as content";
    EXPECT_EQ(edge_.metric("vcdn_tls_mapped_read_faults_total"), mapped ? 1 : 0);
    ::unlink(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(BodyPaths, TlsShrunk, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "Mapped" : "Read"; });

// tls.map_bodies = false reads bodies into a buffer (no mapping touched): same bytes, and
// none of them counted as encrypted from the mapping.
TEST_F(Tls, BodiesReadIntoABufferWhenMappingIsOff) {
    start("[edge.tls]\nktls = false\nmap_bodies = false\n");
    const std::string data = file_bytes("t/1/v-3000k.mp4");
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-3000k.mp4", "Range: bytes=12345-412344\r\n")));
    RawResponse r = c->read_response();
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, data.substr(12345, 400000));
    EXPECT_EQ(edge_.wait_metric("vcdn_tls_body_bytes_total", "path=\"userspace\"", 400000), 400000);
    EXPECT_EQ(edge_.metric("vcdn_tls_mapped_body_bytes_total"), 0);
}

TEST_F(Tls, KernelTlsPathWhenTheKernelHasIt) {
    if (!kernel_has_ktls())
        GTEST_SKIP() << "this kernel has no TLS upper-layer protocol (no 'tls' in "
                        "/proc/sys/net/ipv4/tcp_available_ulp, TCP_ULP \"tls\" refused): the "
                        "kTLS path cannot run here";
    start();
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-3000k.mp4", "Range: bytes=0-102399\r\n")));
    RawResponse r = c->read_response();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.body, file_bytes("t/1/v-3000k.mp4").substr(0, 102400));
    auto lines = edge_.access_log(1);
    EXPECT_EQ(lines[0]["tls_path"], "ktls");
}

TEST_F(Tls, PathFollowsTheKernel) {
    start();
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-235k.mp4", "Range: bytes=0-99\r\n")));
    ASSERT_TRUE(c->read_response().ok);
    auto lines = edge_.access_log(1);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["tls_path"], kernel_has_ktls() ? "ktls" : "userspace");
}

TEST_F(Tls, CertificatesReloadOnSighupWithoutDroppingConnections) {
    start();
    // A transfer in flight to a slow reader.
    std::string err;
    TlsOptions o;
    o.rcvbuf = 16384;
    auto slow = TlsConn::open(tls_port_, o, &err);
    ASSERT_TRUE(slow) << err;
    ASSERT_TRUE(slow->send_all(get_request("/t/1/v-3000k.mp4")));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // New certificate for the default name, then SIGHUP.
    ASSERT_TRUE(
        make_certificate(*certs_ / "ec.pem", *certs_ / "ec.key", {"renewed.edge.test"}, "ec"));
    edge_.proc.signal(SIGHUP);
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("TLS certificates reloaded"), 5000))
        << edge_.proc.stderr_text();
    EXPECT_EQ(open()->peer_common_name(), "renewed.edge.test");
    RawResponse r = slow->read_response(false, 10000);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(Sha256::hex_of(r.body), Sha256::hex_of(file_bytes("t/1/v-3000k.mp4")));
    // A broken certificate file does not take effect.
    write_file(*certs_ / "ec.pem",
               "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
    edge_.proc.signal(SIGHUP);
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("TLS certificates not reloaded"), 5000));
    EXPECT_EQ(open()->peer_common_name(), "renewed.edge.test");
    EXPECT_TRUE(edge_.proc.running());
}

TEST_F(Tls, SignedUrlsOverHttps) {
    write_file(*certs_ / "keys",
               "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    start("", {"--signing-keys", *certs_ / "keys", "--require-signed-urls"});
    RunResult s = run_command({vcdn_binary(), "sign", "--key-file", *certs_ / "keys", "--path",
                               "/t/1/v-235k.mp4", "--ttl", "60"});
    std::string url = s.output.substr(0, s.output.find('\n'));
    auto c = open();
    ASSERT_TRUE(c->send_all(get_request(url, "Range: bytes=0-9\r\n")));
    EXPECT_EQ(c->read_response().head.status, 206);
    ASSERT_TRUE(c->send_all(get_request("/t/1/v-235k.mp4")));
    EXPECT_EQ(c->read_response().head.status, 403);
}

TEST_F(Tls, BadCertificatesStopTheStartWithOneLine) {
    write_file(*certs_ / "junk.pem", "junk\n");
    struct Case {
        std::vector<std::string> args;
        std::string want;
    } cases[] = {
        {{"--cert", *certs_ / "missing.pem", "--key", *certs_ / "ec.key"}, "TLS certificate"},
        {{"--cert", *certs_ / "junk.pem", "--key", *certs_ / "ec.key"}, "TLS certificate"},
        {{"--cert", *certs_ / "ec.pem", "--key", *certs_ / "rsa.key"}, "does not match"},
        {{"--cert", *certs_ / "ec.pem"}, "cert and key"},
        {{}, "needs a certificate"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> argv = {vcdn_binary(), "edge",         "--root",
                                         root(),        "--tls-listen", "127.0.0.1:0"};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        RunResult r = run_command(argv, 10000);
        EXPECT_NE(r.status, 0) << c.want;
        EXPECT_NE(r.output.find(c.want), std::string::npos)
            << "want '" << c.want << "' in " << r.output;
        EXPECT_LE(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
}

TEST_F(Tls, HandshakeBurstIsSpreadOverLoopTurns) {
    start("[edge.tls]\nhandshakes_per_turn = 2\n", {"--workers", "1"});
    // A stream in progress...
    auto stream = open();
    ASSERT_TRUE(stream);
    // ...while 60 clients handshake at once.
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 60; ++i)
        clients.emplace_back([&] {
            std::string err;
            if (TlsConn::open(tls_port_, TlsOptions{}, &err)) ++ok;
        });
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(stream->send_all(get_request("/t/1/v-3000k.mp4", "Range: bytes=0-102399\r\n")));
        RawResponse r = stream->read_response();
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 206);
    }
    for (auto& t : clients)
        t.join();
    EXPECT_EQ(ok.load(), 60);
    EXPECT_GT(edge_.metric("vcdn_tls_handshakes_deferred_total"), 0);
}

} // namespace
} // namespace vcdn::test
