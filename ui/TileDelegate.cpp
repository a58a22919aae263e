#include "ui/TileDelegate.h"

#include "core/project/ProjectStore.h"
#include "ui/ProjectGridModel.h"
#include "ui/TilePainting.h"

#include <QAbstractItemView>
#include <QApplication>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>

#include <algorithm>

namespace labelprop::ui {

namespace {

const QColor kReviewedColour(46, 125, 50);

QString sourceBadge(int source)
{
    switch (source) {
    case int(LabelSource::Human):
        return QStringLiteral("P");
    case int(LabelSource::Bulk):
        return QStringLiteral("B");
    case int(LabelSource::Imported):
        return QStringLiteral("I");
    case int(LabelSource::Accepted):
        return QStringLiteral("F");
    default:
        return QStringLiteral("~");
    }
}

} // namespace

TileDelegate::TileDelegate(QSize thumbnailSize, QObject* parent)
    : QStyledItemDelegate(parent)
    , m_thumbnailSize(thumbnailSize)
{
}

QSize TileDelegate::cellSize(const QFontMetrics& metrics) const
{
    const int width = std::max(m_thumbnailSize.width(), 6 * metrics.averageCharWidth() + 30) + 2 * kPadding;
    return {width, kPadding + m_thumbnailSize.height() + kPadding + 2 * metrics.height() + kPadding};
}

QSize TileDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex&) const
{
    return cellSize(option.fontMetrics);
}

void TileDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const
{
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    const bool selected = opt.state & QStyle::State_Selected;
    const auto* view = qobject_cast<const QAbstractItemView*>(option.widget);
    const bool current = view ? view->currentIndex() == index : bool(opt.state & QStyle::State_HasFocus);
    const bool viewFocused = view ? view->hasFocus() : true;

    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    const QRect cell = option.rect;
    // The selection is a tint of the highlight colour under dark text (white text on a pale tint
    // was unreadable); hover is a fainter one.
    QColor tint = opt.palette.color(QPalette::Highlight);
    if (selected) {
        tint.setAlpha(70);
        painter->fillRect(cell.adjusted(1, 1, -1, -1), tint);
    } else if (opt.state & QStyle::State_MouseOver) {
        tint.setAlpha(25);
        painter->fillRect(cell.adjusted(1, 1, -1, -1), tint);
    }
    const QRect thumbBox = thumbnailBox(cell, m_thumbnailSize, kPadding);
    // A thin frame around every thumbnail: a near-white image on a white tile is still a tile.
    painter->setPen(QPen(opt.palette.color(QPalette::Mid), 1));
    painter->setBrush(opt.palette.color(QPalette::AlternateBase));
    painter->drawRect(QRectF(thumbBox).adjusted(-0.5, -0.5, 0.5, 0.5));
    paintThumbnail(painter, thumbBox, index.data(Qt::DecorationRole).value<QPixmap>(), true);
    if (current) {
        // The current item: a thick frame in the highlight colour, seen at a glance; dashed while
        // the grid does not have the keyboard (keys go elsewhere then).
        QPen pen(opt.palette.color(QPalette::Highlight).darker(viewFocused ? 115 : 100), kFocusFrame);
        pen.setJoinStyle(Qt::MiterJoin);
        if (!viewFocused)
            pen.setStyle(Qt::DashLine);
        painter->setPen(pen);
        painter->setBrush(Qt::NoBrush);
        const qreal inset = kFocusFrame / 2.0;
        painter->drawRoundedRect(QRectF(cell).adjusted(inset, inset, -inset, -inset), 4, 4);
    }
    const QFontMetrics& fm = option.fontMetrics;
    const int badge = std::max(14, fm.height());
    if (index.data(ProjectGridModel::FlaggedRole).toBool()) {
        painter->setPen(QPen(kFlagColour, 3));
        painter->setBrush(Qt::NoBrush);
        painter->drawRect(thumbBox.adjusted(1, 1, -1, -1));
        paintBadge(painter, QRect(thumbBox.right() - badge + 1, thumbBox.top(), badge, badge), kFlagColour,
                   QStringLiteral("!"), option.font);
    }
    if (index.data(ProjectGridModel::ReviewedRole).toBool()) {
        const QRect mark(thumbBox.left(), thumbBox.top(), badge, badge);
        painter->setPen(Qt::NoPen);
        painter->setBrush(kReviewedColour);
        painter->drawEllipse(mark);
        painter->setPen(QPen(Qt::white, 2));
        painter->drawPolyline(QList<QPointF>{QPointF(mark.left() + badge * 0.25, mark.top() + badge * 0.52),
                                             QPointF(mark.left() + badge * 0.43, mark.top() + badge * 0.7),
                                             QPointF(mark.left() + badge * 0.75, mark.top() + badge * 0.32)});
    }

    // Line 1: class swatch, name, source badge.
    const int label = index.data(ProjectGridModel::LabelRole).toInt();
    const QString name = index.data(ProjectGridModel::ShownClassNameRole).toString();
    const QColor colour = index.data(ProjectGridModel::ShownClassColourRole).value<QColor>();
    const QColor textColour = opt.palette.color(QPalette::Text); // legible on the tint and off it
    const int lineTop = thumbBox.bottom() + 1 + kPadding;
    const QRect line1(cell.left() + kPadding, lineTop, cell.width() - 2 * kPadding, fm.height());
    const QRect swatch(line1.left(), line1.top() + (fm.height() - fm.ascent()) / 2, fm.ascent(), fm.ascent());
    const QRect badgeBox(line1.right() - fm.height() + 1, line1.top(), fm.height(), fm.height());
    if (!name.isEmpty()) {
        painter->setPen(QPen(colour.darker(130), 1));
        painter->setBrush(label >= 0 ? colour : Qt::transparent);
        painter->drawRoundedRect(swatch, 2, 2);
        if (label < 0) { // propagated: an outlined swatch with a stripe of the colour
            painter->fillRect(swatch.adjusted(2, swatch.height() / 2 - 1, -2, -(swatch.height() / 2 - 1)), colour);
        }
        QFont font = option.font;
        font.setItalic(label < 0);
        font.setBold(label >= 0);
        painter->setFont(font);
        painter->setPen(textColour);
        const QRect nameBox(swatch.right() + 4, line1.top(), badgeBox.left() - swatch.right() - 6, fm.height());
        painter->drawText(nameBox, Qt::AlignVCenter | Qt::AlignLeft,
                          QFontMetrics(font).elidedText(name, Qt::ElideRight, nameBox.width()));
        painter->setFont(option.font);
        painter->setPen(QPen(textColour, 1));
        painter->setBrush(Qt::NoBrush);
        painter->drawRoundedRect(badgeBox.adjusted(1, 1, -1, -1), 3, 3);
        painter->drawText(badgeBox, Qt::AlignCenter, sourceBadge(index.data(ProjectGridModel::LabelSourceRole).toInt()));
    } else {
        painter->setPen(opt.palette.color(QPalette::PlaceholderText));
        painter->drawText(line1, Qt::AlignVCenter | Qt::AlignLeft, tr("unlabeled"));
    }

    // Line 2: for a propagated class its confidence; for a label, how much its neighbours agree with
    // it (1 - issue score: a hard-clamped label's own confidence is always 100% and says nothing).
    const int predicted = index.data(ProjectGridModel::PredictedRole).toInt();
    const QRect line2(line1.left(), line1.bottom() + 1, line1.width(), fm.height());
    if (predicted >= 0) {
        const double value = label >= 0 ? 1.0 - index.data(ProjectGridModel::IssueScoreRole).toDouble()
                                        : index.data(ProjectGridModel::ConfidenceRole).toDouble();
        const QString text = QStringLiteral("%1%").arg(qRound(value * 100.0));
        const int textWidth = fm.horizontalAdvance(QStringLiteral("100%")) + 2;
        const QRect bar(line2.left(), line2.center().y() - 2, line2.width() - textWidth - 4, 5);
        painter->setPen(Qt::NoPen);
        painter->setBrush(opt.palette.color(QPalette::Mid));
        painter->drawRoundedRect(bar, 2, 2);
        painter->setBrush(colour.isValid() ? colour : opt.palette.color(QPalette::Highlight));
        painter->drawRoundedRect(QRect(bar.topLeft(), QSize(std::max(2, int(bar.width() * value)), bar.height())), 2, 2);
        painter->setPen(textColour);
        painter->drawText(QRect(bar.right() + 4, line2.top(), textWidth, line2.height()), Qt::AlignVCenter | Qt::AlignRight,
                          text);
    }
    painter->restore();
}

} // namespace labelprop::ui
