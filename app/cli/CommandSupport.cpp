#include "CommandSupport.h"

#include "core/engine/ApproximateKnn.h"
#include "core/formats/NpyFile.h"
#include "core/base/Parallel.h"

#include <cblas.h>
#include <sys/resource.h>

#include <iostream>

namespace labelprop::cli {

int reportError(const Error& error)
{
    std::cerr << "labelprop-cli: error: " << error.message;
    if (!error.cliAdvice.empty())
        std::cerr << "; " << error.cliAdvice;
    std::cerr << "\n";
    return kExitFailure;
}

std::optional<int> parseOrExit(ArgumentParser& parser, const std::vector<std::string>& args)
{
    if (auto parsed = parser.parse(args); !parsed) {
        std::cerr << "labelprop-cli: error: " << parsed.error().message << "\n";
        return kExitUsage;
    }
    if (parser.helpRequested()) {
        std::cout << parser.usage();
        return 0;
    }
    return std::nullopt;
}

Expected<EmbeddingMatrix> loadEmbeddings(const std::string& path)
{
    auto x = readNpyMatrix(path);
    if (!x)
        return std::unexpected(x.error());
    if (auto ok = validateAndNormaliseRows(*x, path); !ok)
        return std::unexpected(ok.error());
    return x;
}

void addGraphOptions(ArgumentParser& parser)
{
    parser.addOption("k", "K", "neighbours per item in the kNN graph", "10");
    parser.addOption("temperature", "T|auto",
                     "edge weights exp((s-1)/T); auto = median of 1-s over the kNN edges (0.05 on PCA features of "
                     "Fashion-MNIST; the paper used 0.01 on ViT features)",
                     "auto");
    parser.addOption("knn", "exact|approximate",
                     "exact: blocked brute force over all pairs; approximate: k-means cells, each searched exactly "
                     "against its 16 nearest cells (recall@10 0.976 on Fashion-MNIST; for very large n)",
                     "exact");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
}

Expected<GraphSettings> readGraphSettings(const ArgumentParser& parser)
{
    GraphSettings settings;
    auto k = parser.integer("k", 1, 10000);
    if (!k)
        return std::unexpected(k.error());
    settings.k = int(*k);
    if (parser.value("temperature") != "auto") {
        auto t = parser.number("temperature", 0.0, 100.0);
        if (!t)
            return std::unexpected(t.error());
        settings.temperature = float(*t);
    }
    const auto knn = parser.value("knn");
    if (knn != "exact" && knn != "approximate")
        return fail("labelprop-cli: --knn must be exact or approximate (got '" + knn.value_or("") + "')");
    settings.approximate = knn == "approximate";
    auto threads = parser.integer("threads", 0, 1024);
    if (!threads)
        return std::unexpected(threads.error());
    settings.threads = int(*threads);
    openblas_set_num_threads(resolveThreadCount(settings.threads));
    return settings;
}

double peakResidentMiB()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0; // ru_maxrss is in KiB on Linux
}

} // namespace labelprop::cli
