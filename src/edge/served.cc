#include <vcdn/edge/served.h>

#include <sys/socket.h>

namespace vcdn::edge {

io::IpPrefix client_network(const io::IpAddress& a) {
    io::IpPrefix p;
    p.addr = a;
    p.bits = a.family == AF_INET ? 24 : 48;
    for (size_t i = p.bits / 8; i < sizeof p.addr.bytes; ++i)
        p.addr.bytes[i] = 0;
    return p;
}

void ServedTally::make_key(std::string* key, std::string_view path, const io::IpPrefix* net) {
    key->clear();
    if (path.empty() || path[0] != '/') key->push_back('/'); // a file key ("t/1/v.mp4")
    key->append(path);
    key->push_back('\0');
    if (!net) return;
    key->push_back(static_cast<char>(net->addr.family));
    key->append(reinterpret_cast<const char*>(net->addr.bytes), net->bits / 8);
}

void ServedTally::add_locked(const std::string& key, uint64_t bytes) {
    if (auto it = bytes_.find(key); it != bytes_.end()) {
        it->second += bytes;
        return;
    }
    if (bytes_.size() < max_keys_) {
        bytes_.emplace(key, bytes);
        return;
    }
    // Full: the file's entry without a network, if it is there or there is room for it.
    const size_t nul = key.find('\0');
    unknown_.assign(key, 0, nul + 1); // no allocation once it has grown: the hot full case
    if (auto it = bytes_.find(unknown_); it != bytes_.end()) {
        it->second += bytes;
        return;
    }
    if (bytes_.size() < max_keys_ + max_keys_ / 8) {
        bytes_.emplace(unknown_, bytes);
        return;
    }
    dropped_ += bytes;
}

void ServedTally::add(std::string_view path, const io::IpAddress& client, uint64_t bytes) {
    if (bytes == 0 || path.empty()) return;
    std::lock_guard lk(mu_);
    if (client.family == 0) {
        make_key(&scratch_, path, nullptr);
    } else {
        const io::IpPrefix net = client_network(client);
        make_key(&scratch_, path, &net);
    }
    add_locked(scratch_, bytes);
}

void ServedTally::put_back(const std::vector<wire::Served>& served) {
    std::lock_guard lk(mu_);
    for (const wire::Served& s : served) {
        make_key(&scratch_, s.path, s.client ? &*s.client : nullptr);
        add_locked(scratch_, s.bytes);
    }
}

std::vector<wire::Served> ServedTally::take() {
    std::unordered_map<std::string, uint64_t, SeededStringHash> mine;
    {
        std::lock_guard lk(mu_);
        mine.swap(bytes_);
    }
    std::vector<wire::Served> out;
    out.reserve(mine.size());
    for (const auto& [key, bytes] : mine) {
        const size_t nul = key.find('\0');
        wire::Served s;
        s.path = key.substr(0, nul);
        s.bytes = bytes;
        if (nul + 1 < key.size()) {
            io::IpPrefix net;
            net.addr.family = static_cast<uint8_t>(key[nul + 1]);
            const size_t n = key.size() - nul - 2;
            for (size_t i = 0; i < n && i < sizeof net.addr.bytes; ++i)
                net.addr.bytes[i] = static_cast<uint8_t>(key[nul + 2 + i]);
            net.bits = static_cast<uint8_t>(n * 8);
            s.client = net;
        }
        out.push_back(std::move(s));
    }
    return out;
}

uint64_t ServedTally::dropped_bytes() const {
    std::lock_guard lk(mu_);
    return dropped_;
}

size_t ServedTally::size() const {
    std::lock_guard lk(mu_);
    return bytes_.size();
}

bool ServedTally::half_full() const {
    std::lock_guard lk(mu_);
    return bytes_.size() * 2 >= max_keys_;
}

} // namespace vcdn::edge
