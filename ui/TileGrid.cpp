#include "ui/TileGrid.h"

#include "ui/ViewGeometry.h"

#include <algorithm>

namespace labelprop::ui {

namespace {
// Ranges up to this many rows go to QListView as they are (its per-row cost is negligible there).
constexpr int kClipAbove = 256;
} // namespace

TileGrid::TileGrid(QWidget* parent)
    : QListView(parent)
{
}

void TileGrid::dataChanged(const QModelIndex& topLeft, const QModelIndex& bottomRight, const QList<int>& roles)
{
    if (!topLeft.isValid() || !bottomRight.isValid() || bottomRight.row() - topLeft.row() < kClipAbove) {
        QListView::dataChanged(topLeft, bottomRight, roles);
        return;
    }
    // Cells' sizes are uniform and never depend on the data, so rows off screen need nothing.
    const auto [first, last] = visibleRowRange(*this);
    const int from = std::max(first, topLeft.row()), to = std::min(last, bottomRight.row());
    if (from > to)
        return;
    const QModelIndex parent = topLeft.parent();
    QListView::dataChanged(model()->index(from, topLeft.column(), parent), model()->index(to, bottomRight.column(), parent),
                           roles);
}

} // namespace labelprop::ui
