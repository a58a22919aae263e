#pragma once
// Decoding one image file to an 8-bit image, with limits checked from the header before any pixel
// is decoded. ImageSource::decode() of the file-based sources comes down to decodeImageFile().
//
// Thread-safety: all functions are reentrant.

#include "core/base/Error.h"

#include <opencv2/core.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace labelprop {

// Decoding limits. A file larger than kMaxImageFileBytes is refused before it is read. An image
// whose header (PNG, JPEG, BMP, WebP, TIFF) claims more than kMaxImagePixels pixels is refused
// before it is decoded, with a message naming the file, its size and the limit; a JPEG is decoded
// at 1/2, 1/4 or 1/8 scale instead when that brings it under the limit. 2^26 pixels (8192 x 8192)
// cost at most 192 MB as 8-bit BGR (512 MB as 16-bit RGBA while decoding). A header we cannot
// read leaves the check to OpenCV (CV_IO_MAX_IMAGE_PIXELS, 2^30 pixels by default).
inline constexpr std::int64_t kMaxImageFileBytes = std::int64_t(1) << 30;
inline constexpr std::int64_t kMaxImagePixels = std::int64_t(1) << 26;

// An image's size as its header states it, read without decoding.
struct ImageDimensions {
    std::int64_t width = 0;
    std::int64_t height = 0;
    bool isJpeg = false;
};
// Reads width and height from the first bytes of a PNG, JPEG, BMP, WebP or TIFF file (the whole
// file may be passed); nullopt for other formats or a header too short or malformed to tell.
[[nodiscard]] std::optional<ImageDimensions> readImageDimensions(std::span<const std::uint8_t> bytes);

// The JPEG reduction (1, 2, 4 or 8) that decodeImageFile() uses for an image of `dims` when its
// caller needs `minSide` pixels on each side: the largest whose shorter side still has at least
// 2 x minSide pixels, so that the caller's own shrink averages 2 x 2 or more decoded pixels per
// output pixel; 1 for minSide <= 0, for other formats and for images too small to reduce.
// Why 2 x: a 4032 x 3024 photo taken to 256 px lost PSNR 45 dB (mean error 1.0 of 255) at 1/4
// (756 px, 3x over) against a full decode, but 32 dB (5.2 of 255) at 1/8 (378 px, 1.5x over);
// libjpeg scales in the DCT domain and is not a good filter close to the final size.
[[nodiscard]] int jpegReductionFor(const ImageDimensions& dims, int minSide);

// Reads and decodes one image file into an 8-bit 1- or 3-channel (BGR) image, as decode() does.
// EXIF orientation is applied. CMYK JPEGs come back as BGR, palette and gray+alpha PNGs as BGR.
// Errors name `path`: a missing file, a folder, a FIFO (never opened, so never waited on), a
// broken symbolic link, an empty or corrupt file, or an image over the limits above (`maxPixels`
// replaces kMaxImagePixels, for tests).
// `minSide` > 0 says that the caller shrinks the image to about that many pixels on its shorter
// side (an encoder's input, a thumbnail): a large JPEG is then decoded at 1/2, 1/4 or 1/8 scale
// (jpegReductionFor), which libjpeg does for a fraction of the cost (a 12-megapixel photo for
// 256 px: 3.8x less time to decode and shrink, bench/decode_bench). Reduced JPEGs come back BGR,
// also when gray. Other formats are always decoded whole.
[[nodiscard]] Expected<cv::Mat> decodeImageFile(const std::string& path, std::int64_t maxPixels = kMaxImagePixels,
                                                int minSide = 0);

// Converts a decoded image of any depth and 1..4 channels to 8-bit gray or BGR: 16-bit values are
// divided by 257, float values are taken as [0, 1]; an alpha channel is composited over white (so a
// dark icon on a transparent background stays visible), leaving gray or BGR. `path` names the file
// in the error for unsupported layouts.
[[nodiscard]] Expected<cv::Mat> toEightBit(const cv::Mat& image, const std::string& path);

} // namespace labelprop
