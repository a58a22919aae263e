// What a new user hit in their first hour with the window (issue 13, part 0), one test each: a
// crash when a second project was made while one was open, an export that missed the flags on
// screen, the demo's class names, the encoder shown and chosen, a folder too small for the encoder,
// a folder that cannot be written, the first window's size, tiles whose current item and selection
// could not be seen, blurry thumbnails at 2x, and counts recomputed over every item per click.

#include "AppTestSupport.h"

#include "core/project/ItemView.h"
#include "ui/EncoderDialog.h"
#include "ui/ProjectGridModel.h"
#include "ui/ThumbnailCache.h"
#include "ui/TileDelegate.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QScreen>
#include <QScrollBar>
#include <QSettings>
#include <QStandardPaths>
#include <QTimer>

#include <numeric>

using namespace labelprop;
using namespace labelprop::ui;
using namespace labelprop::test;

namespace {

// An ImageFolder tree (labels = sub-folders) of 3 x 16 images where 4 files sit in the wrong class
// folder: imported labels the audit flags.
struct NoisyFolder {
    QTemporaryDir dir;
    std::string root;

    NoisyFolder()
    {
        root = (fs::path(dir.path().toStdString()) / "tree").string();
        const auto paths = writeImageFolder(root, kClasses, 16);
        for (int k = 0; k < 4; ++k) {
            const auto from = fs::path(root) / ("cat/img_" + std::to_string(k) + ".png");
            fs::rename(from, fs::path(root) / ("dog/moved_cat_" + std::to_string(k) + ".png"));
        }
    }
};

// A folder of `count` images (16 x 16 PNGs) and nothing else.
std::string writeFlatFolder(const QTemporaryDir& dir, const std::string& name, int count)
{
    const auto root = fs::path(dir.path().toStdString()) / name;
    writeImageFolder(root, {"x"}, count);
    for (const auto& e : fs::directory_iterator(root / "x"))
        fs::rename(e.path(), root / e.path().filename());
    fs::remove(root / "x");
    return root.string();
}

// Mean luminance (0-255) of the darkest tenth of the pixels in `box`: text drawn there is dark
// when this is low.
double darkestTenth(const QImage& image, const QRect& box)
{
    std::vector<double> l;
    for (int y = box.top(); y <= box.bottom(); ++y)
        for (int x = box.left(); x <= box.right(); ++x) {
            const QColor c = image.pixelColor(x, y);
            l.push_back(0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue());
        }
    std::sort(l.begin(), l.end());
    const std::size_t n = std::max<std::size_t>(1, l.size() / 10);
    return std::accumulate(l.begin(), l.begin() + std::ptrdiff_t(n), 0.0) / double(n);
}

} // namespace

