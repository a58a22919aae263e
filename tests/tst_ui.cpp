// The desktop app's ui/ layer: thumbnails made on workers (bounded LRU, visible first), the grid
// model (checked by QAbstractItemModelTester), and the result viewer window driven through its
// widgets. Runs on the offscreen platform. Async results are awaited with QSignalSpy::wait().

#include "core/results/ResultSnapshot.h"
#include "ui/ItemGridModel.h"
#include "ui/ResultViewerWindow.h"
#include "ui/ThumbnailCache.h"
#include "ui/TileGrid.h"
#include "ui/ViewGeometry.h"

#include "TestSupport.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QListView>
#include <QScrollBar>
#include <QPaintEvent>
#include <QSignalSpy>
#include <QStringListModel>
#include <QTest>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>

using namespace labelprop;
using namespace labelprop::ui;
using labelprop::test::writeFile;
namespace fs = std::filesystem;

namespace {

constexpr int kWaitMs = 10000;

// A results folder over a folder source of seven BMPs (the last one is corrupt):
//   <dir>/items.csv, <dir>/result.csv, <dir>/images/i0.bmp .. i6.bmp
struct Fixture {
    QTemporaryDir dir;
    QString images;
    static constexpr int kItems = 7;

    Fixture()
    {
        images = dir.filePath(QStringLiteral("images"));
        fs::create_directories(images.toStdString());
        const auto image = [this](int i) { return images.toStdString() + "/i" + std::to_string(i) + ".bmp"; };
        cv::imwrite(image(0), cv::Mat(28, 28, CV_8UC1, cv::Scalar(10)));
        cv::imwrite(image(1), cv::Mat(20, 40, CV_8UC3, cv::Scalar(0, 0, 255))); // red, BGR order
        cv::imwrite(image(2), cv::Mat(28, 28, CV_8UC1, cv::Scalar(200)));
        cv::imwrite(image(3), cv::Mat(40, 20, CV_8UC3, cv::Scalar(0, 255, 0)));
        cv::imwrite(image(4), cv::Mat(28, 28, CV_8UC1, cv::Scalar(50)));
        cv::imwrite(image(5), cv::Mat(28, 28, CV_8UC1, cv::Scalar(100)));
        writeFile(QString::fromStdString(image(6)), "BM this is not an image");
        QByteArray items = "index,path,label\n";
        for (int i = 0; i < kItems; ++i)
            items += QByteArray::number(i) + ",i" + QByteArray::number(i) + ".bmp,\n";
        writeFile(dir.filePath(QStringLiteral("items.csv")), items);
        writeFile(dir.filePath(QStringLiteral("result.csv")),
                  "index,given,predicted,confidence,margin,issue_score,flagged\n"
                  "0,Coat,Coat,0.9,0.8,0.05,0\n"
                  "1,Bag,Coat,0.6,0.3,0.95,1\n"
                  "2,,Bag,0.3,0.1,0,0\n"
                  "3,,Coat,0.95,0.9,0,0\n"
                  "4,Coat,Bag,0.7,0.4,0.8,1\n"
                  "5,,,0,0,0,0\n"
                  "6,Bag,Bag,0.5,0.2,0.1,0\n");
    }

    [[nodiscard]] std::shared_ptr<const ResultSnapshot> snapshot() const
    {
        auto loaded = loadResultFolder(dir.path().toStdString());
        if (!loaded)
            qFatal("%s", loaded.error().message.c_str());
        return std::make_shared<const ResultSnapshot>(std::move(*loaded));
    }

    [[nodiscard]] std::shared_ptr<const ImageSource> source() const
    {
        auto opened = openImageSource(images.toStdString());
        if (!opened)
            qFatal("%s", opened.error().message.c_str());
        return std::shared_ptr<const ImageSource>(std::move(*opened));
    }
};

// True once `spy` has caught its signal: already, or within kWaitMs of event processing.
bool caught(QSignalSpy& spy)
{
    return !spy.isEmpty() || spy.wait(kWaitMs);
}

// Waits (through the event loop, never sleeping) until `cache` has no work left.
bool waitIdle(ThumbnailCache& cache)
{
    QSignalSpy idle(&cache, &ThumbnailCache::idle);
    return cache.isIdle() || idle.wait(kWaitMs);
}

QList<int> itemsInRows(const ItemGridModel& model)
{
    QList<int> items;
    for (int row = 0; row < model.rowCount(); ++row)
        items << model.itemAt(row);
    return items;
}

} // namespace

