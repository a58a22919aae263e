#include "ui/Overlays.h"

#include <QAction>
#include <QEvent>
#include <QKeyEvent>
#include <QLabel>
#include <QPainter>
#include <QScrollArea>
#include <QVBoxLayout>

namespace labelprop::ui {

OverlayPanel::OverlayPanel(QWidget* parent)
    : QFrame(parent)
{
    setFocusPolicy(Qt::StrongFocus);
    setAutoFillBackground(false);
    hide();
    parent->installEventFilter(this);
}

void OverlayPanel::showOver()
{
    setGeometry(parentWidget()->rect());
    show();
    raise();
    setFocus();
}

bool OverlayPanel::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == parentWidget() && event->type() == QEvent::Resize)
        setGeometry(parentWidget()->rect());
    return QFrame::eventFilter(watched, event);
}

void OverlayPanel::keyPressEvent(QKeyEvent* event)
{
    if (event->key() == Qt::Key_Escape || event->key() == Qt::Key_F1 || event->key() == Qt::Key_Space) {
        hide();
        if (parentWidget())
            parentWidget()->setFocus();
        event->accept();
        return;
    }
    QFrame::keyPressEvent(event);
}

void OverlayPanel::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    p.fillRect(rect(), QColor(20, 20, 24, 225));
}

ShortcutSheet::ShortcutSheet(QWidget* parent)
    : OverlayPanel(parent)
{
    setObjectName(QStringLiteral("shortcutSheet"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(40, 30, 40, 30);
    m_text = new QLabel(this);
    m_text->setTextFormat(Qt::RichText);
    m_text->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_text->setWordWrap(true);
    auto* scroll = new QScrollArea(this);
    scroll->setWidget(m_text);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setStyleSheet(QStringLiteral("background: transparent; color: #f0f0f0;"));
    layout->addWidget(scroll);
}

void ShortcutSheet::setActions(const QList<QPair<QString, QList<QAction*>>>& groups, const QString& extra)
{
    QString html = tr("<h2>Keyboard shortcuts</h2><table cellspacing=0 cellpadding=3><tr>");
    int column = 0;
    for (const auto& [title, actions] : groups) {
        QString rows;
        for (const auto* a : actions) {
            QStringList keys;
            for (const auto& k : a->shortcuts())
                keys << k.toString(QKeySequence::NativeText).toHtmlEscaped();
            if (keys.isEmpty())
                continue;
            QString text = a->text();
            text.remove(QLatin1Char('&'));
            rows += QStringLiteral("<tr><td align=right><b><tt>%1</tt></b></td><td>%2</td></tr>")
                        .arg(keys.join(QStringLiteral(", ")), text.toHtmlEscaped());
        }
        if (rows.isEmpty())
            continue;
        html += QStringLiteral("<td valign=top style='padding-right:36px'><h3>%1</h3><table>%2</table></td>")
                    .arg(title.toHtmlEscaped(), rows);
        if (++column % 3 == 0)
            html += QStringLiteral("</tr><tr>");
    }
    html += QStringLiteral("</tr></table><p>%1</p><p><i>%2</i></p>").arg(extra, tr("F1 or Escape closes this sheet."));
    m_text->setText(html);
}

PreviewPanel::PreviewPanel(QWidget* parent)
    : OverlayPanel(parent)
{
    setObjectName(QStringLiteral("preview"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(24, 24, 24, 24);
    m_image = new QLabel(this);
    m_image->setAlignment(Qt::AlignCenter);
    m_image->setMinimumSize(1, 1);
    m_caption = new QLabel(this);
    m_caption->setAlignment(Qt::AlignCenter);
    m_caption->setStyleSheet(QStringLiteral("color: #f0f0f0;"));
    m_caption->setWordWrap(true);
    layout->addWidget(m_image, 1);
    layout->addWidget(m_caption);
}

void PreviewPanel::setImage(const QImage& image, const QString& caption)
{
    m_source = image;
    m_caption->setText(caption);
    rescale();
}

void PreviewPanel::setMessage(const QString& text)
{
    m_source = {};
    m_image->setPixmap({});
    m_image->setText(text);
    m_image->setStyleSheet(QStringLiteral("color: #f0f0f0;"));
}

QString PreviewPanel::caption() const
{
    return m_caption->text();
}

void PreviewPanel::keyPressEvent(QKeyEvent* event)
{
    switch (event->key()) {
    case Qt::Key_Left:
    case Qt::Key_Up:
        emit stepRequested(-1);
        event->accept();
        return;
    case Qt::Key_Right:
    case Qt::Key_Down:
        emit stepRequested(1);
        event->accept();
        return;
    default:
        OverlayPanel::keyPressEvent(event);
    }
}

void PreviewPanel::resizeEvent(QResizeEvent* event)
{
    OverlayPanel::resizeEvent(event);
    rescale();
}

void PreviewPanel::rescale()
{
    if (m_source.isNull())
        return;
    const QSize room = m_image->size();
    // Small images (28 x 28) are enlarged without smoothing, so their pixels stay visible.
    const bool small = m_source.width() * 4 <= room.width() && m_source.height() * 4 <= room.height();
    m_image->setPixmap(QPixmap::fromImage(m_source.scaled(room, Qt::KeepAspectRatio,
                                                           small ? Qt::FastTransformation : Qt::SmoothTransformation)));
}

} // namespace labelprop::ui
