#pragma once
// Hash maps keyed by paths: lookups by std::string_view without building a std::string
// (heterogeneous lookup, C++20).

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace labelprop {

struct TransparentStringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class Value>
using StringMap = std::unordered_map<std::string, Value, TransparentStringHash, std::equal_to<>>;

} // namespace labelprop
