#pragma once
// MainWindow: the labeling app's window. It holds the start page or an open project (the grid, the
// class palette, the status bar) and the actions; the work is elsewhere: ProjectSession (store and
// engine workers), ProjectView (grid, order, filters), ClassPalette, ThumbnailCache, the overlays.
//
// Keyboard first: the grid has focus when a project opens; 1-9, 0 and then letters label the
// selection with a class; Return accepts the propagated labels of the selection; Delete removes
// labels; Ctrl+Z / Ctrl+Shift+Z undo and redo (persisted); F5 re-sorts; Space previews; F1 lists
// every shortcut.
//
// Thread-safety: GUI thread only.

#include "ui/ProjectSession.h"
#include "ui/ThumbnailCache.h"

#include <QMainWindow>
#include <QTimer>

#include <functional>
#include <vector>

class QAction;
class QMenu;
class QLabel;
class QStackedWidget;
class QDockWidget;

namespace labelprop::ui {

class ClassPalette;
class PreviewPanel;
class ProgressPanel;
class ProjectView;
class ShortcutSheet;
class StartPage;

// The Fashion-MNIST demo's class names, in label order (from the app's resources).
[[nodiscard]] QStringList fashionMnistClasses();

class MainWindow final : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Opens a project file (asynchronous: projectOpened() or errorShown() follows).
    void openProject(const QString& path);
    // Starts a new project for an image source: a folder, an ImageFolder tree, a CSV or IDX files.
    // The project file is `project`, or SOURCE.labelprop beside the source (opened if it exists).
    void newProject(const QString& source, const QString& project = {}, const QStringList& classNames = {});
    void openDemo();
    void showShortcuts();
    // Whether a new project file can be written in a folder (default: a temporary file can be made
    // there). Tests replace it: as root, no folder is read-only.
    void setFolderWritableCheck(std::function<bool(const QString&)> check) { m_canWriteIn = std::move(check); }
    // Where projects go whose images sit in a folder that cannot be written.
    [[nodiscard]] static QString projectsFolder();
    // Switches the open project to encoder `spec` (an encoder spec, EncoderDialog): closes it, saves
    // the setting, and opens it again, which embeds the images (progress, time left, Cancel). When
    // that open fails or is cancelled, the project goes back to its previous encoder.
    void changeEncoder(const QString& spec);

    [[nodiscard]] ProjectSession& session() { return m_session; }
    [[nodiscard]] ProjectView* projectView() const { return m_view; }
    [[nodiscard]] ClassPalette* palette() const { return m_palette; }
    [[nodiscard]] QAction* action(const QString& name) const;
    [[nodiscard]] QString lastError() const { return m_lastError; }

signals:
    void projectOpened();
    void visibleThumbnailsReady();
    void errorShown(const QString& message);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildActions();
    void buildProjectUi();
    void showError(const QString& message);
    void sessionOpened();
    void rebuildClassActions();
    void labelSelection(int classId);
    void updateCounts();
    void updateUndoActions();
    void showPreview();
    // The preview follows the current item: Left/Right (and Up/Down) step through the grid.
    void stepPreview(int steps);
    void labelKeysActOnGridOnly(QAction* action);
    void exportLabels();
    void chooseFolder();
    void chooseFile();
    void chooseProject();
    void showStartPage();
    void chooseEncoder();
    void chooseNewProjectEncoder();
    // Writes `spec` into project `path` off the GUI thread, then opens it.
    void writeEncoderThenOpen(const QString& path, const QString& spec, const QString& failurePrefix);

    ProjectSession m_session;
    ThumbnailCache m_cache;
    QStackedWidget* m_stack = nullptr;
    StartPage* m_start = nullptr;
    ProjectView* m_view = nullptr;
    ClassPalette* m_palette = nullptr;
    QDockWidget* m_paletteDock = nullptr;
    ProgressPanel* m_progress = nullptr;
    QLabel* m_counts = nullptr;
    QLabel* m_encoder = nullptr;          // the project's encoder and where it runs
    QLabel* m_banner = nullptr;
    ShortcutSheet* m_sheet = nullptr;
    PreviewPanel* m_preview = nullptr;
    QMenu* m_labelMenu = nullptr;         // the class actions are added to it
    std::vector<QAction*> m_classActions;
    QString m_lastError;
    QString m_pendingProject; // being created, then opened
    // The encoder a project had before changeEncoder(): restored when the new one fails to open.
    struct EncoderFallback {
        QString project, spec;
    };
    std::optional<EncoderFallback> m_encoderFallback;
    std::shared_ptr<std::atomic<bool>> m_createCancel;
    std::function<bool(const QString&)> m_canWriteIn;
    // A project file for `source` somewhere writable, asking the person when the folder beside the
    // images cannot be written; empty when they cancel.
    [[nodiscard]] QString writableProjectPath(const QString& besideSource);
    QTimer m_countsTimer;     // coalesces count updates
    QTimer m_stateTimer;      // debounces saving the view state
    QTimer m_saveTimer;       // saves the live propagation when labeling pauses
};

} // namespace labelprop::ui