class TestUi : public QObject {
    Q_OBJECT

private slots:
    void thumbnailImage();
    void thumbnailsArrive();
    void thumbnailsKeptOnDisk();
    void byteBudgetAndResize();
    void lruEviction();
    void prioritizeDropsScrolledAway();
    void noSourceNoRequests();
    void modelTester();
    void modelRoles();
    void modelCoalescesDataChanged();
    void windowLoadsFolder();
    void windowReportsErrors();
    void visibleRangeMatchesViewport();
    void tileGridRepaintsVisibleChangesOnly();
};

void TestUi::thumbnailImage()
{
    const QImage gray = ui::thumbnailImage(cv::Mat(28, 28, CV_8UC1, cv::Scalar(77)), QSize(96, 96));
    QCOMPARE(gray.size(), QSize(96, 96));
    QCOMPARE(gray.format(), QImage::Format_Grayscale8);
    QCOMPARE(qGray(gray.pixel(50, 50)), 77);
    const QImage wide = ui::thumbnailImage(cv::Mat(100, 400, CV_8UC3, cv::Scalar(255, 0, 0)), QSize(96, 96));
    QCOMPARE(wide.size(), QSize(96, 24)); // aspect ratio kept
    QCOMPARE(wide.pixelColor(48, 12), QColor(0, 0, 255)); // BGR blue is blue
    QVERIFY(ui::thumbnailImage(cv::Mat(), QSize(96, 96)).isNull());
    QVERIFY(ui::thumbnailImage(cv::Mat(4, 4, CV_16UC1), QSize(96, 96)).isNull());
}

void TestUi::thumbnailsArrive()
{
    Fixture f;
    ThumbnailCache cache(QSize(64, 64), 100);
    cache.setSource(f.source());
    QSignalSpy ready(&cache, &ThumbnailCache::thumbnailsReady);
    for (int i = 0; i < Fixture::kItems; ++i)
        cache.request(i);
    QSet<int> arrived;
    while (arrived.size() < Fixture::kItems) {
        if (ready.isEmpty())
            QVERIFY(ready.wait(kWaitMs));
        for (int item : ready.takeFirst().at(0).value<QList<int>>())
            arrived.insert(item);
    }
    for (int i = 0; i < Fixture::kItems; ++i)
        QVERIFY(cache.contains(i));
    const auto* red = cache.find(1);
    QVERIFY(red && red->error.isEmpty());
    QCOMPARE(red->pixmap.size(), QSize(64, 32));
    QCOMPARE(red->pixmap.toImage().pixelColor(32, 16), QColor(255, 0, 0));
    const auto* green = cache.find(3);
    QCOMPARE(green->pixmap.size(), QSize(32, 64));
    QCOMPARE(green->pixmap.toImage().pixelColor(16, 32), QColor(0, 255, 0));
    QCOMPARE(qGray(cache.find(2)->pixmap.toImage().pixel(10, 10)), 200);
    const auto* broken = cache.find(6);
    QVERIFY(broken && broken->pixmap.isNull());
    QVERIFY2(broken->error.contains(QStringLiteral("i6.bmp")), qPrintable(broken->error));
    // Nothing is decoded twice: a cached item is not requested again.
    cache.request(1);
    QVERIFY(cache.isIdle());
}

