// Oracle tests for IncrementalPropagation and IncrementalAudit: after every label change (adds,
// changes, removals, batches, undos) the incremental result is compared with a from-scratch
// propagateLabels() of the same seeds, and the incremental audit with assessGivenLabels().

#include "core/engine/AffinityGraph.h"
#include "core/engine/IncrementalPropagation.h"
#include "core/engine/KnnSearch.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "SimdTestSupport.h"

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

using namespace labelprop;
using test::cpuRuns;
using test::kSimdLevels;
using test::levelRowName;

namespace {

constexpr double kGuarantee = 1e-4; // per probability, what the app promises
constexpr double kRounding = 2e-6;  // float32 rounding of both computations, on top of errorBound()

// Gaussian blobs on the sphere with different spreads, so that some blobs touch and some do not.
EmbeddingMatrix blobs(int64_t n, int clusters, int dims, uint64_t seed, std::vector<int32_t>& cluster)
{
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    EmbeddingMatrix centres(clusters, dims);
    for (int c = 0; c < clusters; ++c)
        for (int j = 0; j < dims; ++j)
            centres(c, j) = normal(rng);
    EmbeddingMatrix x(n, dims);
    cluster.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
        const int c = int(rng() % uint64_t(clusters));
        const float spread = 0.15f + 0.1f * float(c % 4);
        cluster[size_t(i)] = c;
        for (int j = 0; j < dims; ++j)
            x(i, j) = centres(c, j) + spread * normal(rng);
        x.row(i).normalize();
    }
    return x;
}

SparseGraph knnAffinity(const EmbeddingMatrix& x, int k)
{
    KnnOptions options;
    options.k = k;
    options.threads = 1;
    auto knn = searchSelfKnn(x, options);
    if (!knn)
        qFatal("%s", knn.error().message.c_str());
    auto s = buildNormalisedAffinity(*knn, automaticTemperature(*knn));
    if (!s)
        qFatal("%s", s.error().message.c_str());
    return std::move(*s);
}

// Block-diagonal union of `parts` plus one item with no neighbours at the end; the local layout is
// rebuilt, or left empty (item order), and then each row lists its neighbours in descending order,
// so that nothing relies on sorted rows.
SparseGraph unionWithIsolatedItem(const std::vector<SparseGraph>& parts, bool localLayout)
{
    SparseGraph s;
    s.rowStart = {0};
    for (const SparseGraph& part : parts) {
        for (int64_t i = 0; i < part.n; ++i) {
            for (int64_t e = part.rowStart[size_t(i)]; e < part.rowStart[size_t(i + 1)]; ++e) {
                s.columns.push_back(int32_t(s.n + part.columns[size_t(e)]));
                s.weights.push_back(part.weights[size_t(e)]);
            }
            s.rowStart.push_back(int64_t(s.columns.size()));
        }
        s.n += part.n;
    }
    s.rowStart.push_back(int64_t(s.columns.size())); // the isolated item
    ++s.n;
    if (localLayout) {
        buildLocalLayout(s);
        return s;
    }
    for (int64_t i = 0; i < s.n; ++i) {
        std::reverse(s.columns.begin() + s.rowStart[size_t(i)], s.columns.begin() + s.rowStart[size_t(i + 1)]);
        std::reverse(s.weights.begin() + s.rowStart[size_t(i)], s.weights.begin() + s.rowStart[size_t(i + 1)]);
    }
    return s;
}

PropagationResult fromScratch(const SparseGraph& s, std::span<const int32_t> seeds, int classes, int steps)
{
    PropagationOptions options;
    options.iterations = steps;
    options.threads = 1;
    auto r = propagateLabels(s, seeds, classes, options);
    if (!r)
        qFatal("%s", r.error().message.c_str());
    return std::move(*r);
}

