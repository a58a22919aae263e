#include "core/experiments/LinePlot.h"

#include "core/base/AtomicFile.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string_view>

namespace labelprop {
namespace {

// Everything is drawn at kSuper times the requested size and shrunk with area averaging at the
// end: Hershey glyphs and thin lines come out evenly anti-aliased. Layout works in final pixels.
constexpr int kSuper = 2;
// Sub-pixel precision of the drawing calls (cv::line's `shift`): coordinates in 1/16 pixels.
constexpr int kShift = 4;
constexpr double kShiftScale = 1 << kShift;

// Tableau 10, as BGR.
const std::array<cv::Scalar, 10> kPalette = {
    cv::Scalar(180, 119, 31), cv::Scalar(14, 127, 255), cv::Scalar(44, 160, 44),  cv::Scalar(40, 39, 214),
    cv::Scalar(189, 103, 148), cv::Scalar(75, 86, 140), cv::Scalar(194, 119, 227), cv::Scalar(127, 127, 127),
    cv::Scalar(34, 189, 188), cv::Scalar(207, 190, 23)};

const cv::Scalar kInk(40, 40, 40);
const cv::Scalar kTickInk(70, 70, 70);
const cv::Scalar kMajorGrid(225, 225, 225);
const cv::Scalar kMinorGrid(242, 242, 242);
const cv::Scalar kWhite(255, 255, 255);

struct Font {
    double scale;
    int thickness; // at the supersampled size
};
const Font kTitleFont{0.72, 3};
const Font kLabelFont{0.60, 2};
const Font kTickFont{0.50, 2};
const Font kLegendFont{0.50, 2};
constexpr int kFace = cv::FONT_HERSHEY_SIMPLEX;

struct TextBox {
    double width = 0, height = 0, descent = 0; // final pixels; height is above the baseline
};

TextBox measure(const std::string& text, const Font& font)
{
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, kFace, font.scale * kSuper, font.thickness, &baseline);
    return {double(size.width) / kSuper, double(size.height) / kSuper, double(baseline) / kSuper};
}

// Draws `text` with its baseline's left end at (x, y), final pixels.
void drawText(cv::Mat& canvas, const std::string& text, double x, double y, const Font& font, const cv::Scalar& colour)
{
    cv::putText(canvas, text, cv::Point(int(std::lround(x * kSuper)), int(std::lround(y * kSuper))), kFace,
                font.scale * kSuper, colour, font.thickness, cv::LINE_AA);
}

cv::Point fixedPoint(double x, double y)
{
    return {int(std::lround(x * kSuper * kShiftScale)), int(std::lround(y * kSuper * kShiftScale))};
}

void drawLine(cv::Mat& canvas, double x0, double y0, double x1, double y1, const cv::Scalar& colour, double width)
{
    cv::line(canvas, fixedPoint(x0, y0), fixedPoint(x1, y1), colour, std::max(1, int(std::lround(width * kSuper))),
             cv::LINE_AA, kShift);
}

// ---- axes ------------------------------------------------------------------------------------

struct Tick {
    double value = 0;
    std::string label; // empty: a minor tick (grid line only)
};

struct Axis {
    double lo = 0, hi = 1;
    bool log = false;
    std::vector<Tick> ticks;

    // Position in [0, 1] along the axis.
    [[nodiscard]] double unit(double v) const
    {
        if (log)
            return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
        return (v - lo) / (hi - lo);
    }
};

double niceStep(double span, int target)
{
    const double raw = span / std::max(1, target);
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / magnitude;
    const double nice = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 2.5 ? 2.5 : f <= 5.0 ? 5.0 : 10.0;
    return nice * magnitude;
}

int decimalsFor(double step)
{
    int decimals = 0;
    double scaled = step;
    while (decimals < 8 && std::abs(scaled - std::round(scaled)) > 1e-6 * std::max(1.0, std::abs(scaled))) {
        scaled *= 10.0;
        ++decimals;
    }
    return decimals;
}

std::string formatFixed(double v, int decimals)
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
    std::string text = buffer;
    if (text.starts_with('-') && text.find_first_not_of("-0.") == std::string::npos)
        text.erase(0, 1); // "-0.0" -> "0.0"
    return text;
}