class TestFirstHour : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings().clear();
    }

    // Ctrl+N while a project is open: the old grid let go of its rows before the session emptied
    // them (painting it while the new project was embedded crashed); Cancel during the embedding
    // leaves no project file and no lock, and the old project is saved and free.
    void newProjectWhileOneIsOpenThenCancel()
    {
        Fixture f;
        QTemporaryDir dir;
        const QString made = dir.filePath(QStringLiteral("fm.labelprop"));
        MainWindow w;
        QVERIFY(openWithOneLabel(w, f));
        auto& grid = *w.projectView()->grid();

        bool cancelled = false;
        int paintedRows = -1;
        connect(&w.session(), &ProjectSession::progress, &w, [&](const QString& stage, double) {
            // The person scrolls and the grid repaints while the new project loads.
            grid.verticalScrollBar()->setValue(grid.verticalScrollBar()->maximum());
            grid.viewport()->repaint();
            paintedRows = w.projectView()->model().rowCount();
            for (int row = 0; row < paintedRows; ++row)
                QVERIFY(std::size_t(w.projectView()->model().itemAt(row)) < w.session().items().size());
            if (!cancelled && stage.contains(QStringLiteral("embed"), Qt::CaseInsensitive)) {
                cancelled = true;
                w.findChild<QPushButton*>(QStringLiteral("cancel"))->click();
            }
        });
        QSignalSpy error(&w, &MainWindow::errorShown);
        w.newProject(QStringLiteral(LABELPROP_FASHION_MNIST), made);
        QCOMPARE(w.projectView()->model().rowCount(), 0); // the old grid let go at once
        QVERIFY(error.wait(120000));
        QVERIFY(cancelled);
        QCOMPARE(paintedRows, 0);
        QVERIFY2(error.last().at(0).toString().contains(QStringLiteral("cancel"), Qt::CaseInsensitive),
                 qPrintable(error.last().at(0).toString()));
        QVERIFY(QTest::qWaitFor([&] { return !w.session().closing(); }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return !QFileInfo::exists(made); }, kWaitMs));
        for (const auto* suffix : {"-wal", "-shm", "-lock", "-cache"})
            QVERIFY2(!QFileInfo::exists(made + QString::fromLatin1(suffix)), suffix);
        // The first project: saved, unlocked (the CLI can write to it), its label kept.
        QCOMPARE(savedLabels(f.project).size(), std::size_t(1));
        const auto cli = runCli({QStringLiteral("project"), QStringLiteral("label"), f.project, QStringLiteral("--item"),
                                 QStringLiteral("1"), QStringLiteral("--label"), QStringLiteral("dog")});
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
    }

    // Closing does not wait on the GUI thread: the session empties its columns at once and says
    // closed() when the save is done; the counts it kept item by item equal a full count.
    void closeRunsInTheBackgroundAndCountsStayExact()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        auto& grid = *w.projectView()->grid();
        grid.setFocus();
        for (const auto key : {Qt::Key_1, Qt::Key_2, Qt::Key_3, Qt::Key_1, Qt::Key_Delete, Qt::Key_2})
            pressOnGrid(w, key);
        pressOnGrid(w, Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(settle(w));
        QVERIFY(QTest::qWaitFor([&] { return w.session().undoDepth() == 4 && w.session().redoDepth() == 1 && w.session().engineIdle(); }, kWaitMs));
        QVERIFY(settle(w));
        const auto full = countItems(w.session().items(), int(w.session().classes().size()), ProjectSession::kConfidentAbove);
        const auto& kept = w.session().counts();
        QCOMPARE(kept.items, full.items);
        QCOMPARE(kept.byPeople, full.byPeople);
        QCOMPARE(kept.propagated, full.propagated);
        QCOMPARE(kept.confident, full.confident);
        QCOMPARE(kept.flagged, full.flagged);
        QCOMPARE(kept.classByPeople, full.classByPeople);
        QCOMPARE(kept.classPropagated, full.classPropagated);

        QSignalSpy closed(&w.session(), &ProjectSession::closed);
        const auto labels = savedLabels(f.project);
        w.action(QStringLiteral("close"))->trigger();
        QVERIFY(!w.session().isOpen());
        QCOMPARE(w.session().items().size(), std::size_t(0));
        QVERIFY(closed.wait(kWaitMs));
        QCOMPARE(closed.at(0).at(0).toString(), f.project);
        QVERIFY(!w.session().closing());
        QCOMPARE(savedLabels(f.project), labels);
        QVERIFY(readStore(f.project)->latestPropagation().has_value());
    }

    // The demo's classes have their names (the resource was dropped by the linker: "0" to "9").
    void demoClassesHaveNames()
    {
        const auto names = fashionMnistClasses();
        QCOMPARE(names.size(), 10);
        QCOMPARE(names.front(), QStringLiteral("T-shirt/top"));
        QCOMPARE(names.back(), QStringLiteral("Ankle boot"));
    }

    // Export right after opening writes what the window shows: its flags and confidences.
    void exportRightAfterOpeningHasTheFlagsOnScreen()
    {
        NoisyFolder data;
        QTemporaryDir dir;
        const QString project = dir.filePath(QStringLiteral("noisy.labelprop"));
        {
            ProjectCreateRequest request;
            request.project = project.toStdString();
            request.source = data.root;
            request.encoder = "pca:8";
            auto created = createProjectFromSource(request);
            QVERIFY2(created, created ? "" : created.error().message.c_str());
            auto s = *(*created).store->settings();
            s.k = 5;
            QVERIFY((*created).store->saveSettings(s));
        }
        MainWindow w;
        w.resize(1000, 700);
        w.show();
        w.openProject(project);
        QVERIFY(waitOpened(w));
        const auto flagged = w.session().counts().flagged;
        QVERIFY2(flagged > 0, "the moved files should be flagged");
        const QString out = dir.filePath(QStringLiteral("labels.csv"));
        QSignalSpy exported(&w.session(), &ProjectSession::exported);
        ExportOptions options;
        options.format = ExportFormat::Csv;
        w.session().exportLabels(out, options);
        QVERIFY(exported.wait(kWaitMs));
        const auto rows = readCsv(out);
        QVERIFY(rows.size() > 1);
        const auto header = rows.front();
        const auto flaggedColumn = header.indexOf("flagged"), confidenceColumn = header.indexOf("confidence");
        QVERIFY(flaggedColumn >= 0 && confidenceColumn >= 0);
        qsizetype marked = 0, withConfidence = 0;
        for (qsizetype r = 1; r < rows.size(); ++r) {
            marked += rows[r].value(flaggedColumn) == "1" || rows[r].value(flaggedColumn) == "true";
            withConfidence += !rows[r].value(confidenceColumn).isEmpty();
        }
        QCOMPARE(marked, qsizetype(flagged));
        QCOMPARE(withConfidence, rows.size() - 1);
    }

    // The status bar names the encoder with its options ("pca:8,rgb" is another encoder than
    // "pca:8"), also after reopening.
    void statusBarShowsTheWholeEncoder()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        const auto status = [&] { return w.findChild<QLabel*>(QStringLiteral("encoderStatus"))->text(); };
        w.changeEncoder(QStringLiteral("pca:8,rgb"));
        QVERIFY(waitOpened(w));
        QVERIFY2(status().contains(QStringLiteral("pca:8,rgb")), qPrintable(status()));
        w.action(QStringLiteral("close"))->trigger();
        w.openProject(f.project);
        QVERIFY(waitOpened(w));
        QVERIFY2(status().contains(QStringLiteral("pca:8,rgb")), qPrintable(status()));
    }

    // The encoder dialog: its choice follows a typed spec, its help is shown whole, and a spec
    // that cannot work gets whole sentences, not two run together.
    void encoderDialogFollowsTheSpecAndExplains()
    {
        EncoderDialog dialog(QStringLiteral("pca:64"), true);
        dialog.show();
        auto* kind = dialog.findChild<QComboBox*>(QStringLiteral("encoderKind"));
        auto* spec = dialog.findChild<QLineEdit*>(QStringLiteral("encoderSpec"));
        auto* help = dialog.findChild<QLabel*>(QStringLiteral("encoderHelp"));
        auto* error = dialog.findChild<QLabel*>(QStringLiteral("encoderError"));
        QCOMPARE(kind->currentIndex(), 0);
        spec->setText(QStringLiteral("vit:/nowhere/model.pth,size=224"));
        QCOMPARE(kind->currentIndex(), 1);
        QCOMPARE(spec->text(), QStringLiteral("vit:/nowhere/model.pth,size=224"));
        QCoreApplication::processEvents();
        dialog.adjustSize();
        QVERIFY2(help->height() >= help->heightForWidth(help->width()),
                 qPrintable(QStringLiteral("help %1 px high, needs %2").arg(help->height()).arg(help->heightForWidth(help->width()))));
        dialog.findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok)->click();
        QVERIFY(dialog.isVisible()); // not accepted
        QVERIFY(error->isVisible());
        QVERIFY2(error->text().contains(QStringLiteral("/nowhere/model.pth. ")) && error->text().endsWith(QLatin1Char('.')),
                 qPrintable(error->text()));
        spec->setText(QStringLiteral("pca:32,rgb"));
        QCOMPARE(kind->currentIndex(), 0);
        QVERIFY(!error->isVisible());
        dialog.findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok)->click();
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
    }

    // A folder of fewer images than the PCA has components becomes a project with a PCA that fits
    // it (checked before anything is encoded); a folder that cannot be embedded at all leaves no
    // project file behind.
    void smallFoldersFitTheEncoderOrLeaveNothing()
    {
        QTemporaryDir dir;
        const auto small = writeFlatFolder(dir, "small", 46);
        const QString project = dir.filePath(QStringLiteral("small.labelprop"));
        MainWindow w;
        w.resize(1000, 700);
        w.show();
        w.newProject(QString::fromStdString(small), project);
        QVERIFY2(waitOpened(w), qPrintable(w.lastError()));
        QCOMPARE(w.projectView()->model().rowCount(), 46);
        QCOMPARE(w.session().encoderSpec(), QStringLiteral("pca:23"));
        QCOMPARE(w.session().embeddedCount(), std::int64_t(46));
        w.action(QStringLiteral("close"))->trigger();

        const auto one = writeFlatFolder(dir, "one", 1);
        const QString lonely = dir.filePath(QStringLiteral("one.labelprop"));
        QSignalSpy error(&w, &MainWindow::errorShown);
        w.newProject(QString::fromStdString(one), lonely);
        QVERIFY(error.wait(kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return !w.session().closing() && !QFileInfo::exists(lonely); }, kWaitMs));
        QVERIFY(!QFileInfo::exists(lonely + QStringLiteral("-cache")));
        QVERIFY(!QFileInfo::exists(lonely + QStringLiteral("-lock")));
    }

    // Images in a folder that cannot be written: the window offers to keep the project in the
    // person's own folder, and the project made there shows the images where they are.
    void readOnlyFolderKeepsTheProjectElsewhere()
    {
        QTemporaryDir dir;
        const auto images = writeFlatFolder(dir, "readonly", 30);
        MainWindow w;
        w.resize(1000, 700);
        w.show();
        w.setFolderWritableCheck([&](const QString& folder) { return folder != dir.path(); });
        bool asked = false;
        QTimer answer;
        connect(&answer, &QTimer::timeout, &w, [&] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
                asked = box->objectName() == QStringLiteral("projectElsewhere");
                for (auto* b : box->buttons())
                    if (box->buttonRole(b) == QMessageBox::AcceptRole)
                        b->click();
            }
        });
        answer.start(20);
        w.newProject(QString::fromStdString(images));
        answer.stop();
        QVERIFY(asked);
        QVERIFY2(waitOpened(w), qPrintable(w.lastError()));
        QVERIFY(!QFileInfo::exists(QString::fromStdString(images) + QStringLiteral(".labelprop")));
        QVERIFY2(w.session().projectPath().startsWith(MainWindow::projectsFolder()), qPrintable(w.session().projectPath()));
        QCOMPARE(w.projectView()->model().rowCount(), 30);
        QVERIFY(QTest::qWaitFor([&] { return w.projectView()->visibleThumbnailsLoaded(); }, kWaitMs));
        const auto first = w.projectView()->model().index(0, 0);
        QVERIFY2(first.data(ProjectGridModel::ThumbnailErrorRole).toString().isEmpty(),
                 qPrintable(first.data(ProjectGridModel::ThumbnailErrorRole).toString()));
        w.action(QStringLiteral("close"))->trigger();
        QVERIFY(QTest::qWaitFor([&] { return !w.session().closing(); }, kWaitMs));
        QFile::remove(w.session().projectPath());
    }

    // The first window fits the screen (status bar, progress and Cancel on it); a maximised window
    // comes back maximised.
    void firstWindowFitsTheScreenAndMaximisedComesBack()
    {
        QSettings().clear();
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            const QRect screen = w.screen()->availableGeometry();
            QVERIFY2(w.frameGeometry().height() <= screen.height() && w.frameGeometry().width() <= screen.width(),
                     qPrintable(QStringLiteral("window %1 x %2 on a screen of %3 x %4")
                                    .arg(w.frameGeometry().width()).arg(w.frameGeometry().height())
                                    .arg(screen.width()).arg(screen.height())));
            w.showMaximized();
            QVERIFY(QTest::qWaitFor([&] { return w.isMaximized(); }, kWaitMs));
            w.close();
        }
        MainWindow again;
        again.show();
        QVERIFY(QTest::qWaitFor([&] { return again.isMaximized(); }, kWaitMs));
    }

    // The current tile has a frame in the highlight colour, a selected tile a tint, and the text
    // stays dark (legible) on it; every thumbnail has a frame; at 2x the thumbnails have twice the
    // pixels instead of being enlarged.
    void currentAndSelectedTilesAreVisible()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openWithOneLabel(w, f));
        auto& grid = *w.projectView()->grid();
        auto& model = w.projectView()->model();
        grid.selectionModel()->select(model.index(2, 0), QItemSelectionModel::ClearAndSelect);
        grid.selectionModel()->setCurrentIndex(model.index(5, 0), QItemSelectionModel::NoUpdate);
        QVERIFY(QTest::qWaitFor([&] { return w.projectView()->visibleThumbnailsLoaded(); }, kWaitMs));
        const QImage shot = grid.viewport()->grab().toImage();
        const qreal ratio = shot.devicePixelRatio();
        const auto px = [&](const QRect& r) {
            return QRectF(QPointF(r.topLeft()) * ratio, QSizeF(r.size()) * ratio).toRect();
        };
        const QColor highlight = grid.palette().color(QPalette::Highlight);
        const QRect current = grid.visualRect(model.index(5, 0));
        const QColor frame = shot.pixelColor(px(current).left() + 1, px(current).center().y());
        QVERIFY2(qAbs(frame.hue() - highlight.hue()) < 20 && frame.saturation() > 60,
                 qPrintable(QStringLiteral("frame %1 vs highlight %2").arg(frame.name(), highlight.name())));
        const QRect selected = grid.visualRect(model.index(2, 0)), plain = grid.visualRect(model.index(3, 0));
        const QPoint corner(4, 4); // inside the cell, outside the thumbnail
        const QPoint cornerPx = (QPointF(corner) * ratio).toPoint();
        QVERIFY(shot.pixelColor(px(selected).topLeft() + cornerPx) != shot.pixelColor(px(plain).topLeft() + cornerPx));
        // The text lines under the thumbnail of the selected tile: dark pixels (text) on the tint.
        const int textTop = selected.top() + TileDelegate::kPadding + w.projectView()->thumbnailSize() + TileDelegate::kPadding;
        const QRect textBox(selected.left() + 4, textTop, selected.width() - 8, selected.bottom() - textTop - 2);
        QVERIFY2(darkestTenth(shot, px(textBox)) < 110, qPrintable(QString::number(darkestTenth(shot, px(textBox)))));

        ThumbnailCache cache(QSize(96, 96), 16);
        cache.setDevicePixelRatio(2.0);
        QCOMPARE(cache.pixelSize(), QSize(192, 192));
        cache.setSource(w.session().images());
        QSignalSpy ready(&cache, &ThumbnailCache::thumbnailsReady);
        cache.request(0);
        QVERIFY(ready.wait(kWaitMs));
        const auto* entry = cache.find(0);
        QVERIFY(entry && !entry->pixmap.isNull());
        QCOMPARE(entry->pixmap.devicePixelRatio(), 2.0);
        QCOMPARE(entry->pixmap.width(), 192);
        QCOMPARE(entry->pixmap.deviceIndependentSize().toSize(), QSize(96, 96));
    }
};

QTEST_MAIN(TestFirstHour)
#include "tst_first_hour.moc"
