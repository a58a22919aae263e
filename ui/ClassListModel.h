#pragma once
// ClassListModel: the class palette. One row per class, in display order; columns: hotkey, name
// (with a swatch of its colour), labels given by people (and imported), items propagated to it.
// Hotkeys are the stored ones (1-9, 0 for the first ten), then letters a-z for classes beyond
// those, so 36 classes have a single key.
//
// Thread-safety: GUI thread only.

#include "core/project/ProjectStore.h"

#include <QAbstractTableModel>
#include <QColor>
#include <QString>

#include <cstdint>
#include <vector>

namespace labelprop::ui {

// The key of each class: its stored hotkey, or the next letter not taken. Empty when none is left.
[[nodiscard]] std::vector<QString> effectiveHotkeys(const std::vector<ProjectClass>& classes);

class ClassListModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { HotkeyColumn, NameColumn, PeopleColumn, PropagatedColumn, ColumnCount };
    enum Role { ClassIdRole = Qt::UserRole + 1 };

    explicit ClassListModel(QObject* parent = nullptr);

    // Replaces the classes (resets the model).
    void setClasses(const std::vector<ProjectClass>& classes);
    // Updates the counts (dataChanged on the count columns only). Vectors may be shorter than the classes.
    void setCounts(const std::vector<std::int64_t>& byPeople, const std::vector<std::int64_t>& propagated);
    [[nodiscard]] const std::vector<QString>& hotkeys() const { return m_hotkeys; }

    [[nodiscard]] int rowCount(const QModelIndex& parent = {}) const override;
    [[nodiscard]] int columnCount(const QModelIndex& parent = {}) const override;
    [[nodiscard]] QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    [[nodiscard]] QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Row {
        QString name;
        QColor colour;
        std::int64_t people = 0;
        std::int64_t propagated = 0;
    };
    std::vector<Row> m_rows;
    std::vector<QString> m_hotkeys;
};

} // namespace labelprop::ui
