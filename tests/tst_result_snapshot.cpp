// ResultSnapshot: items.csv joined with a propagate/audit result table, its errors, its orders,
// picking the table in a folder, and checking an image source against the items.
// Core only (no Widgets), so it runs in builds without the GUI as well.

#include "core/sources/ImageSource.h"
#include "core/results/ResultSnapshot.h"

#include "TestSupport.h"

#include <QTest>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>

using namespace labelprop;
using labelprop::test::writeFile;
namespace fs = std::filesystem;

namespace {

const QByteArray kItems = "index,path,label\n"
                          "0,a.bmp,x\n"
                          "1,b.bmp,y\n"
                          "2,c.bmp,\n"
                          "3,d.bmp,x\n";
const QByteArray kHeader = "index,given,predicted,confidence,margin,issue_score,flagged\n";
// Ties on purpose: items 0 and 3 share a confidence, items 1 and 3 an issue score.
const QByteArray kResult = kHeader + "3,x,y,0.5,0.2,0.9,1\n"
                                     "0,x,x,0.5,0.4,0.1,0\n"
                                     "1,y,x,0.75,0.5,0.9,1\n"
                                     "2,,10,0.25,0.1,0,0\n";

QString writeFolder(const QTemporaryDir& dir, const QByteArray& items, const QByteArray& result,
                    const QString& resultName = QStringLiteral("result.csv"))
{
    writeFile(dir.filePath(QStringLiteral("items.csv")), items);
    writeFile(dir.filePath(resultName), result);
    return dir.path();
}

QList<int> toList(const std::vector<int32_t>& positions, const ResultSnapshot& snapshot)
{
    QList<int> items;
    for (int32_t p : positions)
        items << snapshot.entries[size_t(p)].item;
    return items;
}

} // namespace

class TestResultSnapshot : public QObject {
    Q_OBJECT

private slots:
    void loads();
    void probabilityColumnsAreIgnored();
    void errors_data();
    void errors();
    void orders_data();
    void orders();
    void folderPicksTable();
    void folderErrors();
    void sourceMatches();
};

void TestResultSnapshot::loads()
{
    QTemporaryDir dir;
    const std::string folder = writeFolder(dir, kItems, kResult).toStdString();
    auto snapshot = loadResultSnapshot(folder + "/items.csv", folder + "/result.csv");
    QVERIFY2(snapshot, snapshot ? "" : snapshot.error().message.c_str());
    QCOMPARE(snapshot->items.size(), size_t(4));
    QCOMPARE(snapshot->items[1].path, std::string("b.bmp"));
    QCOMPARE(snapshot->entries.size(), size_t(4));
    QCOMPARE(snapshot->flaggedCount, size_t(2));
    // Class names sorted as the CLI sorts them (not all numeric: byte-wise).
    QCOMPARE(snapshot->classes.names(), (std::vector<std::string>{"10", "x", "y"}));
    // Entries come back sorted by item index whatever the file's row order.
    for (size_t i = 0; i < 4; ++i)
        QCOMPARE(snapshot->entries[i].item, int32_t(i));
    const ResultEntry& e3 = snapshot->entries[3];
    QCOMPARE(snapshot->className(e3.given), std::string("x"));
    QCOMPARE(snapshot->className(e3.predicted), std::string("y"));
    QCOMPARE(e3.confidence, 0.5f);
    QCOMPARE(e3.margin, 0.2f);
    QCOMPARE(e3.issueScore, 0.9f);
    QVERIFY(e3.flagged);
    const ResultEntry& e2 = snapshot->entries[2];
    QCOMPARE(e2.given, -1);
    QCOMPARE(snapshot->className(e2.given), std::string());
    QCOMPARE(snapshot->className(e2.predicted), std::string("10"));
    QVERIFY(!e2.flagged);
}

void TestResultSnapshot::probabilityColumnsAreIgnored()
{
    QTemporaryDir dir;
    const QByteArray result = "index,given,predicted,confidence,margin,issue_score,flagged,x,y\n"
                              "1,y,x,0.75,0.5,0.9,1,0.75,0.25\n";
    const std::string folder = writeFolder(dir, kItems, result).toStdString();
    auto snapshot = loadResultSnapshot(folder + "/items.csv", folder + "/result.csv");
    QVERIFY2(snapshot, snapshot ? "" : snapshot.error().message.c_str());
    QCOMPARE(snapshot->entries.size(), size_t(1));
    QCOMPARE(snapshot->entries[0].item, 1);
    QCOMPARE(snapshot->classes.size(), 2);
}

