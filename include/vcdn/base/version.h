#pragma once
namespace vcdn {
inline constexpr const char* kVersion = "0.1.0";
}
