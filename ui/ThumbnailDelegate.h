#pragma once
// ThumbnailDelegate: paints one grid cell of an ItemGridModel from the model's data only: the
// thumbnail (or its placeholder), a red frame and badge when the item is flagged, the predicted
// label with its confidence, and the given label underneath when there is one. Every cell has the
// same size, so the view can use uniform item sizes.
//
// Thread-safety: GUI thread only, like every delegate.

#include <QSize>
#include <QStyledItemDelegate>

namespace labelprop::ui {

class ThumbnailDelegate final : public QStyledItemDelegate {
    Q_OBJECT
public:
    explicit ThumbnailDelegate(QSize thumbnailSize, QObject* parent = nullptr);

    // The size of every cell for the given font.
    [[nodiscard]] QSize cellSize(const QFontMetrics& metrics) const;

    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    [[nodiscard]] QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

    static constexpr int kPadding = 6;

private:
    QSize m_thumbnailSize;
};

} // namespace labelprop::ui