// The oracle: every probability within the guarantee (and within the object's own bound), the
// same prediction wherever the top two are not within 1e-4, unreached rows unreached.
QString compareWithScratch(const IncrementalPropagation& ip)
{
    const PropagationResult full = fromScratch(ip.graph(), ip.seeds(), ip.classes(), ip.steps());
    const PropagationResult& r = ip.result();
    const int c = ip.classes();
    double worst = 0.0;
    int64_t worstRow = -1;
    for (int64_t i = 0; i < full.n; ++i) {
        for (int q = 0; q < c; ++q) {
            const double d = std::abs(double(r.probabilities[size_t(i * c + q)]) - full.probabilities[size_t(i * c + q)]);
            if (d > worst) {
                worst = d;
                worstRow = i;
            }
        }
        if (full.predicted[size_t(i)] < 0 && r.predicted[size_t(i)] >= 0)
            return QString("item %1: unreached from scratch, predicted %2 here").arg(i).arg(r.predicted[size_t(i)]);
        if (full.predicted[size_t(i)] >= 0 && full.margin[size_t(i)] > 1e-4f && r.predicted[size_t(i)] != full.predicted[size_t(i)])
            return QString("item %1: predicted %2, from scratch %3 (margin %4)")
                .arg(i).arg(r.predicted[size_t(i)]).arg(full.predicted[size_t(i)]).arg(full.margin[size_t(i)]);
    }
    if (worst > std::min(kGuarantee, ip.errorBound() + kRounding))
        return QString("max |p - p(scratch)| = %1 at item %2 (bound %3)").arg(worst).arg(worstRow).arg(ip.errorBound());
    return {};
}

// The incremental audit equals assessGivenLabels() over its own votes (exactly), its votes equal
// neighbourVote() of the shown result (to rounding), and its issue scores are within the guarantee
// of the audit of a from-scratch propagation.
QString compareAudit(const IncrementalAudit& audit, const IncrementalPropagation& ip)
{
    const int c = ip.classes();
    const LabelQualityReport full = assessGivenLabels(audit.vote(), c, ip.seeds());
    const LabelQualityReport& r = audit.report();
    if (full.issueScore != r.issueScore)
        return "issue scores differ from assessGivenLabels()";
    if (full.flagged != r.flagged)
        return "flags differ from assessGivenLabels()";
    if (full.suggested != r.suggested)
        return "suggestions differ from assessGivenLabels()";
    if (full.ranking != r.ranking)
        return "ranking differs from assessGivenLabels()";
    if (full.threshold != r.threshold || full.noiseRate != r.noiseRate || full.classNoiseRate != r.classNoiseRate
        || full.classCount != r.classCount)
        return QString("threshold %1 / noise rate %2 differ from assessGivenLabels() (%3 / %4)")
            .arg(r.threshold).arg(r.noiseRate).arg(full.threshold).arg(full.noiseRate);
    // Votes are kept on labelled rows only (the report reads no other).
    const std::vector<float> vote = neighbourVote(ip.graph(), ip.result(), 1);
    for (size_t a = 0; a < vote.size(); ++a)
        if (ip.seeds()[a / size_t(c)] >= 0 && std::abs(vote[a] - audit.vote()[a]) > 1e-6f)
            return QString("vote of item %1 is %2, neighbourVote() %3").arg(a / size_t(c)).arg(audit.vote()[a]).arg(vote[a]);
    const PropagationResult scratch = fromScratch(ip.graph(), ip.seeds(), c, ip.steps());
    const LabelQualityReport scratchAudit = assessGivenLabels(neighbourVote(ip.graph(), scratch, 1), c, ip.seeds());
    for (size_t i = 0; i < r.issueScore.size(); ++i)
        if (std::abs(r.issueScore[i] - scratchAudit.issueScore[i]) > 2 * kGuarantee)
            return QString("item %1: issue score %2, from scratch %3").arg(i).arg(r.issueScore[i]).arg(scratchAudit.issueScore[i]);
    return {};
}

