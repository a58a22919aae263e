#include "core/sources/ImageDecode.h"

#include "core/sources/SourceSupport.h"

#include <cstring>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string_view>
#include <system_error>
#include <vector>

namespace labelprop {

namespace {

Expected<std::vector<unsigned char>> readWholeFile(const std::string& path)
{
    // Checked before opening: opening a FIFO would block until a writer appears.
    if (const std::string reason = sources::notRegularFileReason(path); !reason.empty())
        return fail(path + ": " + reason);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return fail(path + ": cannot open (" + std::system_category().message(err) + ")");
    }
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    in.seekg(0, std::ios::beg);
    if (size < 0)
        return fail(path + ": cannot read the file size");
    if (size == 0)
        return fail(path + ": the file is empty (0 bytes)");
    if (size > kMaxImageFileBytes)
        return fail(path + ": the file has " + std::to_string(size) + " bytes, more than the limit of "
                    + std::to_string(kMaxImageFileBytes) + " for one image; convert it to a smaller image first");
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    if (!in.read(reinterpret_cast<char*>(bytes.data()), size))
        return fail(path + ": read error");
    return bytes;
}

std::uint32_t bigEndian(std::span<const std::uint8_t> b, std::size_t at, int bytes)
{
    std::uint32_t v = 0;
    for (int k = 0; k < bytes; ++k)
        v = (v << 8) | b[at + std::size_t(k)];
    return v;
}

std::uint32_t littleEndian(std::span<const std::uint8_t> b, std::size_t at, int bytes)
{
    std::uint32_t v = 0;
    for (int k = bytes - 1; k >= 0; --k)
        v = (v << 8) | b[at + std::size_t(k)];
    return v;
}

std::optional<ImageDimensions> jpegDimensions(std::span<const std::uint8_t> b)
{
    std::size_t i = 2; // after FF D8
    while (i + 4 <= b.size()) {
        if (b[i] != 0xff)
            return std::nullopt;
        const std::uint8_t marker = b[i + 1];
        if (marker == 0xff) { // fill byte
            ++i;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { // no length field
            i += 2;
            continue;
        }
        const std::size_t length = bigEndian(b, i + 2, 2);
        const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
        if (sof) {
            if (i + 9 > b.size())
                return std::nullopt;
            return ImageDimensions{std::int64_t(bigEndian(b, i + 7, 2)), std::int64_t(bigEndian(b, i + 5, 2)), true};
        }
        if (length < 2 || marker == 0xd9 || marker == 0xda) // end of image or start of scan before any SOF
            return std::nullopt;
        i += 2 + length;
    }
    return std::nullopt;
}

// Many PNGs carry a colour profile (an iCCP chunk) that libpng finds fault with, and libpng then
// writes "libpng warning: iCCP: known incorrect sRGB profile" to stderr, once per file: a folder of
// such wallpapers floods the terminal. OpenCV ignores the profile anyway (pixels are decoded as
// stored), so the chunk is taken out of the in-memory bytes before decoding; nothing else changes.
// `b`: a whole PNG file. The profile, when there is one, precedes the image data.
void dropPngColourProfile(std::vector<unsigned char>& b)
{
    std::size_t at = 8; // after the signature; each chunk: uint32 length, 4-byte type, data, uint32 CRC
    while (at + 12 <= b.size()) {
        const std::size_t length = bigEndian(b, at, 4);
        if (length > b.size() - at - 12)
            return; // damaged: the decoder will say so
        const auto type = std::string_view(reinterpret_cast<const char*>(b.data() + at + 4), 4);
        if (type == "IDAT" || type == "IEND")
            return;
        if (type == "iCCP") {
            b.erase(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + 12 + length));
            return;
        }
        at += 12 + length;
    }
}

// Why `b` (a whole PNG file) is not a complete and intact PNG, or empty when it is: every chunk
// must lie inside the file with the CRC it states, up to IEND. libpng finds these faults itself
// while decoding, but OpenCV leaves libpng's default handlers in place, which print "libpng error:
// PNG input buffer is incomplete" or "IDAT: CRC error" to stderr, once per file, before the decode
// fails: a folder with a few cut-short copies put lines in the terminal that said nothing of which
// file. Checking first keeps stderr quiet and names the file and the fault. Costs one CRC pass over
// the bytes (zlib's crc32, several GB/s), little beside the decode. A deflate stream damaged under
// a correct CRC still reaches libpng; that takes a file made that way on purpose.
std::string pngDamage(std::span<const unsigned char> b)
{
    std::size_t at = 8; // after the signature; each chunk: uint32 length, 4-byte type, data, uint32 CRC
    while (true) {
        if (at + 12 > b.size())
            return "the file ends at byte " + std::to_string(b.size()) + " without an IEND chunk (it was cut short)";
        const std::size_t length = bigEndian(b, at, 4);
        const auto type = std::string(reinterpret_cast<const char*>(b.data() + at + 4), 4);
        if (length > b.size() - at - 12)
            return "its " + type + " chunk at byte " + std::to_string(at) + " needs " + std::to_string(length + 12)
                   + " bytes, but the file ends at byte " + std::to_string(b.size()) + " (it was cut short)";
        const auto crc = std::uint32_t(::crc32(0, b.data() + at + 4, uInt(length + 4)));
        if (crc != bigEndian(b, at + 8 + length, 4))
            return "its " + type + " chunk at byte " + std::to_string(at) + " is damaged (the CRC does not match)";
        if (type == "IEND")
            return {};
        at += 12 + length;
    }
}

std::optional<ImageDimensions> tiffDimensions(std::span<const std::uint8_t> b)
{
    const bool little = b[0] == 'I';
    const auto get = [&](std::size_t at, int bytes) {
        return little ? littleEndian(b, at, bytes) : bigEndian(b, at, bytes);
    };
    const std::size_t ifd = get(4, 4);
    if (ifd + 2 > b.size() || ifd < 8)
        return std::nullopt;
    const std::size_t count = get(ifd, 2);
    std::int64_t width = -1, height = -1;
    for (std::size_t e = 0; e < count && ifd + 2 + 12 * (e + 1) <= b.size(); ++e) {
        const std::size_t at = ifd + 2 + 12 * e;
        const auto tag = get(at, 2), type = get(at + 2, 2);
        if (tag != 256 && tag != 257)
            continue;
        const std::int64_t v = type == 3 ? get(at + 8, 2) : type == 4 ? get(at + 8, 4) : -1;
        (tag == 256 ? width : height) = v;
    }
    if (width < 0 || height < 0)
        return std::nullopt;
    return ImageDimensions{width, height, false};
}


} // namespace

