#pragma once
// Line plots written as PNG files, drawn with OpenCV only (core/ does not use Qt): the figures of
// `labelprop-cli simulate` (accuracy against the number of labels, noise level against the
// propagation step, kNN accuracy against the noise rate).
//
// The plot has a white background, a title, axis labels, "nice" tick values (1-2-5 steps; powers
// of ten with 2x and 5x ticks on a log axis), grid lines, anti-aliased coloured lines with markers
// (a 10-colour palette, markers cycle through five shapes) and a legend placed in the corner of
// the plot area that hides the fewest data points. Non-finite y values break a line.
//
// Thread-safety: writeLinePlotPng() is reentrant.

#include "core/base/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace labelprop {

struct PlotSeries {
    std::string name;        // the legend entry; an empty name is left out of the legend
    std::vector<double> x, y; // same length; points are joined in the given order
    int colour = -1;          // palette index (0-9, wraps); -1: the series' position in the spec
    bool dashed = false;      // dashed, thinner line with hollow markers (e.g. a baseline)
};

struct PlotSpec {
    std::string title, xLabel, yLabel;
    bool logX = false; // every x must then be > 0
    std::optional<double> yMin, yMax; // fixed y range; otherwise nice bounds around the data
    std::vector<PlotSeries> series;
    int width = 1000, height = 650; // pixels; at least 320 x 240
};

// Renders `spec` and writes it to `path` as a PNG, atomically (encoded in memory, written to
// "<path>.tmp", renamed). Fails, naming the path, when a series has x and y of different lengths,
// logX is set and some x <= 0, the size is too small, or the file cannot be written.
[[nodiscard]] Expected<void> writeLinePlotPng(const std::string& path, const PlotSpec& spec);

// The same picture as PNG bytes (what writeLinePlotPng writes).
[[nodiscard]] Expected<std::vector<unsigned char>> renderLinePlotPng(const PlotSpec& spec);

} // namespace labelprop
