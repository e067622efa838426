#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <vcdn/base/mapped_read.h>
#include <vcdn/tls/server_context.h>

#include "temp_dir.h"
#include "tls_client.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace vcdn {
namespace {

// A 4-page file, mapped, then truncated to one page: reading pages 2-4 of the mapping raises
// SIGBUS (the pages are past the end of the file).
struct ShrunkMapping {
    explicit ShrunkMapping(const std::string& path) {
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        len = 4 * page;
        fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
        std::string data(len, 'x');
        EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
        map = static_cast<const char*>(::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0));
        EXPECT_NE(map, MAP_FAILED);
        EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(page)), 0);
        this->page = page;
    }
    ~ShrunkMapping() {
        ::munmap(const_cast<char*>(map), len);
        ::close(fd);
    }
    int fd = -1;
    size_t len = 0, page = 0;
    const char* map = nullptr;
};

// What OpenSSL does with the plaintext: copies it (a C frame the fault abandons).
[[gnu::noinline]] void copy_out(char* to, const char* from, size_t n) {
    std::memcpy(to, from, n);
    asm volatile("" ::: "memory");
}

TEST(MappedRead, AFaultInTheGuardedRangeIsCaughtAndTheThreadGoesOn) {
    ASSERT_TRUE(base::install_mapped_read_handler());
    ASSERT_TRUE(base::install_mapped_read_handler()); // idempotent
    test::TempDir dir;
    ShrunkMapping m(dir / "f");
    std::string out(m.page, '\0');
    bool ran_to_end = false;
    // The readable first page: fn runs to its end.
    EXPECT_TRUE(base::guarded_mapped_read(m.map, m.page, [&] {
        copy_out(out.data(), m.map, m.page);
        ran_to_end = true;
    }));
    EXPECT_TRUE(ran_to_end);
    EXPECT_EQ(out, std::string(m.page, 'x'));
    // Page 3: past the end. Twice, so a handler left blocked after the first jump would show.
    for (int i = 0; i < 2; ++i) {
        ran_to_end = false;
        EXPECT_FALSE(base::guarded_mapped_read(m.map + 2 * m.page, m.page, [&] {
            copy_out(out.data(), m.map + 2 * m.page, m.page);
            ran_to_end = true;
        }));
        EXPECT_FALSE(ran_to_end);
        EXPECT_EQ(base::mapped_read_guard().fault_addr, m.map + 2 * m.page);
        EXPECT_EQ(base::mapped_read_guard().fault_code, BUS_ADRERR); // past the end
        EXPECT_EQ(base::mapped_read_guard().active, 0);
    }
}

TEST(MappedRead, EachThreadHasItsOwnGuard) {
    ASSERT_TRUE(base::install_mapped_read_handler());
    test::TempDir dir;
    ShrunkMapping m(dir / "f");
    bool results[2] = {true, true};
    std::thread t[2];
    for (int k = 0; k < 2; ++k) {
        t[k] = std::thread([&, k] {
            char buf[64];
            for (int i = 0; i < 100; ++i)
                results[k] &= !base::guarded_mapped_read(m.map + (2 + k) * m.page, m.page, [&] {
                    copy_out(buf, m.map + (2 + k) * m.page, 64);
                });
        });
    }
    for (auto& th : t)
        th.join();
    EXPECT_TRUE(results[0]);
    EXPECT_TRUE(results[1]);
}

// The edge's case: the fault happens inside OpenSSL, in SSL_write copying the plaintext into its
// record buffer. The thread comes back out, the SSL object can be freed, and the thread goes on
// (here: another handshake and a clean write on a fresh pair).
TEST(MappedRead, AFaultInsideSslWriteIsCaughtAndTheSessionCanBeFreed) {
    ASSERT_TRUE(base::install_mapped_read_handler());
    test::TempDir dir;
    ASSERT_TRUE(test::make_certificate(dir / "c.pem", dir / "k.pem", {"edge.test"}, "ec"));
    tls::ServerOptions o;
    o.certs.push_back(tls::CertFiles{dir / "c.pem", dir / "k.pem"});
    o.ktls = false;
    auto ctx = tls::ServerContext::build(o, std::make_shared<tls::TicketKeys>());
    ASSERT_TRUE(ctx) << ctx.error().message;
    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
    ASSERT_NE(client_ctx, nullptr);
    ShrunkMapping m(dir / "f");

    // A connected pair over a socketpair, handshake done. Returns false on failure.
    auto connect = [&](SSL** server, SSL** client, int sv[2]) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return false;
        *server = (*ctx)->new_ssl(sv[0]);
        *client = SSL_new(client_ctx);
        SSL_set_fd(*client, sv[1]);
        SSL_set_connect_state(*client);
        for (int i = 0; i < 1000; ++i) {
            const int a = SSL_do_handshake(*server), b = SSL_do_handshake(*client);
            if (a == 1 && b == 1) return true;
        }
        return false;
    };
    SSL *server = nullptr, *client = nullptr;
    int sv[2];
    ASSERT_TRUE(connect(&server, &client, sv));
    int written = 0;
