// `knn`: write the k-nearest-neighbour graph as an edge list, e.g. to inspect near-duplicates or
// to check the approximate search against the exact one.

#include "CommandSupport.h"
#include "Commands.h"

#include "core/base/AtomicFile.h"

#include <charconv>
#include <cstdio>

namespace labelprop::cli {

int runKnn(const std::vector<std::string>& args)
{
    ArgumentParser parser("knn",
                          "Find every item's k most similar items (cosine similarity, self excluded, ties by lower "
                          "index) and write them as index,neighbour,rank,similarity rows.");
    parser.addOption("embeddings", "FILE.npy", "item embeddings, n x d float32/float16");
    addGraphOptions(parser);
    parser.addOption("output", "FILE.csv", "edge list, rank 1 = most similar", std::nullopt, 'o');
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto embeddingsPath = parser.required("embeddings");
    auto outputPath = parser.required("output");
    auto settings = readGraphSettings(parser);
    if (!embeddingsPath)
        return reportError(embeddingsPath.error());
    if (!outputPath)
        return reportError(outputPath.error());
    if (!settings)
        return reportError(settings.error());
    auto x = loadEmbeddings(*embeddingsPath);
    if (!x)
        return reportError(x.error());
    auto graph = buildGraphStage(*x, *settings);
    if (!graph)
        return reportError(graph.error());

    const KnnGraph& knn = graph->knn;
    std::string out = "index,neighbour,rank,similarity\n";
    out.reserve(out.size() + size_t(knn.rows * knn.k) * 28);
    char number[32];
    for (int64_t i = 0; i < knn.rows; ++i)
        for (int a = 0; a < knn.k; ++a) {
            const auto [end, ec] = std::to_chars(number, number + sizeof number, knn.similaritiesOf(i)[a]);
            out += std::to_string(i) + ',' + std::to_string(knn.neighboursOf(i)[a]) + ',' + std::to_string(a + 1) + ','
                   + std::string(number, ec == std::errc() ? end : number) + '\n';
        }
    if (auto written = writeFileAtomically(*outputPath, out); !written)
        return reportError(written.error());
    std::printf("%lld items, k = %d, %s search in %.3f s; wrote %s\n", (long long)knn.rows, knn.k,
                settings->approximate ? "approximate" : "exact", graph->knnSeconds, outputPath->c_str());
    return 0;
}

} // namespace labelprop::cli
