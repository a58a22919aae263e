#include "core/encoders/ModelInput.h"

#include <opencv2/imgproc.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace labelprop {

namespace {

std::string formatFloat(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", v);
    return text;
}

std::string formatTriple(const std::array<float, 3>& v)
{
    return formatFloat(v[0]) + ":" + formatFloat(v[1]) + ":" + formatFloat(v[2]);
}

bool parseDouble(std::string_view text, double& out)
{
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end && std::isfinite(out);
}

// "R:G:B" -> three floats.
bool parseTriple(std::string_view text, std::array<float, 3>& out)
{
    for (int c = 0; c < 3; ++c) {
        const auto colon = text.find(':');
        if ((c < 2) != (colon != std::string_view::npos))
            return false;
        double v = 0;
        if (!parseDouble(text.substr(0, colon), v))
            return false;
        out[std::size_t(c)] = float(v);
        text = c < 2 ? text.substr(colon + 1) : std::string_view();
    }
    return true;
}

} // namespace

std::string ModelInput::describe(const std::string& sizeText) const
{
    return "size=" + (sizeText.empty() ? std::to_string(size) : sizeText) + ",crop=" + formatFloat(crop)
           + ",interp=" + (interpolation == Interpolation::Bicubic ? "bicubic" : "bilinear") + ",mean="
           + formatTriple(mean) + ",std=" + formatTriple(std) + ",decode=" + (fastDecode ? "fast" : "full");
}

int ModelInput::resizedShorterSide() const
{
    // timm: Resize(int(size / crop_pct)), which rounds down.
    return std::max(size, int(std::floor(double(size) / crop)));
}

Expected<bool> parseModelInputOption(std::string_view key, std::string_view value, ModelInput& input,
                                     const std::string& spec)
{
    const auto bad = [&](const std::string& expected) {
        return fail("encoder '" + spec + "': " + std::string(key) + "=" + std::string(value) + " is not valid; expected "
                    + expected);
    };
    double number = 0;
    if (key == "size") {
        if (!parseDouble(value, number) || number != std::floor(number) || number < 8 || number > 4096)
            return bad("an integer between 8 and 4096 (pixels)");
        input.size = int(number);
    } else if (key == "crop") {
        if (!parseDouble(value, number) || !(number > 0.0 && number <= 1.0))
            return bad("a fraction in (0, 1], e.g. 0.875 (timm) or 1 (no border cut)");
        input.crop = number;
    } else if (key == "interp") {
        if (value == "bicubic")
            input.interpolation = Interpolation::Bicubic;
        else if (value == "bilinear")
            input.interpolation = Interpolation::Bilinear;
        else
            return bad("bicubic or bilinear");
    } else if (key == "mean" || key == "std") {
        std::array<float, 3> v{};
        if (!parseTriple(value, v))
            return bad("three numbers R:G:B, e.g. 0.485:0.456:0.406");
        if (key == "std" && (v[0] <= 0 || v[1] <= 0 || v[2] <= 0))
            return bad("three positive numbers R:G:B");
        (key == "mean" ? input.mean : input.std) = v;
    } else if (key == "norm") {
        if (value == "imagenet") {
            input.mean = {0.485f, 0.456f, 0.406f};
            input.std = {0.229f, 0.224f, 0.225f};
        } else if (value == "clip") {
            input.mean = {0.48145466f, 0.4578275f, 0.40821073f};
            input.std = {0.26862954f, 0.26130258f, 0.27577711f};
        } else if (value == "none" || value == "half") {
            // none: v / 255 as it is; half: (v / 255 - 0.5) / 0.5, as some ViTs (e.g. augreg) want
            const float m = value == "none" ? 0.0f : 0.5f, s = value == "none" ? 1.0f : 0.5f;
            input.mean = {m, m, m};
            input.std = {s, s, s};
        } else {
            return bad("imagenet, clip, half or none");
        }
    } else if (key == "decode") {
        if (value != "fast" && value != "full")
            return bad("fast (large JPEGs decoded at a reduced scale) or full");
        input.fastDecode = value == "fast";
    } else {
        return false;
    }
    return true;
}

Expected<void> preprocessImage(const cv::Mat& decoded, const ModelInput& input, float* out, const std::string& what)
{
    if (decoded.empty() || decoded.depth() != CV_8U || (decoded.channels() != 1 && decoded.channels() != 3))
        return fail(what + ": expected a decoded 8-bit gray or BGR image");
    cv::Mat rgb;
    cv::cvtColor(decoded, rgb, decoded.channels() == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
    const int s = input.size;
    if (rgb.cols != s || rgb.rows != s) {
        // Shorter side to floor(size / crop), the other in proportion (as timm does).
        const int shorter = input.resizedShorterSide();
        const double scale = double(shorter) / double(std::min(rgb.cols, rgb.rows));
        const cv::Size resized(std::max(s, int(std::lround(rgb.cols * scale))), std::max(s, int(std::lround(rgb.rows * scale))));
        const int method = scale < 1.0 ? cv::INTER_AREA
                           : input.interpolation == Interpolation::Bicubic ? cv::INTER_CUBIC
                                                                            : cv::INTER_LINEAR;
        cv::Mat scaled;
        cv::resize(rgb, scaled, resized, 0, 0, method);
        const int x = (scaled.cols - s) / 2, y = (scaled.rows - s) / 2;
        rgb = scaled(cv::Rect(x, y, s, s));
    }
    // Planar, normalised: plane c at out + c * s * s.
    const float scale = 1.0f / 255.0f;
    const std::size_t plane = std::size_t(s) * std::size_t(s);
    for (int y = 0; y < s; ++y) {
        const std::uint8_t* row = rgb.ptr<std::uint8_t>(y);
        for (int c = 0; c < 3; ++c) {
            const float m = input.mean[std::size_t(c)], inv = 1.0f / input.std[std::size_t(c)];
            float* dst = out + std::size_t(c) * plane + std::size_t(y) * std::size_t(s);
            for (int x = 0; x < s; ++x)
                dst[x] = (float(row[3 * x + c]) * scale - m) * inv;
        }
    }
    return {};
}

} // namespace labelprop
