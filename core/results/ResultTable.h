#pragma once
// The per-item result file shared by `propagate` and `audit`:
//   index,given,predicted,confidence,margin,issue_score,flagged[,<one probability column per class>]
// given/predicted are class names (empty when there is none); confidence, margin and issue_score
// are in [0, 1]; flagged is 0 or 1.

#include "core/formats/Csv.h"
#include "core/base/Error.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace labelprop {

struct ResultTableOptions {
    bool probabilities = false;  // append one column per class
    std::vector<int32_t> order;  // rows to write, in this order; empty: every item by index
    bool suggestedAsPredicted = false; // audit: a flagged row's predicted column holds the suggested fix
};

// Written atomically (aside, then renamed).
[[nodiscard]] Expected<void> writeResultTable(const std::string& path, const PropagationResult& result,
                                              const LabelQualityReport& quality, std::span<const int32_t> given,
                                              const ClassIndex& classes, const ResultTableOptions& options);

} // namespace labelprop
