#pragma once
// Spherical k-means over L2-normalised rows (cosine similarity): k-means++ seeding on a sample,
// then Lloyd steps with blocked sgemm assignments. Used to spread suggestions over the data
// (ActiveSelection) and to partition it for the approximate kNN search (ApproximateKnn).
// Re-entrant; deterministic for a given seed.

#include "core/base/Embeddings.h"

#include <cstdint>
#include <vector>

namespace labelprop {

struct KMeansOptions {
    int64_t clusters = 8;
    int iterations = 8;
    int64_t sampleSize = 0; // rows used to fit the centres; 0 = min(n, 64 x clusters)
    uint64_t seed = 1;
    int threads = 0;
};

struct KMeansResult {
    EmbeddingMatrix centres;           // clusters x d, unit rows
    std::vector<int32_t> assignment;   // n: the most similar centre of every row
};

// x: n x d, unit rows, n >= 1; clusters is clamped to [1, n].
[[nodiscard]] KMeansResult sphericalKMeans(const EmbeddingMatrix& x, const KMeansOptions& options);

// assignment[i] = argmax_c x_i . centres_c (blocked sgemm; ties to the lower centre).
[[nodiscard]] std::vector<int32_t> assignToCentres(const EmbeddingMatrix& x, const EmbeddingMatrix& centres, int threads);

} // namespace labelprop
