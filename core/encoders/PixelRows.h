#pragma once
// Image preprocessing for the pixel encoders: an item of a source becomes one row of float pixel
// values. Internal to core/encoders.
//
// Thread-safety: reentrant; loadPixelRow() may run on many threads at once (ImageSource::decode()
// is thread-safe).

#include "core/sources/ImageSource.h"

#include <opencv2/core.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace labelprop {

// The shape every row has: `size` pixels with `channels` channels (1 gray, 3 BGR interleaved).
struct PixelLayout {
    cv::Size size;
    int channels = 1;

    [[nodiscard]] int values() const { return size.width * size.height * channels; } // p, floats per row
};

// The layout for `source`: side `side` (0: the source's fixed image size, else 32), gray or BGR.
[[nodiscard]] PixelLayout pixelLayout(const ImageSource& source, int side, bool rgb);

// Decodes item `i`, converts it to the layout's channels, resizes it to the layout's size with
// INTER_AREA (aspect ratio not kept) and writes layout.values() floats in [0, 1] (pixel / 255,
// row-major, channels interleaved) to `out`. Returns why it could not, naming the item's path.
[[nodiscard]] std::optional<std::string> loadPixelRow(const ImageSource& source, std::size_t i,
                                                      const PixelLayout& layout, float* out);

} // namespace labelprop
