#pragma once
// Content hashes identify an image by its bytes, so a project notices changed files, finds moved
// ones, and its embedding cache is reused across renames. XXH3-128 (xxHash, from Debian): not
// cryptographic, but 128 bits make an accidental collision among even billions of images
// negligible, and it hashes at memory speed.
//
// Thread-safety: all functions are reentrant.

#include "core/base/Error.h"

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace labelprop {

struct ContentHash {
    std::array<std::uint8_t, 16> bytes{}; // big-endian XXH3-128 (high 64 bits first)

    [[nodiscard]] std::string hex() const; // 32 lower-case hex digits
    [[nodiscard]] bool isZero() const;
    friend auto operator<=>(const ContentHash&, const ContentHash&) = default;
};

// Parses 32 hex digits; nullopt for anything else.
[[nodiscard]] std::optional<ContentHash> contentHashFromHex(std::string_view hex);
// Reads 16 bytes (as stored in a database blob); nullopt if the size is not 16.
[[nodiscard]] std::optional<ContentHash> contentHashFromBytes(std::span<const std::uint8_t> bytes);

[[nodiscard]] ContentHash hashBytes(std::span<const std::uint8_t> bytes);
[[nodiscard]] ContentHash hashText(std::string_view text);

struct HashedFile {
    ContentHash hash;
    std::int64_t size = 0;    // bytes
    std::int64_t mtimeNs = 0; // last modification, ns since the epoch
};

// Hashes a regular file's bytes. Errors name `path`: missing, not a regular file (a folder, a
// FIFO: never blocks), unreadable, or a read error.
[[nodiscard]] Expected<HashedFile> hashFile(const std::string& path);

struct ContentHashLess {
    bool operator()(const ContentHash& a, const ContentHash& b) const { return a.bytes < b.bytes; }
};

// For unordered containers: the hash is uniformly distributed already, 8 of its bytes will do.
struct ContentHashHasher {
    std::size_t operator()(const ContentHash& h) const
    {
        std::size_t v = 0;
        for (int i = 0; i < 8; ++i)
            v = (v << 8) | h.bytes[std::size_t(i)];
        return v;
    }
};

} // namespace labelprop
