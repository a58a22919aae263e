#include "ui/ClassListModel.h"

#include <QLocale>
#include <QPixmap>

#include <set>

namespace labelprop::ui {

std::vector<QString> effectiveHotkeys(const std::vector<ProjectClass>& classes)
{
    std::set<QString> taken;
    for (const auto& c : classes)
        if (!c.hotkey.empty())
            taken.insert(QString::fromStdString(c.hotkey).toLower());
    std::vector<QString> keys;
    char next = 'a';
    for (const auto& c : classes) {
        if (!c.hotkey.empty()) {
            keys.push_back(QString::fromStdString(c.hotkey));
            continue;
        }
        while (next <= 'z' && taken.contains(QString(QChar(next))))
            ++next;
        keys.push_back(next <= 'z' ? QString(QChar(next++)) : QString());
    }
    return keys;
}

ClassListModel::ClassListModel(QObject* parent)
    : QAbstractTableModel(parent)
{
}

void ClassListModel::setClasses(const std::vector<ProjectClass>& classes)
{
    beginResetModel();
    std::vector<Row> rows;
    for (std::size_t i = 0; i < classes.size(); ++i) {
        Row r;
        r.name = QString::fromStdString(classes[i].name);
        r.colour = QColor(QString::fromStdString(classes[i].colour));
        if (i < m_rows.size()) {
            r.people = m_rows[i].people;
            r.propagated = m_rows[i].propagated;
        }
        rows.push_back(r);
    }
    m_rows = std::move(rows);
    m_hotkeys = effectiveHotkeys(classes);
    endResetModel();
}

void ClassListModel::setCounts(const std::vector<std::int64_t>& byPeople, const std::vector<std::int64_t>& propagated)
{
    if (m_rows.empty())
        return;
    for (std::size_t i = 0; i < m_rows.size(); ++i) {
        m_rows[i].people = i < byPeople.size() ? byPeople[i] : 0;
        m_rows[i].propagated = i < propagated.size() ? propagated[i] : 0;
    }
    emit dataChanged(index(0, PeopleColumn), index(int(m_rows.size()) - 1, PropagatedColumn), {Qt::DisplayRole});
}

int ClassListModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int ClassListModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ClassListModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.model() != this || index.row() >= int(m_rows.size()))
        return {};
    const auto& r = m_rows[std::size_t(index.row())];
    if (role == ClassIdRole)
        return index.row();
    switch (index.column()) {
    case HotkeyColumn:
        if (role == Qt::DisplayRole)
            return m_hotkeys[std::size_t(index.row())];
        if (role == Qt::TextAlignmentRole)
            return int(Qt::AlignCenter);
        break;
    case NameColumn:
        if (role == Qt::DisplayRole || role == Qt::EditRole)
            return r.name;
        if (role == Qt::DecorationRole)
            return r.colour;
        break;
    case PeopleColumn:
    case PropagatedColumn:
        if (role == Qt::DisplayRole)
            return QLocale().toString(qlonglong(index.column() == PeopleColumn ? r.people : r.propagated));
        if (role == Qt::TextAlignmentRole)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    default:
        break;
    }
    if (role == Qt::ToolTipRole)
        return tr("%1: press %2 to label the selection. %3 labeled, %4 propagated.")
            .arg(r.name, m_hotkeys[std::size_t(index.row())].isEmpty() ? tr("(no key)") : m_hotkeys[std::size_t(index.row())])
            .arg(r.people)
            .arg(r.propagated);
    return {};
}

QVariant ClassListModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case HotkeyColumn:
        return tr("Key");
    case NameColumn:
        return tr("Class");
    case PeopleColumn:
        return tr("Labeled");
    case PropagatedColumn:
        return tr("Propagated");
    default:
        return {};
    }
}

} // namespace labelprop::ui
