#include "ui/MainWindow.h"

#include "core/project/ProjectCreate.h"
#include "ui/AppSettings.h"
#include "ui/ClassPalette.h"
#include "ui/EncoderDialog.h"
#include "ui/ExportDialog.h"
#include "ui/Overlays.h"
#include "ui/ProgressPanel.h"
#include "ui/ProjectView.h"
#include "ui/StartPage.h"
#include "ui/Tasks.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QListView>
#include <QLocale>
#include <QMenuBar>
#include <QMetaObject>
#include <QPointer>
#include <QStackedWidget>
#include <QStandardPaths>
#include <QCryptographicHash>
#include <QMessageBox>
#include <QPushButton>
#include <QTemporaryFile>
#include <QScreen>
#include <QStatusBar>
#include <QTableView>
#include <QThreadPool>
#include <QVBoxLayout>

#include <opencv2/core.hpp>

// The resources (the demo's class names) live in the static labelprop_ui library, whose
// initialiser the linker drops unless it is referenced: without this the demo's classes were
// named "0" to "9".
static void initUiResources()
{
    Q_INIT_RESOURCE(labelprop);
}

namespace labelprop::ui {

namespace {
// Whether this build has the LibTorch encoders (vit:, torchscript:); the ui never links LibTorch.
constexpr bool kTorchAvailable = LABELPROP_WITH_TORCH;
} // namespace


namespace {

constexpr auto kDemoSource = "/usr/share/datasets/fashion-mnist";
constexpr qint64 kThumbnailBytes = qint64(256) << 20; // in memory; about 7,000 tiles of 96 x 96
constexpr float kConfidentAbove = ProjectSession::kConfidentAbove;

// The encoder as the status bar shows it: a model file by its name, with every option kept (the
// options make a different encoder: "pca:64,rgb" is not "pca:64").
QString shortEncoderSpec(const QString& spec)
{
    const int colon = spec.indexOf(QLatin1Char(':'));
    if (colon < 0)
        return spec;
    const QString head = spec.mid(colon + 1).section(QLatin1Char(','), 0, 0);
    const QString rest = spec.mid(colon + 1).section(QLatin1Char(','), 1);
    QString out = spec.left(colon + 1) + QFileInfo(head).fileName();
    if (!rest.isEmpty())
        out += QLatin1Char(',') + rest;
    return out;
}

// `text` as a whole sentence (a final full stop), so messages joined one after another read as
// sentences, not as one run-on line.
QString sentence(QString text)
{
    text = text.trimmed();
    if (!text.isEmpty() && !text.endsWith(QLatin1Char('.')) && !text.endsWith(QLatin1Char('!')) && !text.endsWith(QLatin1Char('?')))
        text += QLatin1Char('.');
    return text;
}

// Keys of one action without repeats: QKeySequence::Redo is Ctrl+Shift+Z on X11, and the same
// sequence twice made Qt call the shortcut ambiguous and do nothing.
QList<QKeySequence> uniqueKeys(const QList<QKeySequence>& keys)
{
    QList<QKeySequence> out;
    for (const auto& k : keys)
        if (!k.isEmpty() && !out.contains(k))
            out.append(k);
    return out;
}

std::string localPath(const QString& path)
{
    return QFile::encodeName(path).toStdString();
}

QString demoProjectPath()
{
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    QDir().mkpath(dir);
    return dir + QStringLiteral("/fashion-mnist-demo.labelprop");
}

} // namespace

QStringList fashionMnistClasses()
{
    initUiResources();
    QFile f(QStringLiteral(":/labelprop/fashion-mnist.classes"));
    QStringList names;
    if (f.open(QIODevice::ReadOnly))
        for (const auto& line : QString::fromUtf8(f.readAll()).split(QLatin1Char('\n')))
            if (!line.trimmed().isEmpty())
                names << line.trimmed();
    return names;
}

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent)
    , m_cache(QSize(96, 96), 1024)
{
    setWindowTitle(tr("Labelprop"));
    m_cache.setByteBudget(kThumbnailBytes);
    m_stack = new QStackedWidget(this);
    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    m_banner = new QLabel(central);
    m_banner->setObjectName(QStringLiteral("errorBanner"));
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->setStyleSheet(QStringLiteral("QLabel { background: #fdecea; color: #611a15; padding: 8px; "
                                           "border-bottom: 1px solid #f5c6cb; }"));
    m_banner->hide();
    layout->addWidget(m_banner);
    layout->addWidget(m_stack, 1);
    setCentralWidget(central);

    m_start = new StartPage(m_stack);
    m_stack->addWidget(m_start);
    m_start->setRecentProjects(AppSettings::recentProjects());
    m_start->setDemoAvailable(QFileInfo::exists(QString::fromLatin1(kDemoSource)),
                              tr("Install Debian's dataset-fashion-mnist package for the demo."));
    connect(m_start, &StartPage::openProjectRequested, this, [this](const QString& p) {
        p.isEmpty() ? chooseProject() : openProject(p);
    });
    connect(m_start, &StartPage::newProjectRequested, this, [this](const QString& s) {
        s.isEmpty() ? chooseFolder() : newProject(s);
    });
    connect(m_start, &StartPage::newProjectFromFileRequested, this, &MainWindow::chooseFile);
    connect(m_start, &StartPage::encoderChangeRequested, this, &MainWindow::chooseNewProjectEncoder);
    m_start->setNewProjectEncoder(AppSettings::newProjectEncoder());
    connect(m_start, &StartPage::demoRequested, this, &MainWindow::openDemo);

    m_progress = new ProgressPanel(this);
    m_counts = new QLabel(this);
    m_counts->setObjectName(QStringLiteral("counts"));
    statusBar()->addWidget(m_counts, 1);
    m_encoder = new QLabel(this);
    m_encoder->setObjectName(QStringLiteral("encoderStatus"));
    statusBar()->addPermanentWidget(m_encoder);
    statusBar()->addPermanentWidget(m_progress);
    connect(m_progress, &ProgressPanel::cancelRequested, this, [this] {
        if (m_createCancel)
            m_createCancel->store(true);
        m_session.cancelOpen();
    });

    buildProjectUi();
    buildActions();
    m_sheet = new ShortcutSheet(central);
    m_preview = new PreviewPanel(central);
    connect(m_preview, &PreviewPanel::stepRequested, this, &MainWindow::stepPreview);

    connect(&m_session, &ProjectSession::progress, m_progress, &ProgressPanel::report);
    connect(&m_session, &ProjectSession::opened, this, &MainWindow::sessionOpened);
    connect(&m_session, &ProjectSession::failed, this, [this](const QString& message) {
        m_progress->finish();
        if (m_encoderFallback && m_encoderFallback->project == m_session.projectPath()) {
            // The new encoder could not embed the project (or the person cancelled): back to the old one.
            const auto fallback = *std::exchange(m_encoderFallback, std::nullopt);
            showStartPage();
            showError(sentence(message) + QLatin1Char(' ') + tr("The project keeps its encoder %1.").arg(fallback.spec));
            writeEncoderThenOpen(fallback.project, fallback.spec, tr("Could not go back to the encoder %1").arg(fallback.spec));
            return;
        }
        if (!m_pendingProject.isEmpty() && m_pendingProject == m_session.projectPath()) {
            // A project this window made never opened (cancelled while embedding, or the images could
            // not be embedded): nothing a person did is in it, so it leaves no file behind.
            const auto made = std::exchange(m_pendingProject, QString());
            m_session.runAfterClose([file = localPath(made)] { removeProjectFiles(file); return true; }, [](bool) {});
        }
        showError(message);
        showStartPage();
    });
    connect(&m_session, &ProjectSession::storeError, this, &MainWindow::showError);
    connect(&m_session, &ProjectSession::message, this, [this](const QString& text) { statusBar()->showMessage(text, 6000); });
    connect(&m_session, &ProjectSession::classesChanged, this, [this] {
        rebuildClassActions();
        m_view->classesChanged();
        m_countsTimer.start();
    });
    connect(&m_session, &ProjectSession::undoStateChanged, this, &MainWindow::updateUndoActions);
    connect(&m_session, &ProjectSession::labelsChanged, &m_countsTimer, qOverload<>(&QTimer::start));
    connect(&m_session, &ProjectSession::propagationChanged, &m_countsTimer, qOverload<>(&QTimer::start));
    connect(&m_session, &ProjectSession::propagationChanged, &m_saveTimer, qOverload<>(&QTimer::start));
    connect(&m_session, &ProjectSession::exported, this, [this](const QString& file, const ExportReport& r) {
        statusBar()->showMessage(tr("Wrote %1: %2 labels (%3 flagged items marked)")
                                     .arg(file, QLocale().toString(qlonglong(r.written)))
                                     .arg(r.flaggedMarked),
                                 10000);
    });
    m_countsTimer.setSingleShot(true);
    m_countsTimer.setInterval(50);
    connect(&m_countsTimer, &QTimer::timeout, this, &MainWindow::updateCounts);
    m_stateTimer.setSingleShot(true);
    m_stateTimer.setInterval(500);
    connect(&m_stateTimer, &QTimer::timeout, this, [this] {
        if (m_session.isOpen())
            AppSettings::saveViewState(m_session.projectPath(), m_view->state());
    });
    m_saveTimer.setSingleShot(true);
    m_saveTimer.setInterval(3000);
    connect(&m_saveTimer, &QTimer::timeout, this, [this] {
        if (m_session.engineIdle())
            m_session.saveLivePropagation();
        else
            m_saveTimer.start();
    });
    m_cache.setThumbnailSize(QSize(96, 96));
    m_cache.setDevicePixelRatio(qApp->devicePixelRatio()); // sharp thumbnails at 2x
    showStartPage();
    // The first window fits the screen with room to spare (a 1366 x 768 laptop must see the status
    // bar with its progress and Cancel); later ones come back as they were left, maximised included.
    const QRect screen = this->screen() ? this->screen()->availableGeometry() : QRect(0, 0, 1366, 768);
    if (!restoreGeometry(AppSettings::windowGeometry()))
        resize(std::min(1280, screen.width() * 9 / 10), std::min(860, screen.height() * 85 / 100));
    else if (!isMaximized() && (width() > screen.width() || height() > screen.height()))
        resize(std::min(width(), screen.width() * 9 / 10), std::min(height(), screen.height() * 85 / 100)); // a smaller screen now
    restoreState(AppSettings::windowState());
}

