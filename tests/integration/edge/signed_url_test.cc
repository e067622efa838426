// Signed URLs on a real `vcdn edge`, with URLs made by the real `vcdn sign`.
#include <signal.h>

#include "edge_fixture.h"

namespace vcdn::test {
namespace {

const char kKey1[] = "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
const char kKey2[] = "k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n";

class SignedUrls : public EdgeTest {
protected:
    void SetUp() override {
        keys_dir_ = std::make_unique<TempDir>();
        key_file_ = *keys_dir_ / "keys.txt";
        write_file(key_file_, kKey1);
        EdgeOptions o;
        o.args = {"--signing-keys", key_file_, "--require-signed-urls"};
        start_edge(o);
    }

    // Runs `vcdn sign` and returns its last line.
    std::string sign(const std::string& path, int ttl, const std::string& key_id = "",
                     const std::string& prefix = "", int title_segments = 0) {
        std::vector<std::string> argv = {vcdn_binary(), "sign", "--key-file", key_file_,
                                         "--path",      path,   "--ttl",      std::to_string(ttl)};
        if (!key_id.empty()) argv.insert(argv.end(), {"--key-id", key_id});
        if (!prefix.empty()) argv.insert(argv.end(), {"--prefix", prefix});
        if (title_segments)
            argv.insert(argv.end(), {"--title-segments", std::to_string(title_segments)});
        RunResult r = run_command(argv);
        EXPECT_EQ(r.status, 0) << r.output;
        std::string out = r.output;
        while (!out.empty() && out.back() == '\n')
            out.pop_back();
        return out.substr(out.rfind('\n') + 1);
    }

    RawResponse get(const std::string& target, const std::string& source = "") {
        UniqueFd fd = connect_to(port(), "127.0.0.1", 5000, source);
        RawResponse r;
        if (!fd || !send_all(fd.get(), get_request(target, "Range: bytes=0-99\r\n"))) {
            r.error = "connect/send failed";
            return r;
        }
        std::string carry;
        return read_response(fd.get(), &carry);
    }

    // The reason of the n-th access log line (1-based), waiting for the writer to flush it.
    std::string log_reason(size_t n) {
        auto lines = edge_.access_log(n);
        return lines.size() < n ? "(no line)" : lines[n - 1].value("reason", "");
    }

