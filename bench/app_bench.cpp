// labelprop-app-bench: drives the real labeling window (run it with QT_QPA_PLATFORM=offscreen) and
// measures what an annotator feels, printing medians, 95th percentiles and maxima:
//   - open: openProject() to the first painted grid, and to every visible thumbnail painted;
//   - click: key press (a class key on a visible tile) to the end of the viewport paint that shows
//     the new propagation (an event filter on the viewport's paint events), over --clicks clicks;
//   - scroll: a page down to the end of its paint, over --scrolls pages;
//   - stall: the longest gap between ticks of a 5 ms timer on the GUI thread while a project is
//     created and opened (import, encoding, graph search, first propagation), with --create-from;
//   - undo: Ctrl+Z to the store's answer and to the propagation updated, over --undos undos;
//   - close: File > Close Project, the longest GUI stall until the save finished in the background;
//   - peak RSS of the process.
// Usage: labelprop-app-bench --project P.labelprop [--create-from SOURCE [--classes FILE]]
//                            [--clicks 300] [--scrolls 200] [--undos 20] [--size 1366x768] [--seed 1]

#include "ui/AppSettings.h"
#include "ui/MainWindow.h"
#include "ui/ProjectView.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QListView>
#include <QScrollBar>
#include <QStandardPaths>
#include <QTest>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace labelprop::ui;

namespace {

// Paints the viewport itself and notes when each paint ended (ms since `clock` started).
class PaintClock final : public QObject {
public:
    explicit PaintClock(const QElapsedTimer& clock)
        : m_clock(clock)
    {
    }
    double lastPaintEnd = -1.0;
    int paints = 0;
    std::function<void()> onPaint; // called after each paint

protected:
    bool eventFilter(QObject* watched, QEvent* event) override
    {
        if (event->type() != QEvent::Paint || m_inside)
            return false;
        m_inside = true;
        QCoreApplication::sendEvent(watched, event); // paint now (this filter lets it through), then note the time
        m_inside = false;
        lastPaintEnd = double(m_clock.nsecsElapsed()) / 1e6;
        ++paints;
        if (onPaint)
            onPaint();
        return true;
    }

private:
    const QElapsedTimer& m_clock;
    bool m_inside = false;
};

struct Stats {
    double median = 0, p95 = 0, max = 0;
    std::size_t n = 0;
};

Stats stats(std::vector<double> v)
{
    Stats s;
    s.n = v.size();
    if (v.empty())
        return s;
    std::sort(v.begin(), v.end());
    s.median = v[v.size() / 2];
    s.p95 = v[std::min(v.size() - 1, std::size_t(0.95 * double(v.size())))];
    s.max = v.back();
    return s;
}

double peakRssMiB()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stod(line.substr(6)) / 1024.0;
    return 0.0;
}

// The longest gap between ticks of a 5 ms timer on the GUI thread while it runs: how long the
// window could not react.
class StallMeter final {
public:
    explicit StallMeter(const QElapsedTimer& clock)
        : m_clock(clock)
    {
        m_tick.setInterval(5);
        QObject::connect(&m_tick, &QTimer::timeout, [this] {
            const double now = double(m_clock.nsecsElapsed()) / 1e6;
            m_worst = std::max(m_worst, now - m_last);
            m_last = now;
        });
    }
    void start()
    {
        m_last = double(m_clock.nsecsElapsed()) / 1e6;
        m_worst = 0;
        m_tick.start();
    }
    double stop()
    {
        m_tick.stop();
        return m_worst;
    }

private:
    const QElapsedTimer& m_clock;
    QTimer m_tick;
    double m_last = 0, m_worst = 0;
};

bool waitFor(const std::function<bool()>& done, int timeoutMs)
{
    return QTest::qWaitFor(done, timeoutMs);
}

// Runs the event loop until `done()` holds, checking it after each paint and each `signal` of
// `sender`, never sleeping (QTest::qWaitFor sleeps 10 ms between rounds, which would be timed too).
template <class Sender, class Signal>
bool runUntil(PaintClock& paints, Sender* sender, Signal signal, const std::function<bool()>& done, int timeoutMs)
{
    QEventLoop loop;
    bool ok = false;
    const auto check = [&] {
        if (!ok && done()) {
            ok = true;
            loop.quit();
        }
    };
    paints.onPaint = check;
    const auto connection = QObject::connect(sender, signal, &loop, [&] {
        check();
        QTimer::singleShot(110, &loop, check); // nothing visible to repaint: done() decides by time
    });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    QTimer::singleShot(0, &loop, check);
    loop.exec();
    QObject::disconnect(connection);
    paints.onPaint = nullptr;
    return ok;
}

