// Oracle tests for the engine: kNN against brute force, the affinity graph and propagation
// against dense hand-computed references, label quality and selection on constructed data. The
// kNN and propagation oracles run at every SIMD level (rows "avx512: ...", "avx2: ...",
// "baseline: ..."; a level this CPU cannot run is skipped and says so).

#include "core/engine/ActiveSelection.h"
#include "core/engine/ApproximateKnn.h"
#include "core/engine/AffinityGraph.h"
#include "core/engine/KnnSearch.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "core/engine/SimdDispatch.h"
#include "SimdTestSupport.h"

#include <QProcess>
#include <QtTest>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

using namespace labelprop;
using test::cpuRuns;
using test::kSimdLevels;
using test::levelRowName;

namespace {

EmbeddingMatrix randomUnitRows(int64_t n, int64_t d, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    EmbeddingMatrix x(n, d);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < d; ++j)
            x(i, j) = normal(rng);
        x.row(i).normalize();
    }
    return x;
}

// Well-separated clusters on the sphere: `clusters` random centres, points = centre + small noise.
EmbeddingMatrix clusteredRows(int64_t perCluster, int clusters, int64_t d, float spread, uint64_t seed,
                              std::vector<int32_t>& truth)
{
    const EmbeddingMatrix centres = randomUnitRows(clusters, d, seed);
    std::mt19937_64 rng(seed + 1);
    std::normal_distribution<float> normal(0.0f, spread);
    EmbeddingMatrix x(perCluster * clusters, d);
    truth.clear();
    for (int c = 0; c < clusters; ++c)
        for (int64_t p = 0; p < perCluster; ++p) {
            const int64_t i = c * perCluster + p;
            for (int64_t j = 0; j < d; ++j)
                x(i, j) = centres(c, j) + normal(rng);
            x.row(i).normalize();
            truth.push_back(c);
        }
    return x;
}

// Brute force with the same total order: similarity descending, then index ascending. Dot products
// in double so the oracle is at least as exact as the thing tested.
std::vector<std::vector<std::pair<double, int32_t>>> bruteForce(const EmbeddingMatrix& q, const EmbeddingMatrix& b,
                                                                int k, bool excludeSelf)
{
    std::vector<std::vector<std::pair<double, int32_t>>> out(size_t(q.rows()));
    for (int64_t i = 0; i < q.rows(); ++i) {
        std::vector<std::pair<double, int32_t>> all;
        for (int64_t j = 0; j < b.rows(); ++j) {
            if (excludeSelf && i == j)
                continue;
            all.emplace_back(q.row(i).cast<double>().dot(b.row(j).cast<double>()), int32_t(j));
        }
        std::partial_sort(all.begin(), all.begin() + k, all.end(),
                          [](auto a, auto c) { return a.first > c.first || (a.first == c.first && a.second < c.second); });
        all.resize(size_t(k));
        out[size_t(i)] = all;
    }
    return out;
}

Eigen::MatrixXd denseOf(const SparseGraph& s)
{
    Eigen::MatrixXd m = Eigen::MatrixXd::Zero(s.n, s.n);
    for (int64_t i = 0; i < s.n; ++i)
        for (int64_t p = s.rowStart[size_t(i)]; p < s.rowStart[size_t(i + 1)]; ++p)
            m(i, s.columns[size_t(p)]) += s.weights[size_t(p)];
    return m;
}

} // namespace

