#include "core/NpyFile.h"

#include "core/AtomicFile.h"

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

Expected<EmbeddingMatrix> readNpyMatrix(const std::string& path)
{
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return fail(path + ": is a folder, not a .npy file; pass the matrix file itself");
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

    std::array<char, 8> pre{};
    if (!in.read(pre.data(), pre.size())
        || !std::equal(kMagic.begin(), kMagic.end(), pre.begin()))
        return fail(path + ": not a .npy file (missing the \\x93NUMPY magic); save the matrix with "
                           "numpy.save()");
    const int major = static_cast<unsigned char>(pre[6]);
    const int minor = static_cast<unsigned char>(pre[7]);
    std::uint32_t headerLen = 0;
    std::size_t prefixLen = 0;
    if (major == 1) {
        std::array<unsigned char, 2> b{};
        if (!in.read(reinterpret_cast<char*>(b.data()), 2))
            return fail(path + ": truncated .npy header; the file is incomplete");
        headerLen = b[0] | (std::uint32_t(b[1]) << 8);
        prefixLen = 10;
    } else if (major == 2 || major == 3) {
        std::array<unsigned char, 4> b{};
        if (!in.read(reinterpret_cast<char*>(b.data()), 4))
            return fail(path + ": truncated .npy header; the file is incomplete");
        headerLen = b[0] | (std::uint32_t(b[1]) << 8) | (std::uint32_t(b[2]) << 16)
            | (std::uint32_t(b[3]) << 24);
        prefixLen = 12;
    } else {
        return fail(path + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor)
                    + " is not supported (1.0, 2.0 and 3.0 are); re-save with numpy.save()");
    }
    if (std::streamoff(prefixLen) + std::streamoff(headerLen) > fileSize)
        return fail(path + ": truncated .npy header (it claims " + std::to_string(headerLen)
                    + " bytes, the file has " + std::to_string(fileSize - std::streamoff(prefixLen))
                    + " after the prefix); the file is incomplete");
    std::string headerText(headerLen, '\0');
    if (!in.read(headerText.data(), headerLen))
        return fail(path + ": cannot read the .npy header; the file is incomplete");

    auto header = HeaderParser(headerText).parse();
    if (!header)
        return fail(path + ": malformed .npy header: " + header.error()
                    + "; re-save the matrix with numpy.save()");
    const NpyHeader& h = *header;

    std::size_t elemSize = 0;
    if (h.descr == "<f4" || (h.descr == "=f4"))
        elemSize = 4;
    else if (h.descr == "<f2" || h.descr == "=f2")
        elemSize = 2;
    else if (h.descr == ">f4" || h.descr == ">f2")
        return fail(path + ": dtype '" + h.descr + "' is big-endian, which is not supported; "
                    "convert with x.astype('<f4')");
    else
        return fail(path + ": dtype '" + h.descr + "' is not supported (float32 '<f4' and float16 "
                    "'<f2' are); convert with x.astype('float32')");

    if (h.fortranOrder)
        return fail(path + ": the array is stored in Fortran (column-major) order; save "
                           "numpy.ascontiguousarray(x) instead");
    if (h.shape.size() != 2)
        return fail(path + ": shape " + shapeText(h.shape) + " is " + std::to_string(h.shape.size())
                    + "-D; expected a 2-D matrix (items, dims), e.g. x.reshape(len(x), -1)");

    const std::int64_t rows = h.shape[0];
    const std::int64_t cols = h.shape[1];
    constexpr std::int64_t kMaxIndex = std::numeric_limits<Eigen::Index>::max();
    if (cols != 0 && rows > kMaxIndex / cols / std::int64_t(elemSize))
        return fail(path + ": shape " + shapeText(h.shape) + " is too large to load");
    const std::int64_t expectedBytes = rows * cols * std::int64_t(elemSize);
    const std::int64_t dataOffset = std::int64_t(prefixLen) + headerLen;
    const std::int64_t actualBytes = std::int64_t(fileSize) - dataOffset;
    if (actualBytes < expectedBytes)
        return fail(path + ": truncated data: shape " + shapeText(h.shape) + " of '" + h.descr
                    + "' needs " + std::to_string(expectedBytes) + " bytes, the file has "
                    + std::to_string(actualBytes) + "; the file is incomplete, save it again");

    EmbeddingMatrix x;
    try {
        x.resize(Eigen::Index(rows), Eigen::Index(cols));
    } catch (const std::bad_alloc&) {
        return fail(path + ": not enough memory for a " + std::to_string(rows) + " x "
                    + std::to_string(cols) + " float matrix");
    }
    if (expectedBytes == 0)
        return x;
    if (elemSize == 4) {
        if (!in.read(reinterpret_cast<char*>(x.data()), std::streamsize(expectedBytes)))
            return fail(path + ": read error in the data section; the file is unreadable");
    } else {
        constexpr std::int64_t kChunk = 1 << 16;
        std::vector<std::uint16_t> buf(std::size_t(std::min<std::int64_t>(kChunk, rows * cols)));
        float* out = x.data();
        for (std::int64_t done = 0, total = rows * cols; done < total;) {
            const std::int64_t n = std::min<std::int64_t>(kChunk, total - done);
            if (!in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(n * 2)))
                return fail(path + ": read error in the data section; the file is unreadable");
            for (std::int64_t i = 0; i < n; ++i)
                out[done + i] = halfToFloat(buf[std::size_t(i)]);
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
