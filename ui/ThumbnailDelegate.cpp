#include "ui/ThumbnailDelegate.h"

#include "ui/ItemGridModel.h"

#include <QApplication>
#include <QPainter>
#include <QPixmap>

#include <algorithm>

namespace labelprop::ui {
namespace {

const QColor kFlagColor(211, 47, 47);

} // namespace

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
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    const QStyle* style = opt.widget ? opt.widget->style() : QApplication::style();
    // Selection and hover background only: the text and the icon are painted below.
    opt.text.clear();
    opt.icon = QIcon();
    style->drawPrimitive(QStyle::PE_PanelItemViewItem, &opt, painter, opt.widget);

    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    const QRect cell = option.rect;
    const QRect thumbBox(cell.left() + (cell.width() - m_thumbnailSize.width()) / 2, cell.top() + kPadding,
                         m_thumbnailSize.width(), m_thumbnailSize.height());
    const QPixmap pixmap = index.data(Qt::DecorationRole).value<QPixmap>();
    if (!pixmap.isNull()) {
        const QSize size = pixmap.size().scaled(thumbBox.size(), Qt::KeepAspectRatio).boundedTo(pixmap.size());
        QRect target(QPoint(0, 0), size);
        target.moveCenter(thumbBox.center());
        painter->drawPixmap(target, pixmap);
    }
    const bool flagged = index.data(ItemGridModel::FlaggedRole).toBool();
    if (flagged) {
        painter->setPen(QPen(kFlagColor, 3));
        painter->setBrush(Qt::NoBrush);
        painter->drawRoundedRect(QRectF(thumbBox).adjusted(-2.5, -2.5, 2.5, 2.5), 3, 3);
        const int d = std::max(14, option.fontMetrics.height());
        const QRect badge(thumbBox.right() - d / 2, thumbBox.top() - d / 2 + 2, d, d);
        painter->setPen(Qt::NoPen);
        painter->setBrush(kFlagColor);
        painter->drawEllipse(badge);
        QFont bold = option.font;
        bold.setBold(true);
        painter->setFont(bold);
        painter->setPen(Qt::white);
        painter->drawText(badge, Qt::AlignCenter, QStringLiteral("!"));
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
        QColor color = flagged && !selected ? kFlagColor : option.palette.color(textRole);
        if (!flagged)
            color.setAlphaF(0.6f);
        painter->setPen(color);
        const QString text = tr("given: %1").arg(given);
        painter->drawText(line, Qt::AlignHCenter | Qt::AlignVCenter, fm.elidedText(text, Qt::ElideRight, line.width()));
    }
    painter->restore();
}

} // namespace labelprop::ui
