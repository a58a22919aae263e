// The simulated-annotator experiments (core/Simulation.h), the PNG line plots (core/LinePlot.h)
// and `labelprop-cli simulate` end to end.
//
// The synthetic data sets make the expected outcomes follow from their geometry:
//   blobs:  4 tight clusters around orthogonal directions; every kNN edge stays inside a cluster,
//           so propagation is exact once each cluster holds a label, and a neighbourhood's majority
//           survives symmetric noise below 75%;
//   chains: 2 long parallel arcs, closer to each other than to their own far ends; the graph
//           follows each arc (consecutive points are much closer than the arcs are), so
//           propagation labels a whole arc from any of its labels, while a vote over the labelled
//           items alone picks whatever label is nearest, often one on the other arc.

#include "TestSupport.h"

#include "core/experiments/LinePlot.h"
#include "core/engine/KnnClassifier.h"
#include "core/experiments/Simulation.h"

#include <opencv2/imgcodecs.hpp>

#include <QtTest>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

using namespace labelprop;
using namespace labelprop::test;

namespace {

struct Synthetic {
    EmbeddingMatrix x;
    std::vector<int32_t> labels;
    int classes = 0;
};

// `perClass` points around each of `classes` orthogonal unit vectors in `dims` dimensions, with
// Gaussian noise of 0.05 per coordinate, then L2-normalised. Items are interleaved by class.
Synthetic blobs(int classes, int perClass, int dims, uint64_t seed)
{
    Synthetic s;
    s.classes = classes;
    s.x.resize(classes * perClass, dims);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (int i = 0; i < classes * perClass; ++i) {
        const int c = i % classes;
        for (int j = 0; j < dims; ++j)
            s.x(i, j) = (j == c ? 1.0f : 0.0f) + noise(rng);
        s.x.row(i).normalize();
        s.labels.push_back(c);
    }
    return s;
}

// Two arcs of `perClass` points each: class 0 on the unit circle of the xy-plane for angles in
// [0, 1.5], class 1 on the parallel circle at height 0.12 (then normalised). Neighbouring points
// of an arc are 1.5 / perClass apart, far less than the 0.12 between the arcs: with 150 points,
// even an end point's 10th neighbour (0.1 away) is on its own arc.
Synthetic chains(int perClass)
{
    Synthetic s;
    s.classes = 2;
    s.x.resize(2 * perClass, 3);
    for (int i = 0; i < 2 * perClass; ++i) {
        const int c = i % 2;
        const double angle = 1.5 * double(i / 2) / double(perClass - 1);
        s.x(i, 0) = float(std::cos(angle));
        s.x(i, 1) = float(std::sin(angle));
        s.x(i, 2) = c == 0 ? 0.0f : 0.12f;
        s.x.row(i).normalize();
        s.labels.push_back(c);
    }
    return s;
}

SimulationOptions quietOptions()
{
    SimulationOptions o;
    o.threads = 2;
    o.seed = 7;
    return o;
}

std::map<std::string, std::vector<AnnotationPoint>> byStrategy(const SimulationReport& r)
{
    std::map<std::string, std::vector<AnnotationPoint>> out;
    for (const auto& p : r.annotation)
        out[std::string(selectionStrategyName(p.strategy))].push_back(p);
    return out;
}

PlotSpec samplePlot(bool logX)
{
    PlotSpec spec;
    spec.title = "Sample";
    spec.xLabel = "x";
    spec.yLabel = "y";
    spec.logX = logX;
    for (int s = 0; s < 3; ++s) {
        PlotSeries series{"series " + std::to_string(s), {}, {}, -1, s == 2};
        for (int i = 1; i <= 8; ++i) {
            series.x.push_back(logX ? std::pow(10.0, i * 0.4) : i);
            series.y.push_back(0.1 * s + 0.05 * i);
        }
        spec.series.push_back(series);
    }
    return spec;
}

// Pixels that are clearly coloured (not white, grey or black): the data lines and markers.
int colouredPixels(const cv::Mat& image)
{
    int count = 0;
    for (int r = 0; r < image.rows; ++r)
        for (int c = 0; c < image.cols; ++c) {
            const cv::Vec3b p = image.at<cv::Vec3b>(r, c);
            const int hi = std::max({p[0], p[1], p[2]}), lo = std::min({p[0], p[1], p[2]});
            count += hi - lo > 80;
        }
    return count;
}

} // namespace

class SimulationTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString path(const QString& name) const { return m_dir.filePath(name); }

private slots:
    // ---- plots -----------------------------------------------------------------------------

    void plotIsADecodablePngOfTheRequestedSize_data()
    {
        QTest::addColumn<bool>("logX");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::addColumn<bool>("empty");
        QTest::newRow("linear 1000x650") << false << 1000 << 650 << false;
        QTest::newRow("log 1000x650") << true << 1000 << 650 << false;
        QTest::newRow("linear 640x480") << false << 640 << 480 << false;
        QTest::newRow("no series") << false << 800 << 500 << true;
    }

    void plotIsADecodablePngOfTheRequestedSize()
    {
        QFETCH(bool, logX);
        QFETCH(int, width);
        QFETCH(int, height);
        QFETCH(bool, empty);
        PlotSpec spec = samplePlot(logX);
        spec.width = width;
        spec.height = height;
        if (empty)
            spec.series.clear();
        const std::string file = path(QStringLiteral("plot-%1.png").arg(QTest::currentDataTag())).toStdString();
        const auto written = writeLinePlotPng(file, spec);
        QVERIFY2(written, written ? "" : written.error().message.c_str());
        QVERIFY(!QFile::exists(QString::fromStdString(file + ".tmp")));
        const cv::Mat image = cv::imread(file, cv::IMREAD_COLOR);
        QVERIFY(!image.empty());
        QCOMPARE(image.cols, width);
        QCOMPARE(image.rows, height);
        QCOMPARE(image.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 255, 255)); // white background
        if (empty)
            QCOMPARE(colouredPixels(image), 0);
        else
            QVERIFY(colouredPixels(image) > 500);
    }

    void plotFailsCleanly()
    {
        // A folder that does not exist: an error naming the path, and nothing written.
        const std::string missing = path("no-such-folder/plot.png").toStdString();
        const auto r = writeLinePlotPng(missing, samplePlot(false));
        QVERIFY(!r);
        QVERIFY2(r.error().message.find("no-such-folder/plot.png") != std::string::npos, r.error().message.c_str());
        QVERIFY(!QFile::exists(QString::fromStdString(missing)));

        // A folder in place of the file: the rename fails and the folder is untouched.
        QVERIFY(QDir(m_dir.path()).mkdir("taken.png"));
        const auto taken = writeLinePlotPng(path("taken.png").toStdString(), samplePlot(false));
        QVERIFY(!taken);
        QVERIFY(QFileInfo(path("taken.png")).isDir());
        QVERIFY(!QFile::exists(path("taken.png.tmp")));

        // Bad specs fail before anything is written, and leave an earlier file as it was.
        const std::string file = path("kept.png").toStdString();
        QVERIFY(writeLinePlotPng(file, samplePlot(false)));
        const QByteArray before = readFile(QString::fromStdString(file));
        PlotSpec ragged = samplePlot(false);
        ragged.series[1].y.pop_back();
        const auto raggedResult = writeLinePlotPng(file, ragged);
        QVERIFY(!raggedResult);
        QVERIFY(raggedResult.error().message.find("series 1") != std::string::npos);
        PlotSpec nonPositive = samplePlot(true);
        nonPositive.series[0].x[0] = 0.0;
        QVERIFY(!writeLinePlotPng(file, nonPositive));
        PlotSpec tiny = samplePlot(false);
        tiny.width = 10;
        QVERIFY(!writeLinePlotPng(file, tiny));
        QCOMPARE(readFile(QString::fromStdString(file)), before);
    }

    void plotSkipsNonFiniteValues()
    {
        PlotSpec spec = samplePlot(false);
        spec.series[0].y[3] = std::nan("");
        spec.series[1].y[0] = std::numeric_limits<double>::infinity();
        QVERIFY(renderLinePlotPng(spec));
    }

    // ---- building blocks -------------------------------------------------------------------

    void corruptionFlipsAnExactCountToOtherClasses_data()
    {
        QTest::addColumn<double>("rate");
        QTest::newRow("0") << 0.0;
        QTest::newRow("0.2") << 0.2;
        QTest::newRow("0.55") << 0.55;
        QTest::newRow("1") << 1.0;
    }

    void corruptionFlipsAnExactCountToOtherClasses()
    {
        QFETCH(double, rate);
        std::vector<int32_t> labels(1001);
        for (size_t i = 0; i < labels.size(); ++i)
            labels[i] = int32_t(i % 5);
        const auto noisy = corruptLabels(labels, 5, rate, 42);
        QCOMPARE(noisy.size(), labels.size());
        int64_t flipped = 0;
        std::set<int32_t> newClasses;
        for (size_t i = 0; i < labels.size(); ++i) {
            QVERIFY(noisy[i] >= 0 && noisy[i] < 5);
            if (noisy[i] != labels[i]) {
                ++flipped;
                newClasses.insert(noisy[i]);
            }
        }
        QCOMPARE(flipped, std::llround(rate * 1001));
        if (rate >= 0.2)
            QCOMPARE(newClasses.size(), size_t(5)); // every class receives flips
        QCOMPARE(corruptLabels(labels, 5, rate, 42), noisy); // seeded
        if (rate > 0 && rate < 1)
            QVERIFY(corruptLabels(labels, 5, rate, 43) != noisy);
    }

    void weightedVoteFavoursCloserNeighbours()
    {
        // Query 0: two neighbours of class 1 at s = 0.99 beat three of class 0 at s = 0.9 when
        // T = 0.01 (weight ratio e^9), but lose to them when T = 10 (plain majority).
        KnnGraph knn;
        knn.rows = 2;
        knn.k = 5;
        knn.neighbours = {0, 1, 2, 3, 4, /**/ 5, 5, 5, 5, 5};
        knn.similarities = {0.99f, 0.99f, 0.9f, 0.9f, 0.9f, /**/ 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
        const std::vector<int32_t> base = {1, 1, 0, 0, 0, -1};
        QCOMPARE(weightedKnnVote(knn, base, 2, 0.01f), (std::vector<int32_t>{1, -1}));
        QCOMPARE(weightedKnnVote(knn, base, 2, 10.0f), (std::vector<int32_t>{0, -1}));
        // Every weight underflows (s = -1, tiny T): the nearest labelled neighbour decides.
        knn.similarities = {-1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f, -1.0f};
        QCOMPARE(weightedKnnVote(knn, std::vector<int32_t>{0, 1, 1, 1, 1, 1}, 2, 1e-4f)[0], 0);
    }

    void defaultScheduleStaysBelowN()
    {
        QCOMPARE(defaultLabelSchedule(100000), (std::vector<int64_t>{10, 20, 50, 100, 200, 500, 1000, 2000}));
        QCOMPARE(defaultLabelSchedule(200), (std::vector<int64_t>{10, 20, 50, 100}));
        QVERIFY(defaultLabelSchedule(10).empty());
    }

    // ---- experiments -----------------------------------------------------------------------

    void annotationReachesEveryClusterAndBeatsTheLabelledOnlyVote()
    {
        // Blobs: by the last point every strategy has labelled each cluster (items nothing has
        // reached count as fully uncertain, random picks 40 of 400), so propagation is exact.
        const Synthetic data = blobs(4, 100, 16, 1);
        SimulationOptions o = quietOptions();
        o.runNoise = o.runKnn = false;
        o.labelSchedule = {4, 10, 40};
        const auto report = runSimulation(data.x, data.labels, data.classes, o);
        QVERIFY2(report, report ? "" : report.error().message.c_str());
        const auto strategies = byStrategy(*report);
        QCOMPARE(strategies.size(), allSelectionStrategies().size());
        for (const auto& [name, points] : strategies) {
            QCOMPARE(points.size(), size_t(3));
            for (size_t i = 0; i < points.size(); ++i) {
                QCOMPARE(points[i].labels, o.labelSchedule[i]);
                QVERIFY(points[i].lpAccuracy >= 0.0 && points[i].lpAccuracy <= 1.0);
                QVERIFY(points[i].labelledOnlyAccuracy >= 0.0 && points[i].labelledOnlyAccuracy <= 1.0);
            }
            QVERIFY2(points.back().lpAccuracy == 1.0, name.c_str());
        }

        // Chains: with labels on both arcs, propagation labels every point while the vote over
        // the labelled items alone errs wherever the other arc's label is the nearer one.
        const Synthetic arcs = chains(150);
        SimulationOptions c = quietOptions();
        c.runNoise = c.runKnn = false;
        c.strategies = {SelectionStrategy::Random};
        c.labelSchedule = {10, 20};
        c.iterations = 200; // an arc is 150 points, about 30 hops at k = 10
        const auto chainReport = runSimulation(arcs.x, arcs.labels, arcs.classes, c);
        QVERIFY2(chainReport, chainReport ? "" : chainReport.error().message.c_str());
        for (const auto& p : chainReport->annotation) {
            qInfo("chains, %lld labels: LP %.3f, labelled only %.3f", static_cast<long long>(p.labels), p.lpAccuracy,
                  p.labelledOnlyAccuracy);
            QCOMPARE(p.lpAccuracy, 1.0);
            QVERIFY(p.labelledOnlyAccuracy < p.lpAccuracy);
        }
        // Over seeds 1-40, 10 random labels leave the labelled-only vote at 0.64-0.82.
        QVERIFY(chainReport->annotation.front().labelledOnlyAccuracy < 0.9);
    }

    void noiseStartsAtTheInjectedRateAndPropagationLowersIt()
    {
        const Synthetic data = blobs(4, 100, 16, 2);
        SimulationOptions o = quietOptions();
        o.runAnnotation = o.runKnn = false;
        o.noiseRates = {0.2, 0.5, 0.9};
        const auto report = runSimulation(data.x, data.labels, data.classes, o);
        QVERIFY2(report, report ? "" : report.error().message.c_str());
        QCOMPARE(report->noise.size(), size_t(3 * 21));
        std::map<double, std::vector<double>> levels;
        for (const auto& p : report->noise) {
            QCOMPARE(p.step, int(levels[p.rate].size()));
            levels[p.rate].push_back(p.noiseLevel);
        }
        for (const double rate : o.noiseRates)
            QCOMPARE(levels[rate][0], rate); // exactly round(rate * 400) of 400 items flipped
        // Below 75% noise the true class keeps the majority of every neighbourhood (4 classes).
        QVERIFY(levels[0.2][3] < 0.02);
        QVERIFY(levels[0.2][20] < 0.02);
        QVERIFY(levels[0.5][20] < 0.1);
        // At 90% the true class is the rarest label around every item: smoothing makes it worse.
        QVERIFY(levels[0.9][20] > 0.9);
    }

    void knnOnSmoothedLabelsIsAtLeastAsAccurate()
    {
        const Synthetic data = blobs(4, 140, 16, 3);
        SimulationOptions o = quietOptions();
        o.runAnnotation = o.runNoise = false;
        o.knnNoiseRates = {0.0, 0.2, 0.5};
        o.trainCount = 480;
        const auto report = runSimulation(data.x, data.labels, data.classes, o);
        QVERIFY2(report, report ? "" : report.error().message.c_str());
        QCOMPARE(report->trainItems, int64_t(480));
        QCOMPARE(report->testItems, int64_t(80));
        QCOMPARE(report->knn.size(), size_t(3));
        QCOMPARE(report->knn[0].corruptedAccuracy, 1.0);
        for (const auto& p : report->knn) {
            QVERIFY(p.smoothedAccuracy >= p.corruptedAccuracy);
            QVERIFY(p.auditedAccuracy >= p.corruptedAccuracy);
            QVERIFY(p.smoothedTrainNoise <= p.rate + 1e-9);
        }
        QVERIFY(report->knn[1].smoothedTrainNoise < 0.02);
        QCOMPARE(report->knn[1].smoothedAccuracy, 1.0);

        // Without a train count: a seeded 6/7 : 1/7 split.
        o.trainCount = 0;
        const auto split = runSimulation(data.x, data.labels, data.classes, o);
        QVERIFY(split);
        QCOMPARE(split->testItems, int64_t(80));
        QCOMPARE(split->trainItems, int64_t(480));
    }

    void progressCancellationAndBadInput()
    {
        const Synthetic data = blobs(3, 40, 8, 4);
        SimulationOptions o = quietOptions();
        o.labelSchedule = {3, 6};
        std::vector<std::string> stages;
        double last = -1;
        o.progress = [&](std::string_view stage, double fraction) {
            if (stages.empty() || stages.back() != stage)
                stages.emplace_back(stage);
            QVERIFY(fraction >= 0.0 && fraction <= 1.0);
            last = fraction;
        };
        QVERIFY(runSimulation(data.x, data.labels, data.classes, o));
        QCOMPARE(stages, (std::vector<std::string>{"graph", "annotation", "noise", "knn"}));
        QCOMPARE(last, 1.0);

        std::atomic<bool> cancel{true};
        o.cancel = &cancel;
        const auto cancelled = runSimulation(data.x, data.labels, data.classes, o);
        QVERIFY(!cancelled);
        QVERIFY(cancelled.error().message.find("cancelled") != std::string::npos);
        o.cancel = nullptr;

        std::vector<int32_t> missing = data.labels;
        missing[17] = -1;
        const auto unlabelled = runSimulation(data.x, missing, data.classes, o);
        QVERIFY(!unlabelled);
        QVERIFY(unlabelled.error().message.find("item 17") != std::string::npos);
        o.labelSchedule = {6, 3};
        QVERIFY(!runSimulation(data.x, data.labels, data.classes, o));
        o.labelSchedule = {3, 120};
        QVERIFY(!runSimulation(data.x, data.labels, data.classes, o));
    }

    // ---- command line ----------------------------------------------------------------------

    void simulateFashionMnistSubset()
    {
        const QString out = path("fmnist");
        const auto run = runCli({"simulate", "--subset", "3000", "--out", out, "--threads", "2"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY(run.out.contains("annotation.png"));

        const auto annotation = readCsv(out + "/annotation.csv");
        QCOMPARE(annotation.value(0).join(','), QByteArray("strategy,labels,method,accuracy"));
        QCOMPARE(annotation.size(), 1 + 5 * 8 * 2);
        for (qsizetype i = 1; i < annotation.size(); ++i) {
            const double a = annotation[i][3].toDouble();
            QVERIFY(a >= 0.0 && a <= 1.0);
            if (annotation[i][0] == "random" && annotation[i][1] == "200" && annotation[i][2] == "lp")
                QVERIFY2(a > 0.6, annotation[i].join(',').constData());
        }

        const auto noise = readCsv(out + "/noise_by_step.csv");
        QCOMPARE(noise.value(0).join(','), QByteArray("rate,step,noise_level"));
        QCOMPARE(noise.size(), 1 + 9 * 21);
        for (qsizetype i = 1; i < noise.size(); ++i) {
            const double level = noise[i][2].toDouble();
            QVERIFY(level >= 0.0 && level <= 1.0);
            if (noise[i][1] == "0")
                QVERIFY(std::abs(level - noise[i][0].toDouble()) <= 1.0 / 3000);
        }

        const auto knn = readCsv(out + "/knn_accuracy.csv");
        QVERIFY(knn.value(0).join(',').startsWith("rate,corrupted_accuracy,smoothed_accuracy"));
        QCOMPARE(knn.size(), 1 + 10);
        for (qsizetype i = 1; i < knn.size(); ++i)
            for (int col = 1; col <= 3; ++col) {
                const double a = knn[i][col].toDouble();
                QVERIFY(a >= 0.0 && a <= 1.0);
            }
        QVERIFY(knn[1][1].toDouble() > 0.6); // clean train labels

        for (const char* png : {"annotation.png", "noise_by_step.png", "knn_accuracy.png"}) {
            const cv::Mat image = cv::imread((out + "/" + png).toStdString(), cv::IMREAD_COLOR);
            QVERIFY2(!image.empty(), png);
            QCOMPARE(image.cols, 1000);
            QCOMPARE(image.rows, 650);
        }
    }

    void simulateReusesEmbeddingsAndReportsBadInput()
    {
        // An embed-style pair: blobs as .npy plus an items table whose labels are the truth.
        const Synthetic data = blobs(3, 30, 6, 5);
        QByteArray dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (90, 6), }";
        while ((10 + dict.size() + 1) % 64 != 0)
            dict += ' ';
        dict += '\n';
        QByteArray npy("\x93NUMPY\x01\x00", 8);
        npy += char(dict.size() & 0xff);
        npy += char(dict.size() >> 8);
        npy += dict;
        npy.append(reinterpret_cast<const char*>(data.x.data()), qsizetype(data.x.size() * sizeof(float)));
        writeFile(path("emb.npy"), npy);
        QByteArray items = "index,path,label\n";
        for (int i = 0; i < 90; ++i)
            items += QByteArray::number(i) + ",img" + QByteArray::number(i) + ".png," + "abc"[data.labels[size_t(i)]] + "\n";
        writeFile(path("items.csv"), items);

        const QString out = path("pair");
        const auto run = runCli({"simulate", "--embeddings", path("emb.npy"), "--items", path("items.csv"), "--out", out,
                                 "--schedule", "3,9", "--noise-rates", "0.2", "--knn-rates", "0,0.2", "--threads", "2"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QCOMPARE(readCsv(out + "/annotation.csv").size(), 1 + 5 * 2 * 2);
        QCOMPARE(readCsv(out + "/noise_by_step.csv").size(), 1 + 21);
        QCOMPARE(readCsv(out + "/knn_accuracy.csv").size(), 1 + 2);

        const auto expectOneLineError = [](const CliRun& r, const char* needle) {
            QVERIFY(r.exitCode != 0);
            QVERIFY2(r.err.trimmed().count('\n') == 0, qPrintable(r.err));
            QVERIFY2(r.err.contains(needle), qPrintable(r.err));
        };
        expectOneLineError(runCli({"simulate", "--embeddings", path("emb.npy"), "--items", path("items.csv")}), "--out");
        expectOneLineError(runCli({"simulate", "--embeddings", path("emb.npy"), "--out", out}), "--items");
        expectOneLineError(runCli({"simulate", "--embeddings", path("emb.npy"), "--items", path("items.csv"), "--out",
                                   out, "--experiments", "annotation,bogus"}),
                           "bogus");
        expectOneLineError(runCli({"simulate", "--embeddings", path("emb.npy"), "--items", path("items.csv"), "--out",
                                   out, "--noise-rates", "0.2,1.5"}),
                           "1.5");
        expectOneLineError(runCli({"simulate", "--embeddings", path("emb.npy"), "--items", path("items.csv"), "--out",
                                   out, "--schedule", "200"}),
                           "schedule");
        expectOneLineError(runCli({"simulate", path("no-such-source"), "--out", out}), "no-such-source");
    }
};

QTEST_GUILESS_MAIN(SimulationTest)
#include "tst_simulation.moc"
