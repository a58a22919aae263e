#include "core/engine/KnnSearch.h"

#include "core/base/BlasThreads.h"
#include "core/base/Parallel.h"
#include "core/engine/SimdDispatch.h"
#include "core/engine/SimdVector.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>

namespace labelprop {
namespace {

// Tile edge in rows. A 512 x 512 float tile is 1 MiB: it stays in a core's L2 cache while it is
// scanned, and a 512 x 512 x 64 product is large enough for sgemm to run near its peak.
constexpr int64_t kTile = 512;

// The total order used everywhere: higher similarity first, then smaller index.
inline bool ranksBefore(float s, int32_t id, float otherS, int32_t otherId)
{
    return s > otherS || (s == otherS && id < otherId);
}

// k best (similarity, index) pairs for each of `rows` rows, each list kept sorted.
class TopKLists {
public:
    TopKLists(int64_t rows, int k)
        : m_k(k),
          m_sims(size_t(rows * k), -std::numeric_limits<float>::infinity()),
          m_ids(size_t(rows * k), std::numeric_limits<int32_t>::max())
    {
    }

    // The similarity a candidate must reach to enter row r's list (ties resolved in offer()).
    [[nodiscard]] float threshold(int64_t r) const { return m_sims[size_t(r * m_k + m_k - 1)]; }

    void offer(int64_t r, float s, int32_t id)
    {
        float* sims = m_sims.data() + r * m_k;
        int32_t* ids = m_ids.data() + r * m_k;
        if (!ranksBefore(s, id, sims[m_k - 1], ids[m_k - 1]))
            return;
        int p = m_k - 1;
        while (p > 0 && ranksBefore(s, id, sims[p - 1], ids[p - 1])) {
            sims[p] = sims[p - 1];
            ids[p] = ids[p - 1];
            --p;
        }
        sims[p] = s;
        ids[p] = id;
    }

    [[nodiscard]] const float* simsOf(int64_t r) const { return m_sims.data() + r * m_k; }
    [[nodiscard]] const int32_t* idsOf(int64_t r) const { return m_ids.data() + r * m_k; }

    std::vector<float> releaseSims() { return std::move(m_sims); }
    std::vector<int32_t> releaseIds() { return std::move(m_ids); }

private:
    int m_k;
    std::vector<float> m_sims;
    std::vector<int32_t> m_ids;
};

// Columns per vectorised pre-check: most candidates lose to the current threshold, so a block of
// them is compared at once and discarded before any scalar work.
constexpr int64_t kBlock = 16;

// The scalar part of a scan, out of line so the vector loop around it keeps its values in
// registers: offers columns [from, to) of one tile row to list `listRow`, skipping `skipColumn`
// (the row itself on a diagonal tile, or -1). Columns are item indices columnBase + c. Returns
// the list's new threshold.
[[gnu::noinline]] float offerColumns(const float* tileRow, int64_t from, int64_t to, int64_t columnBase,
                                     int64_t skipColumn, TopKLists& lists, int64_t listRow)
{
    float threshold = lists.threshold(listRow);
    for (int64_t u = from; u < to; ++u)
        if (tileRow[u] >= threshold && u != skipColumn) {
            lists.offer(listRow, tileRow[u], int32_t(columnBase + u));
            threshold = lists.threshold(listRow);
        }
    return threshold;
}

// The transposed use of an off-diagonal tile: offers tile row entry u (item `rowItem`) to the list
// of column item columnBase + u, for u in [from, to), where it reaches thresholds[u]; updates the
// thresholds it changes.
[[gnu::noinline]] void offerToColumns(const float* tileRow, int64_t from, int64_t to, int64_t columnBase,
                                      int32_t rowItem, float* thresholds, TopKLists& lists)
{
    for (int64_t u = from; u < to; ++u)
        if (tileRow[u] >= thresholds[u]) {
            lists.offer(columnBase + u, tileRow[u], rowItem);
            thresholds[u] = lists.threshold(columnBase + u);
        }
}

// One sgemm tile of similarities (rows x columns, row-major) and where its entries go.
struct TileScan {
    const float* tile = nullptr;
    int64_t rows = 0;
    int64_t columns = 0;
    int64_t rowBase = 0;                 // item of tile row 0
    int64_t columnBase = 0;              // item of tile column 0
    bool diagonal = false;               // the same block on both sides: skip each item itself
    bool intoColumns = false;            // also offer each entry to its column's list (self-search)
    float* columnThresholds = nullptr;   // columns floats of scratch, for intoColumns
    TopKLists* lists = nullptr;
};

// Offers every entry of the tile to its row's list (and, with intoColumns, to its column's list),
// testing blocks of kBlock columns at register width W (see SimdVector.h).
template <int W>
[[gnu::always_inline]] inline void scanTileAt(const TileScan& t)
{
    TopKLists& lists = *t.lists;
    const int64_t columns = t.columns;
    const int64_t blockEnd = columns - columns % kBlock;
    for (int64_t r = 0; r < t.rows; ++r) {
        const float* tileRow = t.tile + r * columns;
        const int64_t listRow = t.rowBase + r, skip = t.diagonal ? r : -1;
        float threshold = lists.threshold(listRow);
        for (int64_t c = 0; c < blockEnd; c += kBlock)
            if (simd::anyAtLeast<W, kBlock>(tileRow + c, threshold))
                threshold = offerColumns(tileRow, c, c + kBlock, t.columnBase, skip, lists, listRow);
        offerColumns(tileRow, blockEnd, columns, t.columnBase, skip, lists, listRow);
    }
    if (!t.intoColumns)
        return;
    // The thresholds of the column lists, cached so the comparison stays vectorised.
    float* thresholds = t.columnThresholds;
    for (int64_t c = 0; c < columns; ++c)
        thresholds[c] = lists.threshold(t.columnBase + c);
    for (int64_t r = 0; r < t.rows; ++r) {
        const float* tileRow = t.tile + r * columns;
        const int32_t rowItem = int32_t(t.rowBase + r);
        for (int64_t c = 0; c < blockEnd; c += kBlock)
            if (simd::anyAtLeast<W, kBlock>(tileRow + c, static_cast<const float*>(thresholds + c)))
                offerToColumns(tileRow, c, c + kBlock, t.columnBase, rowItem, thresholds, lists);
        offerToColumns(tileRow, blockEnd, columns, t.columnBase, rowItem, thresholds, lists);
    }
}

__attribute__((target("avx512f"))) void scanTileAvx512(const TileScan& t)
{
    scanTileAt<16>(t);
}

__attribute__((target("avx2"))) void scanTileAvx2(const TileScan& t)
{
    scanTileAt<8>(t);
}

void scanTileBaseline(const TileScan& t)
{
    scanTileAt<4>(t);
}

using TileScanKernel = void (*)(const TileScan&);

// The tile scan at the SIMD level `options` asks for (see SimdLevel.h).
Expected<TileScanKernel> tileScanFor(const KnnOptions& options)
{
    static constexpr SimdKernel<TileScanKernel> kernel{scanTileBaseline, scanTileAvx2, scanTileAvx512};
    const auto level = resolveSimdLevel(options.simd);
    if (!level)
        return fail("kNN: " + level.error().message);
    return kernel[*level];
}

// C (rows x cols, row-major) = A (rows x d) * B (cols x d)^T.
void multiplyTile(const float* a, int64_t rows, const float* b, int64_t cols, int64_t d, float* c)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(cols), int(d), 1.0f, a, int(d), b,
                int(d), 0.0f, c, int(cols));
}