// Rows left out of changedRows kept their values exactly; copyRowsTo() of the listed rows
// brings a snapshot of the previous result up to date.
QString checkChangedRows(const IncrementalPropagation& ip, const IncrementalUpdate& update, PropagationResult& snapshot)
{
    const PropagationResult& r = ip.result();
    const int c = ip.classes();
    std::vector<char> listed(size_t(r.n), 0);
    for (int32_t i : update.changedRows)
        listed[size_t(i)] = 1;
    if (!std::is_sorted(update.changedRows.begin(), update.changedRows.end()))
        return "changedRows is not ascending";
    for (int64_t i = 0; i < r.n; ++i)
        if (!listed[size_t(i)]
            && (!std::equal(r.scores.begin() + i * c, r.scores.begin() + (i + 1) * c, snapshot.scores.begin() + i * c)
                || r.predicted[size_t(i)] != snapshot.predicted[size_t(i)]))
            return QString("item %1 changed but is not in changedRows").arg(i);
    ip.copyRowsTo(update.changedRows, snapshot);
    if (snapshot.scores != r.scores || snapshot.probabilities != r.probabilities || snapshot.predicted != r.predicted
        || snapshot.confidence != r.confidence || snapshot.margin != r.margin)
        return "copyRowsTo() left the snapshot different from result()";
    return {};
}

std::shared_ptr<const SparseGraph> testGraph(int n, int clusters, int dims, int k, bool localLayout, uint64_t seed,
                                             std::vector<int32_t>& truth)
{
    std::vector<int32_t> main, side;
    const SparseGraph a = knnAffinity(blobs(n, clusters, dims, seed, main), k);
    const SparseGraph b = knnAffinity(blobs(30, 1, dims, seed + 7, side), 4); // a component of its own
    truth = main;
    truth.insert(truth.end(), side.size(), 0);
    truth.push_back(1); // the isolated item
    return std::make_shared<const SparseGraph>(unionWithIsolatedItem({a, b}, localLayout));
}

IncrementalPropagation makeIncremental(std::shared_ptr<const SparseGraph> s, const std::vector<int32_t>& seeds,
                                       int classes, const IncrementalOptions& options)
{
    auto ip = IncrementalPropagation::create(std::move(s), seeds, classes, options);
    if (!ip)
        qFatal("%s", ip.error().message.c_str());
    return std::move(*ip);
}

// Fails the test with the oracle's message when `check` (a QString-returning call) finds a problem.
#define VERIFY_NO_PROBLEM(check)                                                                                      \
    do {                                                                                                               \
        const QString problem_ = (check);                                                                              \
        QVERIFY2(problem_.isEmpty(), qPrintable(problem_));                                                            \
    } while (false)

} // namespace

class IncrementalTest : public QObject {
    Q_OBJECT

private slots:
    void startsEqualToPropagateLabels()
    {
        std::vector<int32_t> truth;
        const auto s = testGraph(400, 6, 8, 6, true, 3, truth);
        std::vector<int32_t> seeds(size_t(s->n), -1);
        for (int64_t i = 0; i < s->n; i += 17)
            seeds[size_t(i)] = truth[size_t(i)] % 4;
        const auto ip = makeIncremental(s, seeds, 4, {});
        const PropagationResult full = fromScratch(*s, seeds, 4, 20);
        QCOMPARE(ip.result().scores, full.scores);
        QCOMPARE(ip.result().probabilities, full.probabilities);
        QCOMPARE(ip.result().predicted, full.predicted);
        QVERIFY(ip.errorBound() > 0.0 && ip.errorBound() <= kGuarantee * 0.8 * 1.0001);
        QVERIFY(ip.memoryBytes() >= int64_t(21 * s->n * 4 * sizeof(float)));
    }

