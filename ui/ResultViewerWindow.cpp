#include "ui/ResultViewerWindow.h"

#include "core/results/ResultSnapshot.h"
#include "ui/Tasks.h"
#include "ui/ThumbnailDelegate.h"
#include "ui/ViewGeometry.h"

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QFile>
#include <QFileDialog>
#include <QGuiApplication>
#include <QLabel>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollBar>
#include <QStatusBar>
#include <QThreadPool>
#include <QToolBar>

#include <cstdio>
#include <exception>

namespace labelprop::ui {
namespace {

using SnapshotResult = Expected<std::shared_ptr<const ResultSnapshot>>;
using SourceResult = Expected<std::shared_ptr<const ImageSource>>;

// Worker tasks: a path in, a value out; exceptions stop at the task boundary.
SnapshotResult loadSnapshotTask(std::string path)
{
    return catchErrors(path, [&]() -> SnapshotResult {
        auto loaded = loadResultFolder(path);
        if (!loaded)
            return std::unexpected(loaded.error());
        return std::make_shared<const ResultSnapshot>(std::move(*loaded));
    });
}

SourceResult openSourceTask(std::string path)
{
    return catchErrors(path, [&]() -> SourceResult {
        auto opened = openImageSource(path);
        if (!opened)
            return std::unexpected(opened.error());
        return std::shared_ptr<const ImageSource>(std::move(*opened));
    });
}

std::string localPath(const QString& path)
{
    return QFile::encodeName(path).toStdString();
}

} // namespace

ResultViewerWindow::ResultViewerWindow(QWidget* parent)
    : QMainWindow(parent)
    , m_model(&m_cache)
{
    buildUi();
    m_visibleTimer.setSingleShot(true);
    m_visibleTimer.setInterval(40);
    connect(&m_visibleTimer, &QTimer::timeout, this, &ResultViewerWindow::updateVisibleRange);
    connect(&m_cache, &ThumbnailCache::thumbnailsReady, this, &ResultViewerWindow::checkVisibleReady);
    connect(&m_model, &QAbstractItemModel::modelReset, &m_visibleTimer, qOverload<>(&QTimer::start));
    connect(m_view->verticalScrollBar(), &QScrollBar::valueChanged, &m_visibleTimer, qOverload<>(&QTimer::start));
    m_view->viewport()->installEventFilter(this);
    updateCounts();
}

ResultViewerWindow::~ResultViewerWindow() = default;

void ResultViewerWindow::buildUi()
{
    setWindowTitle(tr("Labelprop"));
    auto* delegate = new ThumbnailDelegate(m_cache.thumbnailSize(), this);
    m_view = new QListView(this);
    m_view->setObjectName(QStringLiteral("itemGrid"));
    m_view->setViewMode(QListView::IconMode);
    m_view->setMovement(QListView::Static);
    m_view->setResizeMode(QListView::Adjust);
    m_view->setUniformItemSizes(true);
    m_view->setLayoutMode(QListView::Batched);
    m_view->setBatchSize(2000);
    m_view->setSpacing(2);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_view->verticalScrollBar()->setSingleStep(delegate->cellSize(m_view->fontMetrics()).height() / 3);
    m_view->setItemDelegate(delegate);
    m_view->setModel(&m_model);
    setCentralWidget(m_view);

    auto* toolbar = addToolBar(tr("View"));
    toolbar->setObjectName(QStringLiteral("viewToolBar"));
    toolbar->setMovable(false);
    toolbar->addWidget(new QLabel(tr("Order: "), toolbar));
    m_order = new QComboBox(toolbar);
    m_order->setObjectName(QStringLiteral("order"));
    m_order->addItem(tr("Most likely wrong first"), int(ResultOrder::MostLikelyWrongFirst));
    m_order->addItem(tr("Least confident first"), int(ResultOrder::LeastConfidentFirst));
    m_order->addItem(tr("By index"), int(ResultOrder::ByIndex));
    toolbar->addWidget(m_order);
    toolbar->addSeparator();
    m_flaggedOnly = new QCheckBox(tr("&Flagged only"), toolbar);
    m_flaggedOnly->setObjectName(QStringLiteral("flaggedOnly"));
    toolbar->addWidget(m_flaggedOnly);
    connect(m_order, &QComboBox::currentIndexChanged, this, &ResultViewerWindow::applyOrder);
    connect(m_flaggedOnly, &QCheckBox::toggled, this, &ResultViewerWindow::applyOrder);

    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open Results…"), QKeySequence::Open, this, &ResultViewerWindow::chooseResults);
    file->addAction(tr("Open Image &Source…"), this, &ResultViewerWindow::chooseSource);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    m_counts = new QLabel(this);
    m_counts->setObjectName(QStringLiteral("counts"));
    m_sourceLabel = new QLabel(this);
    statusBar()->addWidget(m_counts, 1);
    statusBar()->addPermanentWidget(m_sourceLabel);
}

void ResultViewerWindow::chooseResults()
{
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Open a folder with items.csv and result.csv or issues.csv"));
    if (!dir.isEmpty())
        openResults(dir);
}

void ResultViewerWindow::chooseSource()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open the image source the items came from"));
    if (!dir.isEmpty())
        openSource(dir);
}