class ProgressReporter {
public:
    ProgressReporter(const KnnOptions& options, int64_t totalTiles) : m_options(options), m_total(totalTiles) {}

    // Returns false when the caller should stop (cancelled).
    bool tileDone()
    {
        const int64_t done = ++m_done;
        if (m_options.progress && (done * 100 / m_total) != ((done - 1) * 100 / m_total)) {
            std::lock_guard lock(m_mutex);
            m_options.progress(double(done) / double(m_total));
        }
        return !cancelled();
    }
    [[nodiscard]] bool cancelled() const { return m_options.cancel && m_options.cancel->load(); }

private:
    const KnnOptions& m_options;
    int64_t m_total;
    std::atomic<int64_t> m_done{0};
    std::mutex m_mutex;
};

KnnGraph mergeLists(std::vector<TopKLists>& perThread, int64_t rows, int k)
{
    KnnGraph graph;
    graph.rows = rows;
    graph.k = k;
    if (perThread.size() == 1) {
        graph.similarities = perThread[0].releaseSims();
        graph.neighbours = perThread[0].releaseIds();
        return graph;
    }
    TopKLists merged(rows, k);
    for (int64_t r = 0; r < rows; ++r)
        for (const auto& lists : perThread)
            for (int j = 0; j < k; ++j)
                merged.offer(r, lists.simsOf(r)[j], lists.idsOf(r)[j]);
    graph.similarities = merged.releaseSims();
    graph.neighbours = merged.releaseIds();
    return graph;
}

} // namespace

