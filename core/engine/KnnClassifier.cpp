#include "core/engine/KnnClassifier.h"

#include "core/engine/AffinityGraph.h"
#include "core/base/Parallel.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace labelprop {
namespace {

// Vote weights per class for query row r; returns the nearest labelled neighbour's class.
int32_t tally(const KnnGraph& knn, int64_t r, std::span<const int32_t> baseLabels, int classes, double invT,
              std::vector<double>& votes)
{
    std::fill(votes.begin(), votes.end(), 0.0);
    int32_t nearest = -1;
    for (int a = 0; a < knn.k; ++a) {
        const int32_t j = knn.neighboursOf(r)[a];
        if (j < 0 || size_t(j) >= baseLabels.size())
            continue;
        const int32_t label = baseLabels[size_t(j)];
        if (label < 0 || label >= classes)
            continue;
        if (nearest < 0)
            nearest = label;
        votes[size_t(label)] += std::exp((double(knn.similaritiesOf(r)[a]) - 1.0) * invT);
    }
    return nearest;
}

int32_t winner(const std::vector<double>& votes, int32_t nearest)
{
    int32_t best = -1;
    double top = 0.0;
    for (size_t q = 0; q < votes.size(); ++q)
        if (votes[q] > top) {
            top = votes[q];
            best = int32_t(q);
        }
    return best >= 0 ? best : nearest;
}

} // namespace

std::vector<int32_t> weightedKnnVote(const KnnGraph& knn, std::span<const int32_t> baseLabels, int classes,
                                     float temperature, int threads)
{
    std::vector<int32_t> predicted(static_cast<size_t>(knn.rows), -1);
    const double invT = 1.0 / double(temperature);
    parallelFor(0, knn.rows, threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> votes(static_cast<size_t>(std::max(classes, 1)));
        for (int64_t r = r0; r < r1; ++r) {
            const int32_t nearest = tally(knn, r, baseLabels, classes, invT, votes);
            predicted[size_t(r)] = winner(votes, nearest);
        }
    });
    return predicted;
}

Expected<KnnClassification> classifyByWeightedKnn(const EmbeddingMatrix& queries, const EmbeddingMatrix& base,
                                                  std::span<const int32_t> baseLabels, int classes, int k,
                                                  float temperature, int threads)
{
    if (int64_t(baseLabels.size()) != base.rows())
        return fail("classify: " + std::to_string(baseLabels.size()) + " labels for " + std::to_string(base.rows())
                    + " base items");
    if (classes < 1)
        return fail("classify: the base has no labelled item");
    // Only labelled items vote, so search among them alone.
    std::vector<int32_t> labelledRows;
    for (int64_t i = 0; i < base.rows(); ++i)
        if (baseLabels[size_t(i)] >= 0 && baseLabels[size_t(i)] < classes)
            labelledRows.push_back(int32_t(i));
    if (labelledRows.empty())
        return fail("classify: no base item has a label");
    EmbeddingMatrix voters(int64_t(labelledRows.size()), base.cols());
    std::vector<int32_t> voterLabels(labelledRows.size());
    for (size_t a = 0; a < labelledRows.size(); ++a) {
        voters.row(int64_t(a)) = base.row(labelledRows[a]);
        voterLabels[a] = baseLabels[size_t(labelledRows[a])];
    }
    KnnOptions options;
    options.k = int(std::min<int64_t>(k, voters.rows()));
    options.threads = threads;
    auto knn = searchKnn(queries, voters, options);
    if (!knn)
        return std::unexpected(knn.error());
    KnnClassification out;
    out.temperature = temperature > 0.0f ? temperature : automaticTemperature(*knn);
    out.predicted.assign(size_t(queries.rows()), -1);
    out.confidence.assign(size_t(queries.rows()), 0.0f);
    const double invT = 1.0 / double(out.temperature);
    parallelFor(0, knn->rows, threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> votes(static_cast<size_t>(classes));
        for (int64_t r = r0; r < r1; ++r) {
            const int32_t nearest = tally(*knn, r, voterLabels, classes, invT, votes);
            const int32_t best = winner(votes, nearest);
            const double total = std::accumulate(votes.begin(), votes.end(), 0.0);
            out.predicted[size_t(r)] = best;
            out.confidence[size_t(r)] = best >= 0 && total > 0.0 ? float(votes[size_t(best)] / total) : 0.0f;
        }
    });
    return out;
}

} // namespace labelprop
