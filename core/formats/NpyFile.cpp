#include "core/formats/NpyFile.h"

#include "core/base/AtomicFile.h"

#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

namespace labelprop {

static_assert(std::endian::native == std::endian::little,
              "NpyFile reads little-endian data straight into memory");

namespace {

constexpr std::array<char, 6> kMagic = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// This parser accepts exactly what numpy writes (and any whitespace/quote variant of it).
struct NpyHeader {
    std::string descr;
    bool fortranOrder = false;
    std::vector<std::int64_t> shape;
};

class HeaderParser {
public:
    explicit HeaderParser(std::string_view text)
        : m_text(text)
    {
    }

    // Returns an error text (without the file name) or the parsed header.
    std::expected<NpyHeader, std::string> parse()
    {
        NpyHeader h;
        bool haveDescr = false, haveOrder = false, haveShape = false;
        skipSpace();
        if (!consume('{'))
            return std::unexpected("header does not start with '{'");
        for (;;) {
            skipSpace();
            if (consume('}'))
                break;
            auto key = parseString();
            if (!key)
                return std::unexpected("expected a quoted key at header offset " + std::to_string(m_pos));
            skipSpace();
            if (!consume(':'))
                return std::unexpected("expected ':' after key '" + *key + "'");
            skipSpace();
            if (*key == "descr") {
                auto v = parseString();
                if (!v) {
                    // A list here is a structured dtype.
                    return std::unexpected("descr is not a simple dtype string (structured arrays are "
                                           "not supported); save a plain float32 matrix");
                }
                h.descr = *v;
                haveDescr = true;
            } else if (*key == "fortran_order") {
                if (consumeWord("True"))
                    h.fortranOrder = true;
                else if (consumeWord("False"))
                    h.fortranOrder = false;
                else
                    return std::unexpected("fortran_order is neither True nor False");
                haveOrder = true;
            } else if (*key == "shape") {
                auto s = parseTuple();
                if (!s)
                    return std::unexpected("shape is not a tuple of non-negative integers");
                h.shape = std::move(*s);
                haveShape = true;
            } else {
                return std::unexpected("unknown header key '" + *key + "'");
            }
            skipSpace();
            if (consume(','))
                continue;
            skipSpace();
            if (consume('}'))
                break;
            return std::unexpected("expected ',' or '}' at header offset " + std::to_string(m_pos));
        }
        skipSpace();
        if (m_pos != m_text.size())
            return std::unexpected("unexpected text after the header dict");
        if (!haveDescr || !haveOrder || !haveShape)
            return std::unexpected("header lacks one of 'descr', 'fortran_order', 'shape'");
        return h;
    }

private:
    void skipSpace()
    {
        while (m_pos < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_pos])))
            ++m_pos;
    }
    bool consume(char c)
    {
        if (m_pos < m_text.size() && m_text[m_pos] == c) {
            ++m_pos;
            return true;
        }
        return false;
    }
    bool consumeWord(std::string_view w)
    {
        if (m_text.substr(m_pos, w.size()) == w) {
            m_pos += w.size();
            return true;
        }
        return false;
    }
    std::optional<std::string> parseString()
    {
        if (m_pos >= m_text.size())
            return std::nullopt;
        const char quote = m_text[m_pos];
        if (quote != '\'' && quote != '"')
            return std::nullopt;
        const auto end = m_text.find(quote, m_pos + 1);
        if (end == std::string_view::npos)
            return std::nullopt;
        std::string s(m_text.substr(m_pos + 1, end - m_pos - 1));
        m_pos = end + 1;
        return s;
    }
    std::optional<std::vector<std::int64_t>> parseTuple()
    {
        if (!consume('('))
            return std::nullopt;
        std::vector<std::int64_t> dims;
        for (;;) {
            skipSpace();
            if (consume(')'))
                return dims;
            if (m_pos >= m_text.size() || !std::isdigit(static_cast<unsigned char>(m_text[m_pos])))
                return std::nullopt;
            std::int64_t v = 0;
            while (m_pos < m_text.size() && std::isdigit(static_cast<unsigned char>(m_text[m_pos]))) {
                if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10)
                    return std::nullopt;
                v = v * 10 + (m_text[m_pos++] - '0');
            }
            consume('L'); // Python 2 longs
            dims.push_back(v);
            skipSpace();
            if (consume(','))
                continue;
            skipSpace();
            if (consume(')'))
                return dims;
            return std::nullopt;
        }
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
};