Expected<cv::Mat> toEightBit(const cv::Mat& image, const std::string& path)
{
    if (image.empty())
        return fail(path + ": the decoded image is empty");
    cv::Mat m = image;
    switch (m.depth()) {
    case CV_8U:
        break;
    case CV_8S:
        m.convertTo(m, CV_8U, 1.0, 128.0);
        break;
    case CV_16U:
        m.convertTo(m, CV_8U, 1.0 / 257.0);
        break;
    case CV_16S:
        m.convertTo(m, CV_8U, 1.0 / 257.0, 32768.0 / 257.0);
        break;
    case CV_32F:
    case CV_64F:
        m.convertTo(m, CV_8U, 255.0); // saturates outside [0, 1]; NaN becomes 0
        break;
    default: { // CV_32S and anything else: stretch the value range
        double lo = 0, hi = 0;
        cv::minMaxLoc(m.reshape(1), &lo, &hi);
        const double scale = hi > lo ? 255.0 / (hi - lo) : 0.0;
        m.convertTo(m, CV_8U, scale, -lo * scale);
        break;
    }
    }
    switch (m.channels()) {
    case 1:
    case 3:
        break;
    case 2:
    case 4: {
        // Transparent pixels are composited over white: what is under them is arbitrary (often
        // black), and a black icon on a transparent background would otherwise vanish into black,
        // for the eye and for the encoder alike.
        const int colours = m.channels() - 1;
        cv::Mat flat(m.rows, m.cols, CV_8UC(colours));
        for (int y = 0; y < m.rows; ++y) {
            const uchar* in = m.ptr<uchar>(y);
            uchar* out = flat.ptr<uchar>(y);
            for (int x = 0; x < m.cols; ++x, in += colours + 1, out += colours) {
                const int a = in[colours];
                for (int c = 0; c < colours; ++c)
                    out[c] = uchar((in[c] * a + 255 * (255 - a) + 127) / 255);
            }
        }
        m = flat;
        break;
    }
    default:
        return fail(path + ": images with " + std::to_string(m.channels())
                    + " channels are not supported; save it as gray, RGB or RGBA");
    }
    if (m.data == image.data)
        m = m.clone(); // never hand out a view of the caller's buffer
    return m;
}

