#include "ui/TilePainting.h"

#include <QApplication>
#include <QPainter>
#include <QPixmap>
#include <QStyledItemDelegate>

namespace labelprop::ui {

namespace {

// initStyleOption() is protected; this reaches it for the shared background step.
class OptionReader final : public QStyledItemDelegate {
public:
    static void init(const QStyledItemDelegate& d, QStyleOptionViewItem* option, const QModelIndex& index)
    {
        static_cast<const OptionReader&>(d).initStyleOption(option, index);
    }
};

} // namespace

void paintCellBackground(const QStyledItemDelegate& delegate, QPainter* painter, const QStyleOptionViewItem& option,
                         const QModelIndex& index)
{
    QStyleOptionViewItem opt = option;
    OptionReader::init(delegate, &opt, index);
    const QStyle* style = opt.widget ? opt.widget->style() : QApplication::style();
    opt.text.clear();
    opt.icon = QIcon();
    style->drawPrimitive(QStyle::PE_PanelItemViewItem, &opt, painter, opt.widget);
}

QRect thumbnailBox(const QRect& cell, QSize thumbnailSize, int padding)
{
    return {cell.left() + (cell.width() - thumbnailSize.width()) / 2, cell.top() + padding, thumbnailSize.width(),
            thumbnailSize.height()};
}

void paintThumbnail(QPainter* painter, const QRect& box, const QPixmap& pixmap, bool enlarge)
{
    if (pixmap.isNull())
        return;
    // In logical pixels: a HiDPI thumbnail (device pixel ratio 2) has twice the pixels of its box.
    const QSize logical = pixmap.deviceIndependentSize().toSize();
    QSize size = logical.scaled(box.size(), Qt::KeepAspectRatio);
    if (!enlarge)
        size = size.boundedTo(logical);
    QRect target(QPoint(0, 0), size);
    target.moveCenter(box.center());
    painter->drawPixmap(target, pixmap);
}

void paintBadge(QPainter* painter, const QRect& box, const QColor& colour, const QString& text, const QFont& font)
{
    painter->setPen(Qt::NoPen);
    painter->setBrush(colour);
    painter->drawEllipse(box);
    QFont bold = font;
    bold.setBold(true);
    painter->setFont(bold);
    painter->setPen(Qt::white);
    painter->drawText(box, Qt::AlignCenter, text);
}

} // namespace labelprop::ui