    // Random sessions: adds, changes, removals, batches and undos, checked after every step.
    void randomSessionsMatchFromScratch_data()
    {
        QTest::addColumn<SimdLevel>("level");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("dims");
        QTest::addColumn<int>("k");
        QTest::addColumn<int>("classes");
        QTest::addColumn<int>("steps");
        QTest::addColumn<bool>("localLayout");
        QTest::addColumn<int>("threads");
        QTest::addColumn<double>("denseFraction");
        QTest::addColumn<int>("operations");
        for (const SimdLevel level : test::runnableSimdLevels()) {
            QTest::newRow(levelRowName(level, "small, 3 classes"))
                << level << 200 << 8 << 5 << 3 << 20 << true << 1 << 0.3 << 300;
            QTest::newRow(levelRowName(level, "small, item order, 7 steps"))
                << level << 200 << 8 << 5 << 5 << 7 << false << 1 << 0.3 << 300;
            QTest::newRow(levelRowName(level, "12 classes (16 lanes)"))
                << level << 800 << 12 << 8 << 12 << 20 << true << 1 << 0.3 << 150;
            QTest::newRow(levelRowName(level, "20 classes (plain loops)"))
                << level << 800 << 12 << 8 << 20 << 10 << true << 1 << 0.3 << 150;
            QTest::newRow(levelRowName(level, "one class"))
                << level << 300 << 6 << 5 << 1 << 20 << true << 1 << 0.3 << 150;
            QTest::newRow(levelRowName(level, "no steps"))
                << level << 200 << 6 << 5 << 4 << 0 << true << 1 << 0.3 << 100;
            QTest::newRow(levelRowName(level, "one step"))
                << level << 200 << 6 << 5 << 4 << 1 << true << 1 << 0.3 << 100;
            QTest::newRow(levelRowName(level, "medium, 10 classes, 2 threads"))
                << level << 3000 << 16 << 10 << 10 << 20 << true << 2 << 0.3 << 120;
            QTest::newRow(levelRowName(level, "medium, dense often"))
                << level << 3000 << 16 << 10 << 10 << 20 << true << 2 << 0.02 << 60;
            QTest::newRow(levelRowName(level, "medium, never dense, 2 threads"))
                << level << 3000 << 16 << 10 << 10 << 20 << true << 2 << 1.0 << 60;
            QTest::newRow(levelRowName(level, "medium, item order, 2 threads"))
                << level << 3000 << 16 << 10 << 10 << 20 << false << 2 << 1.0 << 60;
        }
    }
    void randomSessionsMatchFromScratch()
    {
        QFETCH(SimdLevel, level);
        if (!cpuRuns(level))
            QSKIP("this CPU cannot run this SIMD level");
        QFETCH(int, n);
        QFETCH(int, dims);
        QFETCH(int, k);
        QFETCH(int, classes);
        QFETCH(int, steps);
        QFETCH(bool, localLayout);
        QFETCH(int, threads);
        QFETCH(double, denseFraction);
        QFETCH(int, operations);
        std::vector<int32_t> truth;
        const auto s = testGraph(n, std::max(classes, 4), dims, k, localLayout, uint64_t(n + classes + steps), truth);
        const int64_t items = s->n;
        std::mt19937_64 rng(uint64_t(items * 7 + classes));
        const auto randomItem = [&] { return int32_t(rng() % uint64_t(items)); };
        // A mostly right label: the true class, sometimes another one (so the audit has work).
        const auto labelFor = [&](int32_t item) {
            return rng() % 5 == 0 ? int32_t(rng() % uint64_t(classes)) : truth[size_t(item)] % classes;
        };
        std::vector<int32_t> seeds(size_t(items), -1);
        for (int64_t i = 0; i < items; ++i)
            if (rng() % 30 == 0)
                seeds[size_t(i)] = labelFor(int32_t(i));
        IncrementalOptions options;
        options.steps = steps;
        options.threads = threads;
        options.fullRecomputeFraction = denseFraction;
        options.simd = level;
        IncrementalPropagation ip = makeIncremental(s, seeds, classes, options);
        QCOMPARE(ip.simdLevel(), level);
        IncrementalAudit audit = IncrementalAudit::create(ip, 1);
        PropagationResult snapshot = ip.result();
        VERIFY_NO_PROBLEM(compareAudit(audit, ip));

        QString problem;
        std::vector<std::vector<SeedChange>> history; // each entry: the changes that undo one step
        std::vector<int32_t> expected = seeds;
        int modes[4] = {0, 0, 0, 0};
        for (int op = 0; op < operations; ++op) {
            std::vector<SeedChange> changes;
            const int kind = int(rng() % 10);
            if (kind == 9 && !history.empty()) { // undo
                changes = history.back();
                history.pop_back();
            } else {
                const int count = kind == 8 ? 1 + int(rng() % 60) : 1;
                for (int a = 0; a < count; ++a) {
                    const int32_t item = kind == 7 ? int32_t(items - 1) : randomItem(); // 7: the isolated item
                    const int32_t now = ip.seeds()[size_t(item)];
                    int32_t next = labelFor(item);
                    if (now >= 0 && rng() % 2 == 0)
                        next = -1; // removal
                    else if (now >= 0 && next == now)
                        next = (now + 1) % classes; // change
                    changes.push_back({item, next});
                }
            }
            // The undo record: the label every item had before (the same for repeated items).
            std::vector<SeedChange> undo;
            for (const SeedChange& change : changes)
                undo.push_back({change.item, ip.seeds()[size_t(change.item)]});
            for (const SeedChange& change : changes) // the last entry for an item wins
                expected[size_t(change.item)] = change.newClass;
            const auto update = ip.apply(changes);
            QVERIFY2(update.has_value(), update ? "" : update.error().message.c_str());
            if (kind != 9)
                history.push_back(undo);
            ++modes[int(update->stats.mode)];
            QVERIFY(std::equal(expected.begin(), expected.end(), ip.seeds().begin()));
            problem = compareWithScratch(ip);
            QVERIFY2(problem.isEmpty(), qPrintable(QString("operation %1: %2").arg(op).arg(problem)));
            problem = checkChangedRows(ip, *update, snapshot);
            QVERIFY2(problem.isEmpty(), qPrintable(QString("operation %1: %2").arg(op).arg(problem)));
            const AuditUpdate audited = audit.update(ip, *update);
            QVERIFY(std::is_sorted(audited.changedRows.begin(), audited.changedRows.end()));
            problem = compareAudit(audit, ip);
            QVERIFY2(problem.isEmpty(), qPrintable(QString("operation %1: audit: %2").arg(op).arg(problem)));
        }
        QVERIFY(modes[int(IncrementalStats::Mode::Local)] + modes[int(IncrementalStats::Mode::Dense)] > operations / 2);
        if (denseFraction < 0.1)
            QVERIFY(modes[int(IncrementalStats::Mode::Dense)] > 0);
    }