MainWindow::~MainWindow() = default;

void MainWindow::buildProjectUi()
{
    m_view = new ProjectView(&m_session, &m_cache, m_stack);
    m_stack->addWidget(m_view);
    m_palette = new ClassPalette(this);
    m_paletteDock = new QDockWidget(tr("Classes"), this);
    m_paletteDock->setObjectName(QStringLiteral("classesDock"));
    m_paletteDock->setWidget(m_palette);
    m_paletteDock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    addDockWidget(Qt::RightDockWidgetArea, m_paletteDock);
    connect(m_palette, &ClassPalette::classClicked, this, &MainWindow::labelSelection);
    connect(m_palette, &ClassPalette::addClassRequested, &m_session, &ProjectSession::addClass);
    connect(m_palette, &ClassPalette::renameRequested, &m_session, &ProjectSession::renameClass);
    connect(m_palette, &ClassPalette::colourRequested, &m_session, &ProjectSession::setClassColour);
    connect(m_palette, &ClassPalette::hotkeyRequested, &m_session, &ProjectSession::setClassHotkey);
    connect(m_palette, &ClassPalette::mergeRequested, &m_session, &ProjectSession::mergeClass);
    connect(m_view, &ProjectView::stateChanged, &m_stateTimer, qOverload<>(&QTimer::start));
    connect(m_view, &ProjectView::visibleThumbnailsReady, this, &MainWindow::visibleThumbnailsReady);
    connect(m_view, &ProjectView::currentItemChanged, this, [this] {
        if (m_preview->isVisible())
            showPreview();
    });
}

