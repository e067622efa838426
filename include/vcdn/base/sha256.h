#pragma once
// Incremental SHA-256 (OpenSSL EVP underneath).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <vcdn/base/result.h>

namespace vcdn {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(const void* data, size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    // Lower-case hex digest; the object must not be updated afterwards.
    std::string final_hex();

    static std::string hex_of(std::string_view data);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// SHA-256 of a whole file, read with plain reads.
Result<std::string> sha256_file(const std::string& path);

} // namespace vcdn
