#include "ui/ItemGridModel.h"

#include "ui/ThumbnailCache.h"
#include "ui/ViewGeometry.h"

#include <algorithm>
#include <stdexcept>

namespace labelprop::ui {
namespace {

QString percent(float value)
{
    return QStringLiteral("%1%").arg(qRound(value * 100.0f));
}

} // namespace

ItemGridModel::ItemGridModel(ThumbnailCache* cache, QObject* parent)
    : QAbstractListModel(parent)
    , m_cache(cache)
{
    if (m_cache)
        connect(m_cache, &ThumbnailCache::thumbnailsReady, this, &ItemGridModel::thumbnailsReady);
}

namespace {

void checkOrder(const ResultSnapshot* snapshot, const std::vector<int32_t>& order)
{
    const size_t entries = snapshot ? snapshot->entries.size() : 0;
    for (int32_t position : order)
        if (position < 0 || size_t(position) >= entries)
            throw std::out_of_range("ItemGridModel: order position out of range");
}

} // namespace

void ItemGridModel::setSnapshot(std::shared_ptr<const ResultSnapshot> snapshot, std::vector<int32_t> order)
{
    checkOrder(snapshot.get(), order);
    beginResetModel();
    m_snapshot = std::move(snapshot);
    m_classNames.clear();
    if (m_snapshot)
        for (const auto& name : m_snapshot->classes.names())
            m_classNames.append(QString::fromStdString(name));
    m_order.clear();
    m_rowOfItem.assign(m_snapshot ? m_snapshot->items.size() : 0, -1);
    applyOrder(std::move(order));
    endResetModel();
}

void ItemGridModel::setOrder(std::vector<int32_t> order)
{
    checkOrder(m_snapshot.get(), order);
    beginResetModel();
    applyOrder(std::move(order));
    endResetModel();
}

void ItemGridModel::applyOrder(std::vector<int32_t> order)
{
    for (int32_t position : m_order)
        m_rowOfItem[size_t(m_snapshot->entries[size_t(position)].item)] = -1;
    m_order = std::move(order);
    for (size_t row = 0; row < m_order.size(); ++row)
        m_rowOfItem[size_t(m_snapshot->entries[size_t(m_order[row])].item)] = int32_t(row);
}

const ResultEntry* ItemGridModel::entryAt(int row) const
{
    if (row < 0 || size_t(row) >= m_order.size())
        return nullptr;
    return &m_snapshot->entries[size_t(m_order[size_t(row)])];
}

int ItemGridModel::itemAt(int row) const
{
    const ResultEntry* entry = entryAt(row);
    return entry ? entry->item : -1;
}

int ItemGridModel::rowOfItem(int item) const
{
    return item >= 0 && size_t(item) < m_rowOfItem.size() ? m_rowOfItem[size_t(item)] : -1;
}

int ItemGridModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(m_order.size());
}

Qt::ItemFlags ItemGridModel::flags(const QModelIndex& index) const
{
    return index.isValid() ? Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren : Qt::NoItemFlags;
}

QVariant ItemGridModel::data(const QModelIndex& index, int role) const
{
    const ResultEntry* entry = index.isValid() && index.column() == 0 ? entryAt(index.row()) : nullptr;
    if (!entry)
        return {};
    const auto name = [this](int32_t id) { return id >= 0 ? m_classNames.value(id) : QString(); };
    switch (role) {
    case Qt::DisplayRole: {
        const QString predicted = entry->predicted >= 0 ? name(entry->predicted) : tr("(not reached)");
        return QStringLiteral("%1 %2").arg(predicted, percent(entry->confidence));
    }
    case Qt::ToolTipRole: {
        const QString path = QString::fromStdString(m_snapshot->items[size_t(entry->item)].path);
        QString tip = tr("Item %1: %2").arg(entry->item).arg(path);
        tip += QLatin1Char('\n') + tr("Given: %1").arg(entry->given >= 0 ? name(entry->given) : tr("(none)"));
        tip += QLatin1Char('\n')
               + tr("Predicted: %1").arg(entry->predicted >= 0 ? name(entry->predicted) : tr("(not reached)"));
        tip += QLatin1Char('\n')
               + tr("Confidence: %1, margin %2").arg(percent(entry->confidence), percent(entry->margin));
        tip += QLatin1Char('\n') + tr("Issue score: %1").arg(double(entry->issueScore), 0, 'f', 3);
        if (entry->flagged)
            tip += QLatin1Char('\n') + tr("Flagged: the given label is likely wrong");
        if (m_cache)
            if (const auto* cached = m_cache->find(entry->item); cached && !cached->error.isEmpty())
                tip += QLatin1Char('\n') + cached->error;
        return tip;
    }
    case Qt::DecorationRole: {
        if (!m_cache)
            return {};
        if (const auto* cached = m_cache->find(entry->item))
            return cached->pixmap.isNull() ? m_cache->brokenPlaceholder() : cached->pixmap;
        m_cache->request(entry->item);
        return m_cache->placeholder();
    }
    case FlaggedRole:
        return entry->flagged;
    case ItemIndexRole:
        return entry->item;
    case PathRole:
        return QString::fromStdString(m_snapshot->items[size_t(entry->item)].path);
    case GivenRole:
        return name(entry->given);
    case PredictedRole:
        return name(entry->predicted);
    case ConfidenceRole:
        return double(entry->confidence);
    case MarginRole:
        return double(entry->margin);
    case IssueScoreRole:
        return double(entry->issueScore);
    default:
        return {};
    }
}

QHash<int, QByteArray> ItemGridModel::roleNames() const
{
    auto names = QAbstractListModel::roleNames();
    names[FlaggedRole] = "flagged";
    names[ItemIndexRole] = "itemIndex";
    names[PathRole] = "path";
    names[GivenRole] = "given";
    names[PredictedRole] = "predicted";
    names[ConfidenceRole] = "confidence";
    names[MarginRole] = "margin";
    names[IssueScoreRole] = "issueScore";
    return names;
}

void ItemGridModel::thumbnailsReady(const QList<int>& items)
{
    std::vector<int> rows;
    rows.reserve(size_t(items.size()));
    for (int item : items)
        if (const int row = rowOfItem(item); row >= 0)
            rows.push_back(row);
    for (const auto& [first, last] : coalescedRowRanges(std::move(rows)))
        emit dataChanged(index(first), index(last), {Qt::DecorationRole, Qt::ToolTipRole});
}

} // namespace labelprop::ui