void print(const char* what, const Stats& s, const char* unit)
{
    std::printf("%-44s median %8.2f  p95 %8.2f  max %8.2f %s  (n = %zu)\n", what, s.median, s.p95, s.max, unit, s.n);
}

} // namespace

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true); // never touch the user's settings
    QCommandLineParser parser;
    parser.addHelpOption();
    const QCommandLineOption project(QStringLiteral("project"), QStringLiteral("Project file."), QStringLiteral("FILE"));
    const QCommandLineOption createFrom(QStringLiteral("create-from"), QStringLiteral("Create the project from SOURCE first."),
                                        QStringLiteral("SOURCE"));
    const QCommandLineOption classes(QStringLiteral("classes"), QStringLiteral("Class names file for --create-from."),
                                     QStringLiteral("FILE"));
    const QCommandLineOption clicks(QStringLiteral("clicks"), QStringLiteral("Clicks to time."), QStringLiteral("N"),
                                    QStringLiteral("300"));
    const QCommandLineOption scrolls(QStringLiteral("scrolls"), QStringLiteral("Pages to scroll."), QStringLiteral("N"),
                                     QStringLiteral("200"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size."), QStringLiteral("WxH"),
                                  QStringLiteral("1366x768"));
    const QCommandLineOption undos(QStringLiteral("undos"), QStringLiteral("Undos to time (after the clicks)."),
                                   QStringLiteral("N"), QStringLiteral("20"));
    const QCommandLineOption seed(QStringLiteral("seed"), QStringLiteral("Random seed."), QStringLiteral("N"), QStringLiteral("1"));
    parser.addOptions({project, createFrom, classes, clicks, scrolls, undos, size, seed});
    parser.process(app);
    if (!parser.isSet(project)) {
        std::fprintf(stderr, "labelprop-app-bench: --project is required\n");
        return 2;
    }
    const QString path = parser.value(project);
    const auto wh = parser.value(size).split(QLatin1Char('x'));
    AppSettings::setAdvanceAfterLabel(false); // every click labels a tile the benchmark chose
    const int kTimeoutMs = qEnvironmentVariableIntValue("LABELPROP_BENCH_TIMEOUT_MS") > 0 ? qEnvironmentVariableIntValue("LABELPROP_BENCH_TIMEOUT_MS") : 600000;
    QElapsedTimer clock;
    clock.start();

    if (parser.isSet(createFrom)) {
        MainWindow creator;
        creator.resize(wh.value(0).toInt(), wh.value(1).toInt());
        creator.show();
        QStringList names;
        if (parser.isSet(classes)) {
            QFile f(parser.value(classes));
            if (f.open(QIODevice::ReadOnly))
                for (const auto& l : QString::fromUtf8(f.readAll()).split(QLatin1Char('\n')))
                    if (!l.trimmed().isEmpty())
                        names << l.trimmed();
        }
        StallMeter stall(clock);
        bool ready = false;
        QObject::connect(&creator, &MainWindow::visibleThumbnailsReady, [&] { ready = true; });
        QObject::connect(&creator, &MainWindow::errorShown, [&](const QString& m) {
            std::fprintf(stderr, "error: %s\n", qUtf8Printable(m));
            QApplication::exit(1);
        });
        const double t0 = double(clock.nsecsElapsed()) / 1e6;
        stall.start();
        creator.newProject(parser.value(createFrom), path, names);
        if (!waitFor([&] { return ready; }, kTimeoutMs))
            return 1;
        const double worst = stall.stop();
        std::printf("%-44s %8.2f s\n", "create + open to painted thumbnails", (double(clock.nsecsElapsed()) / 1e6 - t0) / 1000);
        std::printf("%-44s %8.1f ms\n", "longest GUI stall while creating", worst);
    }

    MainWindow w;
    w.resize(wh.value(0).toInt(), wh.value(1).toInt());
    w.show();
    w.activateWindow(); // the class keys are window shortcuts: they need the active window
    if (!QTest::qWaitForWindowExposed(&w) || !QTest::qWaitForWindowActive(&w)) {
        std::fprintf(stderr, "labelprop-app-bench: the window was never shown and activated\n");
        return 1;
    }
    bool thumbnails = false, opened = false;
    QObject::connect(&w, &MainWindow::visibleThumbnailsReady, [&] { thumbnails = true; });
    QObject::connect(&w, &MainWindow::projectOpened, [&] { opened = true; });
    QObject::connect(&w, &MainWindow::errorShown, [&](const QString& m) { std::fprintf(stderr, "error: %s\n", qUtf8Printable(m)); });
    QObject::connect(&w.session(), &ProjectSession::message, [&](const QString& m) { std::fprintf(stderr, "message: %s\n", qUtf8Printable(m)); });
    auto* view = w.projectView();
    auto* viewport = view->grid()->viewport();
    PaintClock paints(clock);
    viewport->installEventFilter(&paints);
    StallMeter openStall(clock);
    openStall.start();
    const double open0 = double(clock.nsecsElapsed()) / 1e6;
    // Where the open spends its time: when each stage first reports.
    QString lastStage;
    QObject::connect(&w.session(), &ProjectSession::progress, [&](const QString& stage, double) {
        if (stage != lastStage && qEnvironmentVariableIsSet("LABELPROP_BENCH_STAGES"))
            std::printf("  %7.3f s  %s\n", (double(clock.nsecsElapsed()) / 1e6 - open0) / 1000, qUtf8Printable(stage));
        lastStage = stage;
    });
    QObject::connect(&w, &MainWindow::projectOpened, [&] {
        if (qEnvironmentVariableIsSet("LABELPROP_BENCH_STAGES"))
            std::printf("  %7.3f s  opened (GUI columns in place)\n", (double(clock.nsecsElapsed()) / 1e6 - open0) / 1000);
    });
    w.openProject(path);
    if (!waitFor([&] { return opened && !view->orderPending() && paints.lastPaintEnd > open0; }, kTimeoutMs)) {
        std::fprintf(stderr, "labelprop-app-bench: the project did not open (opened %d, paints %d)\n", int(opened), paints.paints);
        return 1;
    }
    const double firstPaint = paints.lastPaintEnd - open0;
    if (!waitFor([&] { return thumbnails; }, kTimeoutMs)) {
        std::fprintf(stderr, "labelprop-app-bench: the visible thumbnails never arrived\n");
        return 1;
    }
    waitFor([] { return false; }, 30); // the paint of the last thumbnails
    std::printf("%-44s %8.3f s\n", "open to painted grid", firstPaint / 1000);
    std::printf("%-44s %8.3f s\n", "open to every visible thumbnail painted", (paints.lastPaintEnd - open0) / 1000);
    std::printf("%-44s %8.1f ms\n", "longest GUI stall while opening", openStall.stop());
    const auto items = w.session().items().size();
    std::printf("items %zu, classes %zu, embedded %lld\n", items, w.session().classes().size(),
                (long long)w.session().embeddedCount());

    // Clicks.
    std::mt19937 rng(parser.value(seed).toUInt());
    const int classCount = int(w.session().classes().size());
    std::vector<double> latency, engine, propagation, audit, rowSteps, changedRows;
    int unpainted = 0; // clicks whose update changed no visible tile
    auto* grid = view->grid();
    grid->setFocus();
    for (int k = 0; k < parser.value(clicks).toInt() && classCount > 0; ++k) {
        const auto [first, last] = std::pair{grid->indexAt(QPoint(5, 5)).row(),
                                             grid->indexAt(QPoint(viewport->width() - 60, viewport->height() - 60)).row()};
        const int lo = std::max(0, first), hi = std::max(lo, last);
        const int row = lo + int(rng() % std::uint32_t(hi - lo + 1));
        grid->selectionModel()->setCurrentIndex(view->model().index(row, 0), QItemSelectionModel::ClearAndSelect);
        if (!waitFor([&] { return w.session().engineIdle(); }, kTimeoutMs))
            return 1;
        QApplication::processEvents();
        // A class other than the tile's current label, so that every click changes something.
        const int keyed = std::min(classCount, 10);
        const int current = w.session().items().label[std::size_t(view->model().itemAt(row))];
        int c = int(rng() % std::uint32_t(keyed));
        if (c == current)
            c = (c + 1) % keyed;
        const auto key = Qt::Key(c == 9 ? Qt::Key_0 : Qt::Key_1 + c);
        const auto before = w.session().shownVersion();
        const double t0 = double(clock.nsecsElapsed()) / 1e6;
        QTest::keyClick(grid, key);
        double shownAt = -1;
        // Shown: the paint after the engine's update arrived; or, when the update changed no visible
        // tile (a click among many labels moves only a few rows), the update's arrival itself.
        const auto now = [&] { return double(clock.nsecsElapsed()) / 1e6; };
        if (!runUntil(paints, &w.session(), &ProjectSession::propagationChanged, [&] {
                if (shownAt < 0 && w.session().shownVersion() > before)
                    shownAt = now();
                return shownAt >= 0 && (paints.lastPaintEnd >= shownAt || now() - shownAt > 100);
            }, kTimeoutMs)) {
            const int item = view->model().itemAt(row);
            std::fprintf(stderr, "labelprop-app-bench: click %d (item %d, label %d -> key class %d, now %d; version %lld, "
                                 "engine idle %d, current item %d) was never shown\n",
                         k, item, current, c, w.session().items().label[std::size_t(item)], (long long)before,
                         int(w.session().engineIdle()), view->currentItem());
            return 1;
        }
        const bool repainted = paints.lastPaintEnd >= shownAt;
        unpainted += !repainted;
        latency.push_back((repainted ? paints.lastPaintEnd : shownAt) - t0);
        const auto& figures = w.session().lastEngineUpdate();
        engine.push_back(figures.seconds * 1000.0);
        propagation.push_back(figures.propagationSeconds * 1000.0);
        audit.push_back(figures.auditSeconds * 1000.0);
        rowSteps.push_back(double(figures.rowSteps));
        changedRows.push_back(double(figures.changedRows));
    }
    print("key press to repainted propagation", stats(latency), "ms");
    print("  of which the engine update", stats(engine), "ms");
    print("    its propagation", stats(propagation), "ms");
    print("    its audit", stats(audit), "ms");
    print("  rows recomputed over the steps", stats(rowSteps), "rows");
    print("  rows whose tile values changed", stats(changedRows), "rows");
    std::printf("  clicks whose update changed no visible tile (timed to the update's arrival): %d\n", unpainted);

    // Undo: Ctrl+Z to the store's answer (the labels it changed are back in the window) and to the
    // engine's update of them, over --undos undos of the clicks above.
    std::vector<double> undoStore, undoShown;
    for (int k = 0; k < parser.value(undos).toInt() && k < int(latency.size()); ++k) {
        const auto before = w.session().shownVersion();
        double answered = -1;
        const auto connection = QObject::connect(&w.session(), &ProjectSession::undoStateChanged,
                                                 [&] { answered = double(clock.nsecsElapsed()) / 1e6; });
        const double t0 = double(clock.nsecsElapsed()) / 1e6;
        QTest::keyClick(grid, Qt::Key_Z, Qt::ControlModifier);
        const bool ok = runUntil(paints, &w.session(), &ProjectSession::propagationChanged,
                                 [&] { return answered >= 0 && w.session().shownVersion() > before && w.session().engineIdle(); },
                                 kTimeoutMs);
        QObject::disconnect(connection);
        if (!ok) {
            std::fprintf(stderr, "labelprop-app-bench: undo %d was never shown\n", k);
            return 1;
        }
        undoStore.push_back(answered - t0);
        undoShown.push_back(double(clock.nsecsElapsed()) / 1e6 - t0);
    }
    print("undo: key to the store's answer", stats(undoStore), "ms");
    print("undo: key to the propagation updated", stats(undoShown), "ms");

    // Scrolling: page by page, each page's paint timed.
    std::vector<double> frames;
    auto* bar = grid->verticalScrollBar();
    for (int k = 0; k < parser.value(scrolls).toInt() && bar->value() < bar->maximum(); ++k) {
        const int paintsBefore = paints.paints;
        const double t0 = double(clock.nsecsElapsed()) / 1e6;
        bar->setValue(bar->value() + bar->pageStep());
        if (!runUntil(paints, bar, &QScrollBar::valueChanged, [&] { return paints.paints > paintsBefore; }, kTimeoutMs))
            return 1;
        frames.push_back(paints.lastPaintEnd - t0);
    }
    print("page down to painted page", stats(frames), "ms");
    std::printf("%-44s %8.0f MiB\n", "peak RSS", peakRssMiB());

    // Closing (File > Close Project): the GUI must not wait for the save of the live propagation
    // (at 1M items a 1M-row result) nor for the workers; the save finishes in the background.
    {
        StallMeter closeStall(clock);
        closeStall.start();
        bool closed = false;
        QObject::connect(&w.session(), &ProjectSession::closed, [&] { closed = true; });
        const double t0 = double(clock.nsecsElapsed()) / 1e6;
        w.action(QStringLiteral("close"))->trigger();
        const double returned = double(clock.nsecsElapsed()) / 1e6 - t0;
        if (!waitFor([&] { return closed; }, kTimeoutMs)) {
            std::fprintf(stderr, "labelprop-app-bench: the close never finished\n");
            return 1;
        }
        const double saved = double(clock.nsecsElapsed()) / 1e6 - t0;
        waitFor([] { return false; }, 30); // a few more ticks after the close
        std::printf("%-44s %8.1f ms\n", "close: the action returned after", returned);
        std::printf("%-44s %8.3f s\n", "close: saved and unlocked (background)", saved / 1000);
        std::printf("%-44s %8.1f ms\n", "longest GUI stall while closing", closeStall.stop());
    }
    w.close();
    return 0;
}
