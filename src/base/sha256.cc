#include <vcdn/base/sha256.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include <vcdn/base/strings.h>
#include <vcdn/base/unique_fd.h>

namespace vcdn {

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
    ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    impl_->ctx = EVP_MD_CTX_new();
    if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t n) {
    EVP_DigestUpdate(impl_->ctx, data, n);
}

std::string Sha256::final_hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(impl_->ctx, md, &len);
    return to_hex(md, len);
}

std::string Sha256::hex_of(std::string_view data) {
    Sha256 h;
    h.update(data.data(), data.size());
    return h.final_hex();
}

Result<std::string> sha256_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + path);
    Sha256 h;
    std::vector<char> buf(1 << 20);
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("read " + path);
        }
        if (n == 0) break;
        h.update(buf.data(), static_cast<size_t>(n));
    }
    return h.final_hex();
}

} // namespace vcdn