// With a disk cache, a decoded thumbnail is written under its content hash, and a new cache over
// images that are gone reads it back instead of failing.
void TestUi::thumbnailsKeptOnDisk()
{
    Fixture f;
    QTemporaryDir disk;
    std::vector<ContentHash> hashes(Fixture::kItems);
    for (int i = 0; i < Fixture::kItems; ++i)
        hashes[std::size_t(i)] = hashText("item " + std::to_string(i));
    hashes[2] = ContentHash{}; // zero: never kept
    auto shared = std::make_shared<const std::vector<ContentHash>>(hashes);
    const auto source = f.source(); // lists the items; decoding reads the files each time
    {
        ThumbnailCache cache(QSize(64, 64), 100);
        cache.setSource(source);
        cache.setDiskCache(disk.path(), shared);
        QSignalSpy ready(&cache, &ThumbnailCache::thumbnailsReady);
        for (int i = 0; i < Fixture::kItems; ++i)
            cache.request(i);
        QVERIFY(waitIdle(cache));
    }
    const QString file = disk.path() + QStringLiteral("/64x64/") + QString::fromStdString(hashes[1].hex()).left(2) + QLatin1Char('/')
                         + QString::fromStdString(hashes[1].hex()) + QStringLiteral(".jpg");
    QVERIFY2(QFileInfo::exists(file), qPrintable(file));
    QVERIFY(!QDir(disk.path() + QStringLiteral("/64x64/") + QString::fromStdString(hashes[6].hex()).left(2)).exists()
            || !QFileInfo::exists(disk.path() + QStringLiteral("/64x64/") + QString::fromStdString(hashes[6].hex()).left(2)
                                  + QLatin1Char('/') + QString::fromStdString(hashes[6].hex()) + QStringLiteral(".jpg")));
    // The images go away; the thumbnails kept on disk still show.
    for (const auto& e : fs::directory_iterator(f.images.toStdString()))
        fs::remove(e.path());
    ThumbnailCache again(QSize(64, 64), 100);
    again.setSource(source);
    again.setDiskCache(disk.path(), shared);
    again.request(1);
    again.request(2);
    QVERIFY(waitIdle(again));
    QVERIFY(again.find(1) && !again.find(1)->pixmap.isNull());
    QCOMPARE(again.find(1)->pixmap.size(), QSize(64, 32));
    QVERIFY(again.find(2) && again.find(2)->pixmap.isNull()); // not kept: decoding it fails now
}

void TestUi::byteBudgetAndResize()
{
    Fixture f;
    ThumbnailCache cache(QSize(64, 64), 100);
    cache.setByteBudget(3 * 64 * 64 * 4); // room for three 64 x 64 thumbnails
    cache.setSource(f.source());
    for (int i = 0; i < 6; ++i)
        cache.request(i);
    QVERIFY(waitIdle(cache));
    int kept = 0;
    for (int i = 0; i < 6; ++i)
        kept += cache.contains(i);
    QVERIFY2(kept >= 2 && kept <= 5, qPrintable(QString::number(kept))); // bounded by bytes, not by count
    cache.setThumbnailSize(QSize(32, 32));
    QCOMPARE(cache.thumbnailSize(), QSize(32, 32));
    for (int i = 0; i < 6; ++i)
        QVERIFY(!cache.contains(i)); // other size: forgotten
    cache.request(0);
    QVERIFY(waitIdle(cache));
    QCOMPARE(cache.find(0)->pixmap.size(), QSize(32, 32));
}

void TestUi::lruEviction()
{
    Fixture f;
    ThumbnailCache cache(QSize(32, 32), 3, 1);
    cache.setSource(f.source());
    for (int i : {0, 1, 2})
        cache.request(i);
    QVERIFY(waitIdle(cache));
    QVERIFY(cache.contains(0) && cache.contains(1) && cache.contains(2));
    QVERIFY(cache.find(0)); // 0 is now more recently used than 1
    cache.request(3);
    QVERIFY(waitIdle(cache));
    QVERIFY(cache.contains(0));
    QVERIFY(!cache.contains(1)); // least recently used: evicted
    QVERIFY(cache.contains(2));
    QVERIFY(cache.contains(3));
}

