#pragma once
// Label propagation over the normalised affinity S (see AffinityGraph.h):
//   Y(0): one-hot rows for seeded items, zeros elsewhere (or a previous result: warm start);
//   Y(t+1) = S Y(t), then the clamp:
//     hard:    seeded rows reset to Y(0) after every step (the paper);
//     soft:a   Y(t+1) = a S Y(t) + (1 - a) Y(0)  (Zhou et al.);
//     none:    plain smoothing (used on noisy labels).
// A fixed number of steps, not run to convergence: with very few labels LP collapses if run
// to convergence. Pure function of its inputs; safe to call from any thread.

#include "core/engine/AffinityGraph.h"
#include "core/base/Error.h"
#include "core/base/SimdLevel.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace labelprop {

struct ClampMode {
    enum class Kind { Hard, Soft, None };
    Kind kind = Kind::Hard;
    float alpha = 0.99f; // soft clamp only: the weight of S Y(t), in (0, 1)
};

// "hard", "none" or "soft:ALPHA" with 0 < ALPHA < 1.
[[nodiscard]] Expected<ClampMode> parseClampMode(std::string_view text);

struct PropagationOptions {
    int iterations = 20;
    ClampMode clamp;
    int threads = 0;                                         // 0: all hardware threads
    const std::atomic<bool>* cancel = nullptr;               // checked once per step
    std::function<void(int step, std::span<const float> y)> onStep; // after each step; y is n x c
    std::optional<SimdLevel> simd; // kernel level; unset: the process level (see SimdDispatch.h)
};

// Per-item outcome. Items no label reached (a component without seeds) have predicted = -1 and
// confidence = margin = 0.
struct PropagationResult {
    int64_t n = 0;
    int classes = 0;
    std::vector<float> scores;        // n x c, row-major: Y(t) as propagated (the warm-start state)
    std::vector<float> probabilities; // n x c: each row of scores divided by its sum
    std::vector<int32_t> predicted;   // n: argmax of the row (smallest class on ties), or -1
    std::vector<float> confidence;    // n: probability of the predicted class
    std::vector<float> margin;        // n: top probability minus the runner-up

    [[nodiscard]] const float* probabilitiesOf(int64_t i) const { return probabilities.data() + i * classes; }
};

// seeds: n entries, a class in [0, classes) or -1 for unlabeled.
// warmStart: empty, or n x c scores of an earlier result over the same graph (the seeded rows are
// overwritten by the current seeds), so a few new labels need fewer steps to settle.
[[nodiscard]] Expected<PropagationResult> propagateLabels(const SparseGraph& s, std::span<const int32_t> seeds,
                                                          int classes, const PropagationOptions& options,
                                                          std::span<const float> warmStart = {});

// y (n x c) = S x (n x c): one propagation step, multi-threaded over rows, at the process SIMD level.
void multiplyGraph(const SparseGraph& s, std::span<const float> x, int classes, std::span<float> y, int threads);

// For the SIMD dispatch (SimdDispatch.h): the seconds that `steps` products Y <- S Y take at each
// level of `levels` in turn (levels may repeat; each must be one of cpuSimdLevels()), on the
// calling thread, Y being rows of `classes` scores in the kernel's layout. The buffers are
// allocated and touched once, before the first clock starts, so only the row kernel is timed.
[[nodiscard]] std::vector<double> timePropagationSteps(const SparseGraph& s, int classes, int steps,
                                                       std::span<const SimdLevel> levels);

// Fills probabilities, predicted, confidence and margin from scores.
void summariseScores(PropagationResult& result);

} // namespace labelprop