void MainWindow::buildActions()
{
    const auto make = [this](QMenu* menu, const QString& name, const QString& text, QList<QKeySequence> keys,
                             auto slot) {
        auto* a = new QAction(text, this);
        a->setObjectName(name);
        a->setShortcuts(uniqueKeys(keys));
        a->setShortcutContext(Qt::WindowShortcut);
        connect(a, &QAction::triggered, this, slot);
        menu->addAction(a);
        addAction(a);
        return a;
    };
    auto* file = menuBar()->addMenu(tr("&File"));
    make(file, QStringLiteral("newFromFolder"), tr("&New Project from a Folder…"), {QKeySequence::New}, &MainWindow::chooseFolder);
    make(file, QStringLiteral("newFromFile"), tr("New Project from a CSV or IDX Files…"), {}, &MainWindow::chooseFile);
    make(file, QStringLiteral("open"), tr("&Open Project…"), {QKeySequence::Open}, &MainWindow::chooseProject);
    make(file, QStringLiteral("demo"), tr("Open the Fashion-MNIST &Demo"), {}, &MainWindow::openDemo);
    file->addSeparator();
    make(file, QStringLiteral("export"), tr("&Export Labels…"), {QKeySequence(Qt::CTRL | Qt::Key_E)}, &MainWindow::exportLabels);
    make(file, QStringLiteral("encoder"), tr("Change the E&ncoder…"), {}, &MainWindow::chooseEncoder);
    make(file, QStringLiteral("close"), tr("&Close Project"), {QKeySequence::Close}, &MainWindow::showStartPage);
    file->addSeparator();
    make(file, QStringLiteral("quit"), tr("&Quit"), {QKeySequence::Quit}, &QWidget::close);

    auto* edit = menuBar()->addMenu(tr("&Label"));
    m_labelMenu = edit;
    make(edit, QStringLiteral("undo"), tr("&Undo"), {QKeySequence::Undo}, [this] { m_session.undo(); });
    make(edit, QStringLiteral("redo"), tr("&Redo"),
         uniqueKeys(QList<QKeySequence>{QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)}
                    + QKeySequence::keyBindings(QKeySequence::Redo)),
         [this] { m_session.redo(); });
    edit->addSeparator();
    labelKeysActOnGridOnly(make(edit, QStringLiteral("accept"), tr("&Accept Propagated Labels of the Selection"),
         {QKeySequence(Qt::Key_Return), QKeySequence(Qt::Key_Enter)}, [this] {
             const auto items = m_view->selectedItems();
             m_session.acceptPropagated(items);
             if (AppSettings::advanceAfterLabel() && items.size() == 1)
                 m_view->advance();
         }));
    labelKeysActOnGridOnly(make(edit, QStringLiteral("remove"), tr("Re&move Labels of the Selection"),
         {QKeySequence(Qt::Key_Delete), QKeySequence(Qt::Key_Backspace)}, [this] { labelSelection(-1); }));
    auto* advance = make(edit, QStringLiteral("advance"), tr("Move On after Labeling One Item"), {},
                         [](bool on) { AppSettings::setAdvanceAfterLabel(on); });
    advance->setCheckable(true);
    advance->setChecked(AppSettings::advanceAfterLabel());
    make(edit, QStringLiteral("addClass"), tr("Add a &Class…"), {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_N)},
         [this] { m_palette->findChild<QPushButton*>(QStringLiteral("addClass"))->click(); });
    edit->addSeparator(); // the class actions (1-9, 0, letters) follow, made when the classes are known

    auto* view = menuBar()->addMenu(tr("&View"));
    make(view, QStringLiteral("refresh"), tr("&Re-sort Now"), {QKeySequence(Qt::Key_F5), QKeySequence(Qt::CTRL | Qt::Key_R)},
         [this] { m_view->refreshOrder(); });
    make(view, QStringLiteral("zoomIn"), tr("&Larger Thumbnails"), {QKeySequence::ZoomIn, QKeySequence(Qt::CTRL | Qt::Key_Equal)},
         [this] { m_view->zoom(1); });
    make(view, QStringLiteral("zoomOut"), tr("&Smaller Thumbnails"), {QKeySequence::ZoomOut}, [this] { m_view->zoom(-1); });
    make(view, QStringLiteral("preview"), tr("&Preview the Current Item"), {QKeySequence(Qt::Key_Space)},
         &MainWindow::showPreview);
    make(view, QStringLiteral("flagged"), tr("Show &Flagged Items"), {QKeySequence(Qt::CTRL | Qt::Key_F)}, [this] {
        auto q = m_view->query();
        q.filter = ItemFilter::Flagged;
        q.sort = ItemSort::IssueScore;
        m_view->setQuery(q);
    });
    auto* help = menuBar()->addMenu(tr("&Help"));
    make(help, QStringLiteral("shortcuts"), tr("&Keyboard Shortcuts"), {QKeySequence(Qt::Key_F1)}, &MainWindow::showShortcuts);
    updateUndoActions();
}

