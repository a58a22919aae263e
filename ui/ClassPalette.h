#pragma once
// ClassPalette: the classes with their colours, keys and counts (people / propagated). Clicking a
// class labels the selection with it, as its key does; "Add class" asks for a name.
//
// Thread-safety: GUI thread only.

#include "ui/ClassListModel.h"

#include <QWidget>

class QTableView;

namespace labelprop::ui {

class ClassPalette final : public QWidget {
    Q_OBJECT
public:
    explicit ClassPalette(QWidget* parent = nullptr);
    [[nodiscard]] ClassListModel& model() { return m_model; }
    [[nodiscard]] QTableView* view() const { return m_view; }

signals:
    void classClicked(int classId);
    void addClassRequested(const QString& name);

private:
    ClassListModel m_model;
    QTableView* m_view = nullptr;
};

} // namespace labelprop::ui
