#pragma once
// Embeddings -> kNN graph -> normalised affinity S: the graph stage every run shares (the CLI's
// one-shot commands, project runs and the desktop app). Pure function of its inputs; the kNN
// search is the expensive part (seconds at 70k, minutes at 1M), so project runs cache it
// (core/project/GraphCache) and call buildAffinityStage on the cached graph.

#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/AffinityGraph.h"
#include "core/engine/KnnSearch.h"

#include <atomic>
#include <functional>
#include <optional>
#include <string>

namespace labelprop {

struct GraphSettings {
    int k = 10;
    std::optional<float> temperature; // empty: automaticTemperature() of the kNN graph
    int threads = 0;                  // 0: all hardware threads
    bool approximate = false;         // k-means cells searched exactly (ApproximateKnn.h)

    // "exact,k=10" / "approximate,k=10": what decides the kNN graph (the temperature does not).
    [[nodiscard]] std::string knnKey() const;
};

struct GraphStage {
    KnnGraph knn;
    SparseGraph affinity;
    float temperature = 0.0f; // the one used (settings.temperature or the automatic one)
    double knnSeconds = 0.0;  // 0 when the kNN graph came from a cache
    double graphSeconds = 0.0;
};

struct GraphBuildControl {
    const std::atomic<bool>* cancel = nullptr;     // checked once per kNN tile
    std::function<void(double fraction)> progress; // kNN search progress, from worker threads
};

// x: n x d, L2-normalised rows. Fails when k >= n or when cancelled.
[[nodiscard]] Expected<KnnGraph> buildKnnGraph(const EmbeddingMatrix& x, const GraphSettings& settings,
                                               const GraphBuildControl& control = {});
// S from a kNN graph (fills everything but knnSeconds).
[[nodiscard]] Expected<GraphStage> buildAffinityStage(KnnGraph knn, const GraphSettings& settings);
// Both, timed.
[[nodiscard]] Expected<GraphStage> buildGraphStage(const EmbeddingMatrix& x, const GraphSettings& settings,
                                                   const GraphBuildControl& control = {});

} // namespace labelprop