    // The kernels use no FMA and sum lanes in one fixed order, so a session gives exactly the
    // baseline's trajectory, result and audit at every level.
    void simdLevelsGiveIdenticalSessions_data()
    {
        QTest::addColumn<SimdLevel>("level");
        QTest::addColumn<int>("classes");
        for (const SimdLevel level : test::runnableSimdLevels()) {
            if (level == SimdLevel::Baseline)
                continue;
            QTest::newRow(levelRowName(level, "5 classes (8 lanes)")) << level << 5;
            QTest::newRow(levelRowName(level, "12 classes (16 lanes)")) << level << 12;
            QTest::newRow(levelRowName(level, "20 classes (plain loops)")) << level << 20;
        }
    }
    void simdLevelsGiveIdenticalSessions()
    {
        QFETCH(SimdLevel, level);
        QFETCH(int, classes);
        if (!cpuRuns(level))
            QSKIP("this CPU cannot run this SIMD level");
        std::vector<int32_t> truth;
        const auto s = testGraph(1500, std::max(classes, 4), 12, 8, true, uint64_t(classes), truth);
        std::mt19937_64 rng(uint64_t(classes) * 11);
        std::vector<int32_t> seeds(size_t(s->n), -1);
        for (int64_t i = 0; i < s->n; i += 25)
            seeds[size_t(i)] = truth[size_t(i)] % classes;
        IncrementalOptions options;
        options.threads = 2;
        options.simd = level;
        IncrementalOptions baselineOptions = options;
        baselineOptions.simd = SimdLevel::Baseline;
        IncrementalPropagation ip = makeIncremental(s, seeds, classes, options);
        IncrementalPropagation reference = makeIncremental(s, seeds, classes, baselineOptions);
        IncrementalAudit audit = IncrementalAudit::create(ip, 1);
        IncrementalAudit referenceAudit = IncrementalAudit::create(reference, 1);
        for (int op = 0; op < 80; ++op) {
            std::vector<SeedChange> changes;
            for (int a = 0, count = op % 10 == 9 ? 40 : 1; a < count; ++a) {
                const auto item = int32_t(rng() % uint64_t(s->n));
                changes.push_back({item, rng() % 3 == 0 ? -1 : int32_t(rng() % uint64_t(classes))});
            }
            const auto update = ip.apply(changes);
            const auto referenceUpdate = reference.apply(changes);
            QVERIFY(update && referenceUpdate);
            QCOMPARE(update->changedRows, referenceUpdate->changedRows);
            QCOMPARE(update->stats.rowsWritten, referenceUpdate->stats.rowsWritten);
            QVERIFY2(ip.result().scores == reference.result().scores, qPrintable(QString("operation %1").arg(op)));
            audit.update(ip, *update);
            referenceAudit.update(reference, *referenceUpdate);
            QVERIFY(std::equal(audit.vote().begin(), audit.vote().end(), referenceAudit.vote().begin()));
            QCOMPARE(audit.report().issueScore, referenceAudit.report().issueScore);
            QCOMPARE(audit.report().flagged, referenceAudit.report().flagged);
        }
    }

