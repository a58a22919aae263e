#pragma once
// Turns the rows of a labels file into the per-item seed vector the engine works on.

#include "core/formats/Csv.h"
#include "core/base/Error.h"

#include <cstdint>
#include <vector>

namespace labelprop {

struct LabelSeeds {
    ClassIndex classes;
    std::vector<int32_t> seeds; // n entries: class id, or -1 for unlabelled
    int64_t labelled = 0;
};

// itemCount: n. Classes are the distinct labels, ordered as ClassIndex::fromNames does.
[[nodiscard]] LabelSeeds seedsFromLabels(const std::vector<LabelEntry>& entries, int64_t itemCount);

} // namespace labelprop
