#pragma once
// The paper's experiments with a simulated annotator: every item's true label is known, and the
// "human" answers with it (or with a corrupted one).
//
//   annotation  (paper fig. 3)  Start from zero labels; for each selection strategy, label the
//               items it picks up to each count of a schedule (10, 20, 50, ... labels), propagate
//               (hard clamp) and measure accuracy on the items still unlabelled. The ablation
//               "labelled only" classifies the same items by a weighted kNN vote over the labelled
//               items alone (no graph through the unlabelled ones).
//   noise       (fig. 4)  Corrupt the labels at a rate, propagate them with no clamp, and measure
//               the noise level (fraction of items whose argmax is not the true class) at every
//               step; step 0 is the injected rate.
//   knn         (fig. 5)  Split train/test; corrupt the train labels; smooth them by propagation on
//               the train-only graph (auditLabels, relabel = argmax); classify the test items by a
//               weighted kNN vote against the corrupted and against the smoothed train labels. A
//               third variant replaces only the labels the audit flags (LabelQuality.h's rule) by
//               the argmax, which keeps the clean labels that smoothing would overwrite.
//
// Corruption is symmetric: exactly round(rate * n) items, chosen at random, get a uniformly random
// other class (an exact count rather than a coin per item, so the injected rate is the rate asked
// for and repeated runs differ only in which items flip). Everything random is seeded.
// kNN votes weigh a neighbour with similarity s by exp((s - 1) / T), T the graph's temperature.
//
// One self-kNN graph and one affinity S over all items serve the annotation and noise
// experiments; the knn experiment builds its own over the train items.
// Thread-safety: runSimulation() is reentrant; it runs its loops on `threads` worker threads.

#include "core/engine/ActiveSelection.h"
#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace labelprop {

struct SimulationOptions {
    int k = 10;                       // neighbours of the propagation graph
    bool approximateKnn = false;      // build the self-kNN graphs with searchApproximateSelfKnn
    std::optional<float> temperature; // empty: automaticTemperature() of the graph
    int iterations = 20;              // propagation steps in the annotation experiment
    uint64_t seed = 1;
    int threads = 0; // 0: all hardware threads

    bool runAnnotation = true, runNoise = true, runKnn = true;

    // Cumulative label counts, strictly increasing, each in [1, n). Empty: defaultLabelSchedule(n).
    std::vector<int64_t> labelSchedule;
    std::vector<SelectionStrategy> strategies; // empty: allSelectionStrategies()
    int labelledOnlyK = 10;                    // ablation: k = min(labelledOnlyK, labelled)

    std::vector<double> noiseRates; // each in [0, 1]; empty: 0.1, 0.2, ..., 0.9
    int noiseSteps = 20;

    std::vector<double> knnNoiseRates; // each in [0, 1]; empty: 0, 0.1, ..., 0.9
    int knnK = 10;                     // neighbours in the test items' vote
    int auditSteps = 3;                // smoothing steps (AuditOptions' default)
    int64_t trainCount = 0;            // > 0: the first trainCount items are train; 0: seeded 6/7 split

    // Called with the stage ("graph", "annotation", "noise", "knn") and the fraction of it done.
    // Mostly from the calling thread; during kNN searches from a worker thread (one at a time).
    std::function<void(std::string_view stage, double fraction)> progress;
    const std::atomic<bool>* cancel = nullptr; // checked between steps and inside searches
};

struct AnnotationPoint {
    SelectionStrategy strategy = SelectionStrategy::Random;
    int64_t labels = 0;                // items labelled so far
    double lpAccuracy = 0.0;           // propagation, accuracy on the unlabelled items
    double labelledOnlyAccuracy = 0.0; // weighted kNN over the labelled items only, same items
};

struct NoisePoint {
    double rate = 0.0; // injected
    int step = 0;      // 0: the injected labels
    double noiseLevel = 0.0;
};

struct KnnPoint {
    double rate = 0.0;                 // injected into the train labels
    double corruptedAccuracy = 0.0;    // test accuracy voting with the corrupted train labels
    double smoothedAccuracy = 0.0;     // ... with the smoothed train labels
    double auditedAccuracy = 0.0;      // ... with only the audit's flagged labels replaced by the argmax
    double smoothedTrainNoise = 0.0;   // fraction of train items whose smoothed label is wrong
    double auditedTrainNoise = 0.0;    // ... whose audited label is wrong
};

struct SimulationReport {
    int64_t items = 0;
    int classes = 0;
    int k = 0;
    float temperature = 0.0f;
    int64_t trainItems = 0, testItems = 0; // knn experiment only
    std::vector<AnnotationPoint> annotation; // strategy by strategy, schedule order
    std::vector<NoisePoint> noise;           // rate by rate, step order
    std::vector<KnnPoint> knn;               // rate order
    double graphSeconds = 0.0, annotationSeconds = 0.0, noiseSeconds = 0.0, knnSeconds = 0.0;
};

// 10, 20, 50, 100, 200, 500, 1000, 2000, keeping the counts below n.
[[nodiscard]] std::vector<int64_t> defaultLabelSchedule(int64_t n);

// embeddings: n x d, L2-normalised. labels: n true classes, each in [0, classes); classes >= 2.
// Fails on bad options or labels (naming the item), or when cancelled.
[[nodiscard]] Expected<SimulationReport> runSimulation(const EmbeddingMatrix& embeddings,
                                                       std::span<const int32_t> labels, int classes,
                                                       const SimulationOptions& options);

// Symmetric noise: exactly round(rate * n) items, chosen uniformly, get a uniformly random class
// other than their own. rate in [0, 1]; classes >= 2. Deterministic for a given seed.
[[nodiscard]] std::vector<int32_t> corruptLabels(std::span<const int32_t> labels, int classes, double rate,
                                                 uint64_t seed);

} // namespace labelprop
