#include "core/sources/SourceSupport.h"

#include "core/formats/Csv.h"

#include <algorithm>
#include <system_error>

namespace fs = std::filesystem;

namespace labelprop::sources {

std::string toLower(std::string_view s)
{
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
    return r;
}

bool isHidden(const fs::path& p)
{
    const std::string name = p.filename().string();
    return !name.empty() && name.front() == '.';
}

std::string plural(std::size_t n, std::string_view word)
{
    return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

std::string printable(std::string_view text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        const std::size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (i + len <= text.size() && isValidUtf8(text.substr(i, len))) {
            out += text.substr(i, len);
            i += len;
        } else {
            constexpr char kHex[] = "0123456789ABCDEF";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            ++i;
        }
    }
    return out;
}

std::string notRegularFileReason(const fs::path& p)
{
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
        std::error_code lec;
        if (fs::is_symlink(fs::symlink_status(p, lec)))
            return "broken symbolic link (its target is missing)";
        return "file not found";
    }
    if (fs::is_regular_file(st))
        return {};
    if (fs::is_directory(st))
        return "is a folder, not an image file";
    if (fs::is_fifo(st))
        return "is a FIFO (named pipe), not an image file; it is not read";
    if (fs::is_socket(st))
        return "is a socket, not an image file";
    if (fs::is_block_file(st) || fs::is_character_file(st))
        return "is a device, not an image file";
    return "not a regular file";
}

} // namespace labelprop::sources