Expected<KnnGraph> searchSelfKnn(const EmbeddingMatrix& x, const KnnOptions& options)
{
    const int64_t n = x.rows();
    const int64_t d = x.cols();
    const int k = options.k;
    if (k < 1)
        return fail("kNN: k must be at least 1 (got " + std::to_string(k) + ")");
    if (k >= n)
        return fail("kNN: k = " + std::to_string(k) + " needs more than k items, but there are only "
                    + std::to_string(n) + "; lower --k below " + std::to_string(n));
    if (n > std::numeric_limits<int32_t>::max())
        return fail("kNN: more than 2^31 items are not supported");
    const auto scanKernel = tileScanFor(options);
    if (!scanKernel)
        return std::unexpected(scanKernel.error());
    const TileScanKernel scanTile = *scanKernel;

    const int64_t blocks = (n + kTile - 1) / kTile;
    // Upper-triangle tile pairs in row-major order, so consecutive tasks share the block I.
    std::vector<std::pair<int64_t, int64_t>> tasks;
    tasks.reserve(size_t(blocks * (blocks + 1) / 2));
    for (int64_t bi = 0; bi < blocks; ++bi)
        for (int64_t bj = bi; bj < blocks; ++bj)
            tasks.emplace_back(bi, bj);

    const int threads = int(std::min<int64_t>(resolveThreadCount(options.threads), int64_t(tasks.size())));
    std::vector<TopKLists> lists;
    lists.reserve(size_t(threads));
    for (int t = 0; t < threads; ++t)
        lists.emplace_back(n, k);

    ScopedSingleThreadedBlas blasGuard;
    ProgressReporter progress(options, int64_t(tasks.size()));
    std::atomic<int64_t> nextTask{0};
    parallelFor(0, threads, threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            TopKLists& mine = lists[size_t(t)];
            std::vector<float> tile(size_t(kTile * kTile));
            std::vector<float> columnThresholds(static_cast<size_t>(kTile));
            for (int64_t task = nextTask++; task < int64_t(tasks.size()); task = nextTask++) {
                const auto [bi, bj] = tasks[size_t(task)];
                const int64_t i0 = bi * kTile, rows = std::min(kTile, n - i0);
                const int64_t j0 = bj * kTile, cols = std::min(kTile, n - j0);
                multiplyTile(x.data() + i0 * d, rows, x.data() + j0 * d, cols, d, tile.data());
                scanTile(TileScan{.tile = tile.data(),
                                  .rows = rows,
                                  .columns = cols,
                                  .rowBase = i0,
                                  .columnBase = j0,
                                  .diagonal = bi == bj,
                                  .intoColumns = bi != bj,
                                  .columnThresholds = columnThresholds.data(),
                                  .lists = &mine});
                if (!progress.tileDone())
                    return;
            }
        }
    });
    if (progress.cancelled())
        return fail("kNN: cancelled");
    return mergeLists(lists, n, k);
}

Expected<KnnGraph> searchKnn(const EmbeddingMatrix& queries, const EmbeddingMatrix& base, const KnnOptions& options)
{
    const int64_t m = queries.rows();
    const int64_t n = base.rows();
    const int64_t d = base.cols();
    const int k = options.k;
    if (queries.cols() != d)
        return fail("kNN: queries have " + std::to_string(queries.cols()) + " dimensions but the base has "
                    + std::to_string(d));
    if (k < 1 || k > n)
        return fail("kNN: k = " + std::to_string(k) + " must be between 1 and the number of base items ("
                    + std::to_string(n) + ")");
    const auto scanKernel = tileScanFor(options);
    if (!scanKernel)
        return std::unexpected(scanKernel.error());
    const TileScanKernel scanTile = *scanKernel;

    TopKLists lists(m, k);
    const int64_t queryBlocks = (m + kTile - 1) / kTile;
    const int64_t baseBlocks = (n + kTile - 1) / kTile;
    ScopedSingleThreadedBlas blasGuard;
    ProgressReporter progress(options, std::max<int64_t>(1, queryBlocks * baseBlocks));
    std::atomic<int64_t> nextBlock{0};
    const int threads = int(std::min<int64_t>(resolveThreadCount(options.threads), std::max<int64_t>(1, queryBlocks)));
    // Each worker owns whole query blocks, so the rows it writes are its own.
    parallelFor(0, threads, threads, [&](int64_t, int64_t) {
        std::vector<float> tile(size_t(kTile * kTile));
        for (int64_t bi = nextBlock++; bi < queryBlocks; bi = nextBlock++) {
            const int64_t i0 = bi * kTile, rows = std::min(kTile, m - i0);
            for (int64_t bj = 0; bj < baseBlocks; ++bj) {
                const int64_t j0 = bj * kTile, cols = std::min(kTile, n - j0);
                multiplyTile(queries.data() + i0 * d, rows, base.data() + j0 * d, cols, d, tile.data());
                scanTile(TileScan{.tile = tile.data(), .rows = rows, .columns = cols, .rowBase = i0, .columnBase = j0,
                                  .lists = &lists});
                if (!progress.tileDone())
                    return;
            }
        }
    });
    if (progress.cancelled())
        return fail("kNN: cancelled");
    KnnGraph graph;
    graph.rows = m;
    graph.k = k;
    graph.similarities = lists.releaseSims();
    graph.neighbours = lists.releaseIds();
    return graph;
}

double recallAtK(const KnnGraph& approximate, const KnnGraph& exact)
{
    if (approximate.rows != exact.rows || exact.rows == 0)
        return 0.0;
    int64_t found = 0;
    const int kExact = exact.k;
    for (int64_t i = 0; i < exact.rows; ++i) {
        const int32_t* truth = exact.neighboursOf(i);
        const int32_t* got = approximate.neighboursOf(i);
        for (int a = 0; a < kExact; ++a)
            for (int b = 0; b < approximate.k; ++b)
                if (got[b] == truth[a]) {
                    ++found;
                    break;
                }
    }
    return double(found) / double(exact.rows * kExact);
}

} // namespace labelprop
