#pragma once
// The thumbnail grid's view: a QListView in IconMode (uniform cells, laid out row by row) that
// repaints only the visible part of a large change.
//
// Why: QAbstractItemView::dataChanged(topLeft, bottomRight) unites the visualRect of every row in
// the range to find what to repaint, O(rows). One click early in labeling moves the propagation
// of ~20,000 scattered rows of a 70,000-item project, which the model reports as one span over
// nearly all rows; uniting their rects took 3-4 ms of the GUI thread per click. The visible rows
// of a uniform grid are one contiguous range (visibleRowRange), so a change is first clipped to
// it: O(visible rows), whatever the span.
//
// Thread-safety: GUI thread only, as every widget.

#include <QListView>

namespace labelprop::ui {

class TileGrid final : public QListView {
    Q_OBJECT
public:
    explicit TileGrid(QWidget* parent = nullptr);

protected:
    void dataChanged(const QModelIndex& topLeft, const QModelIndex& bottomRight,
                     const QList<int>& roles = QList<int>()) override;
};

} // namespace labelprop::ui
