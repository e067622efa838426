// The socket half of the BIRD client (see bird.h): one UNIX-socket connection, blocking reads
// bounded by a timeout, one command at a time.
#include <vcdn/bgp/bird.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/time.h>

namespace vcdn::bgp {

BirdClient::~BirdClient() {
    if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<BirdClient>> BirdClient::connect(const std::string& socket_path,
                                                        int timeout_ms) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof sa.sun_path)
        return Error{fmt::format("bird socket '{}': a path of 1-{} bytes", socket_path,
                                 sizeof sa.sun_path - 1)};
    std::memcpy(sa.sun_path, socket_path.data(), socket_path.size());
    std::unique_ptr<BirdClient> c(new BirdClient);
    c->timeout_ms_ = timeout_ms;
    c->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd_ < 0) return Error{fmt::format("bird socket: {}", std::strerror(errno))};
    if (::connect(c->fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
        return Error{fmt::format("bird socket {}: {}", socket_path, std::strerror(errno))};
    // The greeting: "0001 BIRD 2.0.12 ready."
    Status s = c->command({}, [&](const ReplyLine& l) {
        if (l.code == 1) c->version_ = std::string(l.text);
    });
    if (!s) return Error{fmt::format("bird socket {}: {}", socket_path, s.error().message)};
    if (c->version_.rfind("BIRD ", 0) != 0)
        return Error{fmt::format("bird socket {}: not a BIRD control socket (greeting '{}')",
                                 socket_path, c->version_.substr(0, 80))};
    return c;
}

Result<bool> BirdClient::read_more() {
    if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms_);
    if (r == 0) return Error{fmt::format("no answer from BIRD in {} ms", timeout_ms_)};
    if (r < 0) return Error{fmt::format("poll: {}", std::strerror(errno))};
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n == 0) return Error{"BIRD closed the control connection"};
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return true;
        return Error{fmt::format("recv: {}", std::strerror(errno))};
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
}

Status BirdClient::command(std::string_view cmd, const std::function<void(const ReplyLine&)>& fn) {
    if (fd_ < 0) return Error{"not connected"};
    if (!cmd.empty()) {
        if (cmd.find('\n') != std::string_view::npos) return Error{"a command is one line"};
        std::string line(cmd);
        line.push_back('\n');
        size_t off = 0;
        while (off < line.size()) {
            const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return Error{fmt::format("send: {}", std::strerror(errno))};
            off += static_cast<size_t>(n);
        }
    }
    int prev = 0;
    std::string error;
    // The whole reply is read even when it is an error, so the next command starts clean.
    const int64_t deadline = monotonic_ms() + 600000; // a full table takes seconds, not this
    for (;;) {
        const size_t nl = buf_.find('\n', pos_);
        if (nl == std::string::npos) {
            if (monotonic_ms() > deadline) return Error{"BIRD's reply took over 10 minutes"};
            if (buf_.size() - pos_ > (1u << 20))
                return Error{"a reply line over 1 MiB: not BIRD's protocol"};
            auto r = read_more();
            if (!r) return r.error();
            continue;
        }
        std::string_view raw(buf_.data() + pos_, nl - pos_);
        pos_ = nl + 1;
        ReplyLine l;
        if (!split_reply_line(raw, prev, &l))
            return Error{fmt::format("unexpected reply line '{}'", raw.substr(0, 80))};
        prev = l.code;
        if (l.code >= 8000) {
            if (error.empty()) error = std::string(l.text);
        } else {
            fn(l);
        }
        if (l.last) break;
    }
    if (!error.empty()) return Error{fmt::format("BIRD: {}", error)};
    return {};
}

Result<std::vector<Session>> BirdClient::sessions() {
    std::vector<std::string> texts;
    std::vector<std::pair<int, bool>> meta;
    Status s = command("show protocols all", [&](const ReplyLine& l) {
        texts.emplace_back(l.text);
        meta.emplace_back(l.code, l.last);
    });
    if (!s) return s.error();
    std::vector<ReplyLine> lines(texts.size());
    for (size_t i = 0; i < texts.size(); ++i)
        lines[i] = ReplyLine{meta[i].first, meta[i].second, texts[i]};
    return parse_protocols(lines);
}

Status BirdClient::routes(const std::string& protocol,
                          const std::function<void(LearnedRoute&&)>& fn) {
    for (char c : protocol)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
            return Error{fmt::format("protocol name '{}': letters, digits, '_' only", protocol)};
    RouteParser parser(fn);
    Status s =
        command("show route all protocol " + protocol, [&](const ReplyLine& l) { parser.line(l); });
    parser.finish();
    return s;
}

} // namespace vcdn::bgp
