#pragma once
// MNIST-style IDX files: a big-endian header (two zero bytes, the data type, the number of
// dimensions, one 32-bit size per dimension) followed by the array. Only unsigned-byte data
// (type 0x08) is read; files may be gzip-compressed.
//
// Thread-safety: all functions are reentrant.

#include "core/base/Error.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace labelprop {

// A decoded IDX array: dims (e.g. count, rows, cols) and the bytes in row-major order.
struct IdxArray {
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> data; // product of dims bytes
};

// What an IDX header says: the dims and the number of data bytes that must follow it.
struct IdxHeader {
    std::vector<std::uint32_t> dims;
    std::uint64_t dataBytes = 0;
};

// The header size of an IDX file with `ndims` dimensions: 4 + 4 * ndims bytes.
[[nodiscard]] constexpr std::size_t idxHeaderSize(int ndims)
{
    return 4 + 4 * std::size_t(ndims);
}

// Parses the header at the start of `bytes` (which may hold fewer than idxHeaderSize(ndims)
// bytes: that is a "truncated IDX header" error). `ndims` is the expected number of dimensions:
// 3 for images (count, rows, cols), 1 for labels. A dimension above 2^30 or an array above 2^36
// bytes is refused. Errors name `name`.
[[nodiscard]] Expected<IdxHeader> parseIdxHeader(std::span<const std::uint8_t> bytes, int ndims,
                                                 const std::string& name);

// Parses a whole (decompressed) IDX file held in memory. The data length is checked against the
// header before anything is allocated. Bytes after the array add a warning to `warnings`.
[[nodiscard]] Expected<IdxArray> parseIdx(std::span<const std::uint8_t> bytes, int ndims, const std::string& name,
                                          std::vector<std::string>& warnings);

// Reads an IDX file, gzip-compressed or plain, with `ndims` dimensions. Memory grows with the data
// actually read, so a header that claims more than the file holds gives a "truncated IDX data"
// error, never a huge allocation. Errors name `path`.
[[nodiscard]] Expected<IdxArray> readIdxFile(const std::string& path, int ndims, std::vector<std::string>& warnings);

} // namespace labelprop
