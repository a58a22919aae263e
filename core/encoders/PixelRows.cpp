#include "core/encoders/PixelRows.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>

namespace labelprop {

PixelLayout pixelLayout(const ImageSource& source, int side, bool rgb)
{
    return PixelLayout{side > 0 ? cv::Size(side, side) : source.fixedImageSize().value_or(cv::Size(32, 32)), rgb ? 3 : 1};
}

std::optional<std::string> loadPixelRow(const ImageSource& source, std::size_t i, const PixelLayout& layout, float* out)
{
    const cv::Size size = layout.size;
    const int channels = layout.channels;
    // A photo is shrunk to a few dozen pixels here: decoding it at a JPEG's reduced scale changes
    // nothing visible at that size and saves most of the decode.
    auto decoded = source.decodeForSize(i, std::max(size.width, size.height));
    if (!decoded)
        return decoded.error().message;
    try {
        cv::Mat img = *decoded;
        if (channels == 1 && img.channels() == 3)
            cv::cvtColor(img, img, cv::COLOR_BGR2GRAY);
        else if (channels == 3 && img.channels() == 1)
            cv::cvtColor(img, img, cv::COLOR_GRAY2BGR);
        if (img.channels() != channels)
            return source.item(i).path + ": unexpected channel count " + std::to_string(img.channels());
        if (img.size() != size) {
            cv::Mat resized;
            cv::resize(img, resized, size, 0, 0, cv::INTER_AREA);
            img = resized;
        }
        cv::Mat dst(size, CV_32FC(channels), out);
        img.convertTo(dst, CV_32F, 1.0 / 255.0);
        if (dst.data != reinterpret_cast<uchar*>(out))
            return source.item(i).path + ": internal error: conversion reallocated the buffer";
    } catch (const cv::Exception& e) {
        return source.item(i).path + ": cannot preprocess the image (" + e.msg + ")";
    }
    return std::nullopt;
}

} // namespace labelprop
