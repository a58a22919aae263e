#include "ui/ProgressPanel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>

namespace labelprop::ui {

ProgressPanel::ProgressPanel(QWidget* parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("progressPanel"));
    m_stage = new QLabel(this);
    m_bar = new QProgressBar(this);
    m_bar->setRange(0, 1000);
    m_bar->setTextVisible(false);
    m_bar->setMaximumWidth(220);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setObjectName(QStringLiteral("cancel"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_stage);
    layout->addWidget(m_bar);
    layout->addWidget(m_cancel);
    connect(m_cancel, &QPushButton::clicked, this, &ProgressPanel::cancelRequested);
    hide();
}

void ProgressPanel::report(const QString& stage, double fraction)
{
    if (stage != m_current) {
        m_current = stage;
        m_clock.start();
    }
    fraction = std::clamp(fraction, 0.0, 1.0);
    m_bar->setValue(int(fraction * 1000));
    QString left;
    const double elapsed = m_clock.elapsed() / 1000.0;
    if (fraction > 0.02 && elapsed > 0.5) {
        const double remaining = elapsed * (1.0 - fraction) / fraction;
        left = remaining < 60 ? tr(", about %1 s left").arg(qRound(remaining))
                              : tr(", about %1 min left").arg(qRound(remaining / 60));
    }
    m_stage->setText(tr("%1: %2%%3").arg(stage).arg(qRound(fraction * 100)).arg(left));
    show();
}

void ProgressPanel::finish()
{
    m_current.clear();
    hide();
}

} // namespace labelprop::ui