#if defined(__SANITIZE_ADDRESS__)
    __lsan_disable(); // OpenSSL's record bookkeeping is abandoned with the write, by design
#endif
    const bool read = base::guarded_mapped_read(m.map + 2 * m.page, m.page, [&] {
        written = SSL_write(server, m.map + 2 * m.page, static_cast<int>(m.page));
    });
#if defined(__SANITIZE_ADDRESS__)
    __lsan_enable();
#endif
    EXPECT_FALSE(read);
    EXPECT_EQ(written, 0);
    EXPECT_EQ(base::mapped_read_guard().fault_addr, m.map + 2 * m.page);
    SSL_set_shutdown(server, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(server);
    SSL_free(client);
    ::close(sv[0]);
    ::close(sv[1]);

    ASSERT_TRUE(connect(&server, &client, sv));
    EXPECT_EQ(SSL_write(server, m.map, 100), 100);
    char got[100];
    int n = -1;
    for (int i = 0; i < 1000 && n <= 0; ++i)
        n = SSL_read(client, got, sizeof got);
    EXPECT_EQ(n, 100);
    EXPECT_EQ(std::string(got, 100), std::string(100, 'x'));
    SSL_free(server);
    SSL_free(client);
    ::close(sv[0]);
    ::close(sv[1]);
    SSL_CTX_free(client_ctx);
}

// SIGBUS itself, or SIGABRT where AddressSanitizer's handler (installed before ours) reports it.
// The children below die by it, so no destructor removes their directory: each removes it once
// the file is mapped (the mapping and the descriptor keep the file itself).
bool killed_by_the_fault(int status) {
    return WIFSIGNALED(status) && (WTERMSIG(status) == SIGBUS || WTERMSIG(status) == SIGABRT);
}

TEST(MappedReadDeathTest, AFaultOutsideTheGuardedRangeStillEndsTheProcess) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            base::install_mapped_read_handler();
            test::TempDir dir;
            ShrunkMapping m(dir / "f");
            std::filesystem::remove_all(dir.path());
            char buf[64];
            // Guarding page 2 does not cover a read of page 3.
            base::guarded_mapped_read(m.map + 2 * m.page, m.page,
                                      [&] { copy_out(buf, m.map + 3 * m.page, 64); });
            std::exit(0);
        },
        killed_by_the_fault, "");
    EXPECT_EXIT(
        {
            base::install_mapped_read_handler();
            test::TempDir dir;
            ShrunkMapping m(dir / "f");
            std::filesystem::remove_all(dir.path());
            char buf[64];
            copy_out(buf, m.map + 3 * m.page, 64); // no guard at all
            std::exit(0);
        },
        killed_by_the_fault, "");
    // A SIGBUS sent with kill(2) while a guard is active is not a fault: not caught, and the
    // default action (the process ends) is what it gets.
    EXPECT_EXIT(
        {
            base::install_mapped_read_handler();
            test::TempDir dir;
            ShrunkMapping m(dir / "f");
            std::filesystem::remove_all(dir.path());
            base::guarded_mapped_read(m.map, m.len, [] { ::kill(::getpid(), SIGBUS); });
            std::exit(0);
        },
        killed_by_the_fault, "");
    // A real fault outside any guard ends the process even when SIGBUS was ignored before the
    // handler came (the kernel does not let a fault be ignored; returning would loop on it).
    EXPECT_EXIT(
        {
            ::signal(SIGBUS, SIG_IGN);
            base::install_mapped_read_handler();
            test::TempDir dir;
            ShrunkMapping m(dir / "f");
            std::filesystem::remove_all(dir.path());
            char buf[64];
            copy_out(buf, m.map + 3 * m.page, 64);
            std::exit(0);
        },
        killed_by_the_fault, "");
}

} // namespace
} // namespace vcdn
