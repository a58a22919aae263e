#include "core/experiments/Simulation.h"

#include "core/engine/AffinityGraph.h"
#include "core/engine/ApproximateKnn.h"
#include "core/engine/KnnClassifier.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "core/base/Parallel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace labelprop {
namespace {

// splitmix64: decorrelates the seeds of the experiments' random streams.
uint64_t mixSeed(uint64_t seed, uint64_t a, uint64_t b = 0)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (a + 1) + 0xbf58476d1ce4e5b9ULL * (b + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

enum StreamTag : uint64_t { kSelectionStream = 1, kNoiseStream = 2, kKnnNoiseStream = 3, kSplitStream = 4 };

class Clock {
public:
    [[nodiscard]] double seconds() const
    {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    }

private:
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

EmbeddingMatrix gatherRows(const EmbeddingMatrix& x, std::span<const int32_t> rows)
{
    EmbeddingMatrix out(Eigen::Index(rows.size()), x.cols());
    for (size_t r = 0; r < rows.size(); ++r)
        out.row(Eigen::Index(r)) = x.row(rows[r]);
    return out;
}

double accuracyOn(std::span<const int32_t> predicted, std::span<const int32_t> truth, std::span<const int32_t> items)
{
    if (items.empty())
        return 0.0;
    int64_t right = 0;
    for (const int32_t i : items)
        right += predicted[size_t(i)] == truth[size_t(i)];
    return double(right) / double(items.size());
}

// Fraction of rows of y (n x c) whose argmax is not the true class; a row with no positive mass
// has no argmax and counts as wrong.
double argmaxErrorRate(std::span<const float> y, int classes, std::span<const int32_t> truth)
{
    const int64_t n = int64_t(truth.size());
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float* row = y.data() + i * classes;
        int best = -1;
        float top = 0.0f;
        for (int q = 0; q < classes; ++q)
            if (row[q] > top) {
                top = row[q];
                best = q;
            }
        wrong += best != truth[size_t(i)];
    }
    return n ? double(wrong) / double(n) : 0.0;
}

std::vector<double> steppedRates(double first, int count)
{
    std::vector<double> rates;
    for (int i = 0; i < count; ++i)
        rates.push_back(std::round((first + 0.1 * i) * 1e6) / 1e6);
    return rates;
}

Expected<void> checkRates(const std::vector<double>& rates, const char* what)
{
    for (const double r : rates)
        if (!(r >= 0.0 && r <= 1.0))
            return fail(std::string("simulation: ") + what + " rate " + std::to_string(r) + " is outside [0, 1]");
    return {};
}

class Simulation {
public:
    Simulation(const EmbeddingMatrix& x, std::span<const int32_t> truth, int classes, const SimulationOptions& options)
        : m_x(x), m_truth(truth), m_classes(classes), m_options(options), m_n(x.rows())
    {
    }

    Expected<SimulationReport> run()
    {
        if (auto valid = validate(); !valid)
            return std::unexpected(valid.error());
        m_report.items = m_n;
        m_report.classes = m_classes;
        m_report.k = m_options.k;

        if (m_options.runAnnotation || m_options.runNoise) {
            Clock clock;
            if (auto built = buildGraph(); !built)
                return std::unexpected(built.error());
            m_report.graphSeconds = clock.seconds();
        }
        if (m_options.runAnnotation) {
            Clock clock;
            if (auto done = annotation(); !done)
                return std::unexpected(done.error());
            m_report.annotationSeconds = clock.seconds();
        }
        if (m_options.runNoise) {
            Clock clock;
            if (auto done = noise(); !done)
                return std::unexpected(done.error());
            m_report.noiseSeconds = clock.seconds();
        }
        if (m_options.runKnn) {
            Clock clock;
            if (auto done = knnExperiment(); !done)
                return std::unexpected(done.error());
            m_report.knnSeconds = clock.seconds();
        }
        return std::move(m_report);
    }

private:
    Expected<void> validate()
    {
        if (m_classes < 2)
            return fail("simulation: at least 2 classes are needed (got " + std::to_string(m_classes) + ")");
        if (int64_t(m_truth.size()) != m_n)
            return fail("simulation: " + std::to_string(m_truth.size()) + " labels for " + std::to_string(m_n)
                        + " embeddings");
        for (int64_t i = 0; i < m_n; ++i)
            if (m_truth[size_t(i)] < 0 || m_truth[size_t(i)] >= m_classes)
                return fail("simulation: item " + std::to_string(i) + " has no true label in [0, "
                            + std::to_string(m_classes) + "); every item needs one");
        if (m_options.k < 1 || m_options.k >= m_n)
            return fail("simulation: k = " + std::to_string(m_options.k) + " needs more than k items (there are "
                        + std::to_string(m_n) + ")");
        if (m_options.iterations < 1 || m_options.noiseSteps < 1 || m_options.auditSteps < 1)
            return fail("simulation: iterations, noise steps and audit steps must be at least 1");
        if (m_options.knnK < 1 || m_options.labelledOnlyK < 1)
            return fail("simulation: the kNN vote needs k >= 1");
        if (m_options.temperature && !(*m_options.temperature > 0.0f))
            return fail("simulation: the temperature must be above 0");

        m_schedule = m_options.labelSchedule.empty() ? defaultLabelSchedule(m_n) : m_options.labelSchedule;
        for (size_t i = 0; i < m_schedule.size(); ++i) {
            if (m_schedule[i] < 1 || m_schedule[i] >= m_n)
                return fail("simulation: the label count " + std::to_string(m_schedule[i])
                            + " in the schedule must be between 1 and " + std::to_string(m_n - 1)
                            + " (there are " + std::to_string(m_n) + " items)");
            if (i > 0 && m_schedule[i] <= m_schedule[i - 1])
                return fail("simulation: the label schedule must be strictly increasing ("
                            + std::to_string(m_schedule[i - 1]) + " then " + std::to_string(m_schedule[i]) + ")");
        }
        const auto all = allSelectionStrategies();
        m_strategies = m_options.strategies.empty() ? std::vector<SelectionStrategy>(all.begin(), all.end())
                                                    : m_options.strategies;
        m_noiseRates = m_options.noiseRates.empty() ? steppedRates(0.1, 9) : m_options.noiseRates;
        m_knnRates = m_options.knnNoiseRates.empty() ? steppedRates(0.0, 10) : m_options.knnNoiseRates;
        if (auto ok = checkRates(m_noiseRates, "noise"); !ok)
            return ok;
        if (auto ok = checkRates(m_knnRates, "kNN noise"); !ok)
            return ok;
        if (m_options.trainCount < 0 || m_options.trainCount >= m_n)
            return fail("simulation: the train count " + std::to_string(m_options.trainCount)
                        + " must be below the number of items (" + std::to_string(m_n) + "); 0 picks a random split");
        return {};
    }

    [[nodiscard]] bool cancelled() const { return m_options.cancel && m_options.cancel->load(); }

    void report(std::string_view stage, double fraction) const
    {
        if (m_options.progress)
            m_options.progress(stage, std::clamp(fraction, 0.0, 1.0));
    }

    KnnOptions knnOptions(int k, std::string_view stage, double from, double to) const
    {
        KnnOptions o;
        o.k = k;
        o.threads = m_options.threads;
        o.cancel = m_options.cancel;
        if (m_options.progress)
            o.progress = [this, stage, from, to](double f) { report(stage, from + (to - from) * f); };
        return o;
    }

    PropagationOptions propagationOptions(int iterations, ClampMode::Kind clamp) const
    {
        PropagationOptions o;
        o.iterations = iterations;
        o.clamp.kind = clamp;
        o.threads = m_options.threads;
        o.cancel = m_options.cancel;
        return o;
    }

    Expected<KnnGraph> selfKnn(const EmbeddingMatrix& x, const KnnOptions& options) const
    {
        return m_options.approximateKnn ? searchApproximateSelfKnn(x, options) : searchSelfKnn(x, options);
    }

    Expected<void> buildGraph()
    {
        report("graph", 0.0);
        auto knn = selfKnn(m_x, knnOptions(m_options.k, "graph", 0.0, 0.95));
        if (!knn)
            return std::unexpected(knn.error());
        m_knn = std::move(*knn);
        m_temperature = m_options.temperature.value_or(automaticTemperature(m_knn));
        auto s = buildNormalisedAffinity(m_knn, m_temperature);
        if (!s)
            return std::unexpected(s.error());
        m_graph = std::move(*s);
        m_report.temperature = m_temperature;
        report("graph", 1.0);
        return {};
    }

    // Accuracy of the weighted kNN vote of `unlabelled` against `labelled` (true labels).
    Expected<double> labelledOnlyAccuracy(std::span<const int32_t> labelled, std::span<const int32_t> unlabelled)
    {
        const EmbeddingMatrix base = gatherRows(m_x, labelled);
        const EmbeddingMatrix queries = gatherRows(m_x, unlabelled);
        KnnOptions o;
        o.k = int(std::min<int64_t>(m_options.labelledOnlyK, int64_t(labelled.size())));
        o.threads = m_options.threads;
        o.cancel = m_options.cancel;
        auto knn = searchKnn(queries, base, o);
        if (!knn)
            return std::unexpected(knn.error());
        std::vector<int32_t> baseLabels(labelled.size());
        for (size_t j = 0; j < labelled.size(); ++j)
            baseLabels[j] = m_truth[size_t(labelled[j])];
        const std::vector<int32_t> predicted = weightedKnnVote(*knn, baseLabels, m_classes, m_temperature, m_options.threads);
        int64_t right = 0;
        for (size_t q = 0; q < unlabelled.size(); ++q)
            right += predicted[q] == m_truth[size_t(unlabelled[q])];
        return unlabelled.empty() ? 0.0 : double(right) / double(unlabelled.size());
    }

    Expected<void> annotation()
    {
        const double total = double(m_strategies.size() * std::max<size_t>(1, m_schedule.size()));
        double done = 0;
        report("annotation", 0.0);
        for (size_t si = 0; si < m_strategies.size(); ++si) {
            const SelectionStrategy strategy = m_strategies[si];
            std::vector<int32_t> labels(size_t(m_n), -1);
            int64_t labelledCount = 0;
            std::optional<PropagationResult> result;
            for (size_t point = 0; point < m_schedule.size(); ++point) {
                if (cancelled())
                    return fail("simulation: cancelled");
                const int64_t budget = m_schedule[point] - labelledCount;
                if (budget > 0) {
                    SelectionInputs inputs;
                    inputs.embeddings = &m_x;
                    inputs.knn = &m_knn;
                    inputs.result = result ? &*result : nullptr;
                    inputs.labels = labels;
                    auto picked = selectItemsToLabel(strategy, budget, inputs,
                                                     mixSeed(m_options.seed, kSelectionStream, point),
                                                     m_options.threads);
                    if (!picked)
                        return std::unexpected(picked.error());
                    for (const int32_t item : picked->items) {
                        if (labels[size_t(item)] < 0)
                            ++labelledCount;
                        labels[size_t(item)] = m_truth[size_t(item)];
                    }
                }
                auto propagated = propagateLabels(m_graph, labels, m_classes,
                                                  propagationOptions(m_options.iterations, ClampMode::Kind::Hard));
                if (!propagated)
                    return std::unexpected(propagated.error());
                result = std::move(*propagated);

                std::vector<int32_t> labelledItems, unlabelledItems;
                labelledItems.reserve(size_t(labelledCount));
                unlabelledItems.reserve(size_t(m_n - labelledCount));
                for (int64_t i = 0; i < m_n; ++i)
                    (labels[size_t(i)] >= 0 ? labelledItems : unlabelledItems).push_back(int32_t(i));
                AnnotationPoint p;
                p.strategy = strategy;
                p.labels = labelledCount;
                p.lpAccuracy = accuracyOn(result->predicted, m_truth, unlabelledItems);
                if (!labelledItems.empty()) {
                    auto baseline = labelledOnlyAccuracy(labelledItems, unlabelledItems);
                    if (!baseline)
                        return std::unexpected(baseline.error());
                    p.labelledOnlyAccuracy = *baseline;
                }
                m_report.annotation.push_back(p);
                report("annotation", ++done / total);
            }
        }
        return {};
    }

    Expected<void> noise()
    {
        report("noise", 0.0);
        for (size_t ri = 0; ri < m_noiseRates.size(); ++ri) {
            if (cancelled())
                return fail("simulation: cancelled");
            const double rate = m_noiseRates[ri];
            const std::vector<int32_t> noisy = corruptLabels(m_truth, m_classes, rate, mixSeed(m_options.seed, kNoiseStream, ri));
            int64_t flipped = 0;
            for (int64_t i = 0; i < m_n; ++i)
                flipped += noisy[size_t(i)] != m_truth[size_t(i)];
            m_report.noise.push_back({rate, 0, double(flipped) / double(m_n)});
            PropagationOptions o = propagationOptions(m_options.noiseSteps, ClampMode::Kind::None);
            o.onStep = [&](int step, std::span<const float> y) {
                m_report.noise.push_back({rate, step, argmaxErrorRate(y, m_classes, m_truth)});
            };
            if (auto r = propagateLabels(m_graph, noisy, m_classes, o); !r)
                return std::unexpected(r.error());
            report("noise", double(ri + 1) / double(m_noiseRates.size()));
        }
        return {};
    }

    Expected<void> knnExperiment()
    {
        report("knn", 0.0);
        // The split: the caller's (e.g. Fashion-MNIST's 60,000 train / 10,000 test) or a seeded
        // random 6/7 : 1/7 one.
        std::vector<int32_t> train, test;
        if (m_options.trainCount > 0) {
            train.resize(size_t(m_options.trainCount));
            std::iota(train.begin(), train.end(), 0);
            test.resize(size_t(m_n - m_options.trainCount));
            std::iota(test.begin(), test.end(), int32_t(m_options.trainCount));
        } else {
            std::vector<int32_t> order(static_cast<size_t>(m_n));
            std::iota(order.begin(), order.end(), 0);
            std::mt19937_64 rng(mixSeed(m_options.seed, kSplitStream));
            std::shuffle(order.begin(), order.end(), rng);
            const int64_t testCount = std::clamp<int64_t>(std::llround(double(m_n) / 7.0), 1, m_n - 1);
            test.assign(order.begin(), order.begin() + testCount);
            train.assign(order.begin() + testCount, order.end());
            std::sort(test.begin(), test.end());
            std::sort(train.begin(), train.end());
        }
        if (int64_t(train.size()) <= m_options.k || int64_t(train.size()) < m_options.knnK)
            return fail("simulation: the kNN experiment needs more than k = " + std::to_string(std::max(m_options.k, m_options.knnK))
                        + " train items (there are " + std::to_string(train.size()) + ")");
        m_report.trainItems = int64_t(train.size());
        m_report.testItems = int64_t(test.size());

        const EmbeddingMatrix trainX = gatherRows(m_x, train);
        const EmbeddingMatrix testX = gatherRows(m_x, test);
        auto trainKnn = selfKnn(trainX, knnOptions(m_options.k, "knn", 0.0, 0.55));
        if (!trainKnn)
            return std::unexpected(trainKnn.error());
        if (m_temperature <= 0.0f) { // the knn experiment alone: T from the train graph
            m_temperature = m_options.temperature.value_or(automaticTemperature(*trainKnn));
            m_report.temperature = m_temperature;
        }
        auto trainGraph = buildNormalisedAffinity(*trainKnn, m_temperature);
        if (!trainGraph)
            return std::unexpected(trainGraph.error());
        auto testKnn = searchKnn(testX, trainX, knnOptions(m_options.knnK, "knn", 0.55, 0.65));
        if (!testKnn)
            return std::unexpected(testKnn.error());

        std::vector<int32_t> trainTruth(train.size()), testTruth(test.size());
        for (size_t j = 0; j < train.size(); ++j)
            trainTruth[j] = m_truth[size_t(train[j])];
        for (size_t q = 0; q < test.size(); ++q)
            testTruth[q] = m_truth[size_t(test[q])];
        const auto testAccuracy = [&](std::span<const int32_t> trainLabels) {
            const std::vector<int32_t> predicted =
                weightedKnnVote(*testKnn, trainLabels, m_classes, m_temperature, m_options.threads);
            int64_t right = 0;
            for (size_t q = 0; q < test.size(); ++q)
                right += predicted[q] == testTruth[q];
            return test.empty() ? 0.0 : double(right) / double(test.size());
        };

        AuditOptions audit;
        audit.steps = m_options.auditSteps;
        audit.threads = m_options.threads;
        for (size_t ri = 0; ri < m_knnRates.size(); ++ri) {
            if (cancelled())
                return fail("simulation: cancelled");
            const double rate = m_knnRates[ri];
            const std::vector<int32_t> corrupted =
                corruptLabels(trainTruth, m_classes, rate, mixSeed(m_options.seed, kKnnNoiseStream, ri));
            auto audited = auditLabels(*trainGraph, corrupted, m_classes, audit);
            if (!audited)
                return std::unexpected(audited.error());
            std::vector<int32_t> smoothed(corrupted.size()), flaggedReplaced(corrupted.size());
            int64_t smoothedWrong = 0, auditedWrong = 0;
            for (size_t j = 0; j < corrupted.size(); ++j) {
                const int32_t relabel = audited->smoothed.predicted[j];
                smoothed[j] = relabel >= 0 ? relabel : corrupted[j];
                flaggedReplaced[j] = audited->quality.flagged[j] && relabel >= 0 ? relabel : corrupted[j];
                smoothedWrong += smoothed[j] != trainTruth[j];
                auditedWrong += flaggedReplaced[j] != trainTruth[j];
            }
            KnnPoint p;
            p.rate = rate;
            p.corruptedAccuracy = testAccuracy(corrupted);
            p.smoothedAccuracy = testAccuracy(smoothed);
            p.auditedAccuracy = testAccuracy(flaggedReplaced);
            p.smoothedTrainNoise = double(smoothedWrong) / double(train.size());
            p.auditedTrainNoise = double(auditedWrong) / double(train.size());
            m_report.knn.push_back(p);
            report("knn", 0.65 + 0.35 * double(ri + 1) / double(m_knnRates.size()));
        }
        return {};
    }

    const EmbeddingMatrix& m_x;
    std::span<const int32_t> m_truth;
    int m_classes;
    const SimulationOptions& m_options;
    int64_t m_n;

    std::vector<int64_t> m_schedule;
    std::vector<SelectionStrategy> m_strategies;
    std::vector<double> m_noiseRates, m_knnRates;
    KnnGraph m_knn;
    SparseGraph m_graph;
    float m_temperature = 0.0f;
    SimulationReport m_report;
};

} // namespace

std::vector<int64_t> defaultLabelSchedule(int64_t n)
{
    std::vector<int64_t> schedule;
    for (const int64_t count : {10, 20, 50, 100, 200, 500, 1000, 2000})
        if (count < n)
            schedule.push_back(count);
    return schedule;
}

std::vector<int32_t> corruptLabels(std::span<const int32_t> labels, int classes, double rate, uint64_t seed)
{
    std::vector<int32_t> out(labels.begin(), labels.end());
    const int64_t n = int64_t(labels.size());
    if (classes < 2 || n == 0)
        return out;
    const int64_t flips = std::clamp<int64_t>(std::llround(std::clamp(rate, 0.0, 1.0) * double(n)), 0, n);
    std::mt19937_64 rng(seed);
    std::vector<int32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    // A partial Fisher-Yates shuffle: the first `flips` positions are a uniform random subset.
    for (int64_t i = 0; i < flips; ++i) {
        std::uniform_int_distribution<int64_t> pick(i, n - 1);
        std::swap(order[size_t(i)], order[size_t(pick(rng))]);
    }
    std::uniform_int_distribution<int32_t> other(1, classes - 1);
    for (int64_t i = 0; i < flips; ++i) {
        int32_t& label = out[size_t(order[size_t(i)])];
        label = label < 0 ? other(rng) - 1 : (label + other(rng)) % classes;
    }
    return out;
}

Expected<SimulationReport> runSimulation(const EmbeddingMatrix& embeddings, std::span<const int32_t> labels, int classes,
                                         const SimulationOptions& options)
{
    return Simulation(embeddings, labels, classes, options).run();
}

} // namespace labelprop
