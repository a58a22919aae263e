#include "ui/StartPage.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QPushButton>
#include <QVBoxLayout>

namespace labelprop::ui {

StartPage::StartPage(QWidget* parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("startPage"));
    setAcceptDrops(true);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(48, 36, 48, 36);
    auto* title = new QLabel(tr("<h1>Labelprop</h1><p>Label an image collection with a few clicks: every label "
                                "you give spreads to similar images, and labels that look wrong are flagged.</p>"),
                             this);
    title->setWordWrap(true);
    outer->addWidget(title);

    auto* columns = new QGridLayout;
    columns->setHorizontalSpacing(36);
    auto* start = new QVBoxLayout;
    start->addWidget(new QLabel(tr("<h3>Start</h3>"), this));
    const auto button = [&](const QString& text, const QString& name, const QString& tip) {
        auto* b = new QPushButton(text, this);
        b->setObjectName(name);
        b->setToolTip(tip);
        b->setMinimumHeight(b->sizeHint().height() * 3 / 2);
        start->addWidget(b);
        return b;
    };
    auto* folder = button(tr("New project from a &folder…"), QStringLiteral("newFromFolder"),
                          tr("A folder of images, or an ImageFolder tree whose subfolders are the classes"));
    auto* file = button(tr("New project from a &CSV or IDX files…"), QStringLiteral("newFromFile"),
                        tr("A CSV with a path column (and optionally a label column), or MNIST-style IDX files"));
    auto* open = button(tr("&Open project…"), QStringLiteral("openProject"), tr("A .labelprop project file"));
    m_demo = button(tr("Try the &Fashion-MNIST demo"), QStringLiteral("demo"),
                    tr("70,000 small images of clothes in 10 classes, with their labels"));
    start->addWidget(new QLabel(tr("<i>Or drop a folder, a CSV or a project file here.</i>"), this));
    auto* encoderRow = new QHBoxLayout;
    m_encoder = new QLabel(this);
    m_encoder->setObjectName(QStringLiteral("newProjectEncoder"));
    auto* change = new QPushButton(tr("Change…"), this);
    change->setObjectName(QStringLiteral("changeEncoder"));
    change->setToolTip(tr("PCA on pixels, a Vision Transformer checkpoint or a TorchScript module"));
    encoderRow->addWidget(m_encoder, 1);
    encoderRow->addWidget(change);
    start->addLayout(encoderRow);
    connect(change, &QPushButton::clicked, this, &StartPage::encoderChangeRequested);
    start->addStretch(1);
    connect(folder, &QPushButton::clicked, this, [this] { emit newProjectRequested({}); });
    connect(file, &QPushButton::clicked, this, &StartPage::newProjectFromFileRequested);
    connect(open, &QPushButton::clicked, this, [this] { emit openProjectRequested({}); });
    connect(m_demo, &QPushButton::clicked, this, &StartPage::demoRequested);

    auto* recent = new QVBoxLayout;
    recent->addWidget(new QLabel(tr("<h3>Recent projects</h3>"), this));
    m_recent = new QListWidget(this);
    m_recent->setObjectName(QStringLiteral("recentProjects"));
    m_recent->setSpacing(4);
    m_recent->setMaximumWidth(900);
    recent->addWidget(m_recent, 1);
    connect(m_recent, &QListWidget::itemActivated, this,
            [this](QListWidgetItem* item) { emit openProjectRequested(item->data(Qt::UserRole).toString()); });
    columns->addLayout(start, 0, 0);
    columns->addLayout(recent, 0, 1);
    columns->setColumnStretch(1, 1);
    outer->addLayout(columns, 1);
}

void StartPage::setNewProjectEncoder(const QString& spec)
{
    m_encoder->setText(tr("New projects are embedded with <b>%1</b>").arg(spec.toHtmlEscaped()));
    m_encoder->setToolTip(spec);
}

void StartPage::setRecentProjects(const QStringList& paths)
{
    m_recent->clear();
    for (const auto& path : paths) {
        const QFileInfo info(path);
        auto* item = new QListWidgetItem(tr("%1    —    %2").arg(info.completeBaseName(), info.absolutePath()), m_recent);
        QFont bold = item->font();
        bold.setPointSizeF(bold.pointSizeF() * 1.1);
        item->setFont(bold);
        item->setData(Qt::UserRole, path);
        item->setToolTip(path);
        if (!info.exists())
            item->setForeground(palette().color(QPalette::PlaceholderText));
    }
    if (paths.isEmpty())
        new QListWidgetItem(tr("No recent projects yet."), m_recent);
    else
        m_recent->setCurrentRow(0);
}

void StartPage::setDemoAvailable(bool available, const QString& why)
{
    m_demo->setEnabled(available);
    if (!available)
        m_demo->setToolTip(why);
}

void StartPage::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls() && event->mimeData()->urls().constFirst().isLocalFile())
        event->acceptProposedAction();
}

void StartPage::dropEvent(QDropEvent* event)
{
    const QString path = event->mimeData()->urls().constFirst().toLocalFile();
    if (path.endsWith(QStringLiteral(".labelprop")))
        emit openProjectRequested(path);
    else
        emit newProjectRequested(path);
    event->acceptProposedAction();
}

} // namespace labelprop::ui