std::string shapeText(const std::vector<std::int64_t>& shape)
{
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i)
            s += ", ";
        s += std::to_string(shape[i]);
    }
    if (shape.size() == 1)
        s += ",";
    return s + ")";
}

} // namespace

float halfToFloat(std::uint16_t h)
{
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t bits;
    if (exp == 0x1f) { // inf or NaN; keep the payload
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) { // normal
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    } else if (mant == 0) { // signed zero
        bits = sign;
    } else { // subnormal: value = mant * 2^-24; normalise it for float32
        int e = -1;
        do {
            ++e;
            mant <<= 1;
        } while ((mant & 0x400u) == 0);
        bits = sign | (std::uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
}

namespace {

// Where the array lives in a .npy file and what it holds, checked against the file's length.
struct NpyLayout {
    std::size_t headerEnd = 0; // prefix + header bytes: the data starts here
    std::int64_t rows = 0;
    std::int64_t cols = 0;
    std::size_t elemSize = 0; // 4 ('<f4') or 2 ('<f2')
};

// The length of the prefix (magic, version, header length) of a .npy file, from its first bytes.
constexpr std::size_t kMaxPrefix = 12;

// Parses the prefix, then the header, of a file of `fileSize` bytes. Every size is checked against
// `fileSize` before anything is allocated, so a lying header cannot ask for gigabytes.
class NpyLayoutParser {
public:
    NpyLayoutParser(const std::string& path, std::int64_t fileSize)
        : m_path(path)
        , m_fileSize(fileSize)
    {
    }

    // Reads the prefix from the first min(fileSize, 12) bytes; returns prefix + header length.
    Expected<std::size_t> parsePrefix(std::span<const std::byte> head)
    {
        if (head.size() < 8 || !std::equal(kMagic.begin(), kMagic.end(), reinterpret_cast<const char*>(head.data())))
            return fail(m_path + ": not a .npy file (missing the \\x93NUMPY magic); save the matrix with "
                                 "numpy.save()");
        const auto byte = [&](std::size_t i) { return std::uint32_t(std::to_integer<unsigned char>(head[i])); };
        const std::uint32_t major = byte(6), minor = byte(7);
        if (major == 1) {
            if (head.size() < 10)
                return fail(m_path + ": truncated .npy header; the file is incomplete");
            m_headerLen = byte(8) | (byte(9) << 8);
            m_prefixLen = 10;
        } else if (major == 2 || major == 3) {
            if (head.size() < 12)
                return fail(m_path + ": truncated .npy header; the file is incomplete");
            m_headerLen = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
            m_prefixLen = 12;
        } else {
            return fail(m_path + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor)
                        + " is not supported (1.0, 2.0 and 3.0 are); re-save with numpy.save()");
        }
        if (std::int64_t(m_prefixLen) + std::int64_t(m_headerLen) > m_fileSize)
            return fail(m_path + ": truncated .npy header (it claims " + std::to_string(m_headerLen)
                        + " bytes, the file has " + std::to_string(m_fileSize - std::int64_t(m_prefixLen))
                        + " after the prefix); the file is incomplete");
        return m_prefixLen + m_headerLen;
    }

    // Parses the header text (the bytes after the prefix) once parsePrefix() succeeded.
    Expected<NpyLayout> parseHeader(std::string_view headerText)
    {
        auto header = HeaderParser(headerText).parse();
        if (!header)
            return fail(m_path + ": malformed .npy header: " + header.error()
                        + "; re-save the matrix with numpy.save()");
        const NpyHeader& h = *header;

        NpyLayout layout;
        layout.headerEnd = m_prefixLen + m_headerLen;
        if (h.descr == "<f4" || (h.descr == "=f4"))
            layout.elemSize = 4;
        else if (h.descr == "<f2" || h.descr == "=f2")
            layout.elemSize = 2;
        else if (h.descr == ">f4" || h.descr == ">f2")
            return fail(m_path + ": dtype '" + h.descr + "' is big-endian, which is not supported; "
                        "convert with x.astype('<f4')");
        else
            return fail(m_path + ": dtype '" + h.descr + "' is not supported (float32 '<f4' and float16 "
                        "'<f2' are); convert with x.astype('float32')");

        if (h.fortranOrder)
            return fail(m_path + ": the array is stored in Fortran (column-major) order; save "
                                 "numpy.ascontiguousarray(x) instead");
        if (h.shape.size() != 2)
            return fail(m_path + ": shape " + shapeText(h.shape) + " is " + std::to_string(h.shape.size())
                        + "-D; expected a 2-D matrix (items, dims), e.g. x.reshape(len(x), -1)");

        layout.rows = h.shape[0];
        layout.cols = h.shape[1];
        constexpr std::int64_t kMaxIndex = std::numeric_limits<Eigen::Index>::max();
        if (layout.cols != 0 && layout.rows > kMaxIndex / layout.cols / std::int64_t(layout.elemSize))
            return fail(m_path + ": shape " + shapeText(h.shape) + " is too large to load");
        const std::int64_t expectedBytes = layout.rows * layout.cols * std::int64_t(layout.elemSize);
        const std::int64_t actualBytes = m_fileSize - std::int64_t(layout.headerEnd);
        if (actualBytes < expectedBytes)
            return fail(m_path + ": truncated data: shape " + shapeText(h.shape) + " of '" + h.descr + "' needs "
                        + std::to_string(expectedBytes) + " bytes, the file has " + std::to_string(actualBytes)
                        + "; the file is incomplete, save it again");
        return layout;
    }

    // 10 (version 1) or 12 (versions 2 and 3), once parsePrefix() succeeded.
    std::size_t prefixLength() const { return m_prefixLen; }

private:
    const std::string& m_path;
    std::int64_t m_fileSize;
    std::size_t m_prefixLen = 0;
    std::uint32_t m_headerLen = 0;
};

// An uninitialised rows x cols matrix, or an error when memory runs out.
Expected<EmbeddingMatrix> allocateMatrix(const std::string& path, const NpyLayout& layout)
{
    EmbeddingMatrix x;
    try {
        x.resize(Eigen::Index(layout.rows), Eigen::Index(layout.cols));
    } catch (const std::bad_alloc&) {
        return fail(path + ": not enough memory for a " + std::to_string(layout.rows) + " x "
                    + std::to_string(layout.cols) + " float matrix");
    }
    return x;
}

// Converts `count` float16 values from `in` (little-endian bytes) into `out`.
void halfsToFloats(const std::byte* in, std::size_t count, float* out)
{
    for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t h = 0;
        std::memcpy(&h, in + 2 * i, 2);
        out[i] = halfToFloat(h);
    }
}

} // namespace