class EngineTest : public QObject {
    Q_OBJECT

private slots:
    void exactKnnMatchesBruteForce_data()
    {
        QTest::addColumn<SimdLevel>("level");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("d");
        QTest::addColumn<int>("k");
        QTest::addColumn<int>("threads");
        for (const SimdLevel level : test::runnableSimdLevels()) {
            QTest::newRow(levelRowName(level, "tiny")) << level << 12 << 3 << 1 << 1;
            QTest::newRow(levelRowName(level, "one tile")) << level << 300 << 16 << 10 << 2;
            QTest::newRow(levelRowName(level, "several tiles, ragged")) << level << 1300 << 64 << 10 << 2;
            QTest::newRow(levelRowName(level, "several tiles, 3 threads")) << level << 1100 << 8 << 25 << 3;
            QTest::newRow(levelRowName(level, "k = n - 1")) << level << 40 << 5 << 39 << 2;
            QTest::newRow(levelRowName(level, "odd dims")) << level << 700 << 33 << 7 << 1;
        }
    }
    void exactKnnMatchesBruteForce()
    {
        QFETCH(SimdLevel, level);
        QFETCH(int, n);
        QFETCH(int, d);
        QFETCH(int, k);
        QFETCH(int, threads);
        if (!cpuRuns(level))
            QSKIP("this CPU cannot run this SIMD level");
        const EmbeddingMatrix x = randomUnitRows(n, d, uint64_t(n * 31 + d));
        KnnOptions options;
        options.k = k;
        options.threads = threads;
        options.simd = level;
        const auto graph = searchSelfKnn(x, options);
        QVERIFY2(graph.has_value(), graph ? "" : graph.error().message.c_str());
        QCOMPARE(graph->rows, int64_t(n));
        const auto oracle = bruteForce(x, x, k, true);
        int64_t mismatches = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int a = 0; a < k; ++a) {
                const auto [sim, id] = oracle[size_t(i)][size_t(a)];
                QVERIFY(graph->neighboursOf(i)[a] != i); // self excluded
                QVERIFY(std::abs(graph->similaritiesOf(i)[a] - sim) < 1e-5);
                // float32 rounding may swap two neighbours whose similarities differ by < 1e-6
                if (graph->neighboursOf(i)[a] != id)
                    ++mismatches;
            }
        QVERIFY2(mismatches <= n * k / 1000, qPrintable(QString::number(mismatches) + " rank mismatches"));
    }

    void crossKnnMatchesBruteForce_data()
    {
        QTest::addColumn<SimdLevel>("level");
        for (const SimdLevel level : test::runnableSimdLevels())
            QTest::newRow(levelRowName(level, "1500 base x 650 queries")) << level;
    }
    void crossKnnMatchesBruteForce()
    {
        QFETCH(SimdLevel, level);
        if (!cpuRuns(level))
            QSKIP("this CPU cannot run this SIMD level");
        const EmbeddingMatrix base = randomUnitRows(1500, 24, 5);
        const EmbeddingMatrix queries = randomUnitRows(650, 24, 6);
        KnnOptions options;
        options.k = 10;
        options.simd = level;
        const auto graph = searchKnn(queries, base, options);
        QVERIFY(graph.has_value());
        const auto oracle = bruteForce(queries, base, 10, false);
        for (int64_t i = 0; i < queries.rows(); ++i)
            for (int a = 0; a < 10; ++a)
                QVERIFY(std::abs(graph->similaritiesOf(i)[a] - oracle[size_t(i)][size_t(a)].first) < 1e-5);
        QCOMPARE(recallAtK(*graph, *graph), 1.0);
    }

    void approximateKnnRecallAndExactSimilarities()
    {
        std::vector<int32_t> truth;
        const EmbeddingMatrix x = clusteredRows(500, 8, 32, 0.15f, 17, truth);
        KnnOptions options;
        options.k = 10;
        const auto exact = searchSelfKnn(x, options);
        const auto approximate = searchApproximateSelfKnn(x, options);
        QVERIFY(exact && approximate);
        const double recall = recallAtK(*approximate, *exact);
        QVERIFY2(recall > 0.9, qPrintable(QString::number(recall)));
        // Whatever it finds carries its exact similarity, sorted, self excluded.
        for (int64_t i = 0; i < x.rows(); ++i)
            for (int a = 0; a < 10; ++a) {
                const int32_t j = approximate->neighboursOf(i)[a];
                QVERIFY(j != i);
                QVERIFY(std::abs(approximate->similaritiesOf(i)[a] - x.row(i).dot(x.row(j))) < 1e-5);
                if (a > 0)
                    QVERIFY(approximate->similaritiesOf(i)[a] <= approximate->similaritiesOf(i)[a - 1]);
            }
        // Probing every cell is the exact search.
        ApproximateKnnOptions everything;
        everything.cells = 20;
        everything.probes = 20;
        const auto full = searchApproximateSelfKnn(x, options, everything);
        QVERIFY(full.has_value());
        QVERIFY(recallAtK(*full, *exact) > 0.999);
        options.k = int(x.rows());
        QVERIFY(!searchApproximateSelfKnn(x, options).has_value());
    }

    void tiesBreakByIndexAndRunsAreDeterministic()
    {
        // Exact duplicates: every row has several neighbours at similarity 1 and the order must be
        // by index, identically for any thread count.
        EmbeddingMatrix x(1200, 4);
        for (int64_t i = 0; i < x.rows(); ++i) {
            x.row(i).setZero();
            x(i, i % 4) = 1.0f;
        }
        KnnOptions one;
        one.k = 5;
        one.threads = 1;
        KnnOptions two = one;
        two.threads = 2;
        const auto a = searchSelfKnn(x, one);
        const auto b = searchSelfKnn(x, two);
        QVERIFY(a && b);
        QCOMPARE(a->neighbours, b->neighbours);
        // Row 0's duplicates are 4, 8, 12, ...: the five smallest.
        QCOMPARE(std::vector<int32_t>(a->neighboursOf(0), a->neighboursOf(0) + 5), (std::vector<int32_t>{4, 8, 12, 16, 20}));
        QCOMPARE(std::vector<int32_t>(a->neighboursOf(5), a->neighboursOf(5) + 5), (std::vector<int32_t>{1, 9, 13, 17, 21}));
    }

    void knnRejectsBadK()
    {
        const EmbeddingMatrix x = randomUnitRows(10, 3, 1);
        KnnOptions options;
        options.k = 10;
        const auto tooMany = searchSelfKnn(x, options);
        QVERIFY(!tooMany.has_value());
        QVERIFY(tooMany.error().message.find("k = 10") != std::string::npos);
        options.k = 0;
        QVERIFY(!searchSelfKnn(x, options).has_value());
    }

    void affinityMatchesHandComputedGraph()
    {
        // Four points on a circle at angles 0, 30, 90, 180 degrees; k = 1.
        EmbeddingMatrix x(4, 2);
        const double deg = M_PI / 180.0;
        for (int i = 0; const double a : {0.0, 30.0, 90.0, 180.0}) {
            x(i, 0) = float(std::cos(a * deg));
            x(i, 1) = float(std::sin(a * deg));
            ++i;
        }
        KnnOptions options;
        options.k = 1;
        const auto knn = searchSelfKnn(x, options);
        QVERIFY(knn.has_value());
        // Nearest: 0->1, 1->0, 2->1 (60 deg beats 90), 3->2 (90 deg beats 150).
        QCOMPARE(knn->neighbours, (std::vector<int32_t>{1, 0, 1, 2}));
        const float t = 0.1f;
        const auto s = buildNormalisedAffinity(*knn, t);
        QVERIFY(s.has_value());
        // W: w01 = w10 = e(30), w21 = e(60), w32 = e(90) with e(a) = exp((cos a - 1) / T); W + W^T.
        const auto e = [&](double a) { return std::exp((std::cos(a * deg) - 1.0) / t); };
        Eigen::Matrix4d w = Eigen::Matrix4d::Zero();
        w(0, 1) = w(1, 0) = 2 * e(30);
        w(1, 2) = w(2, 1) = e(60);
        w(2, 3) = w(3, 2) = e(90);
        const Eigen::Vector4d dinv = w.rowwise().sum().cwiseSqrt().cwiseInverse();
        const Eigen::Matrix4d expected = dinv.asDiagonal() * w * dinv.asDiagonal();
        const Eigen::MatrixXd got = denseOf(*s);
        QVERIFY2((got - expected).cwiseAbs().maxCoeff() < 1e-6, "S differs from D^-1/2 (W + W^T) D^-1/2");
        QCOMPARE(s->nnz(), int64_t(6));
        QVERIFY(!buildNormalisedAffinity(*knn, 0.0f).has_value());
        QVERIFY(!buildNormalisedAffinity(*knn, -1.0f).has_value());
    }

    void automaticTemperatureIsMedianGap()
    {
        KnnGraph g;
        g.rows = 1;
        g.k = 5;
        g.similarities = {0.99f, 0.97f, 0.95f, 0.9f, 0.5f};
        g.neighbours = {1, 2, 3, 4, 5};
        QVERIFY(std::abs(automaticTemperature(g) - 0.05f) < 1e-6);
    }

    void propagationMatchesDenseReference_data()
    {
        QTest::addColumn<SimdLevel>("level");
        QTest::addColumn<QString>("clamp");
        QTest::addColumn<int>("classes");
        for (const SimdLevel level : test::runnableSimdLevels()) {
            QTest::newRow(levelRowName(level, "hard, 3 classes (8-column rows)")) << level << "hard" << 3;
            QTest::newRow(levelRowName(level, "soft:0.8, 3 classes")) << level << "soft:0.8" << 3;
            QTest::newRow(levelRowName(level, "none, 3 classes")) << level << "none" << 3;
            QTest::newRow(levelRowName(level, "hard, 12 classes (one 16-column chunk)")) << level << "hard" << 12;
            QTest::newRow(levelRowName(level, "hard, 21 classes (two 16-column chunks)")) << level << "hard" << 21;
        }
    }
    void propagationMatchesDenseReference()
    {
        QFETCH(SimdLevel, level);
        QFETCH(QString, clamp);
        QFETCH(int, classes);
        if (!cpuRuns(level))
            QSKIP("this CPU cannot run this SIMD level");
        std::vector<int32_t> truth;
        const EmbeddingMatrix x = clusteredRows(40, classes, 16, 0.3f, 11, truth);
        KnnOptions options;
        options.k = 6;
        const auto knn = searchSelfKnn(x, options);
        const auto s = buildNormalisedAffinity(*knn, 0.1f);
        QVERIFY(s.has_value());
        std::vector<int32_t> seeds(size_t(x.rows()), -1);
        for (int64_t i = 0; i < x.rows(); i += 7)
            seeds[size_t(i)] = truth[size_t(i)];
        const auto mode = parseClampMode(clamp.toStdString());
        QVERIFY(mode.has_value());
        PropagationOptions po;
        po.iterations = 20;
        po.clamp = *mode;
        po.simd = level;
        const auto result = propagateLabels(*s, seeds, classes, po);
        QVERIFY(result.has_value());

        const Eigen::MatrixXd dense = denseOf(*s);
        Eigen::MatrixXd y0 = Eigen::MatrixXd::Zero(x.rows(), classes);
        for (int64_t i = 0; i < x.rows(); ++i)
            if (seeds[size_t(i)] >= 0)
                y0(i, seeds[size_t(i)]) = 1.0;
        Eigen::MatrixXd y = y0;
        for (int step = 0; step < 20; ++step) {
            Eigen::MatrixXd next = dense * y;
            if (mode->kind == ClampMode::Kind::Hard) {
                for (int64_t i = 0; i < x.rows(); ++i)
                    if (seeds[size_t(i)] >= 0)
                        next.row(i) = y0.row(i);
            } else if (mode->kind == ClampMode::Kind::Soft) {
                next = mode->alpha * next + (1.0 - mode->alpha) * y0;
            }
            y = next;
        }
        for (int64_t i = 0; i < x.rows(); ++i) {
            for (int q = 0; q < classes; ++q)
                QVERIFY(std::abs(result->scores[size_t(i * classes + q)] - y(i, q)) < 1e-4 * (1.0 + std::abs(y(i, q))));
            const double total = y.row(i).sum();
            if (total > 0) {
                Eigen::Index best = 0;
                y.row(i).maxCoeff(&best);
                QCOMPARE(result->predicted[size_t(i)], int32_t(best));
                QVERIFY(std::abs(result->confidence[size_t(i)] - y(i, best) / total) < 1e-4);
            }
        }
    }

    void simdLevelsGiveIdenticalResults_data()
    {
        QTest::addColumn<SimdLevel>("level");
        for (const SimdLevel level : test::runnableSimdLevels())
            if (level != SimdLevel::Baseline)
                QTest::newRow(levelRowName(level, "against baseline")) << level;
    }
    void simdLevelsGiveIdenticalResults()
    {
        // The kernels use no FMA and the scans only compare, so each level must give exactly the
        // baseline's output: graphs with several tiles (diagonal and off-diagonal, ragged block
        // tails), duplicated rows (ties), a cross search, and propagation at every row layout.
        QFETCH(SimdLevel, level);
        if (!cpuRuns(level))
            QSKIP("this CPU cannot run this SIMD level");
        EmbeddingMatrix x = randomUnitRows(2300, 24, 41);
        for (int64_t i = 0; i < 200; ++i)
            x.row(2000 + i) = x.row(i * 3);
        KnnOptions wide;
        wide.k = 12;
        wide.threads = 2;
        wide.simd = level;
        KnnOptions narrow = wide;
        narrow.simd = SimdLevel::Baseline;
        const auto got = searchSelfKnn(x, wide);
        const auto expected = searchSelfKnn(x, narrow);
        QVERIFY(got && expected);
        QCOMPARE(got->neighbours, expected->neighbours);
        QCOMPARE(got->similarities, expected->similarities);
        const EmbeddingMatrix queries = randomUnitRows(700, 24, 43);
        const auto crossGot = searchKnn(queries, x, wide);
        const auto crossExpected = searchKnn(queries, x, narrow);
        QVERIFY(crossGot && crossExpected);
        QCOMPARE(crossGot->neighbours, crossExpected->neighbours);

        const auto s = buildNormalisedAffinity(*expected, 0.1f);
        QVERIFY(s.has_value());
        for (const int classes : {3, 8, 10, 16, 21, 40}) {
            std::vector<int32_t> seeds(size_t(x.rows()), -1);
            for (int64_t i = 0; i < x.rows(); i += 9)
                seeds[size_t(i)] = int32_t(i % classes);
            PropagationOptions po;
            po.iterations = 20;
            po.clamp.kind = ClampMode::Kind::None;
            po.threads = 2;
            po.simd = level;
            PropagationOptions baseline = po;
            baseline.simd = SimdLevel::Baseline;
            const auto a = propagateLabels(*s, seeds, classes, po);
            const auto b = propagateLabels(*s, seeds, classes, baseline);
            QVERIFY(a && b);
            QVERIFY2(a->scores == b->scores, qPrintable(QString("%1 classes: scores differ").arg(classes)));
        }
    }

    void simdLevelSettingsAreCheckedAgainstTheCpu()
    {
        const std::vector<SimdLevel> avx2Cpu{SimdLevel::Baseline, SimdLevel::Avx2};
        QCOMPARE(*simdLevelFromSetting(nullptr, avx2Cpu), SimdLevel::Avx2); // unset: the best
        QCOMPARE(*simdLevelFromSetting("", avx2Cpu), SimdLevel::Avx2);
        QCOMPARE(*simdLevelFromSetting("baseline", avx2Cpu), SimdLevel::Baseline);
        const auto lacking = simdLevelFromSetting("avx512", avx2Cpu);
        QVERIFY(!lacking.has_value());
        const std::string why = lacking.error().message;
        QVERIFY2(why.find("LABELPROP_SIMD=avx512") != std::string::npos, why.c_str());
        QVERIFY2(why.find("cannot run avx512") != std::string::npos, why.c_str());
        QVERIFY2(why.find("it runs baseline, avx2") != std::string::npos, why.c_str());
        QVERIFY2(why.find("unset LABELPROP_SIMD") != std::string::npos, why.c_str());
        const auto unknown = simdLevelFromSetting("sse9", avx2Cpu);
        QVERIFY(!unknown.has_value());
        QVERIFY2(unknown.error().message.find("sse9: not a SIMD level; use one of baseline, avx2, avx512")
                     != std::string::npos,
                 unknown.error().message.c_str());
        for (const SimdLevel level : kSimdLevels) {
            QCOMPARE(*parseSimdLevel(simdLevelName(level), kSimdLevels), level);
            QCOMPARE(resolveSimdLevel(level).has_value(), cpuRuns(level));
        }
        QCOMPARE(cpuSimdLevels().front(), SimdLevel::Baseline);
    }

    void simdDispatchKeepsTheWidestLevelUnlessANarrowerIsClearlyFaster_data()
    {
        QTest::addColumn<QList<double>>("seconds"); // baseline, avx2, avx512 (as many as given)
        QTest::addColumn<SimdLevel>("expected");
        QTest::newRow("tie: the widest") << QList<double>{1.0, 1.0, 1.0} << SimdLevel::Avx512;
        QTest::newRow("avx512 slower within the margin") << QList<double>{1.4, 1.0, 1.08} << SimdLevel::Avx512;
        // issue 13's figures: 20 steps at 70k took 46.8 ms at avx512, 28.8 at avx2.
        QTest::newRow("avx512 1.6x slower") << QList<double>{43.5, 28.8, 46.8} << SimdLevel::Avx2;
        QTest::newRow("avx2 and avx512 both slower") << QList<double>{1.0, 1.2, 1.3} << SimdLevel::Baseline;
        QTest::newRow("avx2 close to baseline, avx512 not") << QList<double>{1.0, 1.05, 1.2} << SimdLevel::Avx2;
        QTest::newRow("an avx2 CPU, tie") << QList<double>{1.0, 1.0} << SimdLevel::Avx2;
        QTest::newRow("a baseline CPU") << QList<double>{1.0} << SimdLevel::Baseline;
        QTest::newRow("nothing measured") << QList<double>{} << SimdLevel::Baseline;
    }
    void simdDispatchKeepsTheWidestLevelUnlessANarrowerIsClearlyFaster()
    {
        QFETCH(QList<double>, seconds);
        QFETCH(SimdLevel, expected);
        std::vector<SimdLevelTiming> timings;
        for (qsizetype a = 0; a < seconds.size(); ++a)
            timings.push_back({SimdLevel(a), seconds[a]});
        QCOMPARE(pickFastestSimdLevel(timings), expected);
    }

    void processSimdLevel()
    {
        // The level of kernel calls that force none. Run as part of the suite (LABELPROP_SIMD
        // normally unset: the measured level), and by labelpropSimdForcesTheProcessLevel in a
        // child process with each setting.
        const QByteArray setting = qgetenv("LABELPROP_SIMD");
        const auto level = resolveSimdLevel({});
        const SimdCalibration& calibration = simdCalibration();
        QCOMPARE(calibration.timings.size(), cpuSimdLevels().size());
        for (size_t a = 0; a < calibration.timings.size(); ++a) {
            QCOMPARE(calibration.timings[a].level, cpuSimdLevels()[a]);
            if (cpuSimdLevels().size() > 1)
                QVERIFY2(calibration.timings[a].seconds > 0 && std::isfinite(calibration.timings[a].seconds),
                         simdLevelName(calibration.timings[a].level).data());
        }
        QVERIFY(cpuRuns(calibration.fastest));
        QCOMPARE(calibration.fastest, pickFastestSimdLevel(calibration.timings));
        if (setting.isEmpty()) {
            QVERIFY(level.has_value());
            QCOMPARE(*level, calibration.fastest);
            QVERIFY2(describeProcessSimdLevel().starts_with(std::string(simdLevelName(*level)) + " ("),
                     describeProcessSimdLevel().c_str());
            return;
        }
        const auto named = parseSimdLevel(setting.toStdString(), cpuSimdLevels());
        if (!named) { // not a level, or one this CPU lacks: every unforced kernel call fails, saying why
            QVERIFY(!level.has_value());
            QVERIFY2(level.error().message.find("LABELPROP_SIMD=" + setting.toStdString()) != std::string::npos,
                     level.error().message.c_str());
            KnnOptions knnOptions;
            knnOptions.simd = SimdLevel::Baseline;
            const auto knn = searchSelfKnn(randomUnitRows(50, 8, 5), knnOptions);
            QVERIFY(knn.has_value());
            const auto s = buildNormalisedAffinity(*knn, 0.1f);
            QVERIFY(s.has_value());
            const std::vector<int32_t> seeds(50, 0);
            const auto result = propagateLabels(*s, seeds, 1, {});
            QVERIFY(!result.has_value());
            QVERIFY2(result.error().message.find("LABELPROP_SIMD=" + setting.toStdString()) != std::string::npos,
                     result.error().message.c_str());
            return;
        }
        QVERIFY(level.has_value());
        QCOMPARE(*level, *named);
        QCOMPARE(describeProcessSimdLevel(), std::string(simdLevelName(*named)) + " (LABELPROP_SIMD)");
        QCOMPARE(resolveSimdLevel(SimdLevel::Baseline).value(), SimdLevel::Baseline); // options still win
    }

    void labelpropSimdForcesTheProcessLevel_data()
    {
        QTest::addColumn<QByteArray>("setting");
        for (const SimdLevel level : test::runnableSimdLevels())
            QTest::newRow(levelRowName(level, "forced")) << QByteArray(simdLevelName(level).data());
        QTest::newRow("not a level") << QByteArray("sse9");
        if (!cpuRuns(SimdLevel::Avx512))
            QTest::newRow("a level this CPU lacks") << QByteArray("avx512");
    }
    void labelpropSimdForcesTheProcessLevel()
    {
        // LABELPROP_SIMD is read once per process, so each setting runs processSimdLevel() in a
        // child: this test program with that one function.
        QFETCH(QByteArray, setting);
        QProcess child;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("LABELPROP_SIMD", QString::fromLatin1(setting));
        child.setProcessEnvironment(environment);
        child.start(QCoreApplication::applicationFilePath(), {"processSimdLevel"});
        QVERIFY(child.waitForFinished(120000));
        const QByteArray output = child.readAllStandardOutput() + child.readAllStandardError();
        QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0, output.constData());
        QVERIFY2(output.contains("PASS   : EngineTest::processSimdLevel()"), output.constData());
    }

    void hardClampKeepsSeedsAndSpreadsAlongAPath()
    {
        // Path 0 - 1 - 2 - 3 - 4 with unit weights, seeds at the ends: class 0 at item 0, class 1 at 4.
        SparseGraph s;
        s.n = 5;
        std::vector<std::vector<int32_t>> adj{{1}, {0, 2}, {1, 3}, {2, 4}, {3}};
        s.rowStart = {0};
        for (int i = 0; i < 5; ++i) {
            for (int32_t j : adj[size_t(i)]) {
                s.columns.push_back(j);
                s.weights.push_back(float(1.0 / std::sqrt(adj[size_t(i)].size() * adj[size_t(j)].size())));
            }
            s.rowStart.push_back(int64_t(s.columns.size()));
        }
        const std::vector<int32_t> seeds{0, -1, -1, -1, 1};
        PropagationOptions po;
        po.iterations = 1;
        auto one = propagateLabels(s, seeds, 2, po);
        QVERIFY(one.has_value());
        // After one step item 1 holds 1/sqrt(2) of class 0, item 2 nothing yet.
        QVERIFY(std::abs(one->scores[2] - float(1.0 / std::sqrt(2.0))) < 1e-6);
        QCOMPARE(one->predicted[2], -1);
        QCOMPARE(one->confidence[2], 0.0f);
        po.iterations = 50;
        auto many = propagateLabels(s, seeds, 2, po);
        QVERIFY(many.has_value());
        QCOMPARE(many->predicted[0], 0);
        QCOMPARE(many->predicted[1], 0);
        QCOMPARE(many->predicted[3], 1);
        QCOMPARE(many->predicted[4], 1);
        QCOMPARE(many->confidence[0], 1.0f); // clamped
        QVERIFY(std::abs(many->margin[2]) < 1e-4); // the middle is equidistant
    }

    void warmStartContinuesWhereItStopped()
    {
        std::vector<int32_t> truth;
        const EmbeddingMatrix x = clusteredRows(50, 4, 8, 0.3f, 3, truth);
        KnnOptions options;
        const auto knn = searchSelfKnn(x, options);
        const auto s = buildNormalisedAffinity(*knn, automaticTemperature(*knn));
        std::vector<int32_t> seeds(size_t(x.rows()), -1);
        for (int c = 0; c < 4; ++c)
            seeds[size_t(c * 50)] = c;
        PropagationOptions ten;
        ten.iterations = 10;
        PropagationOptions twenty = ten;
        twenty.iterations = 20;
        const auto first = propagateLabels(*s, seeds, 4, ten);
        const auto resumed = propagateLabels(*s, seeds, 4, ten, first->scores);
        const auto straight = propagateLabels(*s, seeds, 4, twenty);
        QVERIFY(first && resumed && straight);
        for (size_t q = 0; q < straight->scores.size(); ++q)
            QVERIFY(std::abs(resumed->scores[q] - straight->scores[q]) < 1e-5);
        QVERIFY(!propagateLabels(*s, seeds, 4, ten, std::vector<float>(3)).has_value());
    }

    void propagationRejectsBadInput()
    {
        SparseGraph s;
        s.n = 2;
        s.rowStart = {0, 0, 0};
        QVERIFY(!propagateLabels(s, std::vector<int32_t>{0}, 2, {}).has_value());
        QVERIFY(!propagateLabels(s, std::vector<int32_t>{0, 5}, 2, {}).has_value());
        QVERIFY(!parseClampMode("soft:1.5").has_value());
        QVERIFY(!parseClampMode("soft:").has_value());
        QVERIFY(!parseClampMode("firm").has_value());
        QCOMPARE(parseClampMode("soft:0.5")->alpha, 0.5f);
    }

    void auditFindsFlippedLabelsAndEstimatesTheRate()
    {
        std::vector<int32_t> truth;
        const EmbeddingMatrix x = clusteredRows(300, 5, 16, 0.08f, 21, truth);
        KnnOptions options;
        const auto knn = searchSelfKnn(x, options);
        const auto s = buildNormalisedAffinity(*knn, automaticTemperature(*knn));
        std::mt19937_64 rng(4);
        std::vector<int32_t> given = truth;
        std::vector<char> wrong(given.size(), 0);
        int64_t flips = 0;
        for (size_t i = 0; i < given.size(); ++i)
            if (std::uniform_real_distribution<double>()(rng) < 0.2) {
                given[i] = (given[i] + 1 + int32_t(rng() % 4)) % 5;
                wrong[i] = 1;
                ++flips;
            }
        const auto audit = auditLabels(*s, given, 5, {});
        QVERIFY(audit.has_value());
        const auto& q = audit->quality;
        int64_t tp = 0, fp = 0;
        for (size_t i = 0; i < given.size(); ++i) {
            tp += q.flagged[i] && wrong[i];
            fp += q.flagged[i] && !wrong[i];
            if (q.flagged[i] && wrong[i])
                QCOMPARE(q.suggested[i], truth[i]); // separated clusters: the fix is the true class
        }
        QVERIFY2(tp >= flips * 95 / 100, qPrintable(QString("caught %1 of %2").arg(tp).arg(flips)));
        QVERIFY2(fp <= flips / 20, qPrintable(QString("%1 false flags").arg(fp)));
        QVERIFY(std::abs(q.noiseRate - double(flips) / double(given.size())) < 0.02);
        // The ranking puts wrong labels first.
        for (int64_t r = 0; r < flips * 9 / 10; ++r)
            QVERIFY(wrong[size_t(q.ranking[size_t(r)])]);
        QVERIFY(q.threshold > 0.0f && q.threshold < 0.5f);
    }

    void cleanLabelsAreNotFlagged()
    {
        std::vector<int32_t> truth;
        const EmbeddingMatrix x = clusteredRows(200, 3, 8, 0.2f, 8, truth);
        const auto knn = searchSelfKnn(x, {});
        const auto s = buildNormalisedAffinity(*knn, automaticTemperature(*knn));
        const auto audit = auditLabels(*s, truth, 3, {});
        QVERIFY(audit.has_value());
        QCOMPARE(std::count(audit->quality.flagged.begin(), audit->quality.flagged.end(), 1), 0);
        QCOMPARE(audit->quality.noiseRate, 0.0);
    }

    void selectionStrategies()
    {
        std::vector<int32_t> truth;
        const EmbeddingMatrix x = clusteredRows(100, 6, 12, 0.05f, 9, truth);
        const auto knn = searchSelfKnn(x, {});
        std::vector<int32_t> none(size_t(x.rows()), -1);
        SelectionInputs in;
        in.embeddings = &x;
        in.knn = &*knn;
        in.labels = none;

        // From zero labels the density strategy covers every cluster with its first picks.
        const auto dense = selectItemsToLabel(SelectionStrategy::Density, 6, in, 1);
        QVERIFY(dense.has_value());
        QCOMPARE(dense->items.size(), size_t(6));
        std::set<int32_t> covered;
        for (int32_t i : dense->items)
            covered.insert(truth[size_t(i)]);
        QCOMPARE(covered.size(), size_t(6));

        // Random: deterministic by seed, no repeats, all unlabelled.
        std::vector<int32_t> some = none;
        some[3] = truth[3];
        in.labels = some;
        const auto r1 = selectItemsToLabel(SelectionStrategy::Random, 50, in, 7);
        const auto r2 = selectItemsToLabel(SelectionStrategy::Random, 50, in, 7);
        QCOMPARE(r1->items, r2->items);
        QCOMPARE(std::set<int32_t>(r1->items.begin(), r1->items.end()).size(), size_t(50));
        QVERIFY(std::find(r1->items.begin(), r1->items.end(), 3) == r1->items.end());

        // Uncertainty strategies rank by the propagated distribution.
        PropagationResult result;
        result.n = x.rows();
        result.classes = 2;
        result.scores.assign(size_t(x.rows() * 2), 0.0f);
        for (int64_t i = 0; i < x.rows(); ++i) {
            result.scores[size_t(2 * i)] = 1.0f;
            result.scores[size_t(2 * i + 1)] = i == 49 || i == 99 ? 0.9f : float(i % 7) / 10.0f; // 49 and 99 nearly tied
        }
        summariseScores(result);
        in.result = &result;
        for (auto strategy : {SelectionStrategy::LeastConfidence, SelectionStrategy::Margin, SelectionStrategy::Entropy}) {
            const auto picked = selectItemsToLabel(strategy, 2, in, 1);
            QVERIFY(picked.has_value());
            QCOMPARE(std::set<int32_t>(picked->items.begin(), picked->items.end()), (std::set<int32_t>{49, 99}));
        }
        QVERIFY(!parseSelectionStrategy("smart").has_value());
        QVERIFY(!selectItemsToLabel(SelectionStrategy::Random, 0, in, 1).has_value());
        for (auto s : allSelectionStrategies())
            QCOMPARE(*parseSelectionStrategy(selectionStrategyName(s)), s);
    }
};

QTEST_GUILESS_MAIN(EngineTest)
#include "tst_engine.moc"
