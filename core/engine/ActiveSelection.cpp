#include "core/engine/ActiveSelection.h"

#include "core/engine/KMeans.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace labelprop {
namespace {

constexpr std::array kStrategies{SelectionStrategy::Random, SelectionStrategy::LeastConfidence,
                                 SelectionStrategy::Margin, SelectionStrategy::Entropy, SelectionStrategy::Density};

// More clusters than this cost more than they help; a larger budget takes several items per cluster.
constexpr int64_t kMaxClusters = 1024;
constexpr int kLloydIterations = 8;

// 1 for items nothing has reached (or before any label), else the strategy's uncertainty in [0, 1].
std::vector<float> uncertainty(SelectionStrategy strategy, const PropagationResult* result, int64_t n)
{
    std::vector<float> u(size_t(n), 1.0f);
    if (!result)
        return u;
    const int c = result->classes;
    for (int64_t i = 0; i < n; ++i) {
        if (result->predicted[size_t(i)] < 0)
            continue;
        switch (strategy) {
        case SelectionStrategy::Margin:
            u[size_t(i)] = 1.0f - result->margin[size_t(i)];
            break;
        case SelectionStrategy::Entropy: {
            double h = 0.0;
            const float* p = result->probabilitiesOf(i);
            for (int q = 0; q < c; ++q)
                if (p[q] > 0.0f)
                    h -= double(p[q]) * std::log(double(p[q]));
            u[size_t(i)] = c > 1 ? float(h / std::log(double(c))) : 0.0f;
            break;
        }
        default: // least confidence, and density's weighting
            u[size_t(i)] = 1.0f - result->confidence[size_t(i)];
            break;
        }
    }
    return u;
}

Selection selectByDensity(int64_t budget, const SelectionInputs& in, const std::vector<int32_t>& unlabelled,
                          const std::vector<float>& tieBreak, std::mt19937_64& rng, int threads)
{
    const int64_t n = int64_t(in.labels.size());
    const auto u = uncertainty(SelectionStrategy::LeastConfidence, in.result, n);
    std::vector<float> density(size_t(n), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
        const float* s = in.knn->similaritiesOf(i);
        density[size_t(i)] = std::accumulate(s, s + in.knn->k, 0.0f) / float(in.knn->k);
    }
    const int64_t clusters = std::min({budget, int64_t(unlabelled.size()), kMaxClusters});
    KMeansOptions kmeans;
    kmeans.clusters = clusters;
    kmeans.iterations = kLloydIterations;
    kmeans.sampleSize = in.embeddings->rows(); // all rows: the picks must come from well-fitted clusters
    kmeans.seed = rng();
    kmeans.threads = threads;
    const auto assignment = sphericalKMeans(*in.embeddings, kmeans).assignment;

    std::vector<double> weight(size_t(clusters), 0.0);
    std::vector<int64_t> labelledInCluster(size_t(clusters), 0);
    for (int64_t i = 0; i < n; ++i) {
        weight[size_t(assignment[size_t(i)])] += u[size_t(i)];
        labelledInCluster[size_t(assignment[size_t(i)])] += in.labels[size_t(i)] >= 0;
    }
    for (int64_t c = 0; c < clusters; ++c)
        weight[size_t(c)] /= double(1 + labelledInCluster[size_t(c)]);

    // Each cluster's candidates, most typical (and uncertain) first.
    std::vector<std::vector<int32_t>> members(static_cast<size_t>(clusters));
    for (int32_t i : unlabelled)
        members[size_t(assignment[size_t(i)])].push_back(i);
    const auto value = [&](int32_t i) { return density[size_t(i)] * u[size_t(i)]; };
    for (auto& m : members)
        std::sort(m.begin(), m.end(), [&](int32_t a, int32_t b) {
            return value(a) != value(b) ? value(a) > value(b) : tieBreak[size_t(a)] > tieBreak[size_t(b)];
        });
    std::vector<int64_t> order(static_cast<size_t>(clusters));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return weight[size_t(a)] > weight[size_t(b)]; });

    // Round-robin over clusters in priority order: first every cluster's best, then second bests...
    Selection selection;
    for (size_t round = 0; int64_t(selection.items.size()) < budget; ++round) {
        bool any = false;
        for (int64_t c : order) {
            if (round >= members[size_t(c)].size())
                continue;
            any = true;
            const int32_t item = members[size_t(c)][round];
            selection.items.push_back(item);
            selection.scores.push_back(value(item));
            if (int64_t(selection.items.size()) == budget)
                break;
        }
        if (!any)
            break;
    }
    return selection;
}

} // namespace

Expected<SelectionStrategy> parseSelectionStrategy(std::string_view name)
{
    for (SelectionStrategy s : kStrategies)
        if (selectionStrategyName(s) == name)
            return s;
    return fail("--strategy: unknown strategy '" + std::string(name)
                + "'; use random, least-confidence, margin, entropy or density");
}

std::string_view selectionStrategyName(SelectionStrategy strategy)
{
    switch (strategy) {
    case SelectionStrategy::Random: return "random";
    case SelectionStrategy::LeastConfidence: return "least-confidence";
    case SelectionStrategy::Margin: return "margin";
    case SelectionStrategy::Entropy: return "entropy";
    case SelectionStrategy::Density: return "density";
    }
    return "random";
}

std::span<const SelectionStrategy> allSelectionStrategies()
{
    return kStrategies;
}

Expected<Selection> selectItemsToLabel(SelectionStrategy strategy, int64_t budget, const SelectionInputs& in,
                                       uint64_t seed, int threads)
{
    const int64_t n = int64_t(in.labels.size());
    if (budget < 1)
        return fail("--budget must be at least 1 (got " + std::to_string(budget) + ")");
    if (in.result && in.result->n != n)
        return fail("suggest: the propagation result has " + std::to_string(in.result->n) + " items, the labels "
                    + std::to_string(n));
    if (strategy == SelectionStrategy::Density
        && (!in.embeddings || !in.knn || in.embeddings->rows() != n || in.knn->rows != n))
        return fail("suggest: the density strategy needs the embeddings and their kNN graph for all " + std::to_string(n)
                    + " items");

    std::mt19937_64 rng(seed);
    // A seeded random rank per item breaks ties (and is the whole score for `random`).
    std::vector<float> tieBreak(static_cast<size_t>(n));
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (auto& t : tieBreak)
        t = uniform(rng);
    std::vector<int32_t> unlabelled;
    for (int64_t i = 0; i < n; ++i)
        if (in.labels[size_t(i)] < 0)
            unlabelled.push_back(int32_t(i));
    budget = std::min<int64_t>(budget, int64_t(unlabelled.size()));
    if (budget == 0)
        return Selection{};

    if (strategy == SelectionStrategy::Density)
        return selectByDensity(budget, in, unlabelled, tieBreak, rng, threads);

    const std::vector<float> score =
        strategy == SelectionStrategy::Random ? tieBreak : uncertainty(strategy, in.result, n);
    const auto better = [&](int32_t a, int32_t b) {
        return score[size_t(a)] != score[size_t(b)] ? score[size_t(a)] > score[size_t(b)]
                                                    : tieBreak[size_t(a)] > tieBreak[size_t(b)];
    };
    std::partial_sort(unlabelled.begin(), unlabelled.begin() + budget, unlabelled.end(), better);
    Selection selection;
    selection.items.assign(unlabelled.begin(), unlabelled.begin() + budget);
    for (int32_t i : selection.items)
        selection.scores.push_back(score[size_t(i)]);
    return selection;
}

} // namespace labelprop
