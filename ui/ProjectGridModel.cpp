#include "ui/ProjectGridModel.h"

#include "ui/ProjectSession.h"
#include "ui/ThumbnailCache.h"
#include "ui/ViewGeometry.h"

#include <QFileInfo>

namespace labelprop::ui {

namespace {

QString percent(double value)
{
    return QStringLiteral("%1%").arg(qRound(value * 100.0));
}

QString sourceText(LabelSource source)
{
    switch (source) {
    case LabelSource::Human:
        return ProjectGridModel::tr("labeled by a person");
    case LabelSource::Bulk:
        return ProjectGridModel::tr("labeled by a person (a selection)");
    case LabelSource::Imported:
        return ProjectGridModel::tr("imported with the data");
    case LabelSource::Accepted:
        return ProjectGridModel::tr("an accepted fix");
    }
    return {};
}

} // namespace

ProjectGridModel::ProjectGridModel(const ProjectSession* session, ThumbnailCache* cache, QObject* parent)
    : QAbstractListModel(parent)
    , m_session(session)
    , m_cache(cache)
{
    if (m_cache)
        connect(m_cache, &ThumbnailCache::thumbnailsReady, this, &ProjectGridModel::thumbnailsReady);
    classesChanged();
}

void ProjectGridModel::setOrder(std::vector<std::int32_t> order)
{
    beginResetModel();
    for (const auto item : m_order)
        if (std::size_t(item) < m_rowOfItem.size())
            m_rowOfItem[std::size_t(item)] = -1;
    m_order = std::move(order);
    m_rowOfItem.resize(m_session->items().size(), -1);
    for (std::size_t row = 0; row < m_order.size(); ++row)
        m_rowOfItem.at(std::size_t(m_order[row])) = std::int32_t(row);
    endResetModel();
}

int ProjectGridModel::itemAt(int row) const
{
    return row >= 0 && std::size_t(row) < m_order.size() ? m_order[std::size_t(row)] : -1;
}

int ProjectGridModel::rowOfItem(int item) const
{
    return item >= 0 && std::size_t(item) < m_rowOfItem.size() ? m_rowOfItem[std::size_t(item)] : -1;
}

void ProjectGridModel::itemsChanged(std::span<const std::int32_t> items)
{
    if (items.size() > 64 * kMaxRanges) {
        // Surely more than kMaxRanges runs: the span in one pass, without sorting.
        int first = INT32_MAX, last = -1;
        for (const auto item : items)
            if (const int row = rowOfItem(item); row >= 0) {
                first = std::min(first, row);
                last = std::max(last, row);
            }
        if (last >= 0)
            emit dataChanged(index(first), index(last));
        return;
    }
    std::vector<int> rows;
    rows.reserve(items.size());
    for (const auto item : items)
        if (const int row = rowOfItem(item); row >= 0)
            rows.push_back(row);
    const auto ranges = coalescedRowRanges(std::move(rows));
    // A click early in labeling moves the confidence of tens of thousands of scattered rows: one
    // signal over their span (a view repaints what it shows once) instead of thousands.
    if (ranges.size() > kMaxRanges) {
        emit dataChanged(index(ranges.front().first), index(ranges.back().second));
        return;
    }
    for (const auto& [first, last] : ranges)
        emit dataChanged(index(first), index(last));
}

void ProjectGridModel::classesChanged()
{
    m_classNames.clear();
    m_classColours.clear();
    for (const auto& c : m_session->classes()) {
        m_classNames.append(QString::fromStdString(c.name));
        m_classColours.append(QColor(QString::fromStdString(c.colour)));
    }
    if (!m_order.empty())
        emit dataChanged(index(0), index(int(m_order.size()) - 1));
}

void ProjectGridModel::thumbnailsReady(const QList<int>& items)
{
    std::vector<int> rows;
    for (const int item : items)
        if (const int row = rowOfItem(item); row >= 0)
            rows.push_back(row);
    for (const auto& [first, last] : coalescedRowRanges(std::move(rows)))
        emit dataChanged(index(first), index(last), {Qt::DecorationRole, ThumbnailErrorRole});
}

int ProjectGridModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(m_order.size());
}

Qt::ItemFlags ProjectGridModel::flags(const QModelIndex& index) const
{
    return index.isValid() ? Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren : Qt::NoItemFlags;
}

QVariant ProjectGridModel::data(const QModelIndex& index, int role) const
{
    const int item = index.isValid() && index.model() == this ? itemAt(index.row()) : -1;
    if (item < 0)
        return {};
    const auto& cols = m_session->items();
    const auto i = std::size_t(item);
    if (i >= cols.size())
        return {}; // the session's columns were let go (ProjectView clears the order on aboutToClose)
    const auto& shown = cols.shown[i];
    const int label = cols.label[i];
    const auto className = [&](int c) { return c >= 0 && c < m_classNames.size() ? m_classNames[c] : QString(); };
    switch (role) {
    case Qt::DisplayRole:
        return QFileInfo(QString::fromStdString(cols.path(i))).fileName();
    case Qt::DecorationRole:
        if (m_cache) {
            if (const auto* entry = m_cache->find(item))
                return entry->pixmap.isNull() ? m_cache->brokenPlaceholder() : entry->pixmap;
            const_cast<ThumbnailCache*>(m_cache)->request(item);
            return m_cache->placeholder();
        }
        return {};
    case Qt::ToolTipRole: {
        QString tip = QString::fromStdString(cols.path(i));
        if (label >= 0)
            tip += QStringLiteral("\n") + tr("%1: %2").arg(className(label), sourceText(LabelSource(cols.source[i])));
        if (shown.predicted >= 0)
            tip += QStringLiteral("\n") + tr("propagated: %1 (%2)").arg(className(shown.predicted), percent(shown.confidence));
        if (shown.flagged)
            tip += QStringLiteral("\n") + tr("likely mislabeled; suggested: %1").arg(className(shown.suggested));
        if (m_cache)
            if (const auto* entry = m_cache->find(item); entry && !entry->error.isEmpty())
                tip += QStringLiteral("\n") + entry->error;
        return tip;
    }
    case ItemRole:
        return item;
    case PathRole:
        return QString::fromStdString(cols.path(i));
    case LabelRole:
        return label;
    case LabelSourceRole:
        return label >= 0 ? int(cols.source[i]) : -1;
    case PredictedRole:
        return shown.predicted;
    case ConfidenceRole:
        return double(shown.confidence);
    case FlaggedRole:
        return shown.flagged != 0;
    case IssueScoreRole:
        return double(shown.issueScore);
    case SuggestedRole:
        return shown.suggested;
    case ReviewedRole:
        return cols.reviewed[i] != 0;
    case ShownClassNameRole:
        return className(cols.shownClass(i));
    case ShownClassColourRole: {
        const int c = cols.shownClass(i);
        return c >= 0 && c < m_classColours.size() ? m_classColours[c] : QColor();
    }
    case ThumbnailErrorRole:
        if (m_cache)
            if (const auto* entry = m_cache->find(item))
                return entry->error;
        return QString();
    default:
        return {};
    }
}

} // namespace labelprop::ui