void TestUi::prioritizeDropsScrolledAway()
{
    Fixture f;
    ThumbnailCache cache(QSize(32, 32), 100, 1);
    cache.setSource(f.source());
    for (int i = 0; i < 5; ++i)
        cache.request(i); // queued; decoding starts when the event loop runs
    QCOMPARE(cache.queuedCount(), 5);
    const int visible[] = {5};
    const int prefetch[] = {4};
    cache.prioritize(visible, prefetch); // the user scrolled: only 5, then 4, are still wanted
    QVERIFY(waitIdle(cache));
    QVERIFY(cache.contains(5));
    QVERIFY(cache.contains(4));
    for (int i = 0; i < 4; ++i)
        QVERIFY2(!cache.contains(i), qPrintable(QString::number(i)));
}

void TestUi::noSourceNoRequests()
{
    ThumbnailCache cache;
    cache.request(0);
    QVERIFY(cache.isIdle());
    QVERIFY(!cache.find(0));
    QVERIFY(!cache.placeholder().isNull());
}

void TestUi::modelTester()
{
    Fixture f;
    ThumbnailCache cache(QSize(32, 32), 100);
    ItemGridModel model(&cache);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const auto snapshot = f.snapshot();
    model.setSnapshot(snapshot, snapshot->order(ResultOrder::ByIndex));
    QCOMPARE(model.rowCount(), Fixture::kItems);
    cache.setSource(f.source());
    for (int row = 0; row < model.rowCount(); ++row)
        (void)model.data(model.index(row), Qt::DecorationRole); // queues every thumbnail
    QVERIFY(waitIdle(cache)); // dataChanged went through the tester meanwhile
    model.setOrder(snapshot->order(ResultOrder::MostLikelyWrongFirst, true));
    QCOMPARE(model.rowCount(), 2);
    model.setOrder({});
    QCOMPARE(model.rowCount(), 0);
    model.setSnapshot(nullptr, {});
    QCOMPARE(model.rowCount(), 0);
    QVERIFY_THROWS_EXCEPTION(std::out_of_range, model.setOrder({0}));
}

void TestUi::modelRoles()
{
    Fixture f;
    ItemGridModel model(nullptr);
    const auto snapshot = f.snapshot();
    model.setSnapshot(snapshot, snapshot->order(ResultOrder::MostLikelyWrongFirst));
    QCOMPARE(itemsInRows(model), (QList<int>{1, 4, 6, 0, 2, 3, 5}));
    QCOMPARE(model.rowOfItem(4), 1);
    QCOMPARE(model.rowOfItem(99), -1);
    const QModelIndex first = model.index(0);
    QCOMPARE(first.data(Qt::DisplayRole).toString(), QStringLiteral("Coat 60%"));
    QCOMPARE(first.data(ItemGridModel::FlaggedRole).toBool(), true);
    QCOMPARE(first.data(ItemGridModel::GivenRole).toString(), QStringLiteral("Bag"));
    QCOMPARE(first.data(ItemGridModel::PredictedRole).toString(), QStringLiteral("Coat"));
    QCOMPARE(first.data(ItemGridModel::PathRole).toString(), QStringLiteral("i1.bmp"));
    QCOMPARE(first.data(ItemGridModel::IssueScoreRole).toDouble(), double(0.95f));
    const QString tip = first.data(Qt::ToolTipRole).toString();
    for (const char* part : {"Item 1: i1.bmp", "Given: Bag", "Predicted: Coat", "Confidence: 60%", "Issue score: 0.950",
                             "Flagged"})
        QVERIFY2(tip.contains(QLatin1String(part)), qPrintable(tip));
    QVERIFY(!first.data(Qt::DecorationRole).isValid()); // no cache: no picture
    const QModelIndex unreached = model.index(model.rowOfItem(5));
    QCOMPARE(unreached.data(Qt::DisplayRole).toString(), QStringLiteral("(not reached) 0%"));
    QVERIFY(unreached.data(Qt::ToolTipRole).toString().contains(QStringLiteral("Given: (none)")));
    QCOMPARE(unreached.data(ItemGridModel::FlaggedRole).toBool(), false);
    // Re-ordering updates the item -> row map.
    model.setOrder(snapshot->order(ResultOrder::LeastConfidentFirst));
    QCOMPARE(itemsInRows(model), (QList<int>{5, 2, 6, 1, 4, 0, 3}));
    QCOMPARE(model.rowOfItem(4), 4);
    model.setOrder(snapshot->order(ResultOrder::ByIndex, true));
    QCOMPARE(model.rowOfItem(0), -1);
    QCOMPARE(model.rowOfItem(4), 1);
}

