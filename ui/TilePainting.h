#pragma once
// Painting steps both grid delegates share (the labeling grid's TileDelegate and the result
// viewer's ThumbnailDelegate), so the two grids look alike.
//
// Thread-safety: GUI thread only.

#include <QColor>
#include <QRect>

class QFont;
class QModelIndex;
class QPainter;
class QPixmap;
class QStyleOptionViewItem;
class QStyledItemDelegate;

namespace labelprop::ui {

inline const QColor kFlagColour(211, 47, 47);

// The cell's selection, hover and focus background (no text, no icon).
void paintCellBackground(const QStyledItemDelegate& delegate, QPainter* painter, const QStyleOptionViewItem& option,
                         const QModelIndex& index);
// The box a thumbnail of `thumbnailSize` takes in the cell: centred, `padding` from the top.
[[nodiscard]] QRect thumbnailBox(const QRect& cell, QSize thumbnailSize, int padding);
// `pixmap` fitted into `box` (aspect kept; never enlarged unless `enlarge`).
void paintThumbnail(QPainter* painter, const QRect& box, const QPixmap& pixmap, bool enlarge);
// A round badge filling `box`, with `text` in bold white on `colour`.
void paintBadge(QPainter* painter, const QRect& box, const QColor& colour, const QString& text, const QFont& font);

} // namespace labelprop::ui
