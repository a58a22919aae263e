// What the append-only embedding cache costs at scale (core/project/EmbeddingCache.h): a project's
// cache of N x D rows saved chunk by chunk as a long encode goes, then loaded, then ten new
// images added and saved; beside it, what one whole-file write of the same rows costs (what every
// save cost before the cache became append-only).
//
//   embedding_cache_bench [--rows 1000000] [--dims 768] [--chunk 4096] [--folder DIR]
//
// Rows are random unit vectors; hashes are distinct. The folder (default: a temporary one under
// /tmp) is removed afterwards. Figures are wall time on this machine's disk, with the page cache
// as it is (a load right after the saves reads from memory).

#include "core/base/ContentHash.h"
#include "core/base/SimdLevel.h"
#include "core/project/EmbeddingCache.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

using namespace labelprop;
namespace fs = std::filesystem;

namespace {

double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Rows [first, first + count) of the synthetic set: hashes of their index, random unit rows.
void makeRows(std::size_t first, std::size_t count, int dims, std::vector<ContentHash>& hashes, EmbeddingMatrix& rows)
{
    std::mt19937 rng{unsigned(first)};
    std::normal_distribution<float> normal;
    hashes.resize(count);
    rows.resize(Eigen::Index(count), dims);
    for (std::size_t i = 0; i < count; ++i) {
        hashes[i] = hashText("row " + std::to_string(first + i));
        for (int c = 0; c < dims; ++c)
            rows(Eigen::Index(i), c) = normal(rng);
        rows.row(Eigen::Index(i)).normalize();
    }
}

void check(const Expected<void>& r)
{
    if (!r) {
        std::fprintf(stderr, "embedding_cache_bench: %s\n", r.error().message.c_str());
        std::exit(2);
    }
}

// Adds the synthetic set's n rows to `cache` chunk by chunk; with `saveSeconds`, saves after
// every chunk (as a long encode does) and records how long each save took.
void addRows(EmbeddingCache& cache, std::size_t n, std::size_t chunk, int dims, std::vector<double>* saveSeconds)
{
    std::vector<ContentHash> hashes;
    EmbeddingMatrix rows;
    for (std::size_t begin = 0; begin < n; begin += chunk) {
        makeRows(begin, std::min(chunk, n - begin), dims, hashes, rows);
        check(cache.add(hashes, rows));
        if (saveSeconds) {
            const auto t = std::chrono::steady_clock::now();
            check(cache.save());
            saveSeconds->push_back(secondsSince(t));
        }
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::size_t n = 1000000, chunk = 4096;
    int dims = 768;
    std::string folder;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--rows")
            n = std::size_t(std::atoll(argv[i + 1]));
        else if (a == "--dims")
            dims = std::atoi(argv[i + 1]);
        else if (a == "--chunk")
            chunk = std::size_t(std::atoll(argv[i + 1]));
        else if (a == "--folder")
            folder = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: embedding_cache_bench [--rows N] [--dims D] [--chunk C] [--folder DIR]\n");
            return 2;
        }
    }
    if ((argc - 1) % 2 != 0 || n == 0 || chunk == 0 || dims <= 0) {
        std::fprintf(stderr, "usage: embedding_cache_bench [--rows N] [--dims D] [--chunk C] [--folder DIR]\n");
        return 2;
    }
    const bool temporary = folder.empty();
    if (temporary)
        folder = (fs::temp_directory_path() / ("labelprop-cache-bench-" + std::to_string(::getpid()))).string();
    const std::string id = "bench-encoder,dims=" + std::to_string(dims);
    std::printf("embedding_cache_bench: %s; %zu rows x %d dims (%.2f GB), chunks of %zu, folder %s\n",
                cpuModelName().c_str(), n, dims, double(n) * dims * 4 / 1e9, chunk, folder.c_str());

    // A long encode: every chunk added and saved as it finishes.
    std::vector<double> appendSeconds;
    {
        auto cache = EmbeddingCache::load(folder, id);
        addRows(cache, n, chunk, dims, &appendSeconds);
    }
    std::vector<double> sorted = appendSeconds;
    std::sort(sorted.begin(), sorted.end());
    double total = 0;
    for (const double s : appendSeconds)
        total += s;
    std::printf("save after each chunk (append): median %.1f ms, max %.1f ms, last %.1f ms; %zu saves, %.2f s in all\n",
                1e3 * sorted[sorted.size() / 2], 1e3 * sorted.back(), 1e3 * appendSeconds.back(), appendSeconds.size(),
                total);

    // Reopening: load every row, check every segment.
    auto t = std::chrono::steady_clock::now();
    auto cache = EmbeddingCache::load(folder, id);
    const double loadSeconds = secondsSince(t);
    if (cache.size() != n || !cache.loadWarning().empty()) {
        std::fprintf(stderr, "embedding_cache_bench: loaded %zu rows of %zu (%s)\n", cache.size(), n,
                     cache.loadWarning().c_str());
        return 2;
    }
    std::printf("load (%zu segments, checked): %.2f s\n", appendSeconds.size(), loadSeconds);

    // Ten new images in a large project.
    std::vector<ContentHash> hashes;
    EmbeddingMatrix rows;
    makeRows(n, 10, dims, hashes, rows);
    check(cache.add(hashes, rows));
    t = std::chrono::steady_clock::now();
    check(cache.save());
    std::printf("add 10 rows and save (append): %.1f ms\n", 1e3 * secondsSince(t));

    // What each save cost before: the whole file written again (here: a cache that has no file).
    const std::string copyFolder = folder + "-whole";
    auto whole = EmbeddingCache::load(copyFolder, id);
    addRows(whole, n, chunk, dims, nullptr);
    t = std::chrono::steady_clock::now();
    check(whole.save());
    std::printf("one whole-file write of the same rows: %.2f s\n", secondsSince(t));
    if (temporary) {
        fs::remove_all(folder);
        fs::remove_all(copyFolder);
    }
    return 0;
}