// m x 10^e for the log axis: 2000, 10k, 20k, 1M, 0.05.
std::string formatPowerMultiple(int m, int e)
{
    if (e >= 6 && m * std::pow(10.0, e) >= 1e6)
        return formatFixed(m * std::pow(10.0, e - 6), 0) + "M";
    if (e >= 4)
        return formatFixed(m * std::pow(10.0, e - 3), 0) + "k";
    if (e >= 0)
        return formatFixed(m * std::pow(10.0, e), 0);
    return formatFixed(m * std::pow(10.0, e), -e);
}

// Linear ticks at multiples of a nice step inside [lo, hi].
std::vector<Tick> linearTicks(double lo, double hi, double step)
{
    std::vector<Tick> ticks;
    const int decimals = decimalsFor(step);
    const double first = std::ceil(lo / step - 1e-9);
    for (double m = first;; m += 1.0) {
        const double v = m * step;
        if (v > hi + step * 1e-9)
            break;
        ticks.push_back({v, formatFixed(v, decimals)});
        if (ticks.size() > 100)
            break;
    }
    return ticks;
}

// Do the labelled ticks fit along an axis of `length` pixels without touching?
bool labelsFit(const Axis& axis, double length, bool horizontal, const Font& font)
{
    double previousEdge = -std::numeric_limits<double>::infinity();
    for (const Tick& t : axis.ticks) {
        if (t.label.empty())
            continue;
        const TextBox box = measure(t.label, font);
        const double extent = horizontal ? box.width : box.height + box.descent;
        const double centre = axis.unit(t.value) * length;
        if (centre - extent / 2 < previousEdge + (horizontal ? 14.0 : 10.0))
            return false;
        previousEdge = centre + extent / 2;
    }
    return true;
}

