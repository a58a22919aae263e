#pragma once
// ProgressPanel: a long job's stage, a progress bar, the time left and Cancel, in the status bar.
// The time left is estimated per stage from the fraction done and the time the stage has run.
//
// Thread-safety: GUI thread only.

#include <QElapsedTimer>
#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace labelprop::ui {

class ProgressPanel final : public QWidget {
    Q_OBJECT
public:
    explicit ProgressPanel(QWidget* parent = nullptr);
    // Shows the panel; a new stage restarts the estimate.
    void report(const QString& stage, double fraction);
    void finish();

signals:
    void cancelRequested();

private:
    QLabel* m_stage = nullptr;
    QProgressBar* m_bar = nullptr;
    QPushButton* m_cancel = nullptr;
    QString m_current;
    QElapsedTimer m_clock;
};

} // namespace labelprop::ui