QAction* MainWindow::action(const QString& name) const
{
    return findChild<QAction*>(name);
}

void MainWindow::rebuildClassActions()
{
    auto* menu = m_labelMenu;
    for (auto* a : m_classActions) {
        m_view->grid()->removeAction(a);
        menu->removeAction(a);
        a->deleteLater();
    }
    m_classActions.clear();
    const auto& classes = m_session.classes();
    m_palette->model().setClasses(classes);
    const auto& keys = m_palette->model().hotkeys();
    for (std::size_t c = 0; c < classes.size(); ++c) {
        auto* a = new QAction(tr("Label as %1").arg(QString::fromStdString(classes[c].name)), this);
        a->setObjectName(QStringLiteral("label%1").arg(c));
        if (!keys[c].isEmpty())
            a->setShortcut(QKeySequence(keys[c]));
        connect(a, &QAction::triggered, this, [this, c] { labelSelection(int(c)); });
        menu->addAction(a);
        labelKeysActOnGridOnly(a);
        m_classActions.push_back(a);
    }
}

void MainWindow::labelKeysActOnGridOnly(QAction* action)
{
    // Keys that label act only where the person is looking at items: typed into the search box, a
    // confidence box or a combo box's popup, Return, Delete, digits and letters are theirs. The
    // menu still shows the key and still triggers the action on the selection.
    removeAction(action);
    action->setShortcutContext(Qt::WidgetShortcut);
    m_view->grid()->addAction(action);
}

