#include "core/formats/IdxFile.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <expected>
#include <filesystem>
#include <system_error>

namespace labelprop {

namespace {

struct GzFile {
    gzFile f = nullptr;
    ~GzFile()
    {
        if (f)
            gzclose(f);
    }
};

// Reads exactly `size` bytes, or fewer at end of file. Returns the count or an error text.
std::expected<std::size_t, std::string> gzReadFully(gzFile f, void* buffer, std::size_t size)
{
    auto* p = static_cast<unsigned char*>(buffer);
    std::size_t done = 0;
    while (done < size) {
        const unsigned chunk = unsigned(std::min<std::size_t>(size - done, 1u << 30));
        const int n = gzread(f, p + done, chunk);
        if (n < 0) {
            int errnum = 0;
            const char* msg = gzerror(f, &errnum);
            return std::unexpected(std::string(msg ? msg : "decompression error"));
        }
        if (n == 0)
            break;
        done += std::size_t(n);
    }
    return done;
}

std::string truncatedDataMessage(const std::string& name, std::uint64_t expected, std::uint64_t found)
{
    return name + ": truncated IDX data: expected " + std::to_string(expected) + " bytes after the header, found "
        + std::to_string(found) + "; the file is incomplete, download it again";
}

} // namespace

Expected<IdxHeader> parseIdxHeader(std::span<const std::uint8_t> bytes, int ndims, const std::string& name)
{
    if (bytes.size() < 4)
        return fail(name + ": truncated IDX header (" + std::to_string(bytes.size())
                    + " of 4 magic bytes); the file is incomplete");
    if (bytes[0] != 0 || bytes[1] != 0)
        return fail(name + ": not an IDX file (the first two bytes are not zero)");
    if (bytes[2] != 0x08) {
        constexpr char kHex[] = "0123456789ABCDEF";
        return fail(name + ": IDX data type 0x" + kHex[bytes[2] >> 4] + kHex[bytes[2] & 15]
                    + " is not supported; only unsigned-byte (0x08) IDX files are");
    }
    if (bytes[3] != ndims)
        return fail(name + ": IDX file has " + std::to_string(bytes[3]) + " dimensions; expected "
                    + std::to_string(ndims) + (ndims == 3 ? " (images: count, rows, columns)" : " (labels: count)"));
    if (bytes.size() < idxHeaderSize(ndims))
        return fail(name + ": truncated IDX header; the file is incomplete");
    IdxHeader h;
    std::uint64_t total = 1;
    for (int d = 0; d < ndims; ++d) {
        const std::uint8_t* b = bytes.data() + 4 + 4 * std::size_t(d);
        const std::uint32_t v = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16)
            | (std::uint32_t(b[2]) << 8) | b[3];
        if (v > (1u << 30))
            return fail(name + ": IDX dimension " + std::to_string(d) + " is " + std::to_string(v)
                        + ", which is implausible; the file is corrupt");
        h.dims.push_back(v);
        // Saturate: three dims of up to 2^30 can overflow 64 bits; anything past 2^36 is refused.
        total = (v != 0 && total > (std::uint64_t(1) << 40) / v) ? (std::uint64_t(1) << 40) : total * v;
    }
    constexpr std::uint64_t kMaxBytes = std::uint64_t(1) << 36;
    if (total > kMaxBytes) {
        std::string dims;
        for (const auto d : h.dims)
            dims += (dims.empty() ? "" : " x ") + std::to_string(d);
        return fail(name + ": IDX dims " + dims + " ask for more than " + std::to_string(kMaxBytes)
                    + " bytes; the file is corrupt");
    }
    if (ndims == 3 && (h.dims[1] == 0 || h.dims[2] == 0))
        return fail(name + ": IDX images have size " + std::to_string(h.dims[1]) + "x" + std::to_string(h.dims[2])
                    + "; the file is corrupt");
    h.dataBytes = total;
    return h;
}

Expected<IdxArray> parseIdx(std::span<const std::uint8_t> bytes, int ndims, const std::string& name,
                            std::vector<std::string>& warnings)
{
    auto header = parseIdxHeader(bytes.first(std::min(bytes.size(), idxHeaderSize(ndims))), ndims, name);
    if (!header)
        return std::unexpected(header.error());
    const auto data = bytes.subspan(idxHeaderSize(ndims));
    if (data.size() < header->dataBytes)
        return fail(truncatedDataMessage(name, header->dataBytes, data.size()));
    if (data.size() > header->dataBytes)
        warnings.push_back(name + ": extra bytes after the IDX data ignored");
    IdxArray a;
    a.dims = std::move(header->dims);
    a.data.assign(data.begin(), data.begin() + std::ptrdiff_t(header->dataBytes));
    return a;
}

Expected<IdxArray> readIdxFile(const std::string& path, int ndims, std::vector<std::string>& warnings)
{
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
        return fail(path + ": not a regular file (a folder, FIFO, socket or device); pass an IDX file");
    GzFile gz;
    errno = 0;
    gz.f = gzopen(path.c_str(), "rb");
    if (!gz.f) {
        const int err = errno;
        return fail(path + ": cannot open (" + (err ? std::system_category().message(err) : "out of memory")
                    + ")");
    }
    gzbuffer(gz.f, 1 << 17);
    std::array<std::uint8_t, idxHeaderSize(3)> headerBytes{};
    auto got = gzReadFully(gz.f, headerBytes.data(), std::min(headerBytes.size(), idxHeaderSize(ndims)));
    if (!got)
        return fail(path + ": cannot read the IDX header (" + got.error() + "); the file is corrupt");
    auto header = parseIdxHeader(std::span<const std::uint8_t>(headerBytes.data(), *got), ndims, path);
    if (!header)
        return std::unexpected(header.error());

    // Grow the buffer with the data that actually arrives (in chunks of at most 64 MiB), so that a
    // header claiming 2^36 bytes costs no more memory than the file really holds.
    constexpr std::uint64_t kChunk = std::uint64_t(1) << 26;
    const std::uint64_t total = header->dataBytes;
    IdxArray a;
    a.dims = std::move(header->dims);
    try {
        while (a.data.size() < total) {
            const std::size_t before = a.data.size();
            const std::size_t want = std::size_t(std::min(kChunk, total - before));
            a.data.resize(before + want);
            auto r = gzReadFully(gz.f, a.data.data() + before, want);
            if (!r)
                return fail(path + ": cannot read the IDX data (" + r.error() + "); the file is corrupt");
            a.data.resize(before + *r);
            if (*r < want)
                return fail(truncatedDataMessage(path, total, a.data.size()));
        }
    } catch (const std::bad_alloc&) {
        return fail(path + ": not enough memory for " + std::to_string(total) + " bytes of IDX data");
    }
    unsigned char extra = 0;
    auto more = gzReadFully(gz.f, &extra, 1);
    if (more && *more > 0)
        warnings.push_back(path + ": extra bytes after the IDX data ignored");
    return a;
}

} // namespace labelprop