void TestResultSnapshot::errors_data()
{
    QTest::addColumn<QByteArray>("items");
    QTest::addColumn<QByteArray>("result");
    QTest::addColumn<QString>("message"); // must appear in the error

    QTest::newRow("wrong header") << kItems << QByteArray("index,label\n0,x\n")
                                  << "result.csv:1: the header does not start with";
    QTest::newRow("header with a column missing")
        << kItems << QByteArray("index,given,predicted,confidence,margin,issue_score\n") << "result.csv:1:";
    QTest::newRow("empty result") << kItems << QByteArray() << "result.csv: the file is empty";
    QTest::newRow("unknown index") << kItems << kHeader + "0,x,x,0.5,0.4,0.1,0\n99,x,x,0.5,0.4,0.1,0\n"
                                   << "result.csv:3: index 99 is not an item (";
    QTest::newRow("negative index") << kItems << kHeader + "-1,x,x,0.5,0.4,0.1,0\n"
                                    << "result.csv:2: index -1 is not an item";
    QTest::newRow("index not a number") << kItems << kHeader + "one,x,x,0.5,0.4,0.1,0\n"
                                        << "result.csv:2: index 'one' is not an integer";
    QTest::newRow("duplicate index")
        << kItems << kHeader + "1,x,x,0.5,0.4,0.1,0\n2,x,x,0.5,0.4,0.1,0\n1,x,x,0.5,0.4,0.1,0\n"
        << "result.csv:4: index 1 appears again (first on line 2)";
    QTest::newRow("confidence not a number") << kItems << kHeader + "0,x,x,high,0.4,0.1,0\n"
                                             << "result.csv:2: confidence 'high' is not a number in [0, 1]";
    QTest::newRow("margin out of range") << kItems << kHeader + "0,x,x,0.5,1.5,0.1,0\n"
                                         << "result.csv:2: margin '1.5' is not a number in [0, 1]";
    QTest::newRow("issue score nan") << kItems << kHeader + "0,x,x,0.5,0.5,nan,0\n"
                                     << "result.csv:2: issue_score 'nan' is not a number in [0, 1]";
    QTest::newRow("flagged not 0 or 1") << kItems << kHeader + "0,x,x,0.5,0.4,0.1,yes\n"
                                        << "result.csv:2: flagged 'yes' should be 0 or 1";
    QTest::newRow("too few fields") << kItems << kHeader + "0,x,x,0.5,0.4,0.1\n"
                                    << "result.csv:2: expected 7 fields like the header, found 6";
    QTest::newRow("line after a quoted line break") << kItems
                                                    << kHeader + "0,\"x\ny\",x,0.5,0.4,0.1,0\n1,x,x,0.5,0.4,0.1,2\n"
                                                    << "result.csv:4: flagged '2'";
    QTest::newRow("bad items header") << QByteArray("index,file,label\n0,a.bmp,x\n") << kResult
                                      << "items.csv:1: the header is";
}

void TestResultSnapshot::errors()
{
    QFETCH(QByteArray, items);
    QFETCH(QByteArray, result);
    QFETCH(QString, message);
    QTemporaryDir dir;
    const std::string folder = writeFolder(dir, items, result).toStdString();
    auto snapshot = loadResultSnapshot(folder + "/items.csv", folder + "/result.csv");
    QVERIFY(!snapshot);
    const QString error = QString::fromStdString(snapshot.error().message);
    QVERIFY2(error.contains(message), qPrintable(error));
    QVERIFY2(error.startsWith(QString::fromStdString(folder)), qPrintable(error)); // names the file by its path
}

void TestResultSnapshot::orders_data()
{
    QTest::addColumn<int>("by");
    QTest::addColumn<bool>("flaggedOnly");
    QTest::addColumn<QList<int>>("items");

    QTest::newRow("by index") << int(ResultOrder::ByIndex) << false << QList<int>{0, 1, 2, 3};
    QTest::newRow("least confident first, ties by index") << int(ResultOrder::LeastConfidentFirst) << false
                                                          << QList<int>{2, 0, 3, 1};
    QTest::newRow("most likely wrong first, ties by index") << int(ResultOrder::MostLikelyWrongFirst) << false
                                                            << QList<int>{1, 3, 0, 2};
    QTest::newRow("flagged only, by index") << int(ResultOrder::ByIndex) << true << QList<int>{1, 3};
    QTest::newRow("flagged only, least confident") << int(ResultOrder::LeastConfidentFirst) << true << QList<int>{3, 1};
}

void TestResultSnapshot::orders()
{
    QFETCH(int, by);
    QFETCH(bool, flaggedOnly);
    QFETCH(QList<int>, items);
    QTemporaryDir dir;
    const std::string folder = writeFolder(dir, kItems, kResult).toStdString();
    auto snapshot = loadResultSnapshot(folder + "/items.csv", folder + "/result.csv");
    QVERIFY(snapshot);
    QCOMPARE(toList(snapshot->order(ResultOrder(by), flaggedOnly), *snapshot), items);
}