Expected<EmbeddingMatrix> parseNpyMatrix(std::span<const std::byte> bytes, const std::string& name)
{
    NpyLayoutParser parser(name, std::int64_t(bytes.size()));
    const auto headerEnd = parser.parsePrefix(bytes.first(std::min(bytes.size(), kMaxPrefix)));
    if (!headerEnd)
        return std::unexpected(headerEnd.error());
    const std::size_t prefixLen = parser.prefixLength();
    const std::string_view headerText(reinterpret_cast<const char*>(bytes.data()) + prefixLen, *headerEnd - prefixLen);
    const auto layout = parser.parseHeader(headerText);
    if (!layout)
        return std::unexpected(layout.error());
    auto x = allocateMatrix(name, *layout);
    if (!x)
        return x;
    const std::size_t count = std::size_t(x->size());
    const std::byte* data = bytes.data() + layout->headerEnd;
    if (count == 0)
        return x;
    if (layout->elemSize == 4)
        std::memcpy(x->data(), data, count * sizeof(float));
    else
        halfsToFloats(data, count, x->data());
    return x;
}

Expected<EmbeddingMatrix> readNpyMatrix(const std::string& path)
{
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (std::filesystem::is_directory(st))
        return fail(path + ": is a folder, not a .npy file; pass the matrix file itself");
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
        return fail(path + ": not a regular file (a FIFO, socket or device); pass a .npy file");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return fail(path + ": cannot open (" + std::system_category().message(err)
                    + "); check the path");
    }
    in.seekg(0, std::ios::end);
    const std::streamoff fileSize = in.tellg();
    in.seekg(0, std::ios::beg);
    if (fileSize < 0)
        return fail(path + ": cannot read the file size; is it a regular file?");

    NpyLayoutParser parser(path, std::int64_t(fileSize));
    std::array<std::byte, kMaxPrefix> prefix{};
    const auto prefixRead = std::size_t(std::min<std::streamoff>(fileSize, std::streamoff(kMaxPrefix)));
    if (!in.read(reinterpret_cast<char*>(prefix.data()), std::streamsize(prefixRead)))
        return fail(path + ": read error in the .npy header; the file is unreadable");
    const auto headerEnd = parser.parsePrefix(std::span<const std::byte>(prefix.data(), prefixRead));
    if (!headerEnd)
        return std::unexpected(headerEnd.error());
    const std::size_t prefixLen = parser.prefixLength();
    std::string headerText(*headerEnd - prefixLen, '\0'); // bounded by the file size (parsePrefix)
    in.seekg(std::streamoff(prefixLen), std::ios::beg);
    if (!in.read(headerText.data(), std::streamsize(headerText.size())))
        return fail(path + ": cannot read the .npy header; the file is incomplete");
    const auto layout = parser.parseHeader(headerText);
    if (!layout)
        return std::unexpected(layout.error());

    auto x = allocateMatrix(path, *layout);
    if (!x || x->size() == 0)
        return x;
    const std::int64_t total = x->size();
    if (layout->elemSize == 4) {
        if (!in.read(reinterpret_cast<char*>(x->data()), std::streamsize(total * 4)))
            return fail(path + ": read error in the data section; the file is unreadable");
    } else {
        constexpr std::int64_t kChunk = 1 << 16;
        std::vector<std::byte> buf(std::size_t(std::min<std::int64_t>(kChunk, total) * 2));
        for (std::int64_t done = 0; done < total;) {
            const std::int64_t n = std::min<std::int64_t>(kChunk, total - done);
            if (!in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(n * 2)))
                return fail(path + ": read error in the data section; the file is unreadable");
            halfsToFloats(buf.data(), std::size_t(n), x->data() + done);
            done += n;
        }
    }
    return x;
}

Expected<void> writeNpyMatrix(const std::string& path, const EmbeddingMatrix& x)
{
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': ("
        + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) + "), }";
    // Pad with spaces so that magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    if (header.size() > 0xffff)
        return fail(path + ": internal error: .npy header too long");

    std::string prefix(kMagic.begin(), kMagic.end());
    prefix += char(1);
    prefix += char(0);
    prefix += char(header.size() & 0xff);
    prefix += char((header.size() >> 8) & 0xff);
    prefix += header;

    AtomicFileWriter writer(path);
    if (auto r = writer.write(prefix.data(), prefix.size()); !r)
        return r;
    if (x.size() > 0) {
        if (auto r = writer.write(x.data(), std::size_t(x.size()) * sizeof(float)); !r)
            return r;
    }
    return writer.commit();
}

} // namespace labelprop
