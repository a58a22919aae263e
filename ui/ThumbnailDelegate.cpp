#include "ui/ThumbnailDelegate.h"

#include "ui/ItemGridModel.h"
#include "ui/TilePainting.h"

#include <QApplication>
#include <QPainter>
#include <QPixmap>

#include <algorithm>

namespace labelprop::ui {

ThumbnailDelegate::ThumbnailDelegate(QSize thumbnailSize, QObject* parent)
    : QStyledItemDelegate(parent)
    , m_thumbnailSize(thumbnailSize)
{
}

QSize ThumbnailDelegate::cellSize(const QFontMetrics& metrics) const
{
    return {m_thumbnailSize.width() + 4 * kPadding,
            kPadding + m_thumbnailSize.height() + kPadding + 2 * metrics.height() + kPadding};
}

QSize ThumbnailDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex&) const
{
    return cellSize(option.fontMetrics);
}

void ThumbnailDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const
{
    // Selection and hover background only: the text and the icon are painted below.
    paintCellBackground(*this, painter, option, index);

    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    const QRect cell = option.rect;
    const QRect thumbBox = thumbnailBox(cell, m_thumbnailSize, kPadding);
    paintThumbnail(painter, thumbBox, index.data(Qt::DecorationRole).value<QPixmap>(), false);
    const bool flagged = index.data(ItemGridModel::FlaggedRole).toBool();
    if (flagged) {
        painter->setPen(QPen(kFlagColour, 3));
        painter->setBrush(Qt::NoBrush);
        painter->drawRoundedRect(QRectF(thumbBox).adjusted(-2.5, -2.5, 2.5, 2.5), 3, 3);
        const int d = std::max(14, option.fontMetrics.height());
        paintBadge(painter, QRect(thumbBox.right() - d / 2, thumbBox.top() - d / 2 + 2, d, d), kFlagColour,
                   QStringLiteral("!"), option.font);
    }

    const bool selected = option.state & QStyle::State_Selected;
    const QPalette::ColorRole textRole = selected ? QPalette::HighlightedText : QPalette::Text;
    const QFontMetrics& fm = option.fontMetrics;
    QRect line(cell.left() + kPadding / 2, thumbBox.bottom() + 1 + kPadding, cell.width() - kPadding, fm.height());
    painter->setFont(option.font);
    painter->setPen(option.palette.color(textRole));
    const QString display = index.data(Qt::DisplayRole).toString();
    painter->drawText(line, Qt::AlignHCenter | Qt::AlignVCenter, fm.elidedText(display, Qt::ElideRight, line.width()));
    const QString given = index.data(ItemGridModel::GivenRole).toString();
    if (!given.isEmpty()) {
        line.translate(0, fm.height());
        QColor color = flagged && !selected ? kFlagColour : option.palette.color(textRole);
        if (!flagged)
            color.setAlphaF(0.6f);
        painter->setPen(color);
        const QString text = tr("given: %1").arg(given);
        painter->drawText(line, Qt::AlignHCenter | Qt::AlignVCenter, fm.elidedText(text, Qt::ElideRight, line.width()));
    }
    painter->restore();
}

} // namespace labelprop::ui
