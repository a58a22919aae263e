#pragma once
// The propagation operator of the paper: from a kNN graph,
//   W_ij = exp((s_ij - 1) / T) for j in kNN(i)   (exp(s/T) rescaled: exp(1/T) overflows floats),
//   W   <- W + W^T                                (symmetrised),
//   S    = D^-1/2 W D^-1/2, D = diag(W 1).
// S is stored as CSR with sorted column indices. Immutable once built; safe to share between
// threads for reading.

#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"

#include <cstdint>
#include <vector>

namespace labelprop {

// Compressed sparse rows.
struct CsrMatrix {
    std::vector<int64_t> rowStart; // rows + 1 offsets into columns/weights
    std::vector<int32_t> columns;  // nnz column indices, ascending within a row
    std::vector<float> weights;    // nnz values
};

struct SparseGraph : CsrMatrix { // S in item order: row i is item i
    int64_t n = 0;

    // The same matrix with items renumbered in breadth-first order over the graph, so that an
    // item's neighbours mostly sit near it in memory: propagation gathers neighbour rows from
    // cache instead of from all over the label matrix (1.6x faster steps on Fashion-MNIST).
    // Filled by buildNormalisedAffinity; empty for hand-assembled graphs, which then run in
    // item order. localOrder[p] is the item at position p; localPosition is its inverse.
    std::vector<int32_t> localOrder;
    std::vector<int32_t> localPosition;
    CsrMatrix local;

    [[nodiscard]] int64_t nnz() const { return int64_t(columns.size()); }
    [[nodiscard]] bool hasLocalLayout() const { return !localOrder.empty(); }
};

// Fills the local layout of `s` from its item-order rows (see SparseGraph).
void buildLocalLayout(SparseGraph& s);

// The temperature used when the user asks for "auto": the median of 1 - s_ij over all kNN edges,
// so that a typical edge gets weight exp(-1). On 64-d PCA features of Fashion-MNIST it is 0.050
// (the best fixed T measured there); on features whose neighbours are tighter it is smaller, as
// the paper's T = 0.01 for ViT features. Clamped to [1e-4, 1].
[[nodiscard]] float automaticTemperature(const KnnGraph& knn);

// Builds S from a self-kNN graph. temperature > 0 (seconds are not involved: T is unitless).
// Rows whose weights all underflow (neighbours nearly orthogonal at a tiny T) stay empty.
[[nodiscard]] Expected<SparseGraph> buildNormalisedAffinity(const KnnGraph& knn, float temperature);

} // namespace labelprop
