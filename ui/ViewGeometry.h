#pragma once
// Geometry helpers for item views.
//
// Thread-safety: GUI thread only (they read widgets).

#include <utility>
#include <vector>

class QListView;

namespace labelprop::ui {

// The first and last row of `view`'s model that intersect its viewport, assuming a grid of
// equally sized cells laid out row by row (a QListView in IconMode with uniform item sizes).
// {0, -1} when nothing is shown or laid out yet. Looks at one line of cells, never every row.
[[nodiscard]] std::pair<int, int> visibleRowRange(const QListView& view);

// Rows (any order, duplicates allowed) as sorted runs of consecutive rows [first, last], so that a
// model emits one dataChanged per run instead of one per row. Pure function.
[[nodiscard]] std::vector<std::pair<int, int>> coalescedRowRanges(std::vector<int> rows);

} // namespace labelprop::ui
