#pragma once
// Small helpers the image sources share: names, hidden entries, file kinds, and text for messages.
// Internal to core/sources (the public API is ImageSource.h and the per-source headers).
//
// Thread-safety: all functions are reentrant.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace labelprop::sources {

// `s` with ASCII A-Z lowered (other bytes, UTF-8 included, unchanged).
[[nodiscard]] std::string toLower(std::string_view s);

// True for a name starting with '.' (scans skip these).
[[nodiscard]] bool isHidden(const std::filesystem::path& p);

// "1 image", "3 images".
[[nodiscard]] std::string plural(std::size_t n, std::string_view word);

// `text` with every byte that is not part of valid UTF-8 written as \xNN, so that a warning about
// a badly named file is itself valid UTF-8.
[[nodiscard]] std::string printable(std::string_view text);

// Why a path that is not a regular file cannot be read as an image ("file not found", "is a FIFO
// ...", "broken symbolic link ..."), or empty if it is one. Never opens the path.
[[nodiscard]] std::string notRegularFileReason(const std::filesystem::path& p);

} // namespace labelprop::sources
