#pragma once
// Weighted kNN classification, the paper's validation protocol: a new item takes the class with
// the largest sum of exp((s - 1) / T) over its k most similar labelled items (s: cosine
// similarity). Run against propagated labels, it classifies items that were not in the graph.
// Pure functions; safe from any thread.

#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"

#include <cstdint>
#include <span>
#include <vector>

namespace labelprop {

// For each query row of `knn` (whose neighbours index `baseLabels`): the winning class, the
// smallest on ties, the nearest labelled neighbour's class when every weight underflows, or -1
// when no neighbour has a label (baseLabels entries of -1 are ignored).
[[nodiscard]] std::vector<int32_t> weightedKnnVote(const KnnGraph& knn, std::span<const int32_t> baseLabels,
                                                   int classes, float temperature, int threads = 0);

struct KnnClassification {
    std::vector<int32_t> predicted; // m: class, or -1 when no neighbour had a label
    std::vector<float> confidence;  // m: the winning class's share of the vote weight, in [0, 1]
    float temperature = 0.0f;       // the T used (resolved when `auto` was asked)
};

// queries: m x d, base: n x d, both L2-normalised; baseLabels: n classes or -1 (unlabelled base
// items do not vote; k is capped at the number of labelled ones).
// temperature <= 0 means automatic: automaticTemperature() of the query-to-base kNN graph.
[[nodiscard]] Expected<KnnClassification> classifyByWeightedKnn(const EmbeddingMatrix& queries,
                                                                const EmbeddingMatrix& base,
                                                                std::span<const int32_t> baseLabels, int classes, int k,
                                                                float temperature, int threads = 0);

} // namespace labelprop
