#include "core/engine/IncrementalPropagation.h"

#include "core/base/Parallel.h"
#include "core/engine/SimdDispatch.h"
#include "core/engine/SimdVector.h"

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

namespace labelprop {
namespace {

// Floats after each stored step, so that a 16-lane load of the last row stays inside the step.
constexpr int64_t kPad = 16;
// The share of maxProbabilityError given to skipped writes; the rest covers float32 rounding (T
// steps of k-term non-negative sums: about 1e-6 relative here and in a from-scratch run alike).
constexpr double kToleranceShare = 0.8;
// Below this many neighbour gathers a step runs on the calling thread: starting threads costs
// tens of microseconds, about what 10,000 gathers take.
constexpr int64_t kParallelGathers = 40000;

inline void setBit(uint64_t* words, int64_t i)
{
    words[i >> 6] |= uint64_t(1) << (i & 63);
}

// Appends the set bits of words [lo, hi) to `out`, ascending, and clears them.
void drainBits(uint64_t* words, int64_t lo, int64_t hi, std::vector<int32_t>& out)
{
    for (int64_t w = lo; w < hi; ++w) {
        for (uint64_t bits = words[w]; bits; bits &= bits - 1)
            out.push_back(int32_t(w * 64 + std::countr_zero(bits)));
        words[w] = 0;
    }
}

// The layout the trajectory is stored in: SparseGraph::local when the graph has it, else item order.
const CsrMatrix& layoutMatrix(const SparseGraph& s)
{
    return s.hasLocalLayout() ? s.local : static_cast<const CsrMatrix&>(s);
}
int64_t itemAt(const SparseGraph& s, int64_t position)
{
    return s.hasLocalLayout() ? s.localOrder[size_t(position)] : position;
}
int64_t positionOf(const SparseGraph& s, int64_t item)
{
    return s.hasLocalLayout() ? s.localPosition[size_t(item)] : item;
}

class Clock {
public:
    [[nodiscard]] double microseconds() const
    {
        return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - m_start).count();
    }

private:
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

// A CSR matrix as raw pointers, for the kernels.
struct CsrView {
    const int64_t* rowStart;
    const int32_t* columns;
    const float* weights;
};
CsrView viewOf(const CsrMatrix& m)
{
    return {m.rowStart.data(), m.columns.data(), m.weights.data()};
}

// One step, as the kernels see it. Rows are c floats at stride c, in layout order.
struct StepKernel {
    CsrView graph;
    const float* previous;        // Y(t-1), n x c, with kPad floats of slack after it
    float* current;               // Y(t), rewritten in place
    const int32_t* seedAt;        // n: a class, or -1 for a free row
    const float* oneHot;          // c x c identity
    int classes;
    float tolerance;              // relative L1 change below which a row is not rewritten
    int64_t n;
    const uint64_t* changed;      // words: rows whose label changed (candidates at every step)
    uint64_t* const* candidates;  // `bitmaps` bitmaps of this step's candidates, cleared as read
    int bitmaps;
    bool dense;                   // every row is a candidate
    bool overwrite;               // write every recomputed row, moved or not (dense steps but the last)
    bool markNext;                // mark the neighbours of rewritten rows in WorkerOut::next
    bool listWritten;             // keep the rewritten rows in WorkerOut::list
};

// What one worker did in a step.
struct WorkerOut {
    uint64_t* next = nullptr; // its bitmap of next-step candidates
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0; // word range of the bits it set
    int64_t computed = 0, written = 0;
    int64_t marked = 0; // neighbours marked, repeats included: an upper bound on the rows
    std::vector<int32_t> list;
};

// Whether a recomputed free row moved enough to be rewritten (see (*) in the header): its L1
// distance to the stored row against tolerance x its own L1 norm (the row is non-negative).
inline bool movedEnough(float distance, float norm, float tolerance)
{
    return distance > tolerance * norm;
}

// A clamped row: rewritten only when the label changed.
inline bool updateClampedRow(const StepKernel& k, int64_t p, int32_t seed)
{
    float* out = k.current + p * k.classes;
    const float* target = k.oneHot + int64_t(seed) * k.classes;
    if (std::memcmp(out, target, sizeof(float) * size_t(k.classes)) == 0)
        return false;
    std::memcpy(out, target, sizeof(float) * size_t(k.classes));
    return true;
}

// Rows as in LabelPropagation.cpp, at the level's register width W (see SimdVector.h): a
// neighbour's row is L = 8 or 16 lanes loaded at once, reading past the row's c floats into the
// next rows (or the padding); those lanes are masked.

// 16 ones, then 16 zeros: the L floats from kOnesThenZeros + 16 - c are c ones, then zeros.
constexpr float kOnesThenZeros[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

// mask = 1 in the first c lanes (c <= L <= 16), 0 after.
template <int W, int L>
[[gnu::always_inline]] inline void firstLanes(simd::Lanes<W, L>& mask, int c)
{
    simd::load(mask, kOnesThenZeros + 16 - c);
}

// sum = (S X)_p for rows of c floats at stride c in `x` (with slack after it), lanes past c zeroed.
// Two accumulators (even and odd neighbours): the chain of dependent multiply-adds, not the
// loads, bounds this loop; the order of the sum moves it by float rounding only (~1e-7 relative,
// far below the tolerance).
template <int W, int L>
[[gnu::always_inline]] inline void gatherRow(const CsrView& m, int64_t p, const float* x, int c,
                                             simd::Lanes<W, L>& sum)
{
    simd::Lanes<W, L> even = {}, odd = {};
    const int64_t begin = m.rowStart[p], end = m.rowStart[p + 1];
    int64_t e = begin;
    for (; e + 1 < end; e += 2) {
        simd::addScaled(even, m.weights[e], x + int64_t(m.columns[e]) * c);
        simd::addScaled(odd, m.weights[e + 1], x + int64_t(m.columns[e + 1]) * c);
    }
    if (e < end)
        simd::addScaled(even, m.weights[e], x + int64_t(m.columns[e]) * c);
    simd::Lanes<W, L> mask;
    firstLanes(mask, c);
#pragma GCC unroll 4
    for (int q = 0; q < simd::Lanes<W, L>::kParts; ++q)
        sum.part[q] = (even.part[q] + odd.part[q]) * mask.part[q];
}

// The same with plain loops (more than 16 classes): sum[0, c) = (S X)_p.
inline void gatherRowScalar(const CsrView& m, int64_t p, const float* x, int c, float* sum)
{
    std::fill(sum, sum + c, 0.0f);
    for (int64_t e = m.rowStart[p]; e < m.rowStart[p + 1]; ++e) {
        const float w = m.weights[e];
        const float* row = x + int64_t(m.columns[e]) * c;
        for (int q = 0; q < c; ++q)
            sum[q] += w * row[q];
    }
}

// Row p of Y(t) = (S Y(t-1))_p, or its clamp; true when it was rewritten.
template <int W, int L>
[[gnu::always_inline]] inline bool updateRow(const StepKernel& k, int64_t p, float*)
{
    if (const int32_t seed = k.seedAt[p]; seed >= 0)
        return updateClampedRow(k, p, seed);
    const int c = k.classes;
    simd::Lanes<W, L> acc;
    gatherRow(k.graph, p, k.previous, c, acc);
    float* out = k.current + p * c;
    float row[L];
    simd::store(row, acc);
    if (!k.overwrite) {
        simd::Lanes<W, L> mask, stored, excess;
        firstLanes(mask, c);
        simd::load(stored, out);
        // movedEnough() on the lane sums: sum(|d|) > tol sum(acc), as one tree-shaped sum.
#pragma GCC unroll 4
        for (int q = 0; q < simd::Lanes<W, L>::kParts; ++q) {
            simd::Float<W> d = acc.part[q] - stored.part[q] * mask.part[q];
            d = d < 0.0f ? -d : d;
            excess.part[q] = d - k.tolerance * acc.part[q];
        }
        if (!(simd::laneSum(excess) > 0.0f))
            return false;
    }
    std::memcpy(out, row, sizeof(float) * size_t(c));
    return true;
}

// More than 16 classes: plain loops over `scratch` (c floats).
inline bool updateRowAny(const StepKernel& k, int64_t p, float* scratch)
{
    if (const int32_t seed = k.seedAt[p]; seed >= 0)
        return updateClampedRow(k, p, seed);
    const int c = k.classes;
    gatherRowScalar(k.graph, p, k.previous, c, scratch);
    float* out = k.current + p * c;
    float distance = 0.0f, norm = 0.0f;
    for (int q = 0; q < c; ++q) {
        distance += std::abs(scratch[q] - out[q]);
        norm += scratch[q];
    }
    if (!k.overwrite && !movedEnough(distance, norm, k.tolerance))
        return false;
    std::copy_n(scratch, c, out);
    return true;
}

// The candidate rows in words [w0, w1) of the bitmaps, in memory order.
template <bool (*Update)(const StepKernel&, int64_t, float*)>
__attribute__((always_inline)) inline void runWords(const StepKernel& k, int64_t w0, int64_t w1, WorkerOut& out,
                                                    float* scratch)
{
    if (k.dense) { // every row of the words, nothing to mark
        for (int64_t p = w0 * 64, end = std::min(w1 * 64, k.n); p < end; ++p) {
            ++out.computed;
            if (Update(k, p, scratch)) {
                ++out.written;
                if (k.listWritten)
                    out.list.push_back(int32_t(p));
            }
        }
        return;
    }
    for (int64_t w = w0; w < w1; ++w) {
        uint64_t bits = k.changed[w];
        for (int b = 0; b < k.bitmaps; ++b) {
            bits |= k.candidates[b][w];
            k.candidates[b][w] = 0;
        }
        while (bits) {
            const int64_t p = w * 64 + std::countr_zero(bits);
            bits &= bits - 1;
            if (bits) {
                // The next candidate's edges and stored row: candidates are scattered, so
                // without this each one waits for its CSR slice.
                const int64_t q = w * 64 + std::countr_zero(bits);
                const int64_t at = k.graph.rowStart[q];
                __builtin_prefetch(k.graph.columns + at);
                __builtin_prefetch(k.graph.weights + at);
                __builtin_prefetch(k.current + q * k.classes);
            }
            ++out.computed;
            if (!Update(k, p, scratch))
                continue;
            ++out.written;
            if (k.listWritten)
                out.list.push_back(int32_t(p));
            if (!k.markNext)
                continue;
            // Every neighbour, labeled ones too (they compare equal to their clamp and stay):
            // an OR per neighbour, no branch.
            const int64_t begin = k.graph.rowStart[p], end = k.graph.rowStart[p + 1];
            int32_t first = std::numeric_limits<int32_t>::max(), last = -1;
            for (int64_t e = begin; e < end; ++e) {
                const int32_t q = k.graph.columns[e];
                setBit(out.next, q);
                first = std::min(first, q);
                last = std::max(last, q);
            }
            if (last < 0)
                continue;
            out.marked += end - begin;
            out.lo = std::min<int64_t>(out.lo, first >> 6);
            out.hi = std::max<int64_t>(out.hi, (last >> 6) + 1);
        }
    }
}

// The step kernel at register width W: 8 lanes for up to 8 classes, 16 for up to 16, plain loops
// beyond.
template <int W>
[[gnu::always_inline]] inline void runWordsAt(const StepKernel& k, int64_t w0, int64_t w1, WorkerOut& out,
                                              float* scratch)
{
    if (k.classes <= 8)
        runWords<updateRow<(W < 8 ? W : 8), 8>>(k, w0, w1, out, scratch);
    else if (k.classes <= 16)
        runWords<updateRow<W, 16>>(k, w0, w1, out, scratch);
    else
        runWords<updateRowAny>(k, w0, w1, out, scratch);
}

__attribute__((target("avx512f"))) void runWordsAvx512(const StepKernel& k, int64_t w0, int64_t w1, WorkerOut& out,
                                                       float* scratch)
{
    runWordsAt<16>(k, w0, w1, out, scratch);
}

__attribute__((target("avx2"))) void runWordsAvx2(const StepKernel& k, int64_t w0, int64_t w1, WorkerOut& out,
                                                  float* scratch)
{
    runWordsAt<8>(k, w0, w1, out, scratch);
}

void runWordsBaseline(const StepKernel& k, int64_t w0, int64_t w1, WorkerOut& out, float* scratch)
{
    runWordsAt<4>(k, w0, w1, out, scratch);
}

constexpr SimdKernel<void (*)(const StepKernel&, int64_t, int64_t, WorkerOut&, float*)> kRunWords{
    runWordsBaseline, runWordsAvx2, runWordsAvx512};

// The neighbour vote of LabelQuality.h for a list of rows: (S P)_p divided by its float sum.
struct VoteKernel {
    CsrView graph;
    const float* probabilities; // n x c, layout order, with kPad floats of slack after it
    float* vote;                // n x c, item order
    const int32_t* itemAt;      // n: layout position -> item, or null (item order)
    int classes;
};

// Row p of the vote from its gathered S P row `row` (c floats); true when the stored row changed.
inline bool storeVote(const VoteKernel& k, int64_t p, float* row)
{
    const int c = k.classes;
    const float total = std::accumulate(row, row + c, 0.0f);
    if (total > 0.0f)
        for (int q = 0; q < c; ++q)
            row[q] /= total;
    float* stored = k.vote + (k.itemAt ? int64_t(k.itemAt[p]) : p) * c;
    if (std::equal(row, row + c, stored))
        return false;
    std::copy_n(row, c, stored);
    return true;
}

template <int W, int L>
[[gnu::always_inline]] inline bool updateVote(const VoteKernel& k, int64_t p, float*)
{
    simd::Lanes<W, L> acc;
    gatherRow(k.graph, p, k.probabilities, k.classes, acc);
    float row[L];
    simd::store(row, acc);
    return storeVote(k, p, row);
}

inline bool updateVoteAny(const VoteKernel& k, int64_t p, float* scratch)
{
    gatherRowScalar(k.graph, p, k.probabilities, k.classes, scratch);
    return storeVote(k, p, scratch);
}

// Votes of rows positions[0, count); appends the items whose vote changed to `changed`.
template <bool (*Update)(const VoteKernel&, int64_t, float*)>
__attribute__((always_inline)) inline void voteRows(const VoteKernel& k, const int32_t* positions, int64_t count,
                                                    std::vector<int32_t>& changed, float* scratch)
{
    for (int64_t a = 0; a < count; ++a)
        if (Update(k, positions[a], scratch))
            changed.push_back(k.itemAt ? k.itemAt[positions[a]] : positions[a]);
}

// The vote kernel at register width W, as runWordsAt().
template <int W>
[[gnu::always_inline]] inline void voteRowsAt(const VoteKernel& k, const int32_t* positions, int64_t count,
                                              std::vector<int32_t>& changed, float* scratch)
{
    if (k.classes <= 8)
        voteRows<updateVote<(W < 8 ? W : 8), 8>>(k, positions, count, changed, scratch);
    else if (k.classes <= 16)
        voteRows<updateVote<W, 16>>(k, positions, count, changed, scratch);
    else
        voteRows<updateVoteAny>(k, positions, count, changed, scratch);
}

__attribute__((target("avx512f"))) void voteRowsAvx512(const VoteKernel& k, const int32_t* positions, int64_t count,
                                                       std::vector<int32_t>& changed, float* scratch)
{
    voteRowsAt<16>(k, positions, count, changed, scratch);
}

__attribute__((target("avx2"))) void voteRowsAvx2(const VoteKernel& k, const int32_t* positions, int64_t count,
                                                  std::vector<int32_t>& changed, float* scratch)
{
    voteRowsAt<8>(k, positions, count, changed, scratch);
}

void voteRowsBaseline(const VoteKernel& k, const int32_t* positions, int64_t count, std::vector<int32_t>& changed,
                      float* scratch)
{
    voteRowsAt<4>(k, positions, count, changed, scratch);
}

constexpr SimdKernel<void (*)(const VoteKernel&, const int32_t*, int64_t, std::vector<int32_t>&, float*)> kVoteRows{
    voteRowsBaseline, voteRowsAvx2, voteRowsAvx512};

std::vector<float> identityRows(int classes)
{
    std::vector<float> rows(size_t(int64_t(classes) * classes + kPad), 0.0f);
    for (int q = 0; q < classes; ++q)
        rows[size_t(q * classes + q)] = 1.0f;
    return rows;
}

// n x c -> n x (c + 1), the new column zero.
std::vector<float> withZeroColumn(const std::vector<float>& rows, int64_t n, int c)
{
    std::vector<float> out(size_t(n * (c + 1)), 0.0f);
    for (int64_t i = 0; i < n; ++i)
        std::copy_n(rows.data() + i * c, c, out.data() + i * (c + 1));
    return out;
}

bool sameRow(const PropagationResult& a, const PropagationResult& b, int64_t i)
{
    const int c = a.classes;
    return std::equal(a.scores.begin() + i * c, a.scores.begin() + (i + 1) * c, b.scores.begin() + i * c);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// IncrementalPropagation

Expected<IncrementalPropagation> IncrementalPropagation::create(std::shared_ptr<const SparseGraph> graph,
                                                                std::span<const int32_t> seeds, int classes,
                                                                const IncrementalOptions& options)
{
    if (!graph)
        return fail("incremental propagation: no graph was given");
    if (options.steps < 0)
        return fail("incremental propagation: steps must be 0 or more (got " + std::to_string(options.steps) + ")");
    if (!(options.maxProbabilityError > 0.0 && options.maxProbabilityError < 0.5))
        return fail("incremental propagation: maxProbabilityError must lie in (0, 0.5) (got "
                    + std::to_string(options.maxProbabilityError) + "); 1e-4 is the default");
    if (!(options.fullRecomputeFraction > 0.0 && options.fullRecomputeFraction <= 1.0))
        return fail("incremental propagation: fullRecomputeFraction must lie in (0, 1] (got "
                    + std::to_string(options.fullRecomputeFraction) + ")");
    if (classes < 1)
        return fail("incremental propagation: at least one class is needed");
    const auto level = resolveSimdLevel(options.simd);
    if (!level)
        return fail("incremental propagation: " + level.error().message);

    const SparseGraph& s = *graph;
    const int64_t n = s.n;
    IncrementalPropagation ip;
    ip.m_classes = classes;
    ip.m_steps = options.steps;
    ip.m_options = options;
    ip.m_level = *level;
    // errorBound() = e_T / (1 - e_T) = kToleranceShare x maxProbabilityError, e_T = (1 + tol)^T - 1.
    const double bound = kToleranceShare * options.maxProbabilityError;
    ip.m_tolerance =
        options.steps > 0 ? std::expm1(std::log1p(bound / (1.0 + bound)) / double(options.steps)) : 0.0;
    ip.m_blockStride = n * classes + kPad;
    ip.m_trajectory.assign(size_t((options.steps + 1) * ip.m_blockStride), 0.0f);

    PropagationOptions full;
    full.iterations = options.steps;
    full.clamp.kind = ClampMode::Kind::Hard;
    full.threads = options.threads;
    full.simd = *level;
    full.onStep = [&](int step, std::span<const float> y) {
        for (int64_t p = 0; p < n; ++p)
            std::copy_n(y.data() + itemAt(s, p) * classes, classes, ip.row(step, p));
    };
    auto result = propagateLabels(s, seeds, classes, full);
    if (!result)
        return std::unexpected(result.error());

    ip.m_graph = std::move(graph);
    ip.m_seeds.assign(seeds.begin(), seeds.end());
    ip.m_seedAt.resize(size_t(n));
    for (int64_t p = 0; p < n; ++p) {
        ip.m_seedAt[size_t(p)] = ip.m_seeds[size_t(itemAt(s, p))];
        ip.setSeedRow(p);
    }
    ip.m_oneHot = identityRows(classes);
    ip.m_result = std::move(*result);
    ip.m_threads = resolveThreadCount(options.threads);
    ip.m_words = (n + 63) / 64;
    ip.m_changedBits.assign(size_t(ip.m_words), 0);
    ip.m_bits.assign(size_t(2 * ip.m_threads * ip.m_words), 0);
    ip.m_ranges.assign(size_t(2 * ip.m_threads), {0, 0});
    return ip;
}

double IncrementalPropagation::errorBound() const
{
    const double e = std::pow(1.0 + m_tolerance, double(m_steps)) - 1.0;
    return e / (1.0 - e);
}

int64_t IncrementalPropagation::memoryBytes() const
{
    const auto bytes = [](const auto& v) { return int64_t(v.capacity() * sizeof(v[0])); };
    return bytes(m_trajectory) + bytes(m_oneHot) + bytes(m_seeds) + bytes(m_seedAt) + bytes(m_changedBits)
           + bytes(m_bits) + bytes(m_result.scores) + bytes(m_result.probabilities) + bytes(m_result.predicted)
           + bytes(m_result.confidence) + bytes(m_result.margin);
}

void IncrementalPropagation::setSeedRow(int64_t position)
{
    float* y0 = row(0, position);
    std::fill(y0, y0 + m_classes, 0.0f);
    if (const int32_t seed = m_seedAt[size_t(position)]; seed >= 0)
        y0[seed] = 1.0f;
}

int64_t IncrementalPropagation::countCandidates() const
{
    int64_t lo = m_changedRange.first, hi = m_changedRange.second;
    for (int b = 0; b < m_threads; ++b) {
        const auto [blo, bhi] = m_ranges[size_t(m_parity * m_threads + b)];
        if (blo < bhi) {
            lo = std::min(lo, blo);
            hi = std::max(hi, bhi);
        }
    }
    int64_t count = 0;
    for (int64_t w = lo; w < hi; ++w) {
        uint64_t bits = m_changedBits[size_t(w)];
        for (int b = 0; b < m_threads; ++b)
            bits |= m_bits[size_t((m_parity * m_threads + b) * m_words + w)];
        count += std::popcount(bits);
    }
    return count;
}

void IncrementalPropagation::clearCandidates()
{
    for (int b = 0; b < m_threads; ++b) {
        auto& [lo, hi] = m_ranges[size_t(m_parity * m_threads + b)];
        if (lo < hi)
            std::fill_n(m_bits.data() + (m_parity * m_threads + b) * m_words + lo, hi - lo, uint64_t(0));
        lo = hi = 0;
    }
}

IncrementalPropagation::StepTotals IncrementalPropagation::runStep(int step, bool dense, bool last,
                                                                   std::vector<int32_t>& written)
{
    const CsrMatrix& m = layoutMatrix(*m_graph);
    const int64_t n = m_graph->n;
    std::vector<uint64_t*> candidates(static_cast<size_t>(m_threads));
    int64_t lo = m_words, hi = 0, estimate = 0; // words holding candidates; rows, an upper bound
    for (int b = 0; b < m_threads; ++b) {
        candidates[size_t(b)] = m_bits.data() + (m_parity * m_threads + b) * m_words;
        const auto [blo, bhi] = m_ranges[size_t(m_parity * m_threads + b)];
        if (blo < bhi) {
            lo = std::min(lo, blo);
            hi = std::max(hi, bhi);
        }
    }
    const auto& [changedLo, changedHi] = m_changedRange;
    lo = std::min(lo, changedLo);
    hi = std::max(hi, changedHi);
    estimate = m_pendingRows;
    if (lo >= hi)
        lo = hi = 0;
    if (dense) {
        clearCandidates();
        lo = 0;
        hi = m_words;
        estimate = n;
    }
    const StepKernel k{viewOf(m), row(step - 1, 0), row(step, 0),
                       m_seedAt.data(), m_oneHot.data(), m_classes, float(m_tolerance), n, m_changedBits.data(),
                       candidates.data(), m_threads, dense, dense && !last, !dense && !last, last};
    const double degree = n > 0 ? double(m.columns.size()) / double(n) : 0.0;
    const int workers = double(estimate) * (degree + 1.0) >= double(kParallelGathers) ? m_threads : 1;
    std::vector<WorkerOut> out(static_cast<size_t>(workers));
    const int next = 1 - m_parity;
    for (int w = 0; w < workers; ++w)
        out[size_t(w)].next = m_bits.data() + (next * m_threads + w) * m_words;
    // Chunks of words handed out dynamically: a click's rows cluster in part of the range.
    const int64_t chunks = workers == 1 ? 1 : std::min<int64_t>(hi - lo, 16 * workers);
    std::atomic<int64_t> nextChunk{0};
    parallelFor(0, workers, workers, [&](int64_t w0, int64_t w1) {
        std::vector<float> scratch(static_cast<size_t>(m_classes));
        for (int64_t w = w0; w < w1; ++w)
            for (int64_t chunk; (chunk = nextChunk.fetch_add(1)) < chunks;) {
                const int64_t a = lo + (hi - lo) * chunk / chunks, b = lo + (hi - lo) * (chunk + 1) / chunks;
                kRunWords[m_level](k, a, b, out[size_t(w)], scratch.data());
            }
    });
    // This step's bitmaps were cleared as read (when dense, clearCandidates() emptied them first).
    for (int b = 0; b < m_threads; ++b)
        m_ranges[size_t(m_parity * m_threads + b)] = {0, 0};
    m_parity = next;
    StepTotals totals;
    m_pendingRows = m_changedCount;
    for (int w = 0; w < workers; ++w) {
        const WorkerOut& o = out[size_t(w)];
        totals.computed += o.computed;
        totals.written += o.written;
        totals.marked += o.marked;
        m_pendingRows += o.marked;
        if (o.lo < o.hi)
            m_ranges[size_t(next * m_threads + w)] = {o.lo, o.hi};
        written.insert(written.end(), o.list.begin(), o.list.end());
    }
    return totals;
}

void IncrementalPropagation::refreshResultRows(std::span<const int32_t> positions, std::vector<int32_t>& changedRows)
{
    const SparseGraph& s = *m_graph;
    const int c = m_classes;
    changedRows.clear();
    changedRows.reserve(positions.size());
    // Ascending items: through a bitmap (m_changedBits is empty here) when there are many.
    if (int64_t(positions.size()) * 16 > m_words) {
        for (int32_t p : positions)
            setBit(m_changedBits.data(), itemAt(s, p));
        drainBits(m_changedBits.data(), 0, m_words, changedRows);
    } else {
        for (int32_t p : positions)
            changedRows.push_back(int32_t(itemAt(s, p)));
        std::sort(changedRows.begin(), changedRows.end());
    }
    // summariseScores over just these rows, gathered into a small result of their own.
    PropagationResult part;
    part.n = int64_t(changedRows.size());
    part.classes = c;
    part.scores.resize(size_t(part.n * c));
    for (int64_t a = 0; a < part.n; ++a) {
        const int64_t item = changedRows[size_t(a)];
        const float* y = row(m_steps, positionOf(s, item));
        std::copy_n(y, c, part.scores.data() + a * c);
        std::copy_n(y, c, m_result.scores.data() + item * c);
    }
    summariseScores(part);
    for (int64_t a = 0; a < part.n; ++a) {
        const int64_t item = changedRows[size_t(a)];
        std::copy_n(part.probabilities.data() + a * c, c, m_result.probabilities.data() + item * c);
        m_result.predicted[size_t(item)] = part.predicted[size_t(a)];
        m_result.confidence[size_t(item)] = part.confidence[size_t(a)];
        m_result.margin[size_t(item)] = part.margin[size_t(a)];
    }
}

Expected<IncrementalUpdate> IncrementalPropagation::apply(std::span<const SeedChange> changes)
{
    const Clock clock;
    const SparseGraph& s = *m_graph;
    const int64_t n = s.n;
    for (size_t a = 0; a < changes.size(); ++a) {
        const SeedChange& change = changes[a];
        if (change.item < 0 || change.item >= n)
            return fail("label change " + std::to_string(a) + ": item " + std::to_string(change.item)
                        + " is outside [0, " + std::to_string(n) + "); the graph has " + std::to_string(n) + " items");
        if (change.newClass < -1 || change.newClass >= m_classes)
            return fail("label change " + std::to_string(a) + " (item " + std::to_string(change.item) + "): class "
                        + std::to_string(change.newClass) + " is outside [0, " + std::to_string(m_classes)
                        + "); use -1 to remove a label, or add the class first");
    }

    IncrementalUpdate update;
    IncrementalStats& stats = update.stats;
    stats.errorBound = errorBound();
    // The last entry for an item wins: walk backwards and keep the first one seen (m_changedBits,
    // by item here, is the set of items seen; it is empty between updates).
    std::vector<SeedChange> effective;
    for (size_t a = changes.size(); a-- > 0;) {
        const SeedChange& change = changes[a];
        uint64_t& word = m_changedBits[size_t(change.item >> 6)];
        const uint64_t bit = uint64_t(1) << (change.item & 63);
        if (!(word & bit) && m_seeds[size_t(change.item)] != change.newClass)
            effective.push_back(change);
        word |= bit;
    }
    for (const SeedChange& change : changes)
        m_changedBits[size_t(change.item >> 6)] = 0;
    if (effective.empty()) {
        stats.microseconds = clock.microseconds();
        return update;
    }
    std::sort(effective.begin(), effective.end(), [](const SeedChange& x, const SeedChange& y) { return x.item < y.item; });

    // Y(0) of the changed rows; they are candidates at every step (m_changedBits, by position now),
    // and their free neighbours are the other candidates of step 1 (worker 0's bitmap).
    const CsrMatrix& m = layoutMatrix(s);
    const bool hasSteps = m_steps > 0;
    uint64_t* first = m_bits.data() + m_parity * m_threads * m_words;
    auto& firstRange = m_ranges[size_t(m_parity * m_threads)];
    firstRange = {m_words, 0};
    m_changedRange = {m_words, 0};
    m_changedCount = int64_t(effective.size());
    m_pendingRows = m_changedCount;
    const auto widen = [](std::pair<int64_t, int64_t>& range, int64_t word) {
        range = {std::min(range.first, word), std::max(range.second, word + 1)};
    };
    std::vector<int32_t> written; // layout positions rewritten at the last step
    for (const SeedChange& change : effective) {
        const int64_t p = positionOf(s, change.item);
        m_seeds[size_t(change.item)] = change.newClass;
        m_seedAt[size_t(p)] = change.newClass;
        setSeedRow(p);
        update.changedSeeds.push_back(change.item);
        setBit(m_changedBits.data(), p);
        widen(m_changedRange, p >> 6);
        written.push_back(int32_t(p));
    }
    for (int64_t p : written)
        for (int64_t e = m.rowStart[size_t(p)]; hasSteps && e < m.rowStart[size_t(p) + 1]; ++e) {
            const int32_t q = m.columns[size_t(e)];
            setBit(first, q);
            widen(firstRange, q >> 6);
            ++m_pendingRows;
        }
    if (firstRange.first >= firstRange.second)
        firstRange = {0, 0};

    bool dense = false;
    stats.mode = IncrementalStats::Mode::Local;
    for (int step = 1; step <= m_steps; ++step) {
        // The bound m_pendingRows counts repeats; count the bits when it could cross the line.
        const double limit = m_options.fullRecomputeFraction * double(n);
        if (!dense && double(m_pendingRows) > limit && double(countCandidates()) > limit) {
            dense = true;
            stats.mode = IncrementalStats::Mode::Dense;
            stats.denseFromStep = step;
        }
        if (step == m_steps)
            written.clear();
        const StepTotals totals = runStep(step, dense, step == m_steps, written);
        stats.rowsComputed += totals.computed;
        stats.rowsWritten += totals.written;
    }
    for (const SeedChange& change : effective) {
        const int64_t p = positionOf(s, change.item);
        m_changedBits[size_t(p >> 6)] = 0;
    }
    m_changedRange = {0, 0};
    refreshResultRows(written, update.changedRows);
    stats.rowsChanged = int64_t(update.changedRows.size());
    stats.microseconds = clock.microseconds();
    return update;
}

Expected<IncrementalUpdate> IncrementalPropagation::rebase(IncrementalPropagation&& fresh)
{
    const Clock clock;
    if (fresh.m_graph != m_graph)
        return fail("rebase: the fresh propagation was built over another graph; build it from sharedGraph()");
    if (fresh.m_steps != m_steps)
        return fail("rebase: the fresh propagation runs " + std::to_string(fresh.m_steps) + " steps, this one "
                    + std::to_string(m_steps) + "; build it with the same steps");
    if (fresh.m_classes > m_classes)
        return fail("rebase: the fresh propagation has " + std::to_string(fresh.m_classes) + " classes, this one "
                    + std::to_string(m_classes) + "; add the classes here first (addClass)");
    while (fresh.m_classes < m_classes)
        fresh.addClass();

    // The labels changed since fresh's snapshot, to replay on top of it.
    std::vector<SeedChange> pending;
    for (int64_t i = 0; i < m_graph->n; ++i)
        if (fresh.m_seeds[size_t(i)] != m_seeds[size_t(i)])
            pending.push_back({int32_t(i), m_seeds[size_t(i)]});
    PropagationResult before = std::move(m_result);
    m_trajectory = std::move(fresh.m_trajectory);
    m_seeds = std::move(fresh.m_seeds);
    m_seedAt = std::move(fresh.m_seedAt);
    m_result = std::move(fresh.m_result);
    auto replayed = apply(pending);
    if (!replayed) // cannot happen: the changes come from valid seeds
        return std::unexpected(replayed.error());

    IncrementalUpdate update;
    update.stats = replayed->stats;
    update.stats.mode = IncrementalStats::Mode::Rebuilt;
    for (int64_t i = 0; i < m_graph->n; ++i)
        if (!sameRow(before, m_result, i))
            update.changedRows.push_back(int32_t(i));
    update.stats.rowsChanged = int64_t(update.changedRows.size());
    update.stats.microseconds = clock.microseconds();
    return update;
}

void IncrementalPropagation::addClass()
{
    const int64_t n = m_graph->n;
    const int c = m_classes;
    const int64_t stride = n * (c + 1) + kPad;
    std::vector<float> trajectory(size_t((m_steps + 1) * stride), 0.0f);
    for (int step = 0; step <= m_steps; ++step)
        for (int64_t p = 0; p < n; ++p)
            std::copy_n(row(step, p), c, trajectory.data() + step * stride + p * (c + 1));
    m_trajectory = std::move(trajectory);
    m_blockStride = stride;
    m_result.scores = withZeroColumn(m_result.scores, n, c);
    m_result.probabilities = withZeroColumn(m_result.probabilities, n, c);
    m_classes = c + 1;
    m_result.classes = c + 1;
    m_oneHot = identityRows(c + 1);
}

void IncrementalPropagation::copyRowsTo(std::span<const int32_t> rows, PropagationResult& snapshot) const
{
    if (snapshot.n != m_result.n || snapshot.classes != m_result.classes || snapshot.scores.size() != m_result.scores.size()
        || snapshot.probabilities.size() != m_result.probabilities.size()) {
        snapshot = m_result;
        return;
    }
    const int c = m_classes;
    for (int32_t i : rows) {
        std::copy_n(m_result.scores.data() + int64_t(i) * c, c, snapshot.scores.data() + int64_t(i) * c);
        std::copy_n(m_result.probabilities.data() + int64_t(i) * c, c, snapshot.probabilities.data() + int64_t(i) * c);
        snapshot.predicted[size_t(i)] = m_result.predicted[size_t(i)];
        snapshot.confidence[size_t(i)] = m_result.confidence[size_t(i)];
        snapshot.margin[size_t(i)] = m_result.margin[size_t(i)];
    }
}

// ---------------------------------------------------------------------------------------------
// IncrementalAudit

namespace {

float thresholdForNoiseRate(double rho, int classes) // as LabelQuality.cpp: tau of the noise rate rho
{
    return float(std::sqrt(std::max(0.0, (1.0 - rho) * rho / double(classes - 1))));
}

} // namespace

IncrementalAudit IncrementalAudit::create(const IncrementalPropagation& propagation, int threads)
{
    const PropagationResult& result = propagation.result();
    const int64_t n = result.n;
    const int c = result.classes;
    IncrementalAudit a;
    a.m_classes = c;
    a.m_threads = threads;
    a.m_level = propagation.simdLevel();
    a.m_vote = neighbourVote(propagation.graph(), result, threads);
    a.m_given.assign(propagation.seeds().begin(), propagation.seeds().end());
    a.m_judged.assign(size_t(n), 0);
    a.m_disagrees.assign(size_t(n), 0);
    a.m_pGiven.assign(size_t(n), 0.0f);
    a.m_classFlagged.assign(size_t(c), 0);
    a.m_row.resize(size_t(c));
    a.m_listed.resize(n);
    a.m_layoutProbabilities.resize(size_t(n * c + kPad));
    a.m_voteBits.assign(size_t((n + 63) / 64), 0);
    std::vector<int32_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    a.copyProbabilities(propagation, all);
    LabelQualityReport& r = a.m_report;
    r.issueScore.assign(size_t(n), 0.0f);
    r.flagged.assign(size_t(n), 0);
    r.suggested.assign(size_t(n), -1);
    r.classNoiseRate.assign(size_t(c), 0.0);
    r.classCount.assign(size_t(c), 0);
    // Judge everything, sort once, then let the threshold rise from 0 (flagging every judged row
    // below it): the same report as assessGivenLabels().
    JudgedKeys added;
    for (int64_t i = 0; i < n; ++i)
        a.judge(i, added);
    a.mergeKeys(added);
    std::vector<int32_t> flipped;
    a.settleThreshold({}, flipped);
    return a;
}

bool IncrementalAudit::ranksBefore(int32_t a, int32_t b) const
{
    // assessGivenLabels' ranking: issue score descending, a stable sort over item order.
    const float sa = m_report.issueScore[size_t(a)], sb = m_report.issueScore[size_t(b)];
    return sa > sb || (sa == sb && a < b);
}

void IncrementalAudit::computeVotes(const SparseGraph& s, std::span<const int32_t> positions,
                                    std::vector<int32_t>& changedItems)
{
    // Rows of neighbourVote(), gathered from m_layoutProbabilities in the graph's layout.
    const VoteKernel k{viewOf(layoutMatrix(s)), m_layoutProbabilities.data(), m_vote.data(),
                       s.hasLocalLayout() ? s.localOrder.data() : nullptr, m_classes};
    kVoteRows[m_level](k, positions.data(), int64_t(positions.size()), changedItems, m_row.data());
}

void IncrementalAudit::copyProbabilities(const IncrementalPropagation& propagation, std::span<const int32_t> items)
{
    const SparseGraph& s = propagation.graph();
    const float* probabilities = propagation.result().probabilities.data();
    for (int32_t i : items)
        std::copy_n(probabilities + int64_t(i) * m_classes, m_classes,
                    m_layoutProbabilities.data() + positionOf(s, i) * m_classes);
}

void IncrementalAudit::judge(int64_t item, JudgedKeys& added)
{
    // The per-item part of assessGivenLabels (LabelQuality.cpp), rule for rule.
    const int32_t g = m_given[size_t(item)];
    if (g < 0)
        return;
    ++m_report.classCount[size_t(g)];
    const float* p = m_vote.data() + item * m_classes;
    if (std::accumulate(p, p + m_classes, 0.0f) > 0.0f) {
        int best = -1, alternative = -1;
        for (int q = 0; q < m_classes; ++q) {
            if (best < 0 || p[q] > p[best])
                best = q;
            if (q != g && (alternative < 0 || p[q] > p[alternative]))
                alternative = q;
        }
        m_report.suggested[size_t(item)] = alternative;
        m_report.issueScore[size_t(item)] = std::clamp(1.0f - p[g], 0.0f, 1.0f);
        m_judged[size_t(item)] = 1;
        m_pGiven[size_t(item)] = p[g];
        m_disagrees[size_t(item)] = best != g;
        m_disagreeing += best != g;
        added.sorted.emplace_back(p[g], int32_t(item));
    }
    added.ranking.push_back(int32_t(item));
}

void IncrementalAudit::mergeKeys(JudgedKeys& added)
{
    // Sorted additions merged into the sorted lists: O(L + R log R) for R additions to L entries,
    // where inserting them one by one would move the list R times.
    std::sort(added.sorted.begin(), added.sorted.end());
    const auto middle = m_sorted.insert(m_sorted.end(), added.sorted.begin(), added.sorted.end());
    std::inplace_merge(m_sorted.begin(), middle, m_sorted.end());
    const auto before = [this](int32_t x, int32_t y) { return ranksBefore(x, y); };
    auto& ranking = m_report.ranking;
    std::sort(added.ranking.begin(), added.ranking.end(), before);
    const auto rankMiddle = ranking.insert(ranking.end(), added.ranking.begin(), added.ranking.end());
    std::inplace_merge(ranking.begin(), rankMiddle, ranking.end(), before);
}

void IncrementalAudit::unjudge(int64_t item)
{
    // Its entries in m_sorted and the ranking are dropped by the caller (all at once).
    const int32_t g = m_given[size_t(item)];
    if (g < 0)
        return;
    --m_report.classCount[size_t(g)];
    m_disagreeing -= m_disagrees[size_t(item)];
    m_judged[size_t(item)] = 0;
    m_disagrees[size_t(item)] = 0;
    setFlag(item, false);
    m_report.issueScore[size_t(item)] = 0.0f;
    m_report.suggested[size_t(item)] = -1;
}

bool IncrementalAudit::setFlag(int64_t item, bool flag)
{
    uint8_t& stored = m_report.flagged[size_t(item)];
    if (stored == uint8_t(flag))
        return false;
    stored = uint8_t(flag);
    const int64_t delta = flag ? 1 : -1;
    m_flaggedTotal += delta;
    m_classFlagged[size_t(m_given[size_t(item)])] += delta;
    return true;
}

void IncrementalAudit::settleThreshold(std::span<const int32_t> judgedAgain, std::vector<int32_t>& flipped)
{
    // assessGivenLabels' fixed point, each fractionBelow() a binary search in m_sorted.
    const auto below = [this](float tau) {
        return int64_t(std::lower_bound(m_sorted.begin(), m_sorted.end(),
                                        std::pair<float, int32_t>{tau, std::numeric_limits<int32_t>::min()})
                       - m_sorted.begin());
    };
    const auto judged = int64_t(m_sorted.size());
    float tau = 0.0f;
    if (m_classes >= 2 && judged > 0) {
        tau = thresholdForNoiseRate(double(m_disagreeing) / double(judged), m_classes);
        for (int round = 0; round < 50; ++round) {
            const float nextTau = thresholdForNoiseRate(double(below(tau)) / double(judged), m_classes);
            if (nextTau == tau)
                break;
            tau = nextTau;
        }
    }
    const float old = m_report.threshold;
    m_report.threshold = tau;
    for (int32_t item : judgedAgain)
        setFlag(item, m_judged[size_t(item)] && m_pGiven[size_t(item)] < tau);
    // Rows that the move of tau flips: p(given) in [min(old, tau), max(old, tau)).
    const auto lo = below(std::min(old, tau)), hi = below(std::max(old, tau));
    for (int64_t a = lo; a < hi; ++a) {
        const int32_t item = m_sorted[size_t(a)].second;
        if (setFlag(item, m_sorted[size_t(a)].first < tau))
            flipped.push_back(item);
    }
    int64_t labelled = 0;
    for (int q = 0; q < m_classes; ++q) {
        labelled += m_report.classCount[size_t(q)];
        m_report.classNoiseRate[size_t(q)] =
            m_report.classCount[size_t(q)] ? double(m_classFlagged[size_t(q)]) / double(m_report.classCount[size_t(q)])
                                           : 0.0;
    }
    m_report.noiseRate = labelled ? double(m_flaggedTotal) / double(labelled) : 0.0;
}

AuditUpdate IncrementalAudit::update(const IncrementalPropagation& propagation, const IncrementalUpdate& change)
{
    const Clock clock;
    const SparseGraph& s = propagation.graph();
    AuditUpdate out;
    if (propagation.classes() != m_classes || int64_t(m_given.size()) != s.n) {
        *this = create(propagation, m_threads);
        out.changedRows.resize(size_t(s.n));
        std::iota(out.changedRows.begin(), out.changedRows.end(), 0);
        out.stats.votesComputed = s.n;
        out.stats.thresholdChanged = true;
        out.stats.microseconds = clock.microseconds();
        return out;
    }
    // Votes of the labelled neighbours of every row whose probabilities changed, and of the items
    // that just got a label, in layout order. Only labelled rows' votes enter the report; the vote
    // of an unlabelled row is left as it was until it gets a label (then it is recomputed here),
    // so with few labels this costs little whatever the propagation changed.
    copyProbabilities(propagation, change.changedRows);
    const CsrMatrix& m = layoutMatrix(s);
    const auto seeds = propagation.seeds();
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0; // words of m_voteBits holding bits
    const auto markVote = [&](int64_t q) {
        setBit(m_voteBits.data(), q);
        lo = std::min<int64_t>(lo, q >> 6);
        hi = std::max<int64_t>(hi, (q >> 6) + 1);
    };
    for (int32_t j : change.changedRows) {
        const int64_t p = positionOf(s, j);
        for (int64_t e = m.rowStart[size_t(p)]; e < m.rowStart[size_t(p) + 1]; ++e)
            if (const int32_t q = m.columns[size_t(e)]; seeds[size_t(itemAt(s, q))] >= 0)
                markVote(q);
    }
    for (int32_t i : change.changedSeeds)
        if (seeds[size_t(i)] >= 0)
            markVote(positionOf(s, i));
    std::vector<int32_t> listed; // layout positions, ascending
    drainBits(m_voteBits.data(), std::min(lo, hi), hi, listed);
    out.stats.votesComputed = int64_t(listed.size());
    std::vector<int32_t> voted; // items whose vote changed
    computeVotes(s, listed, voted);
    // Items to judge again: labelled ones whose vote changed, and those whose label changed (an
    // unlabelled item's report entries stay 0 / -1 / 0 whatever its vote).
    std::vector<int32_t> again;
    m_listed.clear();
    for (int32_t i : voted)
        if (m_given[size_t(i)] >= 0 && m_listed.insert(i))
            again.push_back(i);
    for (int32_t i : change.changedSeeds)
        if (m_listed.insert(i))
            again.push_back(i);

    struct Before {
        int32_t item;
        float issueScore;
        uint8_t flagged;
        int32_t suggested;
    };
    std::vector<Before> before;
    before.reserve(again.size());
    for (int32_t i : again) {
        before.push_back({i, m_report.issueScore[size_t(i)], m_report.flagged[size_t(i)], m_report.suggested[size_t(i)]});
        unjudge(i);
    }
    // m_listed holds exactly `again` here: drop their old entries, then merge the new ones.
    std::erase_if(m_sorted, [this](const std::pair<float, int32_t>& key) { return m_listed.contains(key.second); });
    std::erase_if(m_report.ranking, [this](int32_t item) { return m_listed.contains(item); });
    JudgedKeys added;
    for (int32_t i : again) {
        m_given[size_t(i)] = seeds[size_t(i)];
        judge(i, added);
    }
    mergeKeys(added);
    out.stats.rowsJudged = int64_t(again.size());
    const float oldThreshold = m_report.threshold;
    settleThreshold(again, out.changedRows);
    out.stats.thresholdChanged = m_report.threshold != oldThreshold;
    for (const Before& b : before)
        if (b.issueScore != m_report.issueScore[size_t(b.item)] || b.flagged != m_report.flagged[size_t(b.item)]
            || b.suggested != m_report.suggested[size_t(b.item)])
            out.changedRows.push_back(b.item);
    std::sort(out.changedRows.begin(), out.changedRows.end());
    out.changedRows.erase(std::unique(out.changedRows.begin(), out.changedRows.end()), out.changedRows.end());
    out.stats.microseconds = clock.microseconds();
    return out;
}

} // namespace labelprop
