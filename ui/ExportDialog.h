#pragma once
// File > Export (Ctrl+E): the store's exports (core/project/ProjectExport.h) with their options, and
// what they will write, per class, before anything is written. The counts come from the project as
// the window shows it (the session saves the shown propagation first) and follow every option.
// Writing runs on the session's store worker (atomic: written aside and renamed); a folder that
// cannot be written, a name that exists and a failed write are said in the dialog, which stays
// open, and nothing written before is lost.
//
// The options are the CLI's, so `labelprop-cli project export` writes the same file:
//   format            --format csv|json|imagefolder (and --link for a tree)
//   imported labels   --no-imported when off
//   accepted fixes    --include human when off, fixed when on
//   propagated >= T   --include pseudo:T
//   flagged           --flagged mark|drop|keep
//   unreadable files  --unreadable drop|mark
//
// Thread-safety: GUI thread only.

#include "core/project/ProjectExport.h"

#include <QDialog>
#include <QTimer>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace labelprop::ui {

class ProjectSession;

class ExportDialog final : public QDialog {
    Q_OBJECT
public:
    // `suggestedFile`: where the file goes unless the person picks another place.
    ExportDialog(ProjectSession* session, const QString& suggestedFile, QWidget* parent = nullptr);

    [[nodiscard]] ExportOptions options() const;
    [[nodiscard]] QString file() const;
    // The summary line above the table ("Will write ..."), and the message of a failed write.
    [[nodiscard]] QString summary() const;
    [[nodiscard]] QString error() const;
    // Whether the counts shown are those of the options now (no preview on its way).
    [[nodiscard]] bool previewCurrent() const { return !m_previewTimer.isActive() && m_previewsPending == 0; }
    // The equivalent command line, shown under the options.
    [[nodiscard]] QString commandLine() const;

signals:
    void written(const QString& file, const ExportReport& report);

private:
    void optionsChanged();
    void requestPreview();
    void showPreview(const ExportPreview& preview);
    void showError(const QString& message);
    void chooseFile();
    void startWriting();
    // Why `file()` cannot be written with the options now (one sentence), or empty; asks before
    // replacing a file or an earlier export.
    [[nodiscard]] QString checkTarget();

    ProjectSession* m_session;
    QLineEdit* m_file = nullptr;
    QComboBox* m_format = nullptr;
    QComboBox* m_link = nullptr;
    QCheckBox* m_imported = nullptr;
    QCheckBox* m_fixes = nullptr;
    QCheckBox* m_pseudo = nullptr;
    QDoubleSpinBox* m_threshold = nullptr;
    QComboBox* m_flagged = nullptr;
    QComboBox* m_unreadable = nullptr;
    QLabel* m_summary = nullptr;
    QLabel* m_command = nullptr;
    QLabel* m_error = nullptr;
    QTableWidget* m_table = nullptr;
    QProgressBar* m_busy = nullptr;
    QPushButton* m_write = nullptr;
    QTimer m_previewTimer; // debounces option changes
    int m_previewsPending = 0;
    bool m_writing = false;
};

} // namespace labelprop::ui
