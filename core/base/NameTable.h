#pragma once
// Enum <-> name lookups over a small constant table of {value, name} pairs, for the names that
// appear in files, settings and command lines (label sources, item orders, ...). Linear: the
// tables have a handful of entries.

#include <optional>
#include <string_view>
#include <utility>

namespace labelprop {

// The name of `value`, or "unknown" when the table lacks it.
template <class E, std::size_t N>
[[nodiscard]] std::string_view nameIn(const std::pair<E, std::string_view> (&table)[N], E value)
{
    for (const auto& [v, name] : table)
        if (v == value)
            return name;
    return "unknown";
}

// The value named `name`, or nullopt.
template <class E, std::size_t N>
[[nodiscard]] std::optional<E> valueIn(const std::pair<E, std::string_view> (&table)[N], std::string_view name)
{
    for (const auto& [v, n] : table)
        if (n == name)
            return v;
    return std::nullopt;
}

} // namespace labelprop
