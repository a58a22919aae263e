#pragma once
// What the app remembers between runs (QSettings, per user): recent projects, and for each project
// the view a person left it in (order, filter, thumbnail size, current item, selection, scroll),
// plus preferences. The project file holds the labels; this holds only how they were looked at.
//
// Thread-safety: GUI thread only.

#include "ui/ProjectView.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace labelprop::ui {

class AppSettings final {
public:
    [[nodiscard]] static QStringList recentProjects();
    static void addRecentProject(const QString& path); // most recent first, at most 10
    [[nodiscard]] static ViewState viewState(const QString& projectPath);
    static void saveViewState(const QString& projectPath, const ViewState& state);
    [[nodiscard]] static bool advanceAfterLabel();
    static void setAdvanceAfterLabel(bool on);
    // The encoder spec new projects get (EncoderDialog); default "pca:64".
    [[nodiscard]] static QString newProjectEncoder();
    static void setNewProjectEncoder(const QString& spec);

    // The main window's geometry and state (QMainWindow::saveGeometry/saveState: size, position,
    // maximised, docks); empty before the first run.
    [[nodiscard]] static QByteArray windowGeometry();
    [[nodiscard]] static QByteArray windowState();
    static void saveWindow(const QByteArray& geometry, const QByteArray& state);

    static constexpr int kMaxRecent = 10;
    static constexpr int kMaxSavedSelection = 10000; // larger selections are not restored
};

} // namespace labelprop::ui