void TestUi::modelCoalescesDataChanged()
{
    Fixture f;
    ThumbnailCache cache(QSize(32, 32), 100);
    cache.setSource(f.source());
    ItemGridModel model(&cache);
    const auto snapshot = f.snapshot();
    model.setSnapshot(snapshot, snapshot->order(ResultOrder::ByIndex));
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    for (int row = 0; row < model.rowCount(); ++row) {
        // A missing thumbnail is the placeholder (and a queued request), never a wait.
        const auto picture = model.index(row).data(Qt::DecorationRole).value<QPixmap>();
        QCOMPARE(picture.cacheKey(), cache.placeholder().cacheKey());
    }
    QVERIFY(waitIdle(cache));
    QVERIFY(!changed.isEmpty());
    QSet<int> rows;
    for (const auto& args : changed) {
        const auto top = args.at(0).value<QModelIndex>().row();
        const auto bottom = args.at(1).value<QModelIndex>().row();
        QVERIFY(args.at(2).value<QList<int>>().contains(Qt::DecorationRole));
        for (int row = top; row <= bottom; ++row)
            rows.insert(row);
    }
    QCOMPARE(rows.size(), Fixture::kItems);
    const auto red = model.index(1).data(Qt::DecorationRole).value<QPixmap>();
    QCOMPARE(red.size(), QSize(32, 16));
    const auto broken = model.index(6).data(Qt::DecorationRole).value<QPixmap>();
    QCOMPARE(broken.cacheKey(), cache.brokenPlaceholder().cacheKey());
    QVERIFY(model.index(6).data(Qt::ToolTipRole).toString().contains(QStringLiteral("i6.bmp")));

    // One batch of arrivals becomes one dataChanged per run of consecutive rows; rows not shown
    // are skipped.
    model.setOrder(snapshot->order(ResultOrder::MostLikelyWrongFirst)); // rows: items 1 4 6 0 2 3 5
    changed.clear();
    emit cache.thumbnailsReady({5, 1, 6, 4, 3});
    QCOMPARE(changed.size(), 2);
    QCOMPARE(changed.at(0).at(0).value<QModelIndex>().row(), 0);
    QCOMPARE(changed.at(0).at(1).value<QModelIndex>().row(), 2);
    QCOMPARE(changed.at(1).at(0).value<QModelIndex>().row(), 5);
    QCOMPARE(changed.at(1).at(1).value<QModelIndex>().row(), 6);
    model.setOrder(snapshot->order(ResultOrder::ByIndex, true)); // rows: items 1 4
    changed.clear();
    emit cache.thumbnailsReady({0, 2, 4});
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed.at(0).at(0).value<QModelIndex>().row(), 1);
    QCOMPARE(changed.at(0).at(1).value<QModelIndex>().row(), 1);
}

