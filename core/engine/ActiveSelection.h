#pragma once
// What to label next.
//   random            uniform among unlabelled items (the paper's protocol);
//   least-confidence  lowest propagated confidence first;
//   margin            smallest gap between the two most probable classes first;
//   entropy           highest entropy of the propagated distribution first;
//   density           diversity- and density-aware, works from zero labels: k-means splits the
//                     items into `budget` clusters; each cluster proposes its most typical
//                     unlabelled item (highest mean similarity to its k neighbours, times its
//                     uncertainty once labels exist); clusters that already hold labels, or
//                     whose items are already confident, come last.
// Items nothing has reached yet count as fully uncertain. Ties break by a seeded random order,
// so the same seed gives the same list. Pure function; safe from any thread.

#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"
#include "core/engine/LabelPropagation.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace labelprop {

enum class SelectionStrategy { Random, LeastConfidence, Margin, Entropy, Density };

[[nodiscard]] Expected<SelectionStrategy> parseSelectionStrategy(std::string_view name);
[[nodiscard]] std::string_view selectionStrategyName(SelectionStrategy strategy);
[[nodiscard]] std::span<const SelectionStrategy> allSelectionStrategies();

struct SelectionInputs {
    const EmbeddingMatrix* embeddings = nullptr; // n x d, L2-normalised (density strategy)
    const KnnGraph* knn = nullptr;               // self-kNN over the embeddings (density strategy)
    const PropagationResult* result = nullptr;   // may be null: no labels yet
    std::span<const int32_t> labels;             // n entries, class or -1
};

struct Selection {
    std::vector<int32_t> items; // at most `budget`, best first, all unlabelled
    std::vector<float> scores;  // the strategy's score of each pick (higher = pick earlier)
};

// budget >= 1; returns fewer items only when fewer are unlabelled.
[[nodiscard]] Expected<Selection> selectItemsToLabel(SelectionStrategy strategy, int64_t budget,
                                                     const SelectionInputs& inputs, uint64_t seed, int threads = 0);

} // namespace labelprop
