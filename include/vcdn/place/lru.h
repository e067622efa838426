#pragma once
// An LRU cache of whole files by bytes: what a pull-through cache (Traffic Server, Varnish,
// nginx proxy_cache) keeps. The yardstick placement is compared against, in bench_offload and
// in `vcdn sim`.
#include <cstdint>
#include <list>
#include <unordered_map>
#include <utility>

namespace vcdn::place {

class LruCache {
public:
    explicit LruCache(uint64_t capacity_bytes) : cap_(capacity_bytes) {}
    // A request for `file` of `size` bytes: true on a hit. A miss stores the file (evicting
    // the least recently used) unless it is larger than the whole cache.
    bool access(uint32_t file, uint64_t size) {
        auto it = where_.find(file);
        if (it != where_.end()) {
            order_.splice(order_.begin(), order_, it->second);
            return true;
        }
        if (size > cap_) return false;
        while (used_ + size > cap_) {
            const auto& [victim, vsize] = order_.back();
            used_ -= vsize;
            where_.erase(victim);
            order_.pop_back();
        }
        order_.emplace_front(file, size);
        where_[file] = order_.begin();
        used_ += size;
        return false;
    }
    uint64_t used_bytes() const { return used_; }

private:
    uint64_t cap_, used_ = 0;
    std::list<std::pair<uint32_t, uint64_t>> order_;
    std::unordered_map<uint32_t, std::list<std::pair<uint32_t, uint64_t>>::iterator> where_;
};

} // namespace vcdn::place
