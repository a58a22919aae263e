#include "core/encoders/EncoderSpec.h"

#include <algorithm>
#include <charconv>

namespace labelprop {

namespace {
std::string_view trim(std::string_view s)
{
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    return s;
}
} // namespace

Expected<EncoderSpecParts> splitEncoderSpec(std::string_view spec)
{
    spec = trim(spec);
    EncoderSpecParts parts;
    parts.whole = std::string(spec);
    const auto colon = spec.find(':');
    parts.name = std::string(trim(spec.substr(0, colon)));
    std::transform(parts.name.begin(), parts.name.end(), parts.name.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
    if (parts.name.empty())
        return fail("encoder '" + parts.whole + "': no encoder name; expected e.g. pca:64 or vit:WEIGHTS");
    if (colon == std::string_view::npos)
        return parts;
    std::string_view rest = spec.substr(colon + 1);
    bool first = true;
    for (;;) {
        const auto comma = rest.find(',');
        const std::string_view item = trim(rest.substr(0, comma));
        if (first) {
            parts.head = std::string(item);
            first = false;
        } else if (item.empty()) {
            return fail("encoder '" + parts.whole + "': an empty option (two commas in a row, or one at the end)");
        } else {
            const auto eq = item.find('=');
            parts.options.emplace_back(std::string(trim(item.substr(0, eq))),
                                       eq == std::string_view::npos ? std::string() : std::string(trim(item.substr(eq + 1))));
        }
        if (comma == std::string_view::npos)
            break;
        rest = rest.substr(comma + 1);
    }
    return parts;
}

std::optional<std::uint64_t> parseUnsigned(std::string_view text)
{
    std::uint64_t v = 0;
    if (text.empty())
        return std::nullopt;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size())
        return std::nullopt;
    return v;
}

} // namespace labelprop
