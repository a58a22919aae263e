// How fast the encoders' input pipeline decodes and preprocesses images, per core and on all
// cores, with decode=fast (large JPEGs read at 1/2, 1/4 or 1/8 scale) and decode=full: the rate a
// GPU's model throughput has to be fed at (bench/README.md, "Decoding").
//
//   decode_bench [--size 224] [--crop 0.875] [--threads N] [--runs 3] [--images 24] [--keep DIR]
//
// Writes its own images (no data set needed) into a temporary folder per set: photo-like JPEGs
// (blurred noise plus fine grain, quality 90) at 640 x 480, 1600 x 1200 and 4032 x 3024, and PNGs
// at 640 x 480. Per set and mode it prints images/s, the median of --runs passes, each pass
// decoding every image of the set once through ImageSource::decodeForSize + preprocessImage,
// exactly as TorchRunner's decode workers do.

#include "core/base/Parallel.h"
#include "core/base/SimdLevel.h"
#include "core/encoders/ModelInput.h"
#include "core/sources/ImageSource.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace labelprop;
namespace fs = std::filesystem;

namespace {

struct ImageSet {
    std::string name;
    int width, height;
    std::string extension;
};

// Photo-like content: structure at a few scales plus grain, so that JPEG files have a realistic
// size (a 12-megapixel one ~3.5 MB at quality 90) and entropy decoding its realistic cost.
cv::Mat photoLike(int width, int height, std::mt19937& rng)
{
    cv::Mat coarse(std::max(2, height / 16), std::max(2, width / 16), CV_8UC3);
    cv::randu(coarse, 0, 255);
    cv::Mat image;
    cv::resize(coarse, image, cv::Size(width, height), 0, 0, cv::INTER_CUBIC);
    cv::Mat grain(height, width, CV_8UC3);
    cv::theRNG().state = rng();
    cv::randu(grain, 0, 24);
    cv::add(image, grain, image);
    return image;
}

void writeSet(const fs::path& folder, const ImageSet& set, int count, std::mt19937& rng)
{
    fs::create_directories(folder);
    for (int i = 0; i < count; ++i) {
        const auto path = folder / ("img" + std::to_string(i) + set.extension);
        const std::vector<int> params = set.extension == ".jpg" ? std::vector<int>{cv::IMWRITE_JPEG_QUALITY, 90}
                                                                : std::vector<int>{};
        if (!cv::imwrite(path.string(), photoLike(set.width, set.height, rng), params)) {
            std::fprintf(stderr, "decode_bench: cannot write %s\n", path.c_str());
            std::exit(2);
        }
    }
}

// One pass over the source on `threads` threads: images per second.
double onePass(const ImageSource& source, const ModelInput& input, int threads)
{
    std::atomic<std::size_t> next{0};
    std::atomic<int> failures{0};
    const auto start = std::chrono::steady_clock::now();
    {
        std::vector<std::jthread> workers;
        for (int t = 0; t < threads; ++t)
            workers.emplace_back([&] {
                std::vector<float> pixels(3 * std::size_t(input.size) * std::size_t(input.size));
                for (std::size_t i = next++; i < source.size(); i = next++) {
                    auto image = source.decodeForSize(i, input.decodeMinSide());
                    if (!image || !preprocessImage(*image, input, pixels.data(), source.item(i).path))
                        ++failures;
                }
            });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failures > 0) {
        std::fprintf(stderr, "decode_bench: %d images failed to decode\n", failures.load());
        std::exit(2);
    }
    return double(source.size()) / seconds;
}

double medianRate(const ImageSource& source, const ModelInput& input, int threads, int runs)
{
    std::vector<double> rates;
    for (int r = 0; r < runs; ++r)
        rates.push_back(onePass(source, input, threads));
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
}

int intArgument(int argc, char** argv, int& i)
{
    if (i + 1 >= argc) {
        std::fprintf(stderr, "decode_bench: %s needs a value\n", argv[i]);
        std::exit(2);
    }
    return std::atoi(argv[++i]);
}

} // namespace

int main(int argc, char** argv)
{
    ModelInput input;
    int threads = resolveThreadCount(0), runs = 3, count = 24;
    std::string keep;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--size")
            input.size = intArgument(argc, argv, i);
        else if (a == "--crop" && i + 1 < argc)
            input.crop = std::atof(argv[++i]);
        else if (a == "--threads")
            threads = intArgument(argc, argv, i);
        else if (a == "--runs")
            runs = intArgument(argc, argv, i);
        else if (a == "--images")
            count = intArgument(argc, argv, i);
        else if (a == "--keep" && i + 1 < argc)
            keep = argv[++i];
        else {
            std::fprintf(stderr, "usage: decode_bench [--size 224] [--crop 0.875] [--threads N] [--runs 3] "
                                 "[--images 24] [--keep DIR]\n");
            return 2;
        }
    }
    if (input.size < 8 || !(input.crop > 0 && input.crop <= 1) || threads < 1 || runs < 1 || count < 1) {
        std::fprintf(stderr, "decode_bench: out-of-range option\n");
        return 2;
    }
    const fs::path root = keep.empty() ? fs::temp_directory_path() / ("labelprop-decode-bench-" + std::to_string(::getpid()))
                                       : fs::path(keep);
    const std::vector<ImageSet> sets{
        {"JPEG 640x480", 640, 480, ".jpg"},
        {"JPEG 1600x1200", 1600, 1200, ".jpg"},
        {"JPEG 4032x3024", 4032, 3024, ".jpg"},
        {"PNG 640x480", 640, 480, ".png"},
    };
    std::printf("decode_bench: %s, %u hardware threads; input %d px (resize to %d, crop %.3g); %d images per set, "
                "median of %d passes\n",
                cpuModelName().c_str(), std::thread::hardware_concurrency(), input.size, input.resizedShorterSide(),
                input.crop, count, runs);
    std::printf("%-16s %-6s %14s %14s %10s\n", "set", "decode", "1 thread img/s", "all img/s", "ms/image");
    std::mt19937 rng(12345);
    for (const auto& set : sets) {
        const fs::path folder = root / (std::to_string(set.width) + set.extension.substr(1));
        if (!fs::exists(folder))
            writeSet(folder, set, count, rng);
        auto source = openImageSource(folder.string(), SourceKind::Folder);
        if (!source) {
            std::fprintf(stderr, "decode_bench: %s\n", source.error().message.c_str());
            return 2;
        }
        for (const bool fast : {false, true}) {
            input.fastDecode = fast;
            (void)onePass(**source, input, threads); // warm the page cache
            const double one = medianRate(**source, input, 1, runs);
            const double all = threads > 1 ? medianRate(**source, input, threads, runs) : one;
            std::printf("%-16s %-6s %14.1f %14.1f %10.2f\n", set.name.c_str(), fast ? "fast" : "full", one, all,
                        1000.0 / one);
        }
    }
    if (keep.empty())
        fs::remove_all(root);
    return 0;
}