void MainWindow::labelSelection(int classId)
{
    if (!m_session.isOpen())
        return;
    const auto items = m_view->selectedItems();
    m_session.label(items, classId);
    if (items.size() == 1 && classId >= 0 && AppSettings::advanceAfterLabel())
        m_view->advance();
}

void MainWindow::updateCounts()
{
    if (!m_session.isOpen())
        return;
    const auto& c = m_session.counts(); // kept item by item by the session, not recounted here
    const QLocale l;
    m_counts->setText(tr("%1 items · labeled by people %2 · imported %3 · propagated %4 (%5 at ≥ %6%) · flagged %7 · "
                         "estimated noise %8%")
                          .arg(l.toString(qlonglong(c.items)), l.toString(qlonglong(c.byPeople)),
                               l.toString(qlonglong(c.imported)), l.toString(qlonglong(c.propagated)),
                               l.toString(qlonglong(c.confident)))
                          .arg(qRound(kConfidentAbove * 100))
                          .arg(l.toString(qlonglong(c.flagged)))
                          .arg(m_session.noiseRate() * 100.0, 0, 'f', 1));
    m_palette->model().setCounts(c.classByPeople, c.classPropagated);
}

void MainWindow::updateUndoActions()
{
    action(QStringLiteral("undo"))->setEnabled(m_session.isOpen());
    action(QStringLiteral("redo"))->setEnabled(m_session.isOpen());
    action(QStringLiteral("undo"))->setToolTip(tr("%1 actions to undo").arg(m_session.undoDepth()));
}

void MainWindow::showError(const QString& message)
{
    m_lastError = message;
    m_banner->setText(message);
    m_banner->show();
    statusBar()->showMessage(message, 10000);
    emit errorShown(message);
}

void MainWindow::showStartPage()
{
    if (m_session.isOpen())
        AppSettings::saveViewState(m_session.projectPath(), m_view->state());
    m_cache.setSource(nullptr);
    m_view->model().setOrder({});
    m_session.close(); // the project file is free for others (and for opening it again)
    m_start->setRecentProjects(AppSettings::recentProjects());
    m_stack->setCurrentWidget(m_start);
    m_paletteDock->hide();
    for (const auto& name : {QStringLiteral("export"), QStringLiteral("close"), QStringLiteral("accept"),
                             QStringLiteral("remove"), QStringLiteral("refresh"), QStringLiteral("preview"),
                             QStringLiteral("encoder")})
        action(name)->setEnabled(false);
    m_encoder->clear();
}

