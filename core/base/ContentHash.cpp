#include "core/base/ContentHash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace labelprop {

namespace {

ContentHash fromXxh(XXH128_hash_t h)
{
    ContentHash out;
    for (int i = 0; i < 8; ++i) {
        out.bytes[std::size_t(i)] = std::uint8_t(h.high64 >> (56 - 8 * i));
        out.bytes[std::size_t(8 + i)] = std::uint8_t(h.low64 >> (56 - 8 * i));
    }
    return out;
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Closes a file descriptor on every path out.
struct FdCloser {
    int fd;
    ~FdCloser()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

} // namespace

std::string ContentHash::hex() const
{
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s(32, '0');
    for (std::size_t i = 0; i < 16; ++i) {
        s[2 * i] = kDigits[bytes[i] >> 4];
        s[2 * i + 1] = kDigits[bytes[i] & 15];
    }
    return s;
}

bool ContentHash::isZero() const
{
    for (auto b : bytes)
        if (b != 0)
            return false;
    return true;
}

std::optional<ContentHash> contentHashFromHex(std::string_view hex)
{
    if (hex.size() != 32)
        return std::nullopt;
    ContentHash h;
    for (std::size_t i = 0; i < 16; ++i) {
        const int hi = hexValue(hex[2 * i]);
        const int lo = hexValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        h.bytes[i] = std::uint8_t(hi * 16 + lo);
    }
    return h;
}

std::optional<ContentHash> contentHashFromBytes(std::span<const std::uint8_t> bytes)
{
    if (bytes.size() != 16)
        return std::nullopt;
    ContentHash h;
    std::memcpy(h.bytes.data(), bytes.data(), 16);
    return h;
}

ContentHash hashBytes(std::span<const std::uint8_t> bytes)
{
    return fromXxh(XXH3_128bits(bytes.data(), bytes.size()));
}

ContentHash hashText(std::string_view text)
{
    return fromXxh(XXH3_128bits(text.data(), text.size()));
}

Expected<HashedFile> hashFile(const std::string& path)
{
    // O_NONBLOCK: opening a FIFO that happens to carry an image name must not hang the import.
    FdCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (file.fd < 0)
        return fail(path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st{};
    if (::fstat(file.fd, &st) != 0)
        return fail(path + ": cannot read its size (" + std::strerror(errno) + ")");
    if (!S_ISREG(st.st_mode))
        return fail(path + ": not a regular file");
    XXH3_state_t state;
    XXH3_128bits_reset(&state);
    std::vector<std::uint8_t> buffer(1 << 16);
    std::int64_t total = 0;
    for (;;) {
        const ssize_t n = ::read(file.fd, buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(path + ": read error (" + std::strerror(errno) + ")");
        }
        if (n == 0)
            break;
        XXH3_128bits_update(&state, buffer.data(), std::size_t(n));
        total += n;
    }
    HashedFile out;
    out.hash = fromXxh(XXH3_128bits_digest(&state));
    out.size = total;
    out.mtimeNs = std::int64_t(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    return out;
}

} // namespace labelprop
