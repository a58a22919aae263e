#include "ui/ViewGeometry.h"

#include <QAbstractItemModel>
#include <QListView>

#include <algorithm>

namespace labelprop::ui {

std::pair<int, int> visibleRowRange(const QListView& view)
{
    constexpr std::pair<int, int> kNone{0, -1};
    const QAbstractItemModel* model = view.model();
    const QModelIndex root = view.rootIndex();
    const int n = model ? model->rowCount(root) : 0;
    if (n == 0)
        return kNone;
    const QRect first = view.visualRect(model->index(0, 0, root));
    if (!first.isValid())
        return kNone;
    // Cells per line: how many share the first cell's top edge (bounded by one line's width).
    constexpr int kMaxColumns = 4096;
    int columns = 1;
    while (columns < n && columns < kMaxColumns && view.visualRect(model->index(columns, 0, root)).top() == first.top())
        ++columns;
    int stride = first.height();
    if (columns < n) {
        const QRect next = view.visualRect(model->index(columns, 0, root));
        if (next.isValid() && next.top() > first.top())
            stride = next.top() - first.top();
    }
    stride = std::max(stride, 1);
    const int viewportHeight = view.viewport()->height();
    // Line L spans [first.top() + L * stride, ... + first.height()); keep the lines that overlap
    // [0, viewportHeight).
    const auto floorDiv = [](int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
    const int firstLine = std::max(0, floorDiv(-first.top() - first.height(), stride) + 1);
    const int lastLine = floorDiv(viewportHeight - 1 - first.top(), stride);
    if (lastLine < firstLine)
        return kNone;
    const long long firstRow = (long long)firstLine * columns;
    const long long lastRow = std::min<long long>(n - 1, ((long long)lastLine + 1) * columns - 1);
    if (firstRow > lastRow)
        return kNone;
    return {int(firstRow), int(lastRow)};
}

std::vector<std::pair<int, int>> coalescedRowRanges(std::vector<int> rows)
{
    std::sort(rows.begin(), rows.end());
    std::vector<std::pair<int, int>> ranges;
    for (std::size_t i = 0; i < rows.size();) {
        std::size_t j = i;
        while (j + 1 < rows.size() && rows[j + 1] <= rows[j] + 1)
            ++j;
        ranges.emplace_back(rows[i], rows[j]);
        i = j + 1;
    }
    return ranges;
}

} // namespace labelprop::ui
