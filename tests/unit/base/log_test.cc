#include <gtest/gtest.h>

#include <fcntl.h>
#include <string>
#include <unistd.h>

#include <vcdn/base/log.h>

namespace vcdn::log {
namespace {

// What log::write puts on stderr for `message`.
std::string written(std::string_view message) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    write(Level::kWarn, message);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    return out;
}

TEST(Log, OneRecordIsOneLineWhateverItsFieldsHold) {
    // An edge's `reason` that tries to forge a second record and drive a terminal.
    const std::string out = written(
        "control: edge a1 is down (reason: x\n2026-12-03T00:00:00.000Z info forged\r\x1b[2J\x7f)");
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos);
    EXPECT_EQ(out.find('\x1b'), std::string::npos);
    EXPECT_NE(
        out.find(" warn control: edge a1 is down (reason: x\\x0a2026-12-03T00:00:00.000Z info "
                 "forged\\x0d\\x1b[2J\\x7f)\n"),
        std::string::npos)
        << out;
    // Printable text and UTF-8 pass unchanged.
    EXPECT_NE(written("caf\xc3\xa9 \"ok\" \\ tab-less").find("caf\xc3\xa9 \"ok\" \\ tab-less\n"),
              std::string::npos);
}

} // namespace
} // namespace vcdn::log
