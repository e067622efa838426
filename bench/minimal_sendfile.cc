// The ceiling of this machine for the range workload: the least a server can do to answer
// "GET <path> + Range: bytes=a-b" with sendfile. One epoll loop per core, SO_REUSEPORT,
// edge-triggered, an open-file map with no revalidation, a fixed response head, keep-alive,
// no logging, no metrics, no timeouts, no validation beyond what keeps it from crashing.
// Not a server to run: a yardstick for bench/run.py.
//
//   minimal_sendfile ROOT PORT [THREADS [HEAD_BYTES]]
//
// Its head is ~100 bytes (status, Content-Length, Content-Range). A real server's is 250-400
// (Date, Last-Modified, ETag, Content-Type, ...), and on loopback the head's size changes the
// TCP exchange: after a segment that small the client's receive window stops growing at ~95 KB,
// the server's MSS is held to half of it, a 100 KiB body goes in three segments instead of
// two, and the client sends ~1 more ACK per response, which loopback charges to the client's
// CPU. HEAD_BYTES > 100 pads the head (an X-Pad header) to about that many bytes (within ~10),
// so the loop can be measured sending what the server it is compared with sends.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Conn {
    int fd;
    char in[4096];
    size_t len = 0;
    char head[4200];
    size_t head_len = 0, head_sent = 0;
    int file = -1;
    off_t off = 0, end = 0;
    bool readable = true;
};

struct File {
    int fd;
    off_t size;
};

std::string g_root;
int g_port;
std::string g_pad; // "X-Pad: aaa...\r\n" or empty

void serve(int listen_fd) {
    int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    std::unordered_map<std::string, File> files;
    epoll_event evs[256];
    auto close_conn = [&](Conn* c) {
        close(c->fd);
        delete c;
    };
    // Returns false when the connection is gone.
    auto pump = [&](Conn* c) -> bool {
        for (;;) {
            if (c->head_sent < c->head_len) {
                ssize_t n = send(c->fd, c->head + c->head_sent, c->head_len - c->head_sent,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) return errno == EAGAIN;
                c->head_sent += static_cast<size_t>(n);
                continue;
            }
            if (c->file >= 0 && c->off < c->end) {
                ssize_t n = sendfile(c->fd, c->file, &c->off, static_cast<size_t>(c->end - c->off));
                if (n < 0) return errno == EAGAIN;
                if (n == 0) return false;
                continue;
            }
            c->file = -1;
            // Next request.
            char* hend = static_cast<char*>(memmem(c->in, c->len, "\r\n\r\n", 4));
            if (!hend) {
                if (c->len == sizeof c->in) return false;
                // Edge-triggered: after a short read the socket is drained; the next arrival
                // raises a new event (the same saving vcdn makes).
                if (!c->readable) return true;
                size_t space = sizeof c->in - c->len;
                ssize_t n = recv(c->fd, c->in + c->len, space, 0);
                if (n == 0) return false;
                if (n < 0) {
                    c->readable = false;
                    return errno == EAGAIN;
                }
                if (static_cast<size_t>(n) < space) c->readable = false;
                c->len += static_cast<size_t>(n);
                continue;
            }
            size_t used = static_cast<size_t>(hend + 4 - c->in);
            char* sp1 = static_cast<char*>(memchr(c->in, ' ', used));
            char* sp2 =
                sp1 ? static_cast<char*>(memchr(sp1 + 1, ' ', used - (sp1 + 1 - c->in))) : nullptr;
            if (!sp2) return false;
            std::string path(sp1 + 1, sp2);
            auto it = files.find(path);
            if (it == files.end()) {
                std::string full = g_root + path;
                int fd = open(full.c_str(), O_RDONLY | O_NOATIME);
                struct stat st {};
                if (fd < 0 || fstat(fd, &st) != 0) return false;
                it = files.emplace(path, File{fd, st.st_size}).first;
            }
            off_t a = 0, b = it->second.size - 1;
            char* r = static_cast<char*>(memmem(c->in, used, "Range: bytes=", 13));
            if (r) {
                a = strtoll(r + 13, &r, 10);
                if (*r == '-') b = strtoll(r + 1, nullptr, 10);
            }
            c->head_len = static_cast<size_t>(snprintf(
                c->head, sizeof c->head,
                "HTTP/1.1 206 Partial Content\r\nContent-Length: %lld\r\n"
                "Content-Range: bytes %lld-%lld/%lld\r\n%s\r\n",
                static_cast<long long>(b - a + 1), static_cast<long long>(a),
                static_cast<long long>(b), static_cast<long long>(it->second.size), g_pad.c_str()));
            c->head_sent = 0;
            c->file = it->second.fd;
            c->off = a;
            c->end = b + 1;
            memmove(c->in, c->in + used, c->len - used);
            c->len -= used;
        }
    };
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; ++i) {
            if (!evs[i].data.ptr) {
                for (;;) {
                    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    auto* c = new Conn();
                    c->fd = fd;
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                    cev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                    if (!pump(c)) close_conn(c);
                }
                continue;
            }
            auto* c = static_cast<Conn*>(evs[i].data.ptr);
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP)) c->readable = true;
            if ((evs[i].events & (EPOLLERR | EPOLLHUP)) || !pump(c)) close_conn(c);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: minimal_sendfile ROOT PORT [THREADS [HEAD_BYTES]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_root = argv[1];
    g_port = atoi(argv[2]);
    unsigned threads =
        argc > 3 ? static_cast<unsigned>(atoi(argv[3])) : std::thread::hardware_concurrency();
    // The unpadded head of a 100 KiB range of a 64 MiB file is ~100 bytes; the pad brings it to
    // about HEAD_BYTES (at most 4,000).
    const int head_bytes = argc > 4 ? std::min(atoi(argv[4]), 4000) : 0;
    if (head_bytes > 100)
        g_pad = "X-Pad: " + std::string(static_cast<size_t>(head_bytes - 100), 'a') + "\r\n";
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < threads; ++t) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(g_port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 4096) != 0) {
            perror("bind/listen");
            return 1;
        }
        ts.emplace_back(serve, fd);
    }
    fprintf(stderr, "minimal_sendfile: listening on 127.0.0.1:%d with %u threads\n", g_port,
            threads);
    for (auto& t : ts)
        t.join();
}