struct Range {
    double lo = std::numeric_limits<double>::infinity();
    double hi = -std::numeric_limits<double>::infinity();
    [[nodiscard]] bool empty() const { return !(lo <= hi); }
    void add(double v)
    {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
};

// A linear axis over `data`; `tight` keeps the given bounds (fixed range), else nice bounds
// (y) or a 3% margin (x, `pad`).
Axis linearAxis(Range data, bool pad, std::optional<double> fixedLo, std::optional<double> fixedHi, double length,
                bool horizontal)
{
    if (data.empty())
        data = {0.0, 1.0};
    double lo = fixedLo.value_or(data.lo), hi = fixedHi.value_or(data.hi);
    if (!(hi > lo)) {
        const double half = std::max(0.5, std::abs(lo) * 0.1);
        if (!fixedLo)
            lo -= half;
        if (!fixedHi || !(hi > lo))
            hi = lo + 2 * half;
    }
    Axis best;
    for (int target : {10, 8, 7, 6, 5, 4, 3, 2}) {
        const double step = niceStep(hi - lo, target);
        Axis axis;
        axis.lo = lo;
        axis.hi = hi;
        if (pad) {
            const double margin = 0.03 * (hi - lo);
            axis.lo = fixedLo ? lo : lo - margin;
            axis.hi = fixedHi ? hi : hi + margin;
        } else {
            if (!fixedLo)
                axis.lo = std::floor(lo / step + 1e-9) * step;
            if (!fixedHi)
                axis.hi = std::ceil(hi / step - 1e-9) * step;
        }
        axis.ticks = linearTicks(axis.lo, axis.hi, step);
        // A tick every ~50 pixels at most (70 along x, whose labels are wider).
        const double spacing = length / std::max<size_t>(1, axis.ticks.size());
        best = axis;
        if (spacing >= (horizontal ? 55.0 : 40.0) && labelsFit(axis, length, horizontal, kTickFont))
            return axis;
    }
    return best;
}

Axis logAxis(Range data, double length)
{
    if (data.empty())
        data = {1.0, 10.0};
    double lo = std::log10(data.lo), hi = std::log10(data.hi);
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    const double margin = 0.03 * (hi - lo);
    Axis axis;
    axis.log = true;
    axis.lo = std::pow(10.0, lo - margin);
    axis.hi = std::pow(10.0, hi + margin);
    const int firstDecade = int(std::floor(std::log10(axis.lo)));
    const int lastDecade = int(std::ceil(std::log10(axis.hi)));

    // Labelled multiples, densest first: 1-2-5, then powers of ten, then every other power.
    const std::array<std::vector<int>, 3> labelled = {std::vector<int>{1, 2, 5}, {1}, {1}};
    for (size_t attempt = 0; attempt < labelled.size(); ++attempt) {
        axis.ticks.clear();
        int labelledCount = 0;
        for (int e = firstDecade; e <= lastDecade; ++e) {
            for (int m = 1; m <= 9; ++m) {
                const double v = m * std::pow(10.0, e);
                if (v < axis.lo * (1 - 1e-12) || v > axis.hi * (1 + 1e-12))
                    continue;
                const bool isLabelled = std::ranges::find(labelled[attempt], m) != labelled[attempt].end() && (attempt < 2 || e % 2 == 0);
                axis.ticks.push_back({v, isLabelled ? formatPowerMultiple(m, e) : std::string()});
                labelledCount += isLabelled;
            }
        }
        if (labelledCount < 2) {
            // Less than a decade in view: label every multiple.
            for (Tick& t : axis.ticks) {
                const int e = int(std::floor(std::log10(t.value) + 1e-9));
                t.label = formatPowerMultiple(int(std::lround(t.value / std::pow(10.0, e))), e);
            }
            return axis;
        }
        if (labelsFit(axis, length, true, kTickFont))
            return axis;
    }
    return axis;
}

// ---- series ----------------------------------------------------------------------------------

cv::Scalar seriesColour(const PlotSeries& s, size_t position)
{
    const size_t index = s.colour >= 0 ? size_t(s.colour) : position;
    cv::Scalar c = kPalette[index % kPalette.size()];
    if (s.dashed)
        c = c * 0.8 + kWhite * 0.2; // a lighter tone for baselines
    return c;
}

using Polyline = std::vector<cv::Point2d>;

// The series' points in pixels, split where a value is not finite (or not drawable on a log axis).
std::vector<Polyline> pixelRuns(const PlotSeries& s, const Axis& x, const Axis& y, const cv::Rect2d& plot)
{
    std::vector<Polyline> runs(1);
    for (size_t i = 0; i < s.x.size(); ++i) {
        const double xv = s.x[i], yv = s.y[i];
        if (!std::isfinite(xv) || !std::isfinite(yv) || (x.log && xv <= 0)) {
            if (!runs.back().empty())
                runs.emplace_back();
            continue;
        }
        runs.back().emplace_back(plot.x + x.unit(xv) * plot.width, plot.y + (1.0 - y.unit(yv)) * plot.height);
    }
    std::erase_if(runs, [](const Polyline& r) { return r.empty(); });
    return runs;
}

void drawPolyline(cv::Mat& canvas, const Polyline& points, const cv::Scalar& colour, double width, bool dashed)
{
    if (!dashed) {
        for (size_t i = 1; i < points.size(); ++i)
            drawLine(canvas, points[i - 1].x, points[i - 1].y, points[i].x, points[i].y, colour, width);
        return;
    }
    constexpr double kOn = 9.0, kOff = 6.0;
    double phase = 0.0; // distance into the current on+off period, carried across segments
    for (size_t i = 1; i < points.size(); ++i) {
        const cv::Point2d a = points[i - 1], b = points[i];
        const double length = std::hypot(b.x - a.x, b.y - a.y);
        double t = 0.0;
        while (t < length) {
            const bool on = phase < kOn;
            const double run = std::min(length - t, on ? kOn - phase : kOn + kOff - phase);
            if (on) {
                const cv::Point2d p = a + (b - a) * (t / length), q = a + (b - a) * ((t + run) / length);
                drawLine(canvas, p.x, p.y, q.x, q.y, colour, width);
            }
            t += run;
            phase = std::fmod(phase + run, kOn + kOff);
        }
    }
}

void drawMarker(cv::Mat& canvas, cv::Point2d centre, int shape, const cv::Scalar& colour, bool hollow)
{
    constexpr double r = 4.6;
    std::vector<cv::Point2d> outline;
    switch (shape % 5) {
    case 0: {
        const cv::Point c = fixedPoint(centre.x, centre.y);
        const int radius = int(std::lround(r * kSuper * kShiftScale));
        cv::circle(canvas, c, radius, hollow ? kWhite : colour, cv::FILLED, cv::LINE_AA, kShift);
        if (hollow)
            cv::circle(canvas, c, radius, colour, int(1.6 * kSuper), cv::LINE_AA, kShift);
        return;
    }
    case 1: outline = {{-0.85, -0.85}, {0.85, -0.85}, {0.85, 0.85}, {-0.85, 0.85}}; break;
    case 2: outline = {{0, -1.15}, {1.05, 0.75}, {-1.05, 0.75}}; break;
    case 3: outline = {{0, -1.2}, {1.0, 0}, {0, 1.2}, {-1.0, 0}}; break;
    default: outline = {{0, 1.15}, {1.05, -0.75}, {-1.05, -0.75}}; break;
    }
    std::vector<cv::Point> pts;
    for (const auto& o : outline)
        pts.push_back(fixedPoint(centre.x + o.x * r, centre.y + o.y * r));
    cv::fillConvexPoly(canvas, pts, hollow ? kWhite : colour, cv::LINE_AA, kShift);
    if (hollow)
        cv::polylines(canvas, pts, true, colour, int(1.6 * kSuper), cv::LINE_AA, kShift);
}

// ---- legend ----------------------------------------------------------------------------------

struct Legend {
    std::vector<size_t> entries; // series indices with a name
    double width = 0, height = 0, rowHeight = 0;
};

constexpr double kLegendPad = 9.0, kLegendSample = 34.0;

Legend measureLegend(const PlotSpec& spec)
{
    Legend legend;
    double textWidth = 0, textHeight = 0;
    for (size_t i = 0; i < spec.series.size(); ++i) {
        if (spec.series[i].name.empty())
            continue;
        legend.entries.push_back(i);
        const TextBox box = measure(spec.series[i].name, kLegendFont);
        textWidth = std::max(textWidth, box.width);
        textHeight = std::max(textHeight, box.height);
    }
    legend.rowHeight = std::max(textHeight, 10.0) + 9.0;
    legend.width = 2 * kLegendPad + kLegendSample + 8.0 + textWidth;
    legend.height = 2 * kLegendPad + legend.rowHeight * double(legend.entries.size()) - 5.0;
    return legend;
}

// The corner of the plot where the legend covers the fewest sampled points of the lines.
struct LegendPlacement {
    cv::Rect2d box;
    size_t hiddenSamples = 0; // sampled line points under the box
};

LegendPlacement placeLegend(const Legend& legend, const cv::Rect2d& plot, const std::vector<std::vector<Polyline>>& runs)
{
    constexpr double inset = 10.0;
    const double left = plot.x + inset, right = plot.x + plot.width - inset - legend.width;
    const double top = plot.y + inset, bottom = plot.y + plot.height - inset - legend.height;
    const double middle = plot.y + (plot.height - legend.height) / 2;
    const std::array<cv::Point2d, 6> corners = {cv::Point2d(right, top),    cv::Point2d(left, top),
                                                cv::Point2d(right, bottom), cv::Point2d(left, bottom),
                                                cv::Point2d(right, middle), cv::Point2d(left, middle)};
    std::vector<cv::Point2d> samples;
    for (const auto& seriesRuns : runs)
        for (const Polyline& run : seriesRuns) {
            if (run.size() == 1)
                samples.push_back(run[0]);
            for (size_t i = 1; i < run.size(); ++i) {
                const double length = std::hypot(run[i].x - run[i - 1].x, run[i].y - run[i - 1].y);
                const int steps = std::max(1, int(length / 3.0));
                for (int s = 0; s <= steps; ++s)
                    samples.push_back(run[i - 1] + (run[i] - run[i - 1]) * (double(s) / steps));
            }
        }
    cv::Rect2d best(corners[0], cv::Size2d(legend.width, legend.height));
    size_t bestHits = std::numeric_limits<size_t>::max();
    for (const auto& corner : corners) {
        const cv::Rect2d box(corner, cv::Size2d(legend.width, legend.height));
        const cv::Rect2d grown(box.x - 6, box.y - 6, box.width + 12, box.height + 12);
        const size_t hits = size_t(std::ranges::count_if(samples, [&](const cv::Point2d& p) { return grown.contains(p); }));
        if (hits < bestHits) {
            bestHits = hits;
            best = box;
        }
    }
    return {best, bestHits};
}

Expected<void> validate(const PlotSpec& spec)
{
    if (spec.width < 320 || spec.height < 240 || spec.width > 8000 || spec.height > 8000)
        return fail("plot: the size " + std::to_string(spec.width) + " x " + std::to_string(spec.height)
                    + " is outside 320 x 240 to 8000 x 8000 pixels");
    for (const PlotSeries& s : spec.series) {
        if (s.x.size() != s.y.size())
            return fail("plot: series '" + s.name + "' has " + std::to_string(s.x.size()) + " x values but "
                        + std::to_string(s.y.size()) + " y values");
        if (spec.logX)
            for (double x : s.x)
                if (std::isfinite(x) && x <= 0)
                    return fail("plot: series '" + s.name + "' has x = " + formatFixed(x, 6)
                                + ", which a logarithmic x axis cannot show; every x must be above 0");
    }
    if (spec.yMin && spec.yMax && !(*spec.yMax > *spec.yMin))
        return fail("plot: yMax must be above yMin");
    return {};
}

cv::Mat render(const PlotSpec& spec)
{
    const double width = spec.width, height = spec.height;
    cv::Mat canvas(spec.height * kSuper, spec.width * kSuper, CV_8UC3, kWhite);

    Range xData, yData;
    for (const PlotSeries& s : spec.series)
        for (size_t i = 0; i < s.x.size(); ++i)
            if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!spec.logX || s.x[i] > 0)) {
                xData.add(s.x[i]);
                yData.add(s.y[i]);
            }

    // Vertical layout: title, plot, tick labels, x label.
    constexpr double kOuter = 16.0, kTickLength = 5.0;
    // A title wider than the picture is set smaller rather than cut off.
    Font titleFont = kTitleFont;
    const double titleRoom = width - 2 * kOuter - 8.0;
    if (const double w = measure(spec.title, kTitleFont).width; w > titleRoom)
        titleFont.scale = std::max(0.45, kTitleFont.scale * titleRoom / w);
    const TextBox titleBox = measure(spec.title.empty() ? "Ag" : spec.title, titleFont);
    const TextBox labelBox = measure("Ag", kLabelFont);
    const TextBox tickBox = measure("0123456789", kTickFont);
    const double top = spec.title.empty() ? kOuter + 4 : kOuter + titleBox.height + titleBox.descent + 16.0;
    const double xTickLabelBaseline = kTickLength + 8.0 + tickBox.height;
    const double bottomMargin = xTickLabelBaseline + (spec.xLabel.empty() ? 10.0 : 14.0 + labelBox.height + labelBox.descent + 10.0);
    const double plotHeight = height - top - bottomMargin;
    const Axis yAxis = linearAxis(yData, false, spec.yMin, spec.yMax, plotHeight, false);

    // Horizontal layout: y label (rotated), tick labels, plot.
    double yTickWidth = 0;
    for (const Tick& t : yAxis.ticks)
        yTickWidth = std::max(yTickWidth, measure(t.label, kTickFont).width);
    const double left = kOuter + (spec.yLabel.empty() ? 0.0 : labelBox.height + labelBox.descent + 12.0) + yTickWidth
                        + 7.0 + kTickLength;
    // The legend goes inside the plot where it hides no line; otherwise to the right of it.
    const Legend legend = measureLegend(spec);
    Axis xAxis;
    cv::Rect2d plot;
    std::vector<std::vector<Polyline>> runs;
    const auto layOut = [&](double right) {
        const double plotWidth = width - left - right;
        xAxis = spec.logX ? logAxis(xData, plotWidth)
                          : linearAxis(xData, true, std::nullopt, std::nullopt, plotWidth, true);
        plot = cv::Rect2d(left, top, plotWidth, plotHeight);
        runs.clear();
        for (const PlotSeries& s : spec.series)
            runs.push_back(pixelRuns(s, xAxis, yAxis, plot));
    };
    layOut(28.0);
    cv::Rect2d legendBox;
    if (!legend.entries.empty()) {
        const LegendPlacement inside = placeLegend(legend, plot, runs);
        legendBox = inside.box;
        const double outsideRight = legend.width + 2 * 14.0;
        if (inside.hiddenSamples > 0 && width - left - outsideRight >= 0.5 * width) {
            layOut(outsideRight);
            legendBox = cv::Rect2d(plot.x + plot.width + 14.0, plot.y, legend.width, legend.height);
        }
    }
    const double plotRight = plot.x + plot.width, plotBottom = plot.y + plot.height;

    // Grid: minor lines first, so major ones stay on top.
    for (int pass = 0; pass < 2; ++pass) {
        for (const Tick& t : xAxis.ticks) {
            if (t.label.empty() != (pass == 0))
                continue;
            const double px = plot.x + xAxis.unit(t.value) * plot.width;
            drawLine(canvas, px, plot.y, px, plotBottom, pass == 0 ? kMinorGrid : kMajorGrid, 1.0);
        }
        for (const Tick& t : yAxis.ticks) {
            if (t.label.empty() != (pass == 0))
                continue;
            const double py = plotBottom - yAxis.unit(t.value) * plot.height;
            drawLine(canvas, plot.x, py, plotRight, py, pass == 0 ? kMinorGrid : kMajorGrid, 1.0);
        }
    }

    // Series, clipped to the plot area plus room for a marker on its edge.
    {
        constexpr double kBleed = 7.0;
        const cv::Rect clip(int(std::floor((plot.x - kBleed) * kSuper)), int(std::floor((plot.y - kBleed) * kSuper)),
                            int(std::ceil((plot.width + 2 * kBleed) * kSuper)),
                            int(std::ceil((plot.height + 2 * kBleed) * kSuper)));
        cv::Mat area = canvas(clip & cv::Rect(0, 0, canvas.cols, canvas.rows));
        const cv::Point2d origin(double(clip.x) / kSuper, double(clip.y) / kSuper);
        // Dashed baselines under solid lines; within each, the spec's order.
        for (int pass = 0; pass < 2; ++pass) {
            for (size_t i = 0; i < spec.series.size(); ++i) {
                const PlotSeries& s = spec.series[i];
                if (s.dashed != (pass == 0))
                    continue;
                const cv::Scalar colour = seriesColour(s, i);
                const size_t pointCount = s.x.size();
                for (Polyline run : runs[i]) {
                    for (auto& p : run)
                        p -= origin;
                    drawPolyline(area, run, colour, s.dashed ? 1.6 : 2.2, s.dashed);
                    if (pointCount <= 60)
                        for (const auto& p : run)
                            drawMarker(area, p, int(s.colour >= 0 ? size_t(s.colour) : i), colour, s.dashed);
                }
            }
        }
    }

    // Frame, ticks and tick labels.
    drawLine(canvas, plot.x, plot.y, plotRight, plot.y, kTickInk, 1.2);
    drawLine(canvas, plot.x, plotBottom, plotRight, plotBottom, kTickInk, 1.2);
    drawLine(canvas, plot.x, plot.y, plot.x, plotBottom, kTickInk, 1.2);
    drawLine(canvas, plotRight, plot.y, plotRight, plotBottom, kTickInk, 1.2);
    for (const Tick& t : xAxis.ticks) {
        const double px = plot.x + xAxis.unit(t.value) * plot.width;
        drawLine(canvas, px, plotBottom, px, plotBottom + (t.label.empty() ? kTickLength * 0.6 : kTickLength), kTickInk, 1.0);
        if (!t.label.empty()) {
            const TextBox box = measure(t.label, kTickFont);
            drawText(canvas, t.label, px - box.width / 2, plotBottom + xTickLabelBaseline, kTickFont, kInk);
        }
    }
    for (const Tick& t : yAxis.ticks) {
        const double py = plotBottom - yAxis.unit(t.value) * plot.height;
        drawLine(canvas, plot.x - kTickLength, py, plot.x, py, kTickInk, 1.0);
        const TextBox box = measure(t.label, kTickFont);
        drawText(canvas, t.label, plot.x - kTickLength - 7.0 - box.width, py + box.height / 2, kTickFont, kInk);
    }

    // Title and axis labels.
    if (!spec.title.empty()) {
        const TextBox box = measure(spec.title, titleFont);
        const double x = std::clamp(plot.x + (plot.width - box.width) / 2, kOuter, std::max(kOuter, width - kOuter - box.width));
        drawText(canvas, spec.title, x, kOuter + box.height, titleFont, kInk);
    }
    if (!spec.xLabel.empty()) {
        const TextBox box = measure(spec.xLabel, kLabelFont);
        drawText(canvas, spec.xLabel, plot.x + (plot.width - box.width) / 2,
                 plotBottom + xTickLabelBaseline + 14.0 + box.height, kLabelFont, kInk);
    }
    if (!spec.yLabel.empty()) {
        // Drawn horizontally on a strip, turned a quarter anticlockwise, and darkened onto the canvas.
        const TextBox box = measure(spec.yLabel, kLabelFont);
        const int stripWidth = int(std::ceil(box.width * kSuper)) + 4;
        const int stripHeight = int(std::ceil((box.height + box.descent) * kSuper)) + 4;
        cv::Mat strip(stripHeight, stripWidth, CV_8UC3, kWhite);
        cv::putText(strip, spec.yLabel, cv::Point(2, int(std::lround(box.height * kSuper)) + 2), kFace,
                    kLabelFont.scale * kSuper, kInk, kLabelFont.thickness, cv::LINE_AA);
        cv::Mat turned;
        cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
        const int x = int(std::lround(kOuter * kSuper));
        const int y = int(std::lround((plot.y + plot.height / 2) * kSuper)) - turned.rows / 2;
        const cv::Rect target = cv::Rect(x, std::max(0, y), turned.cols, turned.rows) & cv::Rect(0, 0, canvas.cols, canvas.rows);
        cv::Mat destination = canvas(target);
        cv::min(destination, turned(cv::Rect(0, 0, target.width, target.height)), destination);
    }

    // Legend.
    if (!legend.entries.empty()) {
        const cv::Rect2d box = legendBox;
        const cv::Rect pixels(int(std::lround(box.x * kSuper)), int(std::lround(box.y * kSuper)),
                              int(std::lround(box.width * kSuper)), int(std::lround(box.height * kSuper)));
        const cv::Rect inside = pixels & cv::Rect(0, 0, canvas.cols, canvas.rows);
        cv::Mat area = canvas(inside);
        cv::addWeighted(area, 0.12, cv::Mat(area.size(), area.type(), kWhite), 0.88, 0.0, area);
        cv::rectangle(canvas, pixels, cv::Scalar(200, 200, 200), 2, cv::LINE_AA);
        const TextBox textBox = measure("Ag", kLegendFont);
        for (size_t row = 0; row < legend.entries.size(); ++row) {
            const size_t i = legend.entries[row];
            const PlotSeries& s = spec.series[i];
            const cv::Scalar colour = seriesColour(s, i);
            const double centreY = box.y + kLegendPad + legend.rowHeight * double(row) + (legend.rowHeight - 5.0) / 2;
            const double x0 = box.x + kLegendPad;
            drawPolyline(canvas, {{x0, centreY}, {x0 + kLegendSample, centreY}}, colour, s.dashed ? 1.6 : 2.2, s.dashed);
            drawMarker(canvas, {x0 + kLegendSample / 2, centreY}, int(s.colour >= 0 ? size_t(s.colour) : i), colour, s.dashed);
            drawText(canvas, s.name, x0 + kLegendSample + 8.0, centreY + textBox.height / 2, kLegendFont, kInk);
        }
    }

    cv::Mat result;
    cv::resize(canvas, result, cv::Size(spec.width, spec.height), 0, 0, cv::INTER_AREA);
    return result;
}

} // namespace

Expected<std::vector<unsigned char>> renderLinePlotPng(const PlotSpec& spec)
{
    if (auto valid = validate(spec); !valid)
        return std::unexpected(valid.error());
    try {
        const cv::Mat image = render(spec);
        std::vector<unsigned char> png;
        if (!cv::imencode(".png", image, png))
            return fail("plot: OpenCV could not encode the PNG");
        return png;
    } catch (const cv::Exception& e) {
        return fail(std::string("plot: OpenCV failed while drawing: ") + e.what());
    }
}

Expected<void> writeLinePlotPng(const std::string& path, const PlotSpec& spec)
{
    auto png = renderLinePlotPng(spec);
    if (!png) {
        Error error = png.error();
        error.message = path + ": " + error.message;
        return std::unexpected(error);
    }
    return writeFileAtomically(path, std::string_view(reinterpret_cast<const char*>(png->data()), png->size()));
}

} // namespace labelprop
