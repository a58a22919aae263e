#pragma once
// Small image data sets on disk for the project tests: an ImageFolder tree of 16x16 gray PNGs
// whose pixels depend on the class (so PCA and propagation have structure) and on the index (so
// every file has distinct bytes).

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <QtGlobal>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace labelprop::test {

// Writes root/<class>/img_<i>.png for `perClass` images of each class and returns the relative
// paths in ImageFolder order (sorted).
inline std::vector<std::string> writeImageFolder(const std::filesystem::path& root, const std::vector<std::string>& classes,
                                                 int perClass, unsigned seed = 7)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 18.0f);
    std::vector<std::string> paths;
    for (std::size_t c = 0; c < classes.size(); ++c) {
        std::filesystem::create_directories(root / classes[c]);
        for (int i = 0; i < perClass; ++i) {
            cv::Mat img(16, 16, CV_8UC1);
            for (int y = 0; y < 16; ++y)
                for (int x = 0; x < 16; ++x) {
                    // Class c: a bright band at a class-specific place, plus noise.
                    const bool band = (c % 2 == 0) ? (y / 4 == int(c / 2) % 4) : (x / 4 == int(c / 2) % 4);
                    img.at<uchar>(y, x) = cv::saturate_cast<uchar>((band ? 200.0f : 40.0f) + noise(rng));
                }
            const auto rel = classes[c] + "/img_" + std::to_string(i) + ".png";
            if (!cv::imwrite((root / rel).string(), img))
                qFatal("cannot write %s", (root / rel).string().c_str());
            paths.push_back(rel);
        }
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

} // namespace labelprop::test
