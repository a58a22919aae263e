#include "core/engine/GraphBuild.h"

#include "core/base/Stopwatch.h"
#include "core/engine/ApproximateKnn.h"

namespace labelprop {

std::string GraphSettings::knnKey() const
{
    return std::string(approximate ? "approximate" : "exact") + ",k=" + std::to_string(k);
}

Expected<KnnGraph> buildKnnGraph(const EmbeddingMatrix& x, const GraphSettings& settings,
                                 const GraphBuildControl& control)
{
    KnnOptions options;
    options.k = settings.k;
    options.threads = settings.threads;
    options.cancel = control.cancel;
    options.progress = control.progress;
    return settings.approximate ? searchApproximateSelfKnn(x, options) : searchSelfKnn(x, options);
}

Expected<GraphStage> buildAffinityStage(KnnGraph knn, const GraphSettings& settings)
{
    Stopwatch clock;
    GraphStage stage;
    stage.knn = std::move(knn);
    stage.temperature = settings.temperature.value_or(automaticTemperature(stage.knn));
    auto affinity = buildNormalisedAffinity(stage.knn, stage.temperature);
    if (!affinity)
        return std::unexpected(affinity.error());
    stage.affinity = std::move(*affinity);
    stage.graphSeconds = clock.seconds();
    return stage;
}

Expected<GraphStage> buildGraphStage(const EmbeddingMatrix& x, const GraphSettings& settings,
                                     const GraphBuildControl& control)
{
    Stopwatch clock;
    auto knn = buildKnnGraph(x, settings, control);
    if (!knn)
        return std::unexpected(knn.error());
    const double knnSeconds = clock.seconds();
    auto stage = buildAffinityStage(std::move(*knn), settings);
    if (stage)
        stage->knnSeconds = knnSeconds;
    return stage;
}

} // namespace labelprop
