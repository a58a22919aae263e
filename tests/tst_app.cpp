// The labeling app driven as a person drives it: the real MainWindow on the offscreen platform, keys
// and mouse on the grid, and after each step the store (read back from the project file) and the
// models are checked. Async work is awaited with QSignalSpy / QTest::qWaitFor, never with sleeps.

#include "AppTestSupport.h"
#include "ProjectTestSupport.h"
#include "PythonSupport.h"
#include "TestSupport.h"

#include "core/project/ProjectCreate.h"
#include "core/project/ProjectEngine.h"
#include "ui/ClassPalette.h"
#include "ui/MainWindow.h"
#include "ui/ProjectGridModel.h"
#include "ui/ProjectView.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QFileInfo>
#include <QLabel>
#include <QListView>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTest>

#include <filesystem>
#include <random>

using namespace labelprop;
using namespace labelprop::ui;
using namespace labelprop::test;
namespace fs = std::filesystem;


class TestApp : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // QSettings under a test folder, not the user's
        QSettings().clear();
    }

    void openLabelUndoRedoReopen()
    {
        Fixture f;
        auto w = std::make_unique<MainWindow>();
        w->resize(1100, 700);
        w->show();
        w->openProject(f.project);
        QVERIFY(waitOpened(*w));
        QVERIFY(settle(*w));
        auto& grid = *w->projectView()->grid();
        QVERIFY2(grid.hasFocus() || QApplication::focusWidget() == &grid || !QApplication::focusWidget(),
                 "the grid should have focus when a project opens");
        QAbstractItemModelTester gridTester(&w->projectView()->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester paletteTester(&w->palette()->model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(w->projectView()->model().rowCount(), 37);
        QCOMPARE(w->palette()->model().rowCount(), 3);

        // Label the current item with key 1: saved as a person's label; the current item moves on.
        grid.setFocus();
        const int first = currentItem(*w);
        QVERIFY(first >= 0);
        pressOnGrid(*w, Qt::Key_1);
        QVERIFY(settle(*w));
        QCOMPARE(w->session().items().label[std::size_t(first)], 0);
        QVERIFY2(QTest::qWaitFor([&] { return savedLabels(f.project).count(first) == 1; }, kWaitMs), qPrintable(w->lastError()));
        QCOMPARE(savedLabels(f.project)[first], std::make_pair(0, LabelSource::Human));
        QVERIFY(currentItem(*w) != first);
        // Propagation reached the other items.
        int propagated = 0;
        for (const auto& s : w->session().items().shown)
            propagated += s.predicted == 0;
        QVERIFY2(propagated > 10, qPrintable(QString::number(propagated)));

        // A rubber band over the first row of tiles labels them all with key 2, as one action.
        const QRect a = grid.visualRect(w->projectView()->model().index(1, 0));
        const QRect b = grid.visualRect(w->projectView()->model().index(4, 0));
        QVERIFY(a.isValid() && b.isValid());
        const QPoint from = a.topLeft() + QPoint(2, 2), to = b.center();
        QTest::mousePress(gridViewport(*w), Qt::LeftButton, Qt::NoModifier, from);
        QMouseEvent move(QEvent::MouseMove, to, gridViewport(*w)->mapToGlobal(to), Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(gridViewport(*w), &move);
        QTest::mouseRelease(gridViewport(*w), Qt::LeftButton, Qt::NoModifier, to);
        const auto selected = w->projectView()->selectedItems();
        QCOMPARE(selected.size(), std::size_t(4));
        pressOnGrid(*w, Qt::Key_2);
        QVERIFY(settle(*w));
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 5; }, kWaitMs));
        for (const auto item : selected)
            QCOMPARE(savedLabels(f.project)[item], std::make_pair(1, LabelSource::Bulk));
        QCOMPARE((*readStore(f.project)->counts()).undoable, 2);

        // Undo takes the bulk action back (labels and propagation), redo brings it again.
        pressOnGrid(*w, Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 1; }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return w->session().items().label[std::size_t(selected[0])] == -1; }, kWaitMs));
        QVERIFY(settle(*w));
        for (const auto item : selected)
            QVERIFY(w->session().items().shown[std::size_t(item)].predicted != 1); // only class 0 is given now
        pressOnGrid(*w, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 5; }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return w->session().items().label[std::size_t(selected[0])] == 1; }, kWaitMs));

        // Remove one label with Delete.
        grid.selectionModel()->setCurrentIndex(w->projectView()->model().index(w->projectView()->model().rowOfItem(selected[0]), 0),
                                               QItemSelectionModel::ClearAndSelect);
        pressOnGrid(*w, Qt::Key_Delete);
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 4; }, kWaitMs));

        // Filter: only labeled by a person, by path.
        auto* filter = w->findChild<QComboBox*>(QStringLiteral("filter"));
        auto* sort = w->findChild<QComboBox*>(QStringLiteral("sort"));
        filter->setCurrentIndex(filter->findData(int(ItemFilter::LabeledByPerson)));
        sort->setCurrentIndex(sort->findData(int(ItemSort::Path)));
        QVERIFY(QTest::qWaitFor([&] { return !w->projectView()->orderPending() && w->projectView()->model().rowCount() == 4; }, kWaitMs));
        const auto order = w->projectView()->model().order();
        for (std::size_t k = 1; k < order.size(); ++k)
            QVERIFY(w->session().items().path(std::size_t(order[k - 1])) < w->session().items().path(std::size_t(order[k])));
        // Suggested to label next: the ranked unlabeled items come first, labeled ones never among them.
        sort->setCurrentIndex(sort->findData(int(ItemSort::SuggestionRank)));
        filter->setCurrentIndex(filter->findData(int(ItemFilter::All)));
        QVERIFY(QTest::qWaitFor([&] {
            return !w->projectView()->orderPending() && !w->session().items().suggestionRank.empty()
                   && w->projectView()->model().rowCount() == 37;
        }, kWaitMs));
        {
            const auto& ranks = w->session().items().suggestionRank;
            const int top = w->projectView()->model().itemAt(0);
            QCOMPARE(ranks[std::size_t(top)], 0);
            QCOMPARE(w->session().items().label[std::size_t(top)], -1);
            for (std::size_t i = 0; i < ranks.size(); ++i)
                if (w->session().items().label[i] >= 0)
                    QCOMPARE(ranks[i], -1);
        }
        filter->setCurrentIndex(filter->findData(int(ItemFilter::LabeledByPerson)));
        sort->setCurrentIndex(sort->findData(int(ItemSort::Path)));
        QVERIFY(QTest::qWaitFor([&] { return !w->projectView()->orderPending() && w->projectView()->model().rowCount() == 4; }, kWaitMs));
        // Select the second row, then close: reopening brings back the same view.
        grid.selectionModel()->setCurrentIndex(w->projectView()->model().index(1, 0), QItemSelectionModel::ClearAndSelect);
        const int current = currentItem(*w);
        w->close();
        w.reset();

        auto again = std::make_unique<MainWindow>();
        again->resize(1100, 700);
        again->show();
        again->openProject(f.project);
        QVERIFY(waitOpened(*again));
        QCOMPARE(again->projectView()->query().filter, ItemFilter::LabeledByPerson);
        QCOMPARE(again->projectView()->query().sort, ItemSort::Path);
        QCOMPARE(again->projectView()->model().rowCount(), 4);
        QCOMPARE(currentItem(*again), current);
        QCOMPARE(again->projectView()->selectedItems(), std::vector<std::int32_t>{current});
        // Close Project frees the file: the same window opens it again.
        again->action(QStringLiteral("close"))->trigger();
        QVERIFY(!again->session().isOpen());
        again->openProject(f.project);
        QVERIFY(waitOpened(*again));
        QCOMPARE(currentItem(*again), current);
        // Undo survives the restart: the Delete is undone.
        QCOMPARE(again->session().undoDepth(), 3);
        pressOnGrid(*again, Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 5; }, kWaitMs));
        QVERIFY(settle(*again));
        QVERIFY(readStore(f.project)->verifyDerivedState());
    }

    // After a random sequence of labels, removals, undos and redos by key, the shown propagation is
    // a from-scratch propagation of the saved labels (within 1e-4 per probability).
    void shownResultEqualsFromScratch()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        auto& grid = *w.projectView()->grid();
        grid.setFocus();
        std::mt19937 rng(11);
        const Qt::Key keys[] = {Qt::Key_1, Qt::Key_2, Qt::Key_3, Qt::Key_Delete};
        for (int step = 0; step < 40; ++step) {
            const int row = int(rng() % std::uint32_t(w.projectView()->model().rowCount()));
            grid.selectionModel()->setCurrentIndex(w.projectView()->model().index(row, 0), QItemSelectionModel::ClearAndSelect);
            const auto r = rng() % 10;
            if (r < 6)
                pressOnGrid(w, keys[rng() % 4]);
            else if (r < 8)
                pressOnGrid(w, Qt::Key_Z, Qt::ControlModifier);
            else
                pressOnGrid(w, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
        }
        // The store answers in order; once it is idle and the engine is idle, both agree.
        QVERIFY(QTest::qWaitFor([&] {
            if (!w.session().engineIdle())
                return false;
            const auto saved = savedLabels(f.project);
            for (std::size_t i = 0; i < w.session().items().size(); ++i) {
                const auto it = saved.find(int(i));
                if ((it == saved.end() ? -1 : it->second.first) != w.session().items().label[i])
                    return false;
            }
            return true;
        }, kWaitMs));
        QVERIFY(settle(w));
        QSignalSpy live(&w.session(), &ProjectSession::liveResult);
        w.session().requestLiveResult();
        QVERIFY(live.wait(kWaitMs));
        const auto shown = live.at(0).at(0).value<ProjectPropagation>();
        auto store = readStore(f.project);
        auto run = loadProjectRun(*store, *store->settings());
        QVERIFY2(run, run ? "" : run.error().message.c_str());
        QCOMPARE(std::vector<std::int32_t>(live.at(0).at(1).value<std::vector<std::int32_t>>()), run->seeds);
        if (run->labeled == 0)
            QSKIP("the random sequence ended with no labels");
        auto scratch = propagateProject(*run);
        QVERIFY(scratch);
        QCOMPARE(shown.result.probabilities.size(), scratch->result.probabilities.size());
        float worst = 0.0f;
        for (std::size_t k = 0; k < shown.result.probabilities.size(); ++k)
            worst = std::max(worst, std::abs(shown.result.probabilities[k] - scratch->result.probabilities[k]));
        QVERIFY2(worst <= 1e-4f, qPrintable(QString::number(worst)));
    }

    // A second writer is told who has the project; the corrupt image is a placeholder tile.
    void secondWriterAndBrokenImage()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        const auto cli = runCli({QStringLiteral("project"), QStringLiteral("label"), f.project, QStringLiteral("--item"),
                                 QStringLiteral("0"), QStringLiteral("--label"), QStringLiteral("cat")});
        QVERIFY(cli.exitCode != 0);
        QVERIFY2(cli.err.contains(QStringLiteral("labelprop (the desktop app)")), qPrintable(cli.err));
        const auto status = runCli({QStringLiteral("project"), QStringLiteral("status"), f.project});
        QCOMPARE(status.exitCode, 0);

        MainWindow second;
        second.openProject(f.project);
        QSignalSpy error(&second, &MainWindow::errorShown);
        QVERIFY(error.wait(kWaitMs));
        QVERIFY2(error.at(0).at(0).toString().contains(QStringLiteral("labelprop (the desktop app)")),
                 qPrintable(error.at(0).at(0).toString()));

        // The broken file: last by path.
        auto* sort = w.findChild<QComboBox*>(QStringLiteral("sort"));
        sort->setCurrentIndex(sort->findData(int(ItemSort::Path)));
        QVERIFY(QTest::qWaitFor([&] { return !w.projectView()->orderPending(); }, kWaitMs));
        auto& model = w.projectView()->model();
        const auto last = model.index(model.rowCount() - 1, 0);
        QCOMPARE(last.data(ProjectGridModel::PathRole).toString(), QStringLiteral("zz_broken.png"));
        w.projectView()->grid()->scrollTo(last);
        QVERIFY(QTest::qWaitFor([&] { return !last.data(ProjectGridModel::ThumbnailErrorRole).toString().isEmpty(); }, kWaitMs));
    }

    // Class edits from the palette are undoable actions; a merge moves the labels, and undo puts
    // them back, in the window and in the store.
    void classEditsAreUndoable()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        auto& grid = *w.projectView()->grid();
        grid.setFocus();
        grid.selectionModel()->setCurrentIndex(w.projectView()->model().index(0, 0), QItemSelectionModel::ClearAndSelect);
        const int item = currentItem(w);
        pressOnGrid(w, Qt::Key_2); // dog
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 1; }, kWaitMs));

        emit w.palette()->addClassRequested(QStringLiteral("owl"));
        QVERIFY(QTest::qWaitFor([&] { return w.session().classes().size() == 4; }, kWaitMs));
        QCOMPARE(w.palette()->model().rowCount(), 4);
        QVERIFY(w.action(QStringLiteral("label3")) != nullptr);
        QCOMPARE(w.action(QStringLiteral("label3"))->shortcut(), QKeySequence(QStringLiteral("4")));

        emit w.palette()->mergeRequested(1, 0); // dog into cat
        QVERIFY(QTest::qWaitFor([&] { return w.session().classes().size() == 3; }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return w.session().items().label[std::size_t(item)] == 0; }, kWaitMs));
        QCOMPARE(savedLabels(f.project)[item].first, 0);
        QVERIFY(settle(w));

        pressOnGrid(w, Qt::Key_Z, Qt::ControlModifier); // the merge comes undone
        QVERIFY(QTest::qWaitFor([&] { return w.session().classes().size() == 4; }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return w.session().items().label[std::size_t(item)] == 1; }, kWaitMs));
        QCOMPARE(QString::fromStdString(w.session().classes()[1].name), QStringLiteral("dog"));
        pressOnGrid(w, Qt::Key_Z, Qt::ControlModifier); // and the added class
        QVERIFY(QTest::qWaitFor([&] { return w.session().classes().size() == 3; }, kWaitMs));
        QVERIFY(settle(w));
        QVERIFY(readStore(f.project)->verifyDerivedState());
    }

    // Creating a project runs in the background with a Cancel button; cancelling the import leaves
    // no half-made project behind and says so.
    void cancelCreatingAProject()
    {
        QTemporaryDir dir;
        const QString project = dir.filePath(QStringLiteral("fm.labelprop"));
        MainWindow w;
        w.resize(1000, 700);
        w.show();
        QSignalSpy error(&w, &MainWindow::errorShown);
        w.newProject(QStringLiteral(LABELPROP_FASHION_MNIST), project);
        auto* cancel = w.findChild<QPushButton*>(QStringLiteral("cancel"));
        QVERIFY(cancel);
        QVERIFY(QTest::qWaitFor([&] { return cancel->isVisible(); }, kWaitMs));
        cancel->click();
        QVERIFY(error.wait(kWaitMs));
        QVERIFY2(error.at(0).at(0).toString().contains(QStringLiteral("cancel"), Qt::CaseInsensitive),
                 qPrintable(error.at(0).at(0).toString()));
        QVERIFY(!QFileInfo::exists(project));
        QVERIFY(!w.session().isOpen());
    }

    // File > Change the Encoder: the project reopens embedded by a ViT (weights made by PyTorch),
    // the status bar says where it runs; an encoder that cannot embed the images (a text file
    // given as weights) or a file that is not there leaves the project with the encoder it had.
    void changeEncoderReembedsOrFallsBack()
    {
#if !LABELPROP_WITH_TORCH
        // A build without LibTorch refuses vit: with a message that says so; the project keeps PCA.
        Fixture plain;
        MainWindow pcaOnly;
        QVERIFY(openOn(pcaOnly, plain));
        QSignalSpy refused(&pcaOnly, &MainWindow::errorShown);
        pcaOnly.changeEncoder(QStringLiteral("vit:/nowhere/vit.pth"));
        QVERIFY(waitOpened(pcaOnly));
        QVERIFY(!refused.isEmpty());
        QVERIFY2(refused.last().at(0).toString().contains(QStringLiteral("LibTorch")), qPrintable(refused.last().at(0).toString()));
        QCOMPARE(pcaOnly.session().encoderSpec(), QStringLiteral("pca:8"));
        return;
#endif
        QTemporaryDir models;
        const auto made = runDataScript(QStringLiteral("make_encoder_reference.py"), {models.path()});
        // CI installs PyTorch (scripts/install-deps.sh): without it this test fails, it does not skip.
        QVERIFY2(made.exitCode != 3, "no PyTorch to make ViT weights with: install python3-torch, python3-torchvision, python3-opencv");
        LABELPROP_VERIFY_PYTHON(made);
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        const auto encoderOf = [&] { return QString::fromStdString(readStore(f.project)->settings()->encoder); };
        const auto status = [&] { return w.findChild<QLabel*>(QStringLiteral("encoderStatus"))->text(); };
        QVERIFY2(status().contains(QStringLiteral("pca:8")), qPrintable(status()));

        const QString vit = QStringLiteral("vit:") + models.filePath(QStringLiteral("vit.pth"));
        w.changeEncoder(vit);
        QVERIFY(waitOpened(w));
        QCOMPARE(w.session().encoderSpec(), vit);
        QCOMPARE(encoderOf(), vit);
        QVERIFY2(status().contains(QStringLiteral("vit.pth")) && status().contains(QStringLiteral("cpu fp32")),
                 qPrintable(status()));
        QCOMPARE(w.session().embeddedCount(), std::int64_t(36)); // the broken PNG is not embedded

        QSignalSpy error(&w, &MainWindow::errorShown);
        w.changeEncoder(QStringLiteral("vit:") + models.filePath(QStringLiteral("paths.txt")));
        QVERIFY(waitOpened(w));
        QCOMPARE(error.size(), 1);
        QVERIFY2(error.last().at(0).toString().contains(QStringLiteral("keeps its encoder")),
                 qPrintable(error.last().at(0).toString()));
        QCOMPARE(encoderOf(), vit);
        QCOMPARE(w.session().encoderSpec(), vit);

        w.changeEncoder(QStringLiteral("vit:") + models.filePath(QStringLiteral("gone.pth")));
        QVERIFY(waitOpened(w));
        QVERIFY2(error.last().at(0).toString().contains(QStringLiteral("not changed")),
                 qPrintable(error.last().at(0).toString()));
        QCOMPARE(encoderOf(), vit);
    }

    void shortcutSheetListsTheClassKeys()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        QTest::keyClick(w.projectView()->grid(), Qt::Key_F1);
        auto* sheet = w.findChild<QWidget*>(QStringLiteral("shortcutSheet"));
        QVERIFY(sheet && sheet->isVisible());
        const auto labels = sheet->findChildren<QLabel*>();
        QVERIFY(!labels.isEmpty());
        QVERIFY(labels.at(0)->text().contains(QStringLiteral("Label as cat")));
        QVERIFY(labels.at(0)->text().contains(QStringLiteral("Ctrl+Z")));
        QTest::keyClick(sheet, Qt::Key_Escape);
        QVERIFY(!sheet->isVisible());
    }
};

QTEST_MAIN(TestApp)
#include "tst_app.moc"
