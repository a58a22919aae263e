#pragma once
// Exact k-nearest-neighbour search by cosine similarity.
//
// Rows are compared by dot product, so callers pass L2-normalised embeddings (see
// validateAndNormaliseRows). The search runs blocked matrix products (OpenBLAS sgemm on tiles
// that fit in L2 cache) with a fused top-k selection, on several threads, and never holds more
// than one tile of similarities per thread: memory is O(n k threads + tile).
// Self-search exploits symmetry: the tile (I, J) feeds the lists of the rows of I and of J, so
// only half of the n x n products are computed.
//
// Ties are broken deterministically: a higher similarity first, then a smaller index.
// Thread-safety: the functions are re-entrant; they use their own worker threads.

#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/base/SimdLevel.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace labelprop {

// The k nearest neighbours of every query row.
struct KnnGraph {
    int64_t rows = 0; // number of query items
    int k = 0;
    std::vector<int32_t> neighbours; // rows x k, row-major, most similar first
    std::vector<float> similarities; // rows x k cosine similarities, same order

    [[nodiscard]] const int32_t* neighboursOf(int64_t i) const { return neighbours.data() + i * k; }
    [[nodiscard]] const float* similaritiesOf(int64_t i) const { return similarities.data() + i * k; }
};

struct KnnOptions {
    int k = 10;
    int threads = 0;                               // 0: all hardware threads
    const std::atomic<bool>* cancel = nullptr;     // checked once per tile; set it to stop early
    std::function<void(double fraction)> progress; // called from worker threads, throttled
    std::optional<SimdLevel> simd;                 // tile-scan level; unset: the process level (SimdDispatch.h)
};

// Self-search: for each row of `x` (n x d, L2-normalised), its k most similar other rows; the
// row itself is excluded (duplicates of it are not). Fails when k < 1 or k >= n, or cancelled.
[[nodiscard]] Expected<KnnGraph> searchSelfKnn(const EmbeddingMatrix& x, const KnnOptions& options);

// Cross-search: for each row of `queries` (m x d), its k most similar rows of `base` (n x d).
// Nothing is excluded. Fails when k < 1, k > n, or the dimensions differ.
[[nodiscard]] Expected<KnnGraph> searchKnn(const EmbeddingMatrix& queries, const EmbeddingMatrix& base,
                                           const KnnOptions& options);

// Fraction of the exact graph's neighbours that `approximate` also found (recall@k), in [0, 1].
[[nodiscard]] double recallAtK(const KnnGraph& approximate, const KnnGraph& exact);

} // namespace labelprop
