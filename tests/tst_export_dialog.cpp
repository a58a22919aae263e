// File > Export (issue 13, part 5): the dialog over the store's exports. It counts what it will
// write per class before writing, follows every option, writes the same file as
// `labelprop-cli project export` with the same options, and says why it cannot write (a folder
// that is not there or cannot be written, a name that is a folder) without losing what was there.

#include "AppTestSupport.h"

#include "ui/ExportDialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTimer>

using namespace labelprop;
using namespace labelprop::ui;
using namespace labelprop::test;

namespace {

bool waitPreview(ExportDialog& d)
{
    return QTest::qWaitFor([&] { return d.previewCurrent() && d.summary().startsWith(QStringLiteral("Will write")); }, kWaitMs);
}

// Clicks the answer of the next message box (a "Replace it?" question) with `role`.
void answerNextBox(QObject* context, QMessageBox::StandardButton button)
{
    QTimer::singleShot(0, context, [button] {
        if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget()))
            box->button(button)->click();
    });
}

} // namespace

class TestExportDialog : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings().clear();
    }

    void countsFollowTheOptionsAndTheFileMatchesTheCli()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        // Three labels by key (cat, dog, fox), one of them removed again: two written by people.
        auto& grid = *w.projectView()->grid();
        for (const auto key : {Qt::Key_1, Qt::Key_2, Qt::Key_3})
            pressOnGrid(w, key);
        pressOnGrid(w, Qt::Key_Left);
        pressOnGrid(w, Qt::Key_Delete);
        QVERIFY(QTest::qWaitFor([&] { return savedLabels(f.project).size() == 2; }, kWaitMs));
        QVERIFY(settle(w));
        Q_UNUSED(grid);

        QTemporaryDir out;
        ExportDialog dialog(&w.session(), out.filePath(QStringLiteral("labels.csv")), &w);
        dialog.show();
        QVERIFY(waitPreview(dialog));
        QVERIFY2(dialog.summary().startsWith(QStringLiteral("Will write 2 labels")), qPrintable(dialog.summary()));
        auto* table = dialog.findChild<QTableWidget*>(QStringLiteral("exportCounts"));
        QCOMPARE(table->rowCount(), 3);
        qlonglong given = 0;
        for (int row = 0; row < 3; ++row)
            given += table->item(row, 1)->text().toLongLong();
        QCOMPARE(given, 2);

        // Propagated labels at >= 0.5: more rows, counted before anything is written.
        dialog.findChild<QCheckBox*>(QStringLiteral("exportPseudo"))->setChecked(true);
        dialog.findChild<QDoubleSpinBox*>(QStringLiteral("exportThreshold"))->setValue(0.5);
        QVERIFY(waitPreview(dialog));
        qlonglong propagated = 0;
        for (int row = 0; row < 3; ++row)
            propagated += table->item(row, 2)->text().toLongLong();
        QVERIFY2(propagated > 0, qPrintable(dialog.summary()));
        QVERIFY(!QFileInfo::exists(out.filePath(QStringLiteral("labels.csv"))));
        QVERIFY2(dialog.commandLine().contains(QStringLiteral("--include pseudo:0.50")), qPrintable(dialog.commandLine()));

        QSignalSpy written(&dialog, &ExportDialog::written);
        dialog.findChild<QPushButton*>(QStringLiteral("exportWrite"))->click();
        QVERIFY(written.wait(kWaitMs));
        const auto report = written.at(0).at(1).value<ExportReport>();
        QCOMPARE(report.written, 2 + propagated);
        const QString mine = out.filePath(QStringLiteral("labels.csv"));
        QCOMPARE(readCsv(mine).size(), qsizetype(1 + report.written));

        // The CLI with the dialog's options writes the same file (the window still has the
        // project, read-only commands work meanwhile).
        const QString theirs = out.filePath(QStringLiteral("cli.csv"));
        QStringList args = dialog.commandLine().section(QStringLiteral(": "), 1).split(QLatin1Char(' '));
        args.removeFirst(); // "labelprop-cli"
        args.last() = theirs;
        const auto cli = runCli(args);
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
        QCOMPARE(readFile(theirs), readFile(mine));
    }

    void badTargetsAreSaidAndNothingIsLost()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openWithOneLabel(w, f));
        QTemporaryDir out;
        const QString existing = out.filePath(QStringLiteral("keep.csv"));
        writeFile(existing, "path,label\nold,1\n");

        ExportDialog dialog(&w.session(), out.filePath(QStringLiteral("nowhere/labels.csv")), &w);
        dialog.show();
        QVERIFY(waitPreview(dialog));
        auto* write = dialog.findChild<QPushButton*>(QStringLiteral("exportWrite"));
        write->click();
        QVERIFY2(dialog.error().contains(QStringLiteral("There is no folder")), qPrintable(dialog.error()));
        QVERIFY(dialog.isVisible());

        // A name that exists: asked; "No" writes nothing and keeps the old file.
        dialog.findChild<QLineEdit*>(QStringLiteral("exportFile"))->setText(existing);
        answerNextBox(&dialog, QMessageBox::No);
        write->click();
        QVERIFY2(dialog.error().contains(QStringLiteral("Nothing was written")), qPrintable(dialog.error()));
        QCOMPARE(readFile(existing), QByteArray("path,label\nold,1\n"));

        // A folder given as a CSV name.
        dialog.findChild<QLineEdit*>(QStringLiteral("exportFile"))->setText(out.path());
        write->click();
        QVERIFY2(dialog.error().contains(QStringLiteral("is a folder")), qPrintable(dialog.error()));

        // "Yes" replaces it, whole.
        dialog.findChild<QLineEdit*>(QStringLiteral("exportFile"))->setText(existing);
        QSignalSpy written(&dialog, &ExportDialog::written);
        answerNextBox(&dialog, QMessageBox::Yes);
        write->click();
        QVERIFY(written.wait(kWaitMs));
        QVERIFY(readFile(existing).startsWith("path,label,source,confidence,flagged\n"));
        QCOMPARE(readCsv(existing).size(), qsizetype(2));
    }

    // Ctrl+E in the window opens the dialog.
    void ctrlEOpensIt()
    {
        Fixture f;
        MainWindow w;
        QVERIFY(openOn(w, f));
        bool seen = false;
        QTimer::singleShot(0, &w, [&] {
            if (auto* d = qobject_cast<ExportDialog*>(QApplication::activeModalWidget())) {
                seen = true;
                d->reject();
            }
        });
        pressOnGrid(w, Qt::Key_E, Qt::ControlModifier);
        QVERIFY(seen);
    }
};

QTEST_MAIN(TestExportDialog)
#include "tst_export_dialog.moc"