    // The same item labelled and unlabelled 1000 times: no drift, and the last state matches.
    void repeatedAddAndRemoveDoesNotDrift()
    {
        std::vector<int32_t> truth;
        const auto s = testGraph(1500, 6, 12, 8, true, 11, truth);
        std::vector<int32_t> seeds(size_t(s->n), -1);
        for (int64_t i = 0; i < s->n; i += 40)
            seeds[size_t(i)] = truth[size_t(i)] % 5;
        IncrementalPropagation ip = makeIncremental(s, seeds, 5, {});
        const int32_t item = 7;
        QCOMPARE(ip.seeds()[size_t(item)], -1);
        double worst = 0.0;
        for (int round = 0; round < 1000; ++round) {
            for (int32_t label : {int32_t(round % 5), int32_t(-1)}) {
                const auto update = ip.apply(std::vector<SeedChange>{{item, label}});
                QVERIFY(update.has_value());
                QCOMPARE(update->changedSeeds, std::vector<int32_t>{item});
            }
            if (round % 50 == 0 || round == 999) {
                const QString problem = compareWithScratch(ip);
                QVERIFY2(problem.isEmpty(), qPrintable(QString("round %1: %2").arg(round).arg(problem)));
            }
            if (round == 999) {
                const PropagationResult full = fromScratch(*s, ip.seeds(), 5, 20);
                for (size_t a = 0; a < full.probabilities.size(); ++a)
                    worst = std::max(worst, double(std::abs(full.probabilities[a] - ip.result().probabilities[a])));
            }
        }
        QVERIFY2(worst <= ip.errorBound() + kRounding, qPrintable(QString("drifted to %1").arg(worst)));
    }