void MainWindow::openProject(const QString& path)
{
    m_banner->hide();
    m_progress->report(tr("Opening %1").arg(QFileInfo(path).fileName()), 0.0);
    m_session.open(path);
}

void MainWindow::sessionOpened()
{
    m_progress->finish();
    m_banner->hide();
    const QString path = m_session.projectPath();
    AppSettings::addRecentProject(path);
    if (m_pendingProject == path)
        m_pendingProject.clear(); // made and opened: it is the person's project now
    setWindowTitle(tr("%1 — Labelprop").arg(QFileInfo(path).completeBaseName()));
    m_cache.setSource(m_session.images());
    m_cache.setDiskCache(m_session.imagesAreFiles() ? m_session.cacheFolder() + QStringLiteral("/thumbnails") : QString(),
                         m_session.hashes());
    rebuildClassActions();
    m_stack->setCurrentWidget(m_view);
    m_paletteDock->show();
    for (const auto& name : {QStringLiteral("export"), QStringLiteral("close"), QStringLiteral("accept"),
                             QStringLiteral("remove"), QStringLiteral("refresh"), QStringLiteral("preview"),
                             QStringLiteral("encoder")})
        action(name)->setEnabled(true);
    if (m_encoderFallback && m_encoderFallback->project == path)
        m_encoderFallback.reset(); // the new encoder embedded the project
    const QString spec = m_session.encoderSpec();
    m_encoder->setText(tr("Encoder: %1 (%2)").arg(shortEncoderSpec(spec), m_session.encoderPlacement()));
    m_encoder->setToolTip(spec);
    m_view->start(AppSettings::viewState(path));
    updateCounts();
    updateUndoActions();
    emit projectOpened();
}

QString MainWindow::projectsFolder()
{
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/projects");
}

QString MainWindow::writableProjectPath(const QString& beside)
{
    const QString folder = QFileInfo(beside).absolutePath();
    const bool writable = m_canWriteIn ? m_canWriteIn(folder) : [&] {
        QTemporaryFile probe(folder + QStringLiteral("/.labelprop-write-check-XXXXXX"));
        return probe.open();
    }();
    if (writable)
        return beside;
    // The project refers to its images by a root it can move, so it can live anywhere: offer a
    // folder of the person's own (or one they pick) instead of failing.
    // Named after the folder and a hash of where it is: two read-only folders called "images" get
    // two projects, and the same folder finds its project again next time.
    const QString tag = QString::fromLatin1(
        QCryptographicHash::hash(QFileInfo(beside).absoluteFilePath().toUtf8(), QCryptographicHash::Sha1).toHex().left(8));
    const QString elsewhere = projectsFolder() + QLatin1Char('/') + QFileInfo(beside).completeBaseName() + QLatin1Char('-')
                              + tag + QStringLiteral(".labelprop");
    if (QFileInfo::exists(elsewhere))
        return elsewhere;
    QMessageBox box(QMessageBox::Question, tr("Keep the project elsewhere?"),
                    tr("Labelprop cannot write in %1, where the project would go beside the images.").arg(folder),
                    QMessageBox::Cancel, this);
    box.setObjectName(QStringLiteral("projectElsewhere"));
    box.setInformativeText(tr("Keep the project in %1 instead? The images stay where they are; the project "
                              "refers to them there.").arg(QDir::toNativeSeparators(elsewhere)));
    auto* keep = box.addButton(tr("Keep It There"), QMessageBox::AcceptRole);
    auto* choose = box.addButton(tr("Choose a Place…"), QMessageBox::ActionRole);
    box.setDefaultButton(keep);
    box.exec();
    if (box.clickedButton() == keep) {
        QDir().mkpath(projectsFolder());
        return elsewhere;
    }
    if (box.clickedButton() == choose)
        return QFileDialog::getSaveFileName(this, tr("Where to keep the project"), elsewhere,
                                            tr("Labelprop projects (*.labelprop)"));
    return {};
}

