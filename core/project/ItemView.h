#pragma once
// What the labeling window shows of every item, and the orders, filters and counts over it. Pure
// functions of values, so the GUI computes an order on a worker from a copy and swaps it in.
//
// Indices are item indices (item id - 1), over every item of the project, including those that are
// not embedded (missing or unreadable files: they show, with no propagation).

#include "core/project/LivePropagation.h"
#include "core/project/ProjectStore.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

// Copying is cheap enough to hand a copy to a worker: the paths (fixed while a project is open) are
// shared, the other columns are a few bytes per item.
struct ItemColumns {
    std::shared_ptr<const std::vector<std::string>> paths = std::make_shared<const std::vector<std::string>>(); // as stored
    std::vector<std::int32_t> label;    // current class id, or -1
    std::vector<std::uint8_t> source;   // LabelSource of the current label (meaningless without one)
    std::vector<std::uint8_t> reviewed; // 1: the item has a review decision
    std::vector<std::uint8_t> status;   // ItemStatus
    std::vector<ShownRow> shown;        // the live propagation (predicted -1 for items not embedded)
    std::vector<std::int32_t> suggestionRank; // empty, or per item: 0 = label this first, -1 = not suggested

    [[nodiscard]] std::size_t size() const { return label.size(); }
    [[nodiscard]] const std::string& path(std::size_t i) const { return (*paths)[i]; }
    [[nodiscard]] bool labeledByPerson(std::size_t i) const
    {
        return label[i] >= 0 && LabelSource(source[i]) != LabelSource::Imported;
    }
    [[nodiscard]] bool propagated(std::size_t i) const { return label[i] < 0 && shown[i].predicted >= 0; }
    // The class an item is shown under: its label, or else its propagated class (-1: none).
    [[nodiscard]] std::int32_t shownClass(std::size_t i) const { return label[i] >= 0 ? label[i] : shown[i].predicted; }
};

enum class ItemSort {
    ConfidenceAscending,  // needs a person: least confident propagated first; labeled items last, least
                          //   agreed-with first (1 - issue score)
    ConfidenceDescending, // safe to accept: most confident propagated first (labeled items last)
    IssueScore,           // most likely wrong labels first (unlabeled last)
    SuggestionRank,       // what to label next first, then by confidence ascending
    Class,                // by shown class, then path
    Path,                 // by stored path
};
enum class ItemFilter { All, Unlabeled, LabeledByPerson, Imported, Propagated, Flagged, Reviewed };

[[nodiscard]] std::string_view itemSortName(ItemSort sort);   // "confidence-ascending", ...
[[nodiscard]] std::optional<ItemSort> parseItemSort(std::string_view name);
[[nodiscard]] std::string_view itemFilterName(ItemFilter filter); // "all", "unlabeled", ...
[[nodiscard]] std::optional<ItemFilter> parseItemFilter(std::string_view name);

struct ItemQuery {
    ItemSort sort = ItemSort::ConfidenceAscending;
    ItemFilter filter = ItemFilter::All;
    std::int32_t classId = -1;     // only items shown under this class; -1: any
    float minConfidence = 0.0f;    // propagated confidence range, inclusive; labeled items pass
    float maxConfidence = 1.0f;    //   unless the range is narrowed below [0, 1]
    std::string search;            // case-insensitive substring of the path (ASCII folding); empty: any
};

// The item indices that pass `query`, in its order; ties by item index, so orders are stable.
[[nodiscard]] std::vector<std::int32_t> orderItems(const ItemColumns& items, const ItemQuery& query);

struct ItemCounts {
    std::int64_t items = 0;
    std::int64_t byPeople = 0;      // labeled by a person (human, bulk, accepted)
    std::int64_t imported = 0;      // labels that came with the data
    std::int64_t propagated = 0;    // unlabeled with a propagated class
    std::int64_t confident = 0;     // propagated with confidence >= the threshold
    std::int64_t flagged = 0;
    std::int64_t reviewed = 0;
    std::vector<std::int64_t> classByPeople;     // per class: labels given (any source)
    std::vector<std::int64_t> classPropagated;   // per class: propagated to unlabeled items
};
[[nodiscard]] ItemCounts countItems(const ItemColumns& items, int classes, float confidentAbove);
// Adds (sign +1) or takes away (sign -1) item i's share of `counts`, whose per-class vectors are
// already sized: before an item's label or shown row changes, take it away, then add it back, and
// the counts stay what countItems() would give, in O(1) per item.
void countItem(ItemCounts& counts, const ItemColumns& items, std::size_t i, float confidentAbove, int sign);

} // namespace labelprop