void ResultViewerWindow::openResults(const QString& path)
{
    const std::uint64_t request = ++m_resultsRequest;
    m_resultsPending = true;
    statusBar()->showMessage(tr("Loading %1…").arg(path));
    auto task = [file = localPath(path)] { return loadSnapshotTask(file); };
    runThen(*QThreadPool::globalInstance(), this, std::move(task), [this, request](SnapshotResult loaded) {
        if (request != m_resultsRequest)
            return; // a newer request superseded this one
        m_resultsPending = false;
        statusBar()->clearMessage();
        if (!loaded) {
            reportError(QString::fromStdString(loaded.error().message));
            return;
        }
        setWindowTitle(tr("%1 — Labelprop").arg(QString::fromStdString((*loaded)->resultPath)));
        m_model.setSnapshot(std::move(*loaded), {});
        applyOrder();
        useSourceIfItFits();
        emit resultsLoaded();
    });
}

void ResultViewerWindow::openSource(const QString& path)
{
    const std::uint64_t request = ++m_sourceRequest;
    m_sourcePending = true;
    m_sourceLabel->setText(tr("Opening %1…").arg(path));
    auto task = [file = localPath(path)] { return openSourceTask(file); };
    runThen(*QThreadPool::globalInstance(), this, std::move(task), [this, request, path](SourceResult opened) {
        if (request != m_sourceRequest)
            return;
        m_sourcePending = false;
        m_sourceLabel->clear();
        m_source = opened ? *opened : nullptr;
        m_sourcePath = path;
        if (!opened)
            reportError(QString::fromStdString(opened.error().message));
        useSourceIfItFits();
        if (opened)
            emit sourceOpened();
        m_visibleTimer.start();
    });
}

void ResultViewerWindow::useSourceIfItFits()
{
    const auto& snapshot = m_model.snapshot();
    if (!m_source || !snapshot) {
        if (!m_source) {
            m_cache.setSource(nullptr);
            if (!m_sourcePending)
                m_sourceLabel->setText(tr("No image source: File > Open Image Source…"));
        }
        return;
    }
    if (auto fits = checkSourceMatches(*snapshot, *m_source); !fits) {
        m_cache.setSource(nullptr);
        m_sourceLabel->setText(tr("No thumbnails: the source does not match the items"));
        reportError(QString::fromStdString(fits.error().message));
        return;
    }
    if (m_cache.source() != m_source)
        m_cache.setSource(m_source);
    m_sourceLabel->setText(tr("Source: %1").arg(m_sourcePath));
    m_sourceLabel->setToolTip(QString::fromStdString(m_source->describe()));
}

void ResultViewerWindow::applyOrder()
{
    if (const auto& snapshot = m_model.snapshot()) {
        const auto by = ResultOrder(m_order->currentData().toInt());
        m_model.setOrder(snapshot->order(by, m_flaggedOnly->isChecked()));
        m_view->scrollToTop();
    }
    updateCounts();
}

void ResultViewerWindow::updateCounts()
{
    const auto& snapshot = m_model.snapshot();
    if (!snapshot) {
        m_counts->setText(tr("No results open: File > Open Results…"));
        return;
    }
    const QLocale locale;
    m_counts->setText(tr("%1 items · %2 results · %3 flagged · showing %4")
                          .arg(locale.toString(qulonglong(snapshot->items.size())),
                               locale.toString(qulonglong(snapshot->entries.size())),
                               locale.toString(qulonglong(snapshot->flaggedCount)),
                               locale.toString(m_model.rowCount())));
}

bool ResultViewerWindow::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_view->viewport() && event->type() == QEvent::Resize)
        m_visibleTimer.start();
    return QMainWindow::eventFilter(watched, event);
}

void ResultViewerWindow::updateVisibleRange()
{
    const auto [first, last] = visibleRowRange(*m_view);
    m_visibleItems.clear();
    for (int row = first; row <= last; ++row)
        m_visibleItems.push_back(m_model.itemAt(row));
    // Prefetch the next screenful, so scrolling down finds thumbnails ready.
    std::vector<int> prefetch;
    for (int row = last + 1; row <= last + (last - first + 1) && row < m_model.rowCount(); ++row)
        prefetch.push_back(m_model.itemAt(row));
    m_cache.prioritize(m_visibleItems, prefetch);
    m_waitingVisible = true;
    checkVisibleReady();
}

void ResultViewerWindow::checkVisibleReady()
{
    if (!m_waitingVisible || m_resultsPending || m_sourcePending)
        return;
    if (m_cache.source())
        for (int item : m_visibleItems)
            if (!m_cache.contains(item))
                return;
    m_waitingVisible = false;
    emit visibleThumbnailsReady();
}

void ResultViewerWindow::reportError(const QString& message)
{
    statusBar()->showMessage(message, 15000);
    emit errorOccurred(message);
    if (QGuiApplication::platformName() == QLatin1String("offscreen")) {
        std::fprintf(stderr, "labelprop: %s\n", qUtf8Printable(message));
        return;
    }
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Labelprop"), message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

} // namespace labelprop::ui
