#include "core/engine/KMeans.h"

#include "core/base/Parallel.h"

#include <cblas.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

namespace labelprop {

std::vector<int32_t> assignToCentres(const EmbeddingMatrix& x, const EmbeddingMatrix& centres, int threads)
{
    const int64_t n = x.rows(), d = x.cols(), c = centres.rows();
    std::vector<int32_t> assignment(static_cast<size_t>(n), 0);
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(n, (int64_t(1) << 22) / std::max<int64_t>(1, c)));
    EmbeddingMatrix scores(block, c);
    for (int64_t r0 = 0; r0 < n; r0 += block) {
        const int64_t rows = std::min(block, n - r0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(c), int(d), 1.0f, x.data() + r0 * d, int(d),
                    centres.data(), int(d), 0.0f, scores.data(), int(c));
        parallelFor(0, rows, threads, [&](int64_t a, int64_t b) {
            for (int64_t r = a; r < b; ++r) {
                Eigen::Index best = 0;
                scores.row(r).maxCoeff(&best);
                assignment[size_t(r0 + r)] = int32_t(best);
            }
        });
    }
    return assignment;
}

KMeansResult sphericalKMeans(const EmbeddingMatrix& x, const KMeansOptions& options)
{
    const int64_t n = x.rows(), d = x.cols();
    const int64_t clusters = std::clamp<int64_t>(options.clusters, 1, n);
    std::mt19937_64 rng(options.seed);

    // Fit on a sample: k-means++ seeding is one pass over the sample per centre.
    const int64_t sampleSize = std::min(n, options.sampleSize > 0 ? options.sampleSize : 64 * clusters);
    EmbeddingMatrix sample;
    if (sampleSize == n) {
        sample = x;
    } else {
        std::vector<int64_t> rows(static_cast<size_t>(n));
        std::iota(rows.begin(), rows.end(), 0);
        for (int64_t i = 0; i < sampleSize; ++i) // partial Fisher-Yates
            std::swap(rows[size_t(i)], rows[size_t(std::uniform_int_distribution<int64_t>(i, n - 1)(rng))]);
        sample.resize(sampleSize, d);
        for (int64_t i = 0; i < sampleSize; ++i)
            sample.row(i) = x.row(rows[size_t(i)]);
    }
    const int64_t m = sample.rows();

    KMeansResult result;
    result.centres.resize(clusters, d);
    std::vector<float> minDistance(static_cast<size_t>(m), std::numeric_limits<float>::max());
    std::vector<float> dots(static_cast<size_t>(m));
    int64_t pick = std::uniform_int_distribution<int64_t>(0, m - 1)(rng);
    for (int64_t c = 0; c < clusters; ++c) {
        result.centres.row(c) = sample.row(pick);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, int(m), int(d), 1.0f, sample.data(), int(d),
                    result.centres.row(c).data(), 1, 0.0f, dots.data(), 1);
        double total = 0.0;
        for (int64_t i = 0; i < m; ++i) {
            minDistance[size_t(i)] = std::min(minDistance[size_t(i)], std::max(0.0f, 2.0f - 2.0f * dots[size_t(i)]));
            total += minDistance[size_t(i)];
        }
        if (!(total > 0.0)) { // fewer distinct rows than clusters: repeat rows
            pick = std::uniform_int_distribution<int64_t>(0, m - 1)(rng);
            continue;
        }
        double target = std::uniform_real_distribution<double>(0.0, total)(rng);
        for (pick = 0; pick < m - 1; ++pick) {
            target -= minDistance[size_t(pick)];
            if (target <= 0.0)
                break;
        }
    }

    for (int iteration = 0; iteration < options.iterations; ++iteration) {
        const auto assignment = assignToCentres(sample, result.centres, options.threads);
        result.centres.setZero();
        std::vector<int64_t> sizes(static_cast<size_t>(clusters), 0);
        for (int64_t i = 0; i < m; ++i) {
            result.centres.row(assignment[size_t(i)]) += sample.row(i);
            ++sizes[size_t(assignment[size_t(i)])];
        }
        for (int64_t c = 0; c < clusters; ++c) {
            const float norm = result.centres.row(c).norm();
            if (sizes[size_t(c)] == 0 || norm == 0.0f) // re-seed an empty cluster
                result.centres.row(c) = sample.row(std::uniform_int_distribution<int64_t>(0, m - 1)(rng));
            else
                result.centres.row(c) /= norm;
        }
    }
    result.assignment = assignToCentres(x, result.centres, options.threads);
    return result;
}

} // namespace labelprop
