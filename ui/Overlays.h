#pragma once
// Panels drawn over the main window's content (so a screenshot of the window shows them):
//   ShortcutSheet  F1: every action with its shortcut, generated from the actions themselves;
//   PreviewPanel   Space: the current item large, with its path, label, confidence and flag; the
//                  arrow keys step to the neighbouring items of the grid (stepRequested()).
// Escape or the key that opened a panel closes it. Both follow their parent's size.
//
// Thread-safety: GUI thread only.

#include <QFrame>
#include <QImage>
#include <QList>

class QAction;
class QLabel;

namespace labelprop::ui {

class OverlayPanel : public QFrame {
    Q_OBJECT
public:
    explicit OverlayPanel(QWidget* parent);
    void showOver();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void paintEvent(QPaintEvent* event) override;
};

class ShortcutSheet final : public OverlayPanel {
    Q_OBJECT
public:
    explicit ShortcutSheet(QWidget* parent);
    // One row per action with a shortcut, grouped under `group` titles in order.
    void setActions(const QList<QPair<QString, QList<QAction*>>>& groups, const QString& extra);

private:
    QLabel* m_text = nullptr;
};

class PreviewPanel final : public OverlayPanel {
    Q_OBJECT
public:
    explicit PreviewPanel(QWidget* parent);
    void setImage(const QImage& image, const QString& caption);
    void setMessage(const QString& text);
    [[nodiscard]] QString caption() const;

signals:
    // Left/Up: -1, Right/Down: +1; the window moves the current item and shows it here.
    void stepRequested(int steps);

protected:
    void keyPressEvent(QKeyEvent* event) override;

private:
    QLabel* m_image = nullptr;
    QLabel* m_caption = nullptr;
    QImage m_source;
    void resizeEvent(QResizeEvent* event) override;
    void rescale();
};

} // namespace labelprop::ui
