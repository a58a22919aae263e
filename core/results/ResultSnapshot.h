#pragma once
// A read-only snapshot of one propagation or audit result, joined with the items it is about:
// items.csv (index,path,label; written by `embed`) plus a result table written by `propagate` or
// `audit` (index,given,predicted,confidence,margin,issue_score,flagged[,<probability columns>]).
// The desktop app views this snapshot; it never edits it.
//
// Thread-safety: loading functions are reentrant. A loaded ResultSnapshot is an immutable value:
// concurrent const calls are safe, so one instance may be shared (e.g. through
// std::shared_ptr<const ResultSnapshot>) between the GUI thread and workers.

#include "core/formats/Csv.h"
#include "core/base/Error.h"
#include "core/sources/ImageSource.h"
#include "core/base/Item.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace labelprop {

// One row of the result table.
struct ResultEntry {
    int32_t item = 0;        // row of items.csv (and index into the image source)
    int32_t given = -1;      // class id in ResultSnapshot::classes; -1: no given label
    int32_t predicted = -1;  // class id; -1: not reached by any label
    float confidence = 0.0f; // [0, 1]: the predicted class's share of the propagated mass
    float margin = 0.0f;     // [0, 1]: best minus second-best share
    float issueScore = 0.0f; // [0, 1]: how likely the given label is wrong
    bool flagged = false;    // the given label is judged wrong
};

// How to list the entries.
enum class ResultOrder {
    ByIndex,             // item index ascending
    LeastConfidentFirst, // confidence ascending (ties: lower index first)
    MostLikelyWrongFirst // issue score descending (ties: lower index first)
};

struct ResultSnapshot {
    std::string itemsPath;            // the items.csv it was read from
    std::string resultPath;           // the result table it was read from
    std::vector<Item> items;          // every item of items.csv, by index
    ClassIndex classes;               // every class named in the given/predicted columns
    std::vector<ResultEntry> entries; // one per result row, sorted by item index; items without a
                                      // row (e.g. unlabelled items in an audit) have no entry
    std::size_t flaggedCount = 0;     // entries with flagged set

    // Positions into `entries` in the given order, only flagged entries if `flaggedOnly`.
    // O(n log n) in the number of entries.
    [[nodiscard]] std::vector<int32_t> order(ResultOrder by, bool flaggedOnly = false) const;
    // The class name of `id`, or "" for -1.
    [[nodiscard]] const std::string& className(int32_t id) const;
};

// Reads items.csv and a result table. The result header must start with
// "index,given,predicted,confidence,margin,issue_score,flagged" (extra columns, such as class
// probabilities, are allowed and ignored); every row must have as many fields as the header; the
// index must be an integer in [0, number of items) that appears once; confidence, margin and
// issue_score numbers in [0, 1]; flagged 0 or 1. Errors name the file and the 1-based line, e.g.
// "result.csv:7: index 99 is not an item (items.csv lists 50 items)".
[[nodiscard]] Expected<ResultSnapshot> loadResultSnapshot(const std::string& itemsCsvPath,
                                                          const std::string& resultCsvPath);

// `path` is either a folder holding items.csv and result.csv or issues.csv (when it holds both, as
// after `labelprop-cli demo`, the one written last), or a result table whose folder holds
// items.csv. Errors name what is missing.
[[nodiscard]] Expected<ResultSnapshot> loadResultFolder(const std::string& path);

// Checks that `source` is the one items.csv was made from: same number of items, same paths in
// the same order. The error names both and the first item that differs. O(number of items).
[[nodiscard]] Expected<void> checkSourceMatches(const ResultSnapshot& snapshot, const ImageSource& source);

} // namespace labelprop