    // Removing the only label of a component takes its rows back to exactly zero (no residue of
    // the subtraction), and the isolated item follows its own label only.
    void componentsAndIsolatedItem()
    {
        std::vector<int32_t> truth;
        const auto s = testGraph(300, 4, 8, 5, true, 5, truth);
        const int64_t n = s->n;
        const int64_t sideFirst = n - 31, isolated = n - 1; // the 30-item component, then the isolated item
        std::vector<int32_t> seeds(size_t(n), -1);
        seeds[0] = 0;
        IncrementalPropagation ip = makeIncremental(s, seeds, 3, {});
        for (int64_t i = sideFirst; i < n; ++i)
            QCOMPARE(ip.result().predicted[size_t(i)], -1);

        auto update = ip.apply(std::vector<SeedChange>{{int32_t(sideFirst + 3), 2}});
        QVERIFY(update.has_value());
        for (int32_t i : update->changedRows)
            QVERIFY(i >= sideFirst && i < isolated); // nothing outside the component moved
        for (int64_t i = sideFirst; i < isolated; ++i)
            QCOMPARE(ip.result().predicted[size_t(i)], 2);
        QCOMPARE(ip.result().predicted[size_t(isolated)], -1);

        update = ip.apply(std::vector<SeedChange>{{int32_t(sideFirst + 3), -1}, {int32_t(isolated), 1}});
        QVERIFY(update.has_value());
        for (int64_t i = sideFirst; i < isolated; ++i) {
            QCOMPARE(ip.result().predicted[size_t(i)], -1);
            for (int q = 0; q < 3; ++q)
                QCOMPARE(ip.result().scores[size_t(i * 3 + q)], 0.0f);
        }
        QCOMPARE(ip.result().predicted[size_t(isolated)], 1);
        QCOMPARE(ip.result().confidence[size_t(isolated)], 1.0f);
        VERIFY_NO_PROBLEM(compareWithScratch(ip));
    }

    void badChangesAreRefusedAndChangeNothing()
    {
        std::vector<int32_t> truth;
        const auto s = testGraph(100, 3, 6, 4, true, 9, truth);
        std::vector<int32_t> seeds(size_t(s->n), -1);
        seeds[1] = 1;
        IncrementalPropagation ip = makeIncremental(s, seeds, 2, {});
        const PropagationResult before = ip.result();
        auto bad = ip.apply(std::vector<SeedChange>{{2, 0}, {int32_t(s->n), 1}});
        QVERIFY(!bad.has_value());
        QVERIFY2(bad.error().message.find("label change 1: item " + std::to_string(s->n)) != std::string::npos,
                 bad.error().message.c_str());
        bad = ip.apply(std::vector<SeedChange>{{5, 2}});
        QVERIFY(!bad.has_value());
        QVERIFY2(bad.error().message.find("(item 5): class 2 is outside [0, 2)") != std::string::npos,
                 bad.error().message.c_str());
        QCOMPARE(ip.seeds()[2], -1);
        QCOMPARE(ip.result().scores, before.scores);
        // No-ops: the label it already has, and a later entry undoing an earlier one in the batch.
        const auto same = ip.apply(std::vector<SeedChange>{{1, 1}, {3, 0}, {3, -1}});
        QVERIFY(same.has_value());
        QCOMPARE(same->stats.mode, IncrementalStats::Mode::Unchanged);
        QVERIFY(same->changedRows.empty());

        IncrementalOptions options;
        options.steps = -1;
        QVERIFY(!IncrementalPropagation::create(s, seeds, 2, options).has_value());
        options = {};
        options.maxProbabilityError = 0.0;
        QVERIFY(!IncrementalPropagation::create(s, seeds, 2, options).has_value());
        QVERIFY(!IncrementalPropagation::create(nullptr, seeds, 2, {}).has_value());
        const auto shortSeeds = IncrementalPropagation::create(s, std::vector<int32_t>{0}, 2, {});
        QVERIFY(!shortSeeds.has_value());
        QVERIFY2(shortSeeds.error().message.find("seed entries") != std::string::npos, shortSeeds.error().message.c_str());
    }