void TestUi::windowLoadsFolder()
{
    Fixture f;
    ResultViewerWindow window;
    window.resize(900, 600);
    window.show();
    QSignalSpy loaded(&window, &ResultViewerWindow::resultsLoaded);
    QSignalSpy opened(&window, &ResultViewerWindow::sourceOpened);
    QSignalSpy visible(&window, &ResultViewerWindow::visibleThumbnailsReady);
    QSignalSpy errors(&window, &ResultViewerWindow::errorOccurred);
    window.openSource(f.images);
    window.openResults(f.dir.path());
    QVERIFY(loaded.wait(kWaitMs));
    QVERIFY(caught(opened));
    QCOMPARE(errors.size(), 0);

    auto* view = window.findChild<QListView*>(QStringLiteral("itemGrid"));
    auto* counts = window.findChild<QLabel*>(QStringLiteral("counts"));
    auto* flaggedOnly = window.findChild<QCheckBox*>(QStringLiteral("flaggedOnly"));
    auto* order = window.findChild<QComboBox*>(QStringLiteral("order"));
    QVERIFY(view && counts && flaggedOnly && order);
    QCOMPARE(view->model()->rowCount(), Fixture::kItems);
    QCOMPARE(counts->text(), QStringLiteral("7 items · 7 results · 2 flagged · showing 7"));
    QCOMPARE(itemsInRows(window.model()), (QList<int>{1, 4, 6, 0, 2, 3, 5})); // most likely wrong first
    // Every visible cell gets its thumbnail.
    QVERIFY(caught(visible));
    for (int row = 0; row < Fixture::kItems; ++row)
        QVERIFY(window.thumbnails().contains(window.model().itemAt(row)));

    QTest::mouseClick(flaggedOnly, Qt::LeftButton);
    QVERIFY(flaggedOnly->isChecked());
    QCOMPARE(view->model()->rowCount(), 2);
    QCOMPARE(counts->text(), QStringLiteral("7 items · 7 results · 2 flagged · showing 2"));
    QTest::keyClick(order, Qt::Key_Down); // least confident first
    QCOMPARE(itemsInRows(window.model()), (QList<int>{1, 4}));
    QTest::mouseClick(flaggedOnly, Qt::LeftButton);
    QCOMPARE(itemsInRows(window.model()), (QList<int>{5, 2, 6, 1, 4, 0, 3}));
    QCOMPARE(counts->text(), QStringLiteral("7 items · 7 results · 2 flagged · showing 7"));
}

void TestUi::windowReportsErrors()
{
    Fixture f;
    ResultViewerWindow window;
    QSignalSpy errors(&window, &ResultViewerWindow::errorOccurred);
    // A bad result table: the message names the file and the line.
    writeFile(f.dir.filePath(QStringLiteral("result.csv")),
              "index,given,predicted,confidence,margin,issue_score,flagged\n0,,x,0.5,0.5,0,0\n42,,x,0.5,0.5,0,0\n");
    window.openResults(f.dir.path());
    QVERIFY(errors.wait(kWaitMs));
    const QString bad = errors.takeFirst().at(0).toString();
    QVERIFY2(bad.contains(f.dir.filePath(QStringLiteral("result.csv:3: index 42 is not an item"))), qPrintable(bad));
    QCOMPARE(window.model().rowCount(), 0);

    // A source that is not the one items.csv came from.
    writeFile(f.dir.filePath(QStringLiteral("result.csv")),
              "index,given,predicted,confidence,margin,issue_score,flagged\n0,,x,0.5,0.5,0,0\n");
    QSignalSpy loaded(&window, &ResultViewerWindow::resultsLoaded);
    window.openResults(f.dir.path());
    QVERIFY(loaded.wait(kWaitMs));
    QCOMPARE(window.model().rowCount(), 1);
    fs::remove(f.images.toStdString() + "/i6.bmp");
    window.openSource(f.images);
    QVERIFY(errors.wait(kWaitMs));
    const QString mismatch = errors.takeFirst().at(0).toString();
    QVERIFY2(mismatch.contains(QStringLiteral("the image source has 6 items, but")), qPrintable(mismatch));
    QVERIFY(!window.thumbnails().source());
}

