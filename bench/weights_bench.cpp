// weights_bench: how long readWeights (core/models/WeightsFile.h) takes per file (bench/README.md).
//
// For each FILE: one untimed read (so the file is in the page cache and every timed read does the
// same work), then --runs timed reads, each to a StateDict that is then freed. Prints the median,
// min and max seconds, MB/s of the file's size at the median, and the tensors read; the CPU model
// first. bench/weights_bench.py makes ViT-S/16 and ViT-B/16 files in both formats and runs this
// beside PyTorch's own torch.load on the same checkpoints.
//
// Usage: weights_bench [--runs N] FILE...

#include "core/base/SimdLevel.h"
#include "core/models/ModelError.h"
#include "core/models/WeightsFile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace labelprop;

int main(int argc, char** argv)
{
    int runs = 5;
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) {
            runs = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--help" || a.rfind("--", 0) == 0) {
            std::printf("usage: weights_bench [--runs N] FILE...\n");
            return a == "--help" ? 0 : 2;
        } else {
            files.push_back(a);
        }
    }
    if (files.empty()) {
        std::fprintf(stderr, "weights_bench: no FILE given (usage: weights_bench [--runs N] FILE...)\n");
        return 2;
    }
    std::printf("CPU: %s; %d timed reads per file, after one untimed read (file in the page cache)\n",
                cpuModelName().c_str(), runs);
    std::printf("%-40s %9s %8s %8s %8s %9s %8s\n", "file", "MB", "median_s", "min_s", "max_s", "MB/s", "tensors");
    for (const std::string& file : files) {
        try {
            const double mb = double(std::filesystem::file_size(file)) / 1e6;
            std::size_t tensors = models::readWeights(file).size();
            std::vector<double> seconds;
            for (int r = 0; r < runs; ++r) {
                const auto start = std::chrono::steady_clock::now();
                tensors = models::readWeights(file).size();
                seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            }
            std::sort(seconds.begin(), seconds.end());
            const double median = seconds.size() % 2 ? seconds[seconds.size() / 2]
                                                     : (seconds[seconds.size() / 2 - 1] + seconds[seconds.size() / 2]) / 2;
            std::printf("%-40s %9.1f %8.3f %8.3f %8.3f %9.0f %8zu\n",
                        std::filesystem::path(file).filename().string().c_str(), mb, median, seconds.front(),
                        seconds.back(), mb / median, tensors);
        } catch (const models::ModelError& e) {
            std::fprintf(stderr, "weights_bench: %s\n", e.what());
            return 1;
        }
    }
    return 0;
}
