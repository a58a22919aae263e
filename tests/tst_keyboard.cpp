// The window from the keyboard, as an annotator drives it for hours. ctest runs this suite twice:
// on the offscreen platform (tst_keyboard) and on X11 under Xvfb (tst_keyboard_xcb), because key
// bindings come from the platform: on xcb QKeySequence::Redo is Ctrl+Shift+Z, and listing it twice
// made Qt call the shortcut ambiguous and do nothing, which the offscreen run never saw.

#include "AppTestSupport.h"

#include "ui/Overlays.h"
#include "ui/ProjectGridModel.h"

#include <QAction>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QGuiApplication>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QStandardPaths>

#include <set>

using namespace labelprop;
using namespace labelprop::ui;
using namespace labelprop::test;

namespace {

// Every item's label as the window holds it.
std::vector<std::int32_t> shownLabels(MainWindow& w)
{
    return w.session().items().label;
}

// Sends a key the way a person types it: to whatever has the keyboard focus.
void typeKey(QWidget* target, Qt::Key key, Qt::KeyboardModifiers mods = Qt::NoModifier)
{
    QTest::keyClick(target, key, mods);
    QCoreApplication::processEvents();
}

} // namespace

class TestKeyboard : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings().clear();
        // The suite runs where ctest says (offscreen, or xcb under Xvfb), not on a fallback.
        const QString wanted = qEnvironmentVariable("QT_QPA_PLATFORM");
        if (!wanted.isEmpty())
            QCOMPARE(QGuiApplication::platformName(), wanted);
    }

    // No two shortcuts of the window are the same key (Qt then fires neither), and redo answers to
    // both Ctrl+Shift+Z and Ctrl+Y; the F1 sheet lists each key once.
    void everyShortcutIsUniqueAndRedoWorks()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        std::map<QString, QString> owner;
        QList<QAction*> actions = w.findChildren<QAction*>();
        for (auto* a : actions) {
            const QList<QKeySequence> keys = a->shortcuts();
            for (const auto& key : keys) {
                const QString k = key.toString(QKeySequence::PortableText);
                const QString who = a->objectName();
                QVERIFY2(!owner.contains(k) || owner[k] == who,
                         qPrintable(QStringLiteral("%1 is the key of both %2 and %3").arg(k, owner[k], who)));
                QVERIFY2(keys.count(key) == 1, qPrintable(QStringLiteral("%1 lists %2 twice").arg(who, k)));
                owner[k] = who;
            }
        }
        auto* redo = w.action(QStringLiteral("redo"));
        QVERIFY(redo->shortcuts().contains(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)));
        QVERIFY(redo->shortcuts().contains(QKeySequence(Qt::CTRL | Qt::Key_Y)));

        auto& grid = *w.projectView()->grid();
        grid.setFocus();
        const int item = currentItem(w);
        pressOnGrid(w, Qt::Key_1);
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 1; }, kWaitMs));
        for (const auto mods : {Qt::ControlModifier | Qt::ShiftModifier, Qt::KeyboardModifiers(Qt::ControlModifier)}) {
            const Qt::Key redoKey = mods & Qt::ShiftModifier ? Qt::Key_Z : Qt::Key_Y;
            pressOnGrid(w, Qt::Key_Z, Qt::ControlModifier);
            QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).empty(); }, kWaitMs));
            QVERIFY(QTest::qWaitFor([&] { return w.session().items().label[std::size_t(item)] == -1; }, kWaitMs));
            pressOnGrid(w, redoKey, mods);
            QVERIFY2(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 1; }, kWaitMs),
                     qPrintable(QStringLiteral("redo by %1").arg(QKeySequence(mods | redoKey).toString())));
            QVERIFY(QTest::qWaitFor([&] { return w.session().items().label[std::size_t(item)] == 0; }, kWaitMs));
        }
        QVERIFY(settle(w));
    }

    // Keys that label act only from the grid: Return typed in the search box, in a confidence box,
    // or to close a combo box's popup, a digit typed in the search box, and Delete there, change no
    // label, in the window or in the file.
    void labelingKeysActOnlyInTheGrid()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        auto& grid = *w.projectView()->grid();
        grid.setFocus();
        const int first = currentItem(w);
        pressOnGrid(w, Qt::Key_1); // one label, so every item has a propagated class to accept
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 1; }, kWaitMs));
        QVERIFY(settle(w));
        grid.selectAll();
        const auto before = shownLabels(w);

        auto* search = w.findChild<QLineEdit*>(QStringLiteral("search"));
        auto* minConfidence = w.findChild<QDoubleSpinBox*>(QStringLiteral("minConfidence"));
        auto* filter = w.findChild<QComboBox*>(QStringLiteral("filter"));
        // Each stray key goes to a focused box of the active window, as typing does.
        const auto focusOn = [&](QWidget* box) {
            w.activateWindow();
            box->setFocus();
            return QTest::qWaitFor([&] { return QApplication::focusWidget() == box; }, kWaitMs);
        };
        QVERIFY(focusOn(search));
        QTest::keyClicks(search, QStringLiteral("img1"));
        typeKey(search, Qt::Key_Return);
        typeKey(search, Qt::Key_Delete);
        typeKey(search, Qt::Key_2);
        QCOMPARE(search->text().right(1), QStringLiteral("2")); // the digit went into the box
        QVERIFY(focusOn(minConfidence));
        typeKey(QApplication::focusWidget(), Qt::Key_Return);
        typeKey(QApplication::focusWidget(), Qt::Key_Enter);
        QVERIFY(focusOn(filter));
        filter->showPopup();
        QVERIFY(QTest::qWaitFor([&] { return filter->view()->isVisible(); }, kWaitMs));
        typeKey(filter->view(), Qt::Key_Return);
        QVERIFY(QTest::qWaitFor([&] { return !filter->view()->isVisible(); }, kWaitMs));
        QVERIFY(settle(w));
        QTest::qWait(50); // nothing is queued: a wrongly fired action would have been sent by now
        QVERIFY(settle(w));
        QCOMPARE(shownLabels(w), before);
        QCOMPARE(savedLabels(f.project).size(), std::size_t(1));

        // From the grid the same keys do label, and only the items the grid shows.
        search->clear();
        QVERIFY(focusOn(search));
        QTest::keyClicks(search, QStringLiteral("cat_"));
        typeKey(search, Qt::Key_Return);
        QVERIFY(QTest::qWaitFor([&] { return !w.projectView()->orderPending() && w.projectView()->model().rowCount() == 12; }, kWaitMs));
        QVERIFY(focusOn(&grid));
        grid.selectAll();
        const auto isCat = [&](int item) { return w.session().items().path(std::size_t(item)).starts_with("cat_"); };
        std::set<int> acceptable; // the shown items a Return accepts: unlabeled, with a propagated class
        for (int row = 0; row < w.projectView()->model().rowCount(); ++row) {
            const int item = w.projectView()->model().itemAt(row);
            QVERIFY(isCat(item));
            if (w.session().items().label[std::size_t(item)] < 0 && w.session().items().shown[std::size_t(item)].predicted >= 0)
                acceptable.insert(item);
        }
        QVERIFY(!acceptable.empty());
        pressOnGrid(w, Qt::Key_Return);
        QVERIFY2(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 1 + acceptable.size(); }, kWaitMs),
                 qPrintable(QStringLiteral("%1 labels saved, %2 expected; focus on %3")
                                .arg(savedLabels(f.project).size()).arg(1 + acceptable.size())
                                .arg(QApplication::focusWidget() ? QApplication::focusWidget()->objectName() : QStringLiteral("nothing"))));
        for (const auto& [item, label] : savedLabels(f.project))
            QVERIFY2(acceptable.contains(item) || item == first, w.session().items().path(std::size_t(item)).c_str());
        QVERIFY(settle(w));
    }

    // Escape in the search box clears the search (and a second one goes back to the grid); a filter
    // that matches nothing says so over the grid instead of showing a blank grid.
    void escapeClearsTheSearchAndAnEmptyResultSaysSo()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        auto* search = w.findChild<QLineEdit*>(QStringLiteral("search"));
        search->setFocus();
        QTest::keyClicks(search, QStringLiteral("no-such-file"));
        QVERIFY(QTest::qWaitFor([&] { return !w.projectView()->orderPending() && w.projectView()->model().rowCount() == 0; }, kWaitMs));
        QVERIFY(QTest::qWaitFor([&] { return !w.projectView()->emptyMessage().isEmpty(); }, kWaitMs));
        QVERIFY2(w.projectView()->emptyMessage().contains(QStringLiteral("no-such-file")), qPrintable(w.projectView()->emptyMessage()));
        typeKey(search, Qt::Key_Escape);
        QVERIFY(search->text().isEmpty());
        QVERIFY(QTest::qWaitFor([&] { return !w.projectView()->orderPending() && w.projectView()->model().rowCount() == 37; }, kWaitMs));
        QVERIFY(w.projectView()->emptyMessage().isEmpty());
        typeKey(search, Qt::Key_Escape);
        QVERIFY(w.projectView()->grid()->hasFocus() || QApplication::focusWidget() == w.projectView()->grid());
    }

    // Space previews the current item; the arrow keys step through the grid there, and the caption
    // has the item's class, its confidence and its flag.
    void previewStepsWithTheArrows()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openWithOneLabel(w, f));
        auto& grid = *w.projectView()->grid();
        grid.selectionModel()->setCurrentIndex(w.projectView()->model().index(3, 0), QItemSelectionModel::ClearAndSelect);
        pressOnGrid(w, Qt::Key_Space);
        auto* preview = w.findChild<PreviewPanel*>(QStringLiteral("preview"));
        QVERIFY(preview && preview->isVisible());
        const auto captionOf = [&](int row) {
            return QString::fromStdString(w.session().items().path(std::size_t(w.projectView()->model().itemAt(row))));
        };
        QVERIFY(QTest::qWaitFor([&] { return preview->caption().startsWith(captionOf(3)); }, kWaitMs));
        QVERIFY2(preview->caption().contains(QLatin1Char('%')), qPrintable(preview->caption()));
        QTest::keyClick(preview, Qt::Key_Right);
        QCOMPARE(w.projectView()->grid()->currentIndex().row(), 4);
        QVERIFY(QTest::qWaitFor([&] { return preview->caption().startsWith(captionOf(4)); }, kWaitMs));
        QTest::keyClick(preview, Qt::Key_Left);
        QTest::keyClick(preview, Qt::Key_Left);
        QCOMPARE(w.projectView()->grid()->currentIndex().row(), 2);
        QVERIFY(QTest::qWaitFor([&] { return preview->caption().startsWith(captionOf(2)); }, kWaitMs));
        QTest::keyClick(preview, Qt::Key_Escape);
        QVERIFY(!preview->isVisible());
    }
};

QTEST_MAIN(TestKeyboard)
#include "tst_keyboard.moc"
