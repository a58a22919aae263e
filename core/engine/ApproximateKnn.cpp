#include "core/engine/ApproximateKnn.h"

#include "core/base/BlasThreads.h"
#include "core/engine/KMeans.h"
#include "core/base/Parallel.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <string>

namespace labelprop {

Expected<KnnGraph> searchApproximateSelfKnn(const EmbeddingMatrix& x, const KnnOptions& options,
                                            const ApproximateKnnOptions& approximate)
{
    const int64_t n = x.rows(), d = x.cols();
    const int k = options.k;
    if (k < 1 || k >= n)
        return fail("kNN: k = " + std::to_string(k) + " needs more than k items, but there are only " + std::to_string(n)
                    + "; lower --k below " + std::to_string(n));
    if (approximate.probes < 1)
        return fail("kNN: the approximate search needs at least 1 probe");

    KMeansOptions kmeans;
    kmeans.clusters = approximate.cells > 0 ? approximate.cells : std::max<int64_t>(1, std::llround(std::sqrt(double(n))));
    kmeans.iterations = 6;
    kmeans.threads = options.threads;
    const KMeansResult cells = sphericalKMeans(x, kmeans);
    const int64_t c = cells.centres.rows();
    std::vector<std::vector<int32_t>> members(static_cast<size_t>(c));
    for (int64_t i = 0; i < n; ++i)
        members[size_t(cells.assignment[size_t(i)])].push_back(int32_t(i));

    // Cells ranked by the similarity of their centres to each cell's centre.
    EmbeddingMatrix centreSimilarity(c, c);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(c), int(c), int(d), 1.0f, cells.centres.data(), int(d),
                cells.centres.data(), int(d), 0.0f, centreSimilarity.data(), int(c));

    KnnGraph graph;
    graph.rows = n;
    graph.k = k;
    graph.neighbours.assign(size_t(n * k), 0);
    graph.similarities.assign(size_t(n * k), 0.0f);
    ScopedSingleThreadedBlas blasGuard;
    std::atomic<int64_t> nextCell{0};
    std::atomic<bool> failed{false};
    const int threads = resolveThreadCount(options.threads);
    parallelFor(0, threads, threads, [&](int64_t, int64_t) {
        std::vector<int32_t> ranked(static_cast<size_t>(c));
        for (int64_t cell = nextCell++; cell < c && !failed; cell = nextCell++) {
            const auto& queries = members[size_t(cell)];
            if (queries.empty())
                continue;
            if (options.cancel && options.cancel->load()) {
                failed = true;
                return;
            }
            std::iota(ranked.begin(), ranked.end(), 0);
            std::sort(ranked.begin(), ranked.end(), [&](int32_t a, int32_t b) {
                const float sa = a == cell ? 2.0f : centreSimilarity(cell, a), sb = b == cell ? 2.0f : centreSimilarity(cell, b);
                return sa > sb || (sa == sb && a < b);
            });
            // Probe cells until there are enough candidates for k neighbours besides the item itself.
            std::vector<int32_t> baseIds;
            for (int64_t r = 0; r < c && (r < approximate.probes || int64_t(baseIds.size()) <= k); ++r)
                baseIds.insert(baseIds.end(), members[size_t(ranked[size_t(r)])].begin(), members[size_t(ranked[size_t(r)])].end());
            std::sort(baseIds.begin(), baseIds.end()); // local order follows item order, so ties still break by index
            EmbeddingMatrix q(int64_t(queries.size()), d), base(int64_t(baseIds.size()), d);
            for (size_t a = 0; a < queries.size(); ++a)
                q.row(int64_t(a)) = x.row(queries[a]);
            for (size_t a = 0; a < baseIds.size(); ++a)
                base.row(int64_t(a)) = x.row(baseIds[a]);
            KnnOptions local;
            local.k = k + 1;
            local.threads = 1;
            local.simd = options.simd;
            auto found = searchKnn(q, base, local);
            if (!found) {
                failed = true;
                return;
            }
            for (size_t a = 0; a < queries.size(); ++a) {
                const int32_t item = queries[a];
                int kept = 0;
                for (int b = 0; b < k + 1 && kept < k; ++b) {
                    const int32_t id = baseIds[size_t(found->neighboursOf(int64_t(a))[b])];
                    if (id == item)
                        continue;
                    graph.neighbours[size_t(int64_t(item) * k + kept)] = id;
                    graph.similarities[size_t(int64_t(item) * k + kept)] = found->similaritiesOf(int64_t(a))[b];
                    ++kept;
                }
            }
        }
    });
    if (failed)
        return fail("kNN: cancelled");
    return graph;
}

} // namespace labelprop
