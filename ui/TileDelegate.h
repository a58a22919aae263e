#pragma once
// TileDelegate: paints one tile of the labeling grid from ProjectGridModel's data only:
//   - the thumbnail (or its placeholder; a broken-image mark for a file that cannot be decoded);
//   - a red frame and a "!" badge on a likely mislabeled item, a check mark on a reviewed one;
//   - the class it is shown under: a swatch in the class colour and the name, upright for a
//     label, italic for a propagated class; and where the label came from as a one-letter badge
//     (P person, B a selection, I imported, F an accepted fix, ~ propagated);
//   - the propagated confidence as a bar and a percentage;
//   - the current item in a thick frame, the selection as a tint (text stays dark on it), and a
//     thin frame around every thumbnail.
// Every tile has the same size (uniform item sizes); the thumbnail size can change (Ctrl +/-).
//
// Thread-safety: GUI thread only, like every delegate.

#include <QSize>
#include <QStyledItemDelegate>

namespace labelprop::ui {

class TileDelegate final : public QStyledItemDelegate {
    Q_OBJECT
public:
    explicit TileDelegate(QSize thumbnailSize, QObject* parent = nullptr);

    void setThumbnailSize(QSize size) { m_thumbnailSize = size; }
    [[nodiscard]] QSize thumbnailSize() const { return m_thumbnailSize; }
    [[nodiscard]] QSize cellSize(const QFontMetrics& metrics) const;

    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
    [[nodiscard]] QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

    static constexpr int kPadding = 6;    // > kFocusFrame: the frame never covers the thumbnail
    static constexpr int kFocusFrame = 3; // the current item's frame, logical pixels

private:
    QSize m_thumbnailSize;
};

} // namespace labelprop::ui