void MainWindow::newProject(const QString& source, const QString& project, const QStringList& classNames)
{
    QString target = project;
    if (target.isEmpty()) {
        const QFileInfo info(source);
        target = info.isDir() ? QDir::cleanPath(info.absoluteFilePath()) + QStringLiteral(".labelprop")
                              : info.absolutePath() + QLatin1Char('/') + info.completeBaseName() + QStringLiteral(".labelprop");
        if (!QFileInfo::exists(target))
            target = writableProjectPath(target);
        if (target.isEmpty())
            return; // the person cancelled
    }
    if (QFileInfo::exists(target)) {
        openProject(target); // the folder's project already exists: carry on with it
        return;
    }
    // The open project goes first: its grid must not stay live while its session's data is replaced
    // (painting it then crashed), and the start page shows the import's progress and Cancel.
    if (m_session.isOpen())
        showStartPage();
    m_banner->hide();
    m_pendingProject = target;
    m_createCancel = std::make_shared<std::atomic<bool>>(false);
    ProjectCreateRequest request;
    request.project = localPath(target);
    request.source = localPath(source);
    request.encoder = AppSettings::newProjectEncoder().toStdString();
    request.holder = "labelprop (the desktop app)";
    for (const auto& name : classNames)
        request.classNames.push_back(name.toStdString());
    QPointer<MainWindow> self(this);
    request.progress = [self, cancel = m_createCancel](std::size_t done, std::size_t total) {
        QMetaObject::invokeMethod(
            self.data(), [self, done, total] {
                if (self)
                    self->m_progress->report(tr("Importing"), total ? double(done) / double(total) : 0.0);
            },
            Qt::QueuedConnection);
        return !cancel->load();
    };
    m_progress->report(tr("Importing"), 0.0);
    auto task = [request] {
        return catchErrors(request.source, [&]() -> Expected<std::string> {
            auto created = createProjectFromSource(request);
            if (!created)
                return std::unexpected(created.error());
            auto said = created->sourceDescription;
            if (!created->encoderNote.empty())
                said += "; " + created->encoderNote;
            return said; // the store closes here, so the session can open it
        });
    };
    runThen(*QThreadPool::globalInstance(), this, std::move(task), [this, target](Expected<std::string> created) {
        if (!created) {
            m_pendingProject.clear();
            m_progress->finish();
            showError(QString::fromStdString(created.error().message));
            return;
        }
        statusBar()->showMessage(QString::fromStdString(*created), 8000);
        openProject(target);
    });
}

void MainWindow::chooseEncoder()
{
    if (!m_session.isOpen())
        return;
    EncoderDialog dialog(m_session.encoderSpec(), kTorchAvailable, this);
    if (dialog.exec() != QDialog::Accepted || dialog.spec() == m_session.encoderSpec())
        return;
    changeEncoder(dialog.spec());
}

void MainWindow::chooseNewProjectEncoder()
{
    EncoderDialog dialog(AppSettings::newProjectEncoder(), kTorchAvailable, this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    AppSettings::setNewProjectEncoder(dialog.spec());
    m_start->setNewProjectEncoder(dialog.spec());
}

void MainWindow::changeEncoder(const QString& spec)
{
    if (!m_session.isOpen())
        return;
    const QString path = m_session.projectPath();
    m_encoderFallback = EncoderFallback{path, m_session.encoderSpec()};
    showStartPage(); // closes the project: its labels and live propagation are saved first
    writeEncoderThenOpen(path, spec, tr("The encoder was not changed"));
}

void MainWindow::writeEncoderThenOpen(const QString& path, const QString& spec, const QString& failurePrefix)
{
    m_progress->report(tr("Checking the encoder"), 0.0);
    // On the session's store worker: after the close's save has let go of the project file.
    m_session.runAfterClose([path, spec] { return ProjectSession::writeEncoderSetting(path, spec); },
            [this, path, failurePrefix](Expected<void> written) {
                if (!written) {
                    m_encoderFallback.reset(); // nothing changed: the old encoder stays
                    showError(sentence(failurePrefix + QStringLiteral(": ") + QString::fromStdString(written.error().message)));
                }
                openProject(path);
            });
}

void MainWindow::openDemo()
{
    const QString project = demoProjectPath();
    if (QFileInfo::exists(project))
        openProject(project);
    else
        newProject(QString::fromLatin1(kDemoSource), project, fashionMnistClasses());
}

void MainWindow::chooseFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("A folder of images, or of class folders"));
    if (!dir.isEmpty())
        newProject(dir);
}

