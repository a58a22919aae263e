#pragma once
// How an image becomes a network's input: the preprocessing that the weights were trained with
// (torchvision's and timm's eval transforms), on 8-bit images as ImageSource::decode() gives them.
//
//   decoded (gray or BGR, 8-bit; alpha already composited over white by the source)
//     -> RGB (gray repeated to three channels)
//     -> resize so that the shorter side is floor(size / crop), keeping the aspect ratio
//        (an image that already is size x size is left as it is)
//     -> centre crop size x size
//     -> float (v / 255 - mean[c]) / std[c], planar CHW
//
// This is timm's eval transform (Resize(int(size / crop_pct)), CenterCrop(size), Normalize) and,
// with crop = 224 / 256 and bilinear, torchvision's ViT_B_16 weights transform. Resampling: when
// shrinking, OpenCV's INTER_AREA (a box filter: PIL's and torchvision's antialiased resize also
// low-pass first; plain bicubic would alias on a 4K photo shrunk to 256 px); when enlarging
// (Fashion-MNIST's 28 px to 224), the chosen interpolation.
//
// Thread-safety: pure functions; preprocessImage() may run on many threads at once.

#include "core/base/Error.h"

#include <opencv2/core.hpp>

#include <array>
#include <string>
#include <string_view>

namespace labelprop {

enum class Interpolation { Bicubic, Bilinear };

struct ModelInput {
    int size = 224;                                    // the network's input side, pixels
    double crop = 0.875;                               // centre crop / resized side, in (0, 1]; 1: no border cut
    Interpolation interpolation = Interpolation::Bicubic;
    std::array<float, 3> mean{0.485f, 0.456f, 0.406f}; // ImageNet, RGB order, of v / 255
    std::array<float, 3> std{0.229f, 0.224f, 0.225f};
    // A JPEG far larger than the input is decoded at 1/2, 1/4 or 1/8 scale, never under twice
    // resizedShorterSide() (decodeImageFile's minSide): 2-4x faster on photos, PSNR >= 45 dB
    // against a full decode. false ("decode=full"): always whole, as Python's cv2.imread does.
    bool fastDecode = true;

    // The shorter side of the image after the resize, before the centre crop: floor(size / crop),
    // at least size (256 for 224 at crop 0.875).
    [[nodiscard]] int resizedShorterSide() const;
    // What to pass as ImageSource::decodeForSize's minSide: resizedShorterSide() with fastDecode,
    // else 0 (decode whole).
    [[nodiscard]] int decodeMinSide() const { return fastDecode ? resizedShorterSide() : 0; }

    // "size=224,crop=0.875,interp=bicubic,mean=0.485:0.456:0.406,std=0.229:0.224:0.225,decode=fast": every
    // field, in a fixed format, so that equal inputs give equal text (it keys embedding caches).
    // `sizeText` replaces the number (e.g. "native": the weights' own size).
    [[nodiscard]] std::string describe(const std::string& sizeText = {}) const;
};

// Parses one preprocessing option of an encoder spec into `input`: size=S, crop=F, interp=
// bicubic|bilinear, mean=R:G:B, std=R:G:B, norm=imagenet|clip|half|none (shorthands for mean and
// std), or decode=fast|full. Returns false when `key` is none of these; an error when the value is out of range,
// naming `spec`.
[[nodiscard]] Expected<bool> parseModelInputOption(std::string_view key, std::string_view value, ModelInput& input,
                                                   const std::string& spec);

// Writes the 3 x size x size floats (planar R, G, B planes, row-major) of `decoded` to `out`.
// `decoded`: 8-bit, 1 or 3 (BGR) channels, non-empty. Errors name `what` (the item's path).
[[nodiscard]] Expected<void> preprocessImage(const cv::Mat& decoded, const ModelInput& input, float* out,
                                             const std::string& what);

} // namespace labelprop
