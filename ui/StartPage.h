#pragma once
// StartPage: what `labelprop` shows without a project: recent projects, "New project" from a
// folder (plain or ImageFolder tree), a CSV of paths or IDX files, "Open project", and the
// Fashion-MNIST demo in one click. Dropping a project file opens it; dropping a folder, a CSV or
// an IDX file starts a new project for it.
//
// Thread-safety: GUI thread only.

#include <QStringList>
#include <QWidget>

class QLabel;
class QListWidget;
class QPushButton;

namespace labelprop::ui {

class StartPage final : public QWidget {
    Q_OBJECT
public:
    explicit StartPage(QWidget* parent = nullptr);

    void setRecentProjects(const QStringList& paths);
    // Whether the demo data set (Debian's dataset-fashion-mnist) is installed.
    void setDemoAvailable(bool available, const QString& why);
    // The encoder spec new projects get, shown under the buttons with a Change… button.
    void setNewProjectEncoder(const QString& spec);

signals:
    void openProjectRequested(const QString& path); // empty: ask with a file dialog
    void newProjectRequested(const QString& source); // empty: ask with a file dialog
    void newProjectFromFileRequested();              // a CSV or IDX file, asked with a dialog
    void demoRequested();
    void encoderChangeRequested();

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    QListWidget* m_recent = nullptr;
    QPushButton* m_demo = nullptr;
    QLabel* m_encoder = nullptr;
};

} // namespace labelprop::ui
