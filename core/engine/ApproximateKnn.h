#pragma once
// Approximate self-kNN for large n, inverted-file style: spherical k-means splits the items
// into about sqrt(n) cells; each cell's items are compared exactly (blocked sgemm, as in
// searchSelfKnn) with the items of the `probes` cells whose centres are most similar to its
// own. Similarities returned are exact; only recall can be lost, and more probes buy it back.
// Measure it with recallAtK() against searchSelfKnn() (bench/ does).
// A k-d tree over a 16-d PCA projection (nanoflann) was tried first: on Fashion-MNIST (70k x 64)
// it was slower than the exact search at any useful recall (8.6 s for recall 0.81), because
// k-d trees degrade in more than a few dimensions.
// Re-entrant; uses its own worker threads.

#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"

namespace labelprop {

struct ApproximateKnnOptions {
    int64_t cells = 0; // k-means cells; 0 = round(sqrt(n))
    int probes = 16;   // cells searched per item, its own included (recall 0.976 on Fashion-MNIST)
};

// x: n x d, L2-normalised rows. Same contract as searchSelfKnn (self excluded, ties by index).
[[nodiscard]] Expected<KnnGraph> searchApproximateSelfKnn(const EmbeddingMatrix& x, const KnnOptions& options,
                                                          const ApproximateKnnOptions& approximate = {});

} // namespace labelprop
