#include "core/engine/AffinityGraph.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace labelprop {

float automaticTemperature(const KnnGraph& knn)
{
    std::vector<float> gaps(knn.similarities.size());
    std::transform(knn.similarities.begin(), knn.similarities.end(), gaps.begin(),
                   [](float s) { return 1.0f - s; });
    if (gaps.empty())
        return 0.05f;
    auto middle = gaps.begin() + gaps.size() / 2;
    std::nth_element(gaps.begin(), middle, gaps.end());
    return std::clamp(*middle, 1e-4f, 1.0f);
}

Expected<SparseGraph> buildNormalisedAffinity(const KnnGraph& knn, float temperature)
{
    if (!(temperature > 0.0f) || !std::isfinite(temperature))
        return fail("graph: the temperature T must be a positive number (got " + std::to_string(temperature)
                    + "); try 0.05 or auto");
    const int64_t n = knn.rows;
    const int k = knn.k;

    // Count W + W^T entries per row: k outgoing edges plus every incoming one. Pairs present in
    // both directions appear twice and are summed below, exactly as (W + W^T)_ij = W_ij + W_ji.
    std::vector<int64_t> start(size_t(n + 1), 0);
    for (int64_t i = 0; i < n; ++i) {
        start[size_t(i + 1)] += k;
        for (int a = 0; a < k; ++a)
            start[size_t(knn.neighboursOf(i)[a]) + 1] += 1;
    }
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<int32_t> cols(size_t(start[size_t(n)]));
    std::vector<double> vals(cols.size());
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    const double invT = 1.0 / double(temperature);
    for (int64_t i = 0; i < n; ++i) {
        for (int a = 0; a < k; ++a) {
            const int32_t j = knn.neighboursOf(i)[a];
            const double w = std::exp((double(knn.similaritiesOf(i)[a]) - 1.0) * invT);
            cols[size_t(fill[size_t(i)])] = j;
            vals[size_t(fill[size_t(i)]++)] = w;
            cols[size_t(fill[size_t(j)])] = int32_t(i);
            vals[size_t(fill[size_t(j)]++)] = w;
        }
    }

    // Sort each row by column, merge duplicates, and accumulate degrees in double precision.
    SparseGraph s;
    s.n = n;
    s.rowStart.assign(size_t(n + 1), 0);
    s.columns.reserve(cols.size());
    std::vector<double> merged;
    merged.reserve(cols.size());
    std::vector<double> degree(size_t(n), 0.0);
    std::vector<std::pair<int32_t, double>> row;
    for (int64_t i = 0; i < n; ++i) {
        row.clear();
        for (int64_t p = start[size_t(i)]; p < start[size_t(i + 1)]; ++p)
            row.emplace_back(cols[size_t(p)], vals[size_t(p)]);
        std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (size_t p = 0; p < row.size(); ++p) {
            if (p > 0 && row[p].first == row[p - 1].first) {
                merged.back() += row[p].second;
            } else {
                s.columns.push_back(row[p].first);
                merged.push_back(row[p].second);
            }
            degree[size_t(i)] += row[p].second;
        }
        s.rowStart[size_t(i + 1)] = int64_t(s.columns.size());
    }

    std::vector<double> invSqrtDegree(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        invSqrtDegree[size_t(i)] = degree[size_t(i)] > 0.0 ? 1.0 / std::sqrt(degree[size_t(i)]) : 0.0;
    s.weights.resize(merged.size());
    for (int64_t i = 0; i < n; ++i)
        for (int64_t p = s.rowStart[size_t(i)]; p < s.rowStart[size_t(i + 1)]; ++p)
            s.weights[size_t(p)] = float(merged[size_t(p)] * invSqrtDegree[size_t(i)]
                                         * invSqrtDegree[size_t(s.columns[size_t(p)])]);
    buildLocalLayout(s);
    return s;
}

void buildLocalLayout(SparseGraph& s)
{
    const int64_t n = s.n;
    // Breadth-first numbering, component by component in item order.
    s.localOrder.clear();
    s.localOrder.reserve(size_t(n));
    std::vector<char> seen(size_t(n), 0);
    for (int64_t start = 0; start < n; ++start) {
        if (seen[size_t(start)])
            continue;
        seen[size_t(start)] = 1;
        s.localOrder.push_back(int32_t(start));
        for (size_t head = s.localOrder.size() - 1; head < s.localOrder.size(); ++head) {
            const int32_t u = s.localOrder[head];
            for (int64_t p = s.rowStart[size_t(u)]; p < s.rowStart[size_t(u + 1)]; ++p) {
                const int32_t v = s.columns[size_t(p)];
                if (!seen[size_t(v)]) {
                    seen[size_t(v)] = 1;
                    s.localOrder.push_back(v);
                }
            }
        }
    }
    s.localPosition.assign(size_t(n), 0);
    for (int64_t p = 0; p < n; ++p)
        s.localPosition[size_t(s.localOrder[size_t(p)])] = int32_t(p);

    s.local.rowStart.assign(size_t(n + 1), 0);
    s.local.columns.resize(s.columns.size());
    s.local.weights.resize(s.weights.size());
    std::vector<std::pair<int32_t, float>> row;
    for (int64_t p = 0; p < n; ++p) {
        const int32_t item = s.localOrder[size_t(p)];
        row.clear();
        for (int64_t q = s.rowStart[size_t(item)]; q < s.rowStart[size_t(item + 1)]; ++q)
            row.emplace_back(s.localPosition[size_t(s.columns[size_t(q)])], s.weights[size_t(q)]);
        std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        int64_t at = s.local.rowStart[size_t(p)];
        for (const auto& [column, weight] : row) {
            s.local.columns[size_t(at)] = column;
            s.local.weights[size_t(at++)] = weight;
        }
        s.local.rowStart[size_t(p + 1)] = at;
    }
}

} // namespace labelprop
