#include <vcdn/base/result.h>

#include <cstring>

namespace vcdn {

Error Error::from_errno(std::string what, int err) {
    return Error{std::move(what) + ": " + std::strerror(err), err};
}

} // namespace vcdn
