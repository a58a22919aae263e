#pragma once
// ClassPalette: the classes with their colours, keys and counts (people / propagated). Clicking a
// class labels the selection with it, as its key does; "Add class" asks for a name; the context
// menu renames, recolours, sets the key of, or merges a class (all undoable, in the store).
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
    // From the context menu (each asks with a dialog first).
    void renameRequested(int classId, const QString& name);
    void colourRequested(int classId, const QString& colour); // "#rrggbb"
    void hotkeyRequested(int classId, const QString& key);
    void mergeRequested(int fromClassId, int intoClassId);

private:
    void showMenu(const QPoint& at);

    ClassListModel m_model;
    QTableView* m_view = nullptr;
};

} // namespace labelprop::ui