void TestUi::visibleRangeMatchesViewport()
{
    // 500 items, no source: placeholders only. The computed range must be exactly the rows whose
    // cells intersect the viewport, before and after scrolling.
    QTemporaryDir dir;
    QByteArray items = "index,path,label\n";
    QByteArray result = "index,given,predicted,confidence,margin,issue_score,flagged\n";
    for (int i = 0; i < 500; ++i) {
        items += QByteArray::number(i) + ",p" + QByteArray::number(i) + ".png,\n";
        result += QByteArray::number(i) + ",,c,0.5,0.5,0,0\n";
    }
    writeFile(dir.filePath(QStringLiteral("items.csv")), items);
    writeFile(dir.filePath(QStringLiteral("result.csv")), result);
    ResultViewerWindow window;
    window.resize(700, 500);
    window.show();
    QSignalSpy visible(&window, &ResultViewerWindow::visibleThumbnailsReady);
    window.openResults(dir.path());
    QVERIFY(visible.wait(kWaitMs));
    auto* view = window.findChild<QListView*>(QStringLiteral("itemGrid"));
    const QRect viewport = view->viewport()->rect();
    const auto check = [&] {
        const auto [first, last] = visibleRowRange(*view);
        QVERIFY(first <= last);
        for (int row = first; row <= last; ++row)
            QVERIFY2(view->visualRect(view->model()->index(row, 0)).intersects(viewport),
                     qPrintable(QString::number(row)));
        if (first > 0)
            QVERIFY(!view->visualRect(view->model()->index(first - 1, 0)).intersects(viewport));
        if (last + 1 < 500)
            QVERIFY(!view->visualRect(view->model()->index(last + 1, 0)).intersects(viewport));
    };
    check();
    QCOMPARE(visibleRowRange(*view).first, 0);
    QVERIFY(view->verticalScrollBar()->maximum() > 0);
    view->verticalScrollBar()->setValue(view->verticalScrollBar()->maximum() / 2 + 7);
    check();
    QVERIFY(visibleRowRange(*view).first > 0);
    view->verticalScrollBar()->setValue(view->verticalScrollBar()->maximum());
    check();
    QCOMPARE(visibleRowRange(*view).second, 499);
}

namespace {
// A list model that can announce a change of any span of its rows.
class SpanModel final : public QStringListModel {
public:
    using QStringListModel::QStringListModel;
    void announce(int first, int last) { emit dataChanged(index(first), index(last)); }
};

// Unites the regions of the paint events a widget receives.
class PaintRecorder final : public QObject {
public:
    QRegion painted;
    int paints = 0;

protected:
    bool eventFilter(QObject*, QEvent* event) override
    {
        if (event->type() == QEvent::Paint) {
            painted += static_cast<QPaintEvent*>(event)->region();
            ++paints;
        }
        return false;
    }
};
} // namespace

void TestUi::tileGridRepaintsVisibleChangesOnly()
{
    // 20,000 cells, a few dozen visible: a change announced over every row repaints the visible
    // cells (clipped to them, not the 20,000 rects united), and one wholly off screen none.
    QStringList names;
    for (int i = 0; i < 20000; ++i)
        names << QString::number(i);
    SpanModel model(names);
    TileGrid grid;
    grid.setViewMode(QListView::IconMode);
    grid.setUniformItemSizes(true);
    grid.setGridSize(QSize(80, 60));
    grid.setModel(&model);
    grid.resize(420, 300);
    grid.show();
    QVERIFY(QTest::qWaitForWindowExposed(&grid));
    QApplication::processEvents();
    const auto [first, last] = visibleRowRange(grid);
    QVERIFY(first == 0 && last > 10 && last < 200);
    PaintRecorder recorder;
    grid.viewport()->installEventFilter(&recorder);

    model.announce(last + 1000, 19999);
    QApplication::processEvents();
    QCOMPARE(recorder.paints, 0);

    model.announce(0, 19999);
    QApplication::processEvents();
    QVERIFY(recorder.paints > 0);
    for (int row = first; row <= last; ++row) {
        const QRect cell = grid.visualRect(model.index(row)).intersected(grid.viewport()->rect());
        QVERIFY2(recorder.painted.contains(cell), qPrintable(QString("row %1 was not repainted").arg(row)));
    }

    // A short range goes to QListView as it is.
    recorder.painted = {};
    recorder.paints = 0;
    model.announce(3, 4);
    QApplication::processEvents();
    QVERIFY(recorder.painted.contains(grid.visualRect(model.index(3))));
}

QTEST_MAIN(TestUi)
#include "tst_ui.moc"