    void largeBatchesRunDense()
    {
        std::vector<int32_t> truth;
        const auto s = testGraph(600, 5, 8, 6, true, 13, truth);
        std::vector<int32_t> seeds(size_t(s->n), -1);
        IncrementalPropagation ip = makeIncremental(s, seeds, 5, {});
        std::vector<SeedChange> all;
        for (int64_t i = 0; i < s->n; i += 2)
            all.push_back({int32_t(i), truth[size_t(i)] % 5});
        const auto update = ip.apply(all);
        QVERIFY(update.has_value());
        QCOMPARE(update->stats.mode, IncrementalStats::Mode::Dense);
        QCOMPARE(update->stats.denseFromStep, 1);
        VERIFY_NO_PROBLEM(compareWithScratch(ip));
    }

    void addedClassesAndRebase()
    {
        std::vector<int32_t> truth;
        const auto s = testGraph(800, 6, 8, 6, true, 17, truth);
        std::vector<int32_t> seeds(size_t(s->n), -1);
        for (int64_t i = 0; i < s->n; i += 25)
            seeds[size_t(i)] = truth[size_t(i)] % 3;
        IncrementalPropagation ip = makeIncremental(s, seeds, 3, {});
        IncrementalAudit audit = IncrementalAudit::create(ip, 1);

        // A snapshot for a "background" rebuild, taken before a new class and more clicks.
        const std::vector<int32_t> snapshotSeeds(ip.seeds().begin(), ip.seeds().end());
        ip.addClass();
        QCOMPARE(ip.classes(), 4);
        VERIFY_NO_PROBLEM(compareWithScratch(ip));
        std::vector<SeedChange> clicks;
        for (int64_t i = 3; i < s->n; i += 97)
            clicks.push_back({int32_t(i), 3});
        clicks.push_back({0, -1});
        auto update = ip.apply(clicks);
        QVERIFY(update.has_value());
        VERIFY_NO_PROBLEM(compareWithScratch(ip));
        const AuditUpdate rebuilt = audit.update(ip, *update); // class count changed: the audit rebuilds
        QCOMPARE(int64_t(rebuilt.changedRows.size()), s->n);
        VERIFY_NO_PROBLEM(compareAudit(audit, ip));

        PropagationResult before = ip.result();
        auto fresh = IncrementalPropagation::create(ip.sharedGraph(), snapshotSeeds, 3, {});
        QVERIFY(fresh.has_value());
        update = ip.rebase(std::move(*fresh));
        QVERIFY2(update.has_value(), update ? "" : update.error().message.c_str());
        QCOMPARE(update->stats.mode, IncrementalStats::Mode::Rebuilt);
        QVERIFY(update->changedSeeds.empty());
        VERIFY_NO_PROBLEM(compareWithScratch(ip));
        VERIFY_NO_PROBLEM(checkChangedRows(ip, *update, before));
        audit.update(ip, *update);
        VERIFY_NO_PROBLEM(compareAudit(audit, ip));

        // Refusals name what does not fit.
        auto other = std::make_shared<const SparseGraph>(*s);
        auto foreign = IncrementalPropagation::create(other, snapshotSeeds, 3, {});
        QVERIFY(foreign.has_value());
        auto refused = ip.rebase(std::move(*foreign));
        QVERIFY(!refused.has_value());
        QVERIFY(refused.error().message.find("another graph") != std::string::npos);
        IncrementalOptions fewer;
        fewer.steps = 5;
        auto shorter = IncrementalPropagation::create(ip.sharedGraph(), snapshotSeeds, 3, fewer);
        QVERIFY(shorter.has_value());
        refused = ip.rebase(std::move(*shorter));
        QVERIFY(!refused.has_value());
        QVERIFY(refused.error().message.find("runs 5 steps") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(IncrementalTest)
#include "tst_incremental.moc"