    std::unique_ptr<TempDir> keys_dir_;
    std::string key_file_;
};

TEST_F(SignedUrls, ValidSignatureIsServed) {
    RawResponse r = get(sign("/t/1/v-235k.mp4", 60));
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.head.status, 206);
    EXPECT_EQ(r.body, file_bytes("t/1/v-235k.mp4").substr(0, 100));
}

TEST_F(SignedUrls, EveryRefusalIs403WithItsOwnReason) {
    const std::string good = sign("/t/1/v-235k.mp4", 60);
    struct Case {
        std::string target;
        std::string reason;
    } cases[] = {
        {"/t/1/v-235k.mp4", "signed URL required"},
        {good.substr(0, good.find("&s=")), "signed URL required"},
        {good.substr(0, good.size() - 2) + (good.back() == 'A' ? "BB" : "AA"), "bad URL signature"},
        {"/t/1/v-3000k.mp4" + good.substr(good.find('?')), "bad URL signature"}, // other file
        // Past the edge's clock-skew slack (60 s by default).
        {sign("/t/1/v-235k.mp4", -120), "signed URL expired"},
        // Valid longer than the edge allows (3 days by default): a leaked key's long URLs.
        {sign("/t/1/v-235k.mp4", 30 * 86400), "signed URL valid for longer than this edge allows"},
        {sign("/t/1/v-235k.mp4", 60, "", "10.0.0.0/8"),
         "signed URL not valid for this client network"},
        {"/t/1/v-235k.mp4?e=99999999999&k=nokey&s=AAAAAAAAAAAAAAAAAAAAAA", "unknown signing key"},
        {"/t/1/v-235k.mp4?e=soon&k=k1&s=AAAAAAAAAAAAAAAAAAAAAA", "malformed URL signature"},
    };
    size_t n = 0;
    for (const Case& c : cases) {
        RawResponse r = get(c.target);
        ASSERT_TRUE(r.ok) << c.target << ": " << r.error;
        EXPECT_EQ(r.head.status, 403) << c.target;
        EXPECT_EQ(r.body, "403 Forbidden: " + c.reason + "\n") << c.target;
        EXPECT_EQ(log_reason(++n), c.reason) << c.target;
    }
    EXPECT_EQ(edge_.wait_metric("vcdn_signed_url_refusals_total", "reason=\"expired\"", 1), 1);
    EXPECT_EQ(edge_.metric("vcdn_signed_url_refusals_total", "reason=\"missing\""), 2);
    EXPECT_EQ(edge_.metric("vcdn_signed_url_refusals_total", "reason=\"too_long\""), 1);
}

// A title URL (/vt=<token>/t/1/...) covers every file of its title, so that a manifest's
// relative segment URLs resolve to URLs the edge serves; nothing outside the title.
TEST_F(SignedUrls, TitleTokenCoversItsTitleAndNothingElse) {
    const std::string manifest = sign("/t/1/v-235k.mp4", 60, "", "", 2);
    ASSERT_EQ(manifest.rfind("/vt=", 0), 0u) << manifest;
    const std::string token = manifest.substr(0, manifest.find("/t/1/"));
    for (const char* file : {"/t/1/v-235k.mp4", "/t/1/v-3000k.mp4"}) {
        RawResponse r = get(token + file);
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 206) << file << ": " << r.body;
        EXPECT_EQ(r.body, file_bytes(std::string(file).substr(1)).substr(0, 100)) << file;
    }
    const std::string bound = sign("/t/1/v-235k.mp4", 60, "", "127.1.0.0/16", 2);
    const std::string other_key = [&] {
        write_file(key_file_, std::string(kKey1) + kKey2); // k2 is not loaded by the edge
        std::string u = sign("/t/1/v-235k.mp4", 60, "k2", "", 2);
        write_file(key_file_, kKey1);
        return u;
    }();
    std::string forged = token;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    struct Case {
        std::string target, reason, source;
    } cases[] = {
        {token + "/t/2/v-235k.mp4", "title token forged or for another title", ""},
        {token + "/t/v-235k.mp4", "title token forged or for another title", ""},
        {token + "/escape", "title token forged or for another title", ""},
        {forged + "/t/1/v-235k.mp4", "title token forged or for another title", ""},
        {sign("/t/1/v-235k.mp4", -120, "", "", 2), "title token expired", ""},
        {sign("/t/1/v-235k.mp4", 30 * 86400, "", "", 2),
         "title token valid for longer than this edge allows", ""},
        {bound, "title token not valid for this client network", "127.2.0.1"},
        {other_key, "unknown signing key", ""},
        {"/vt=k1~soon~2~~AAAAAAAAAAAAAAAAAAAAAA/t/1/v-235k.mp4", "malformed title token", ""},
        // A query signature does not rescue a bad title token, nor the other way round.
        {forged + sign("/t/1/v-235k.mp4", 60), "title token forged or for another title", ""},
    };
    size_t n = 2;
    for (const Case& c : cases) {
        RawResponse r = get(c.target, c.source);
        ASSERT_TRUE(r.ok) << c.target << ": " << r.error;
        EXPECT_EQ(r.head.status, 403) << c.target;
        EXPECT_EQ(r.body, "403 Forbidden: " + c.reason + "\n") << c.target;
        EXPECT_EQ(log_reason(++n), c.reason) << c.target;
    }
    EXPECT_EQ(get(bound, "127.1.2.3").head.status, 206);
    // A token that names no file is not a file.
    RawResponse r = get(token);
    EXPECT_EQ(r.head.status, 404);
    EXPECT_EQ(r.body, "404 Not Found: a title token names no file\n");
    // The access log keeps the token's binding for debugging, never its signature.
    auto lines = edge_.access_log(n + 2);
    ASSERT_GE(lines.size(), 1u);
    EXPECT_EQ(lines[0].value("path", ""),
              token.substr(0, token.rfind('~') + 1) + "-/t/1/v-235k.mp4");
    // vcdn sign refuses a scope that leaves no file name.
    RunResult bad = run_command({vcdn_binary(), "sign", "--key-file", key_file_, "--path",
                                 "/t/1/v-235k.mp4", "--title-segments", "2", "--session"});
    EXPECT_EQ(bad.status, 2);
    bad = run_command({vcdn_binary(), "sign", "--key-file", key_file_, "--path", "/t/1/v.mp4",
                       "--title-segments", "3"});
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.output.find("no file name below 3 directories"), std::string::npos) << bad.output;
}