void TestResultSnapshot::folderPicksTable()
{
    QTemporaryDir dir;
    const QString folder = writeFolder(dir, kItems, kResult);
    // Only result.csv.
    auto snapshot = loadResultFolder(folder.toStdString());
    QVERIFY2(snapshot, snapshot ? "" : snapshot.error().message.c_str());
    QVERIFY(snapshot->resultPath.ends_with("/result.csv"));
    // Both, issues.csv written later: the latest run wins.
    writeFile(dir.filePath(QStringLiteral("issues.csv")), kHeader + "1,y,x,0.75,0.5,0.9,1\n");
    const fs::path result = dir.filePath(QStringLiteral("result.csv")).toStdString();
    const fs::path issues = dir.filePath(QStringLiteral("issues.csv")).toStdString();
    fs::last_write_time(result, fs::last_write_time(issues) - std::chrono::seconds(10));
    snapshot = loadResultFolder(folder.toStdString());
    QVERIFY(snapshot);
    QVERIFY(snapshot->resultPath.ends_with("/issues.csv"));
    QCOMPARE(snapshot->entries.size(), size_t(1));
    // result.csv rewritten later: it wins again.
    fs::last_write_time(result, fs::last_write_time(issues) + std::chrono::seconds(10));
    snapshot = loadResultFolder(folder.toStdString());
    QVERIFY(snapshot);
    QVERIFY(snapshot->resultPath.ends_with("/result.csv"));
    // A table named explicitly, whatever its name; items.csv comes from its folder.
    writeFile(dir.filePath(QStringLiteral("audit-2.csv")), kHeader + "2,,x,0.5,0.5,0,0\n");
    snapshot = loadResultFolder(dir.filePath(QStringLiteral("audit-2.csv")).toStdString());
    QVERIFY(snapshot);
    QCOMPARE(snapshot->entries.size(), size_t(1));
    QCOMPARE(snapshot->entries[0].item, 2);
    QVERIFY(snapshot->itemsPath.ends_with("/items.csv"));
}

void TestResultSnapshot::folderErrors()
{
    QTemporaryDir dir;
    auto snapshot = loadResultFolder(dir.path().toStdString());
    QVERIFY(!snapshot);
    QVERIFY2(snapshot.error().message.find("no items.csv") != std::string::npos, snapshot.error().message.c_str());
    writeFile(dir.filePath(QStringLiteral("items.csv")), kItems);
    snapshot = loadResultFolder(dir.path().toStdString());
    QVERIFY(!snapshot);
    QVERIFY2(snapshot.error().message.find("no result.csv or issues.csv") != std::string::npos,
             snapshot.error().message.c_str());
    snapshot = loadResultFolder(dir.filePath(QStringLiteral("missing.csv")).toStdString());
    QVERIFY(!snapshot);
    QVERIFY2(snapshot.error().message.find("no such file") != std::string::npos, snapshot.error().message.c_str());
}

void TestResultSnapshot::sourceMatches()
{
    QTemporaryDir dir;
    const fs::path images = fs::path(dir.path().toStdString()) / "images";
    fs::create_directories(images);
    for (const char* name : {"a.bmp", "b.bmp", "c.bmp", "d.bmp"})
        QVERIFY(cv::imwrite((images / name).string(), cv::Mat(4, 4, CV_8UC1, cv::Scalar(7))));
    const std::string folder = writeFolder(dir, kItems, kResult).toStdString();
    auto snapshot = loadResultFolder(folder);
    QVERIFY(snapshot);
    auto source = openImageSource(images.string());
    QVERIFY(source);
    QVERIFY(checkSourceMatches(*snapshot, **source));

    QVERIFY(cv::imwrite((images / "e.bmp").string(), cv::Mat(4, 4, CV_8UC1, cv::Scalar(7))));
    source = openImageSource(images.string());
    QVERIFY(source);
    auto fits = checkSourceMatches(*snapshot, **source);
    QVERIFY(!fits);
    QVERIFY2(fits.error().message.find("the image source has 5 items, but " + folder + "/items.csv lists 4")
                 != std::string::npos,
             fits.error().message.c_str());

    fs::remove(images / "e.bmp");
    fs::rename(images / "c.bmp", images / "cc.bmp");
    source = openImageSource(images.string());
    QVERIFY(source);
    fits = checkSourceMatches(*snapshot, **source);
    QVERIFY(!fits);
    const std::string differs = "item 2 of the image source is 'cc.bmp', but " + folder + "/items.csv says 'c.bmp'";
    QVERIFY2(fits.error().message.find(differs) != std::string::npos, fits.error().message.c_str());
}

QTEST_GUILESS_MAIN(TestResultSnapshot)
#include "tst_result_snapshot.moc"