void MainWindow::chooseFile()
{
    const QString file = QFileDialog::getOpenFileName(this, tr("A CSV of image paths, or an IDX images file"), {},
                                                      tr("CSV or IDX (*.csv *-ubyte *.idx3-ubyte);;All files (*)"));
    if (!file.isEmpty())
        newProject(file);
}

void MainWindow::chooseProject()
{
    const QString file = QFileDialog::getOpenFileName(this, tr("Open a project"), {}, tr("Labelprop projects (*.labelprop)"));
    if (!file.isEmpty())
        openProject(file);
}

void MainWindow::exportLabels()
{
    if (!m_session.isOpen())
        return;
    const QFileInfo project(m_session.projectPath());
    ExportDialog dialog(&m_session, project.absolutePath() + QLatin1Char('/') + project.completeBaseName() + QStringLiteral("-labels.csv"),
                        this);
    dialog.exec(); // writing reports through the session's exported() (status bar) or in the dialog
}

void MainWindow::showShortcuts()
{
    QList<QPair<QString, QList<QAction*>>> groups;
    for (auto* menuAction : menuBar()->actions())
        groups.append({menuAction->text().remove(QLatin1Char('&')), menuAction->menu()->actions()});
    m_sheet->setActions(groups, tr("In the grid: arrows, Page Up/Down, Home/End move; Shift and Ctrl extend the "
                                   "selection; drag a rubber band to select many. Click a class in the palette to "
                                   "label the selection with it."));
    m_sheet->showOver();
}

void MainWindow::stepPreview(int steps)
{
    auto* grid = m_view->grid();
    const int row = grid->currentIndex().row() + steps;
    if (row < 0 || row >= m_view->model().rowCount())
        return;
    const auto index = m_view->model().index(row);
    grid->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect);
    grid->scrollTo(index, QAbstractItemView::EnsureVisible); // currentItemChanged shows it in the preview
}

void MainWindow::showPreview()
{
    const int item = m_view->currentItem();
    if (item < 0 || !m_session.images())
        return;
    const auto& items = m_session.items();
    const auto i = std::size_t(item);
    const auto& shown = items.shown[i];
    const auto className = [&](int c) {
        return c >= 0 && std::size_t(c) < m_session.classes().size() ? QString::fromStdString(m_session.classes()[std::size_t(c)].name)
                                                                       : QString();
    };
    QString caption = QString::fromStdString(items.path(i));
    if (items.label[i] >= 0) {
        caption += QStringLiteral(" — ") + className(items.label[i]);
        if (shown.predicted >= 0)
            caption += tr(" (neighbours agree %1%)").arg(qRound((1.0 - shown.issueScore) * 100.0));
    } else if (shown.predicted >= 0) {
        caption += QStringLiteral(" — ") + tr("propagated: %1, %2%").arg(className(shown.predicted)).arg(qRound(shown.confidence * 100.0));
    } else {
        caption += QStringLiteral(" — ") + tr("unlabeled");
    }
    if (shown.flagged)
        caption += QStringLiteral("\n") + tr("⚑ likely mislabeled; suggested: %1").arg(className(shown.suggested));
    m_preview->setMessage(tr("Loading…"));
    if (!m_preview->isVisible())
        m_preview->showOver();
    auto task = [images = m_session.images(), item] {
        auto image = images->decode(std::size_t(item));
        if (!image)
            return std::pair<QImage, QString>{{}, QString::fromStdString(image.error().message)};
        return std::pair<QImage, QString>{thumbnailImage(*image, QSize(image->cols, image->rows)), {}};
    };
    runThen(*QThreadPool::globalInstance(), this, std::move(task), [this, caption, item](std::pair<QImage, QString> r) {
        if (item != m_view->currentItem())
            return; // stepped on meanwhile: the newer item's decode shows
        if (r.first.isNull())
            m_preview->setMessage(r.second);
        else
            m_preview->setImage(r.first, caption);
    });
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    AppSettings::saveWindow(saveGeometry(), saveState());
    if (m_session.isOpen())
        AppSettings::saveViewState(m_session.projectPath(), m_view->state());
    m_session.close(); // commits queued are made and the live propagation saved
    event->accept();
}

} // namespace labelprop::ui