std::optional<ImageDimensions> readImageDimensions(std::span<const std::uint8_t> b)
{
    const auto startsWith = [&](std::string_view magic, std::size_t at = 0) {
        return b.size() >= at + magic.size() && std::equal(magic.begin(), magic.end(), b.begin() + std::ptrdiff_t(at),
            [](char m, std::uint8_t c) { return std::uint8_t(m) == c; });
    };
    if (startsWith("\x89PNG\r\n\x1a\n") && startsWith("IHDR", 12) && b.size() >= 24)
        return ImageDimensions{std::int64_t(bigEndian(b, 16, 4)), std::int64_t(bigEndian(b, 20, 4)), false};
    if (startsWith("\xff\xd8"))
        return jpegDimensions(b);
    if (startsWith("BM") && b.size() >= 26) {
        if (littleEndian(b, 14, 4) == 12) // BITMAPCOREHEADER: 16-bit sizes
            return ImageDimensions{std::int64_t(littleEndian(b, 18, 2)), std::int64_t(littleEndian(b, 20, 2)), false};
        const auto w = std::int32_t(littleEndian(b, 18, 4)), h = std::int32_t(littleEndian(b, 22, 4));
        return ImageDimensions{std::abs(std::int64_t(w)), std::abs(std::int64_t(h)), false};
    }
    if (startsWith("RIFF") && startsWith("WEBP", 8) && b.size() >= 30) {
        if (startsWith("VP8 ", 12))
            return ImageDimensions{std::int64_t(littleEndian(b, 26, 2) & 0x3fff),
                                   std::int64_t(littleEndian(b, 28, 2) & 0x3fff), false};
        if (startsWith("VP8L", 12)) {
            const std::uint32_t bits = littleEndian(b, 21, 4);
            return ImageDimensions{std::int64_t(bits & 0x3fff) + 1, std::int64_t((bits >> 14) & 0x3fff) + 1, false};
        }
        if (startsWith("VP8X", 12))
            return ImageDimensions{std::int64_t(littleEndian(b, 24, 3)) + 1, std::int64_t(littleEndian(b, 27, 3)) + 1,
                                   false};
        return std::nullopt;
    }
    if ((startsWith("II*") && startsWith(std::string_view("\0", 1), 3)) || startsWith(std::string_view("MM\0*", 4)))
        return b.size() >= 8 ? tiffDimensions(b) : std::nullopt;
    return std::nullopt;
}

int jpegReductionFor(const ImageDimensions& dims, int minSide)
{
    if (!dims.isJpeg || minSide <= 0)
        return 1;
    const std::int64_t shorter = std::min(dims.width, dims.height);
    int reduction = 1;
    while (reduction < 8 && shorter / (2 * reduction) >= 2 * std::int64_t(minSide))
        reduction *= 2;
    return reduction;
}

Expected<cv::Mat> decodeImageFile(const std::string& path, std::int64_t maxPixels, int minSide)
{
    auto bytes = readWholeFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    int flags = cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR;
    if (const auto dims = readImageDimensions(*bytes)) {
        std::int64_t pixels = 0;
        if (__builtin_mul_overflow(dims->width, dims->height, &pixels))
            pixels = std::numeric_limits<std::int64_t>::max();
        int reduction = jpegReductionFor(*dims, minSide);
        if (dims->isJpeg) { // libjpeg decodes at 1/2, 1/4 or 1/8 scale for little more than the cost of the output
            while (reduction < 8 && pixels / (std::int64_t(reduction) * reduction) > maxPixels)
                reduction *= 2;
        }
        if (pixels / (std::int64_t(reduction) * reduction) > maxPixels)
            return fail(path + ": the image is " + std::to_string(dims->width) + " x " + std::to_string(dims->height)
                        + " pixels (" + std::to_string(pixels) + "), more than the limit of " + std::to_string(maxPixels)
                        + " pixels for one image; scale it down first (e.g. to 4096 pixels on the long side)");
        if (reduction > 1)
            flags = reduction == 2 ? cv::IMREAD_REDUCED_COLOR_2 : reduction == 4 ? cv::IMREAD_REDUCED_COLOR_4
                                                                                 : cv::IMREAD_REDUCED_COLOR_8;
    }
    // PNG, WebP and GIF carry transparency that only IMREAD_UNCHANGED keeps (it also skips EXIF
    // orientation, which these formats do not use in practice); toEightBit composites it over white.
    const auto& b = *bytes;
    const bool png = b.size() >= 8 && std::memcmp(b.data(), "\x89PNG", 4) == 0;
    if (png) {
        if (const std::string damage = pngDamage(*bytes); !damage.empty())
            return fail(path + ": cannot decode the PNG image: " + damage
                        + "; the file is damaged: copy or export it again from where it came from");
        dropPngColourProfile(*bytes);
    }
    const bool mayHaveAlpha = png
                              || (b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0 && std::memcmp(b.data() + 8, "WEBP", 4) == 0);
    if (mayHaveAlpha && flags == (cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR))
        flags = cv::IMREAD_UNCHANGED;
    cv::Mat decoded;
    try {
        decoded = cv::imdecode(*bytes, flags);
    } catch (const cv::Exception& e) {
        return fail(path + ": cannot decode the image (" + e.msg + ")");
    } catch (const std::bad_alloc&) {
        return fail(path + ": not enough memory to decode the image");
    }
    if (decoded.empty())
        return fail(path + ": cannot decode the image; the file is corrupt or not in a supported format");
    try {
        return toEightBit(decoded, path);
    } catch (const cv::Exception& e) {
        return fail(path + ": cannot convert the image to 8 bits (" + e.msg + ")");
    }
}

} // namespace labelprop