TEST_F(SignedUrls, ClocksMayDifferByTheSkewOnly) {
    // A URL that expired 10 s ago by this clock is still within the 60 s the edge allows a
    // control plane whose clock runs ahead.
    EXPECT_EQ(get(sign("/t/1/v-235k.mp4", -10)).head.status, 206);
    EXPECT_EQ(get(sign("/t/1/v-235k.mp4", 3 * 86400 - 100)).head.status, 206);
}

TEST_F(SignedUrls, PrefixBindsToTheClientNetwork) {
    const std::string bound = sign("/t/1/v-235k.mp4", 60, "", "127.1.0.0/16");
    EXPECT_EQ(get(bound, "127.1.2.3").head.status, 206);
    EXPECT_EQ(get(bound, "127.2.0.1").head.status, 403);
    EXPECT_EQ(get(bound, "127.0.0.1").head.status, 403);
}

TEST_F(SignedUrls, KeysRotateOnSighupAndABrokenFileKeepsTheOldOnes) {
    const std::string old_url = sign("/t/1/v-235k.mp4", 600, "k1");
    // Add k2 (the newest, used for signing from now on); both are valid during the rotation.
    write_file(key_file_, std::string(kKey1) + kKey2);
    const std::string new_url = sign("/t/1/v-235k.mp4", 600);
    ASSERT_NE(new_url.find("k=k2"), std::string::npos);
    EXPECT_EQ(get(new_url).head.status, 403); // not loaded yet
    edge_.proc.signal(SIGHUP);
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("signing keys reloaded: 2 keys"), 3000));
    EXPECT_EQ(get(new_url).head.status, 206);
    EXPECT_EQ(get(old_url).head.status, 206);
    // Retire k1.
    write_file(key_file_, kKey2);
    edge_.proc.signal(SIGHUP);
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("signing keys reloaded: 1 keys"), 3000));
    EXPECT_EQ(get(old_url).head.status, 403);
    EXPECT_EQ(log_reason(4), "unknown signing key");
    EXPECT_EQ(get(new_url).head.status, 206);
    // A broken key file does not take effect.
    write_file(key_file_, "k3 tooshort\n");
    edge_.proc.signal(SIGHUP);
    ASSERT_TRUE(edge_.proc.wait_for_line(std::regex("signing keys not reloaded"), 3000));
    EXPECT_EQ(get(new_url).head.status, 206);
    EXPECT_TRUE(edge_.proc.running());
}

TEST_F(SignedUrls, ListenersCanDifferAndBadKeyFilesStopTheStart) {
    TempDir t;
    write_file(t / "e.toml",
               "[edge]\nroot = \"" + root() + "\"\nsigning_keys = \"" + key_file_ +
                   "\"\naccess_log = \"off\"\n[[edge.listener]]\naddress = \"127.0.0.1:0\"\n"
                   "require_signed_urls = true\n[[edge.listener]]\naddress = \"127.0.0.1:0\"\n");
    Process p;
    ASSERT_TRUE(p.start({vcdn_binary(), "edge", "--config", t / "e.toml"}));
    auto s = p.wait_for_line(
        std::regex(R"(listening http://127\.0\.0\.1:(\d+) \(signed URLs required\))"));
    auto o = p.wait_for_line(std::regex(R"(listening http://127\.0\.0\.1:(\d+)$)"));
    ASSERT_TRUE(s && o) << p.stderr_text();
    EXPECT_EQ(fetch(std::stoi((*s)[1]), get_request("/t/1/v-235k.mp4")).head.status, 403);
    EXPECT_EQ(fetch(std::stoi((*o)[1]), get_request("/t/1/v-235k.mp4")).head.status, 200);

    write_file(t / "bad.txt", "k1 00\n");
    RunResult r = run_command({vcdn_binary(), "edge", "--root", root(), "--listen", "127.0.0.1:0",
                               "--signing-keys", t / "bad.txt", "--require-signed-urls"});
    EXPECT_EQ(r.status, 2) << "a bad key file is a bad config";
    EXPECT_NE(r.output.find("at least 32"), std::string::npos) << r.output;
    r = run_command({vcdn_binary(), "edge", "--root", root(), "--listen", "127.0.0.1:0",
                     "--require-signed-urls"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--signing-keys"), std::string::npos) << r.output;
}

} // namespace
} // namespace vcdn::test
