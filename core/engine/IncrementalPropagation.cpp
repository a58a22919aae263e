#include "core/engine/IncrementalPropagation.h"

#include "core/base/Parallel.h"

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
// Below this many neighbour gathers a step runs on the calling thread: starting threads costs
// tens of microseconds, about what 10,000 gathers take.
constexpr int64_t kParallelGathers = 40000;

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

// One step over a list of rows, as the kernels see it. Rows are c floats at stride c.
struct StepRows {
    const int64_t* rowStart;
    const int32_t* columns;
    const float* weights;
    const float* previous; // Y(t-1), n x c, layout order, kPad floats of slack after it
    float* current;        // Y(t), rewritten in place
    const int32_t* seedAt; // n, layout order: a class, or -1 for a free row
    const float* oneHot;   // c x c identity
    int classes;
    float tolerance;       // relative L1 change below which a row is not rewritten
};

// Whether a recomputed free row moved enough to be rewritten (see (*) in the header): its L1
// distance to the stored row against tolerance x its own L1 norm (the row is non-negative).
inline bool movedEnough(float distance, float norm, float tolerance)
{
    return distance > tolerance * norm;
}

// Vector types as in LabelPropagation.cpp: a neighbour's row is one unaligned vector load that
// reads past the row's c floats into the next rows (or the padding); those lanes are masked.
typedef float Lanes8 __attribute__((vector_size(8 * sizeof(float))));
typedef float Lanes16 __attribute__((vector_size(16 * sizeof(float))));

// Recomputes the rows positions[0, count) of Y(t) and appends the ones it rewrote to `written`.
template <class V>
__attribute__((always_inline)) inline void computeRowsFixed(const StepRows& k, const int32_t* positions, int64_t count,
                                                            std::vector<int32_t>& written)
{
    constexpr int lanes = int(sizeof(V) / sizeof(float));
    const int c = k.classes;
    V mask;
    for (int q = 0; q < lanes; ++q)
        mask[q] = q < c ? 1.0f : 0.0f;
    for (int64_t a = 0; a < count; ++a) {
        const int32_t p = positions[a];
        float* out = k.current + int64_t(p) * c;
        if (const int32_t seed = k.seedAt[p]; seed >= 0) {
            const float* target = k.oneHot + int64_t(seed) * c;
            if (std::memcmp(out, target, sizeof(float) * size_t(c)) != 0) {
                std::memcpy(out, target, sizeof(float) * size_t(c));
                written.push_back(p);
            }
            continue;
        }
        V acc = {};
        for (int64_t e = k.rowStart[p]; e < k.rowStart[p + 1]; ++e) {
            V x;
            std::memcpy(&x, k.previous + int64_t(k.columns[e]) * c, sizeof(V));
            acc += k.weights[e] * x;
        }
        acc *= mask;
        V stored;
        std::memcpy(&stored, out, sizeof(V));
        V d = acc - stored * mask;
        d = d < 0.0f ? -d : d;
        float distance = 0.0f, norm = 0.0f;
        for (int q = 0; q < lanes; ++q) {
            distance += d[q];
            norm += acc[q];
        }
        if (movedEnough(distance, norm, k.tolerance)) {
            std::memcpy(out, &acc, sizeof(float) * size_t(c));
            written.push_back(p);
        }
    }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void computeRows8(const StepRows& k,
                                                                               const int32_t* positions,
                                                                               int64_t count,
                                                                               std::vector<int32_t>& written)
{
    computeRowsFixed<Lanes8>(k, positions, count, written);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void computeRows16(const StepRows& k,
                                                                                const int32_t* positions,
                                                                                int64_t count,
                                                                                std::vector<int32_t>& written)
{
    computeRowsFixed<Lanes16>(k, positions, count, written);
}

// More than 16 classes: plain loops.
void computeRowsAny(const StepRows& k, const int32_t* positions, int64_t count, std::vector<int32_t>& written)
{
    const int c = k.classes;
    std::vector<float> acc(static_cast<size_t>(c));
    for (int64_t a = 0; a < count; ++a) {
        const int32_t p = positions[a];
        float* out = k.current + int64_t(p) * c;
        if (const int32_t seed = k.seedAt[p]; seed >= 0) {
            const float* target = k.oneHot + int64_t(seed) * c;
            if (!std::equal(target, target + c, out)) {
                std::copy_n(target, c, out);
                written.push_back(p);
            }
            continue;
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t e = k.rowStart[p]; e < k.rowStart[p + 1]; ++e) {
            const float w = k.weights[e];
            const float* x = k.previous + int64_t(k.columns[e]) * c;
            for (int q = 0; q < c; ++q)
                acc[size_t(q)] += w * x[q];
        }
        float distance = 0.0f, norm = 0.0f;
        for (int q = 0; q < c; ++q) {
            distance += std::abs(acc[size_t(q)] - out[q]);
            norm += acc[size_t(q)];
        }
        if (movedEnough(distance, norm, k.tolerance)) {
            std::copy_n(acc.begin(), c, out);
            written.push_back(p);
        }
    }
}

void computeRowsOf(const StepRows& k, const int32_t* positions, int64_t count, std::vector<int32_t>& written)
{
    if (k.classes <= 8)
        computeRows8(k, positions, count, written);
    else if (k.classes <= 16)
        computeRows16(k, positions, count, written);
    else
        computeRowsAny(k, positions, count, written);
}

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

    const SparseGraph& s = *graph;
    const int64_t n = s.n;
    IncrementalPropagation ip;
    ip.m_classes = classes;
    ip.m_steps = options.steps;
    ip.m_options = options;
    // e_T = (1 + tol)^T - 1 = maxProbabilityError / 4, so errorBound() = 2 e_T / (1 - e_T) is about half of it.
    ip.m_tolerance =
        options.steps > 0 ? std::expm1(std::log1p(options.maxProbabilityError / 4.0) / double(options.steps)) : 0.0;
    ip.m_blockStride = n * classes + kPad;
    ip.m_trajectory.assign(size_t((options.steps + 1) * ip.m_blockStride), 0.0f);

    PropagationOptions full;
    full.iterations = options.steps;
    full.clamp.kind = ClampMode::Kind::Hard;
    full.threads = options.threads;
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
    ip.m_listed.resize(n);
    return ip;
}

double IncrementalPropagation::errorBound() const
{
    const double e = std::pow(1.0 + m_tolerance, double(m_steps)) - 1.0;
    return 2.0 * e / (1.0 - e);
}

int64_t IncrementalPropagation::memoryBytes() const
{
    const auto bytes = [](const auto& v) { return int64_t(v.capacity() * sizeof(v[0])); };
    return bytes(m_trajectory) + bytes(m_oneHot) + bytes(m_seeds) + bytes(m_seedAt) + bytes(m_candidates)
           + m_listed.bytes() + bytes(m_result.scores) + bytes(m_result.probabilities) + bytes(m_result.predicted)
           + bytes(m_result.confidence) + bytes(m_result.margin);
}

void IncrementalPropagation::setSeedRow(int64_t position)
{
    float* y0 = row(0, position);
    std::fill(y0, y0 + m_classes, 0.0f);
    if (const int32_t seed = m_seedAt[size_t(position)]; seed >= 0)
        y0[seed] = 1.0f;
}

bool IncrementalPropagation::collectCandidates(std::span<const int32_t> changed, std::span<const int32_t> writtenBefore,
                                               bool dense)
{
    // The changed items every step (clamped to their new class, or free again), then the free
    // neighbours of every row rewritten at the previous step. Unchanged labeled rows never move.
    m_listed.clear();
    m_candidates.clear();
    for (int32_t p : changed)
        if (m_listed.insert(p))
            m_candidates.push_back(p);
    const int64_t n = m_graph->n;
    if (dense) {
        for (int64_t p = 0; p < n; ++p)
            if (m_seedAt[size_t(p)] < 0 && m_listed.insert(p))
                m_candidates.push_back(int32_t(p));
        return true;
    }
    const CsrMatrix& m = layoutMatrix(*m_graph);
    const auto limit = size_t(m_options.fullRecomputeFraction * double(n));
    for (int32_t p : writtenBefore) {
        for (int64_t e = m.rowStart[size_t(p)]; e < m.rowStart[size_t(p) + 1]; ++e) {
            const int32_t q = m.columns[size_t(e)];
            if (m_seedAt[size_t(q)] < 0 && m_listed.insert(q))
                m_candidates.push_back(q);
        }
        if (m_candidates.size() > limit)
            return false;
    }
    return true;
}

void IncrementalPropagation::computeRows(int step, std::vector<int32_t>& written)
{
    const CsrMatrix& m = layoutMatrix(*m_graph);
    const StepRows k{m.rowStart.data(), m.columns.data(), m.weights.data(), row(step - 1, 0), row(step, 0),
                     m_seedAt.data(), m_oneHot.data(), m_classes, float(m_tolerance)};
    const auto count = int64_t(m_candidates.size());
    const int threads = resolveThreadCount(m_options.threads);
    const double degree = m_graph->n > 0 ? double(m.columns.size()) / double(m_graph->n) : 0.0;
    if (threads <= 1 || double(count) * (degree + 1.0) < double(kParallelGathers)) {
        computeRowsOf(k, m_candidates.data(), count, written);
        return;
    }
    // Each worker takes a contiguous slice of the candidates and lists what it rewrote; rows are
    // disjoint, and all of them read only Y(t-1).
    std::vector<std::vector<int32_t>> parts(static_cast<size_t>(threads));
    parallelFor(0, threads, threads, [&](int64_t w0, int64_t w1) {
        for (int64_t w = w0; w < w1; ++w) {
            const int64_t b = count * w / threads, e = count * (w + 1) / threads;
            computeRowsOf(k, m_candidates.data() + b, e - b, parts[size_t(w)]);
        }
    });
    for (const auto& part : parts)
        written.insert(written.end(), part.begin(), part.end());
}

void IncrementalPropagation::refreshResultRows(std::span<const int32_t> positions, std::vector<int32_t>& changedRows)
{
    const SparseGraph& s = *m_graph;
    const int c = m_classes;
    changedRows.clear();
    changedRows.reserve(positions.size());
    for (int32_t p : positions)
        changedRows.push_back(int32_t(itemAt(s, p)));
    std::sort(changedRows.begin(), changedRows.end());
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

Expected<IncrementalUpdate> IncrementalPropagation::apply(std::span<const LabelChange> changes)
{
    const Clock clock;
    const SparseGraph& s = *m_graph;
    const int64_t n = s.n;
    for (size_t a = 0; a < changes.size(); ++a) {
        const LabelChange& change = changes[a];
        if (change.item < 0 || change.item >= n)
            return fail("label change " + std::to_string(a) + ": item " + std::to_string(change.item)
                        + " is outside [0, " + std::to_string(n) + "); the graph has " + std::to_string(n) + " items");
        if (change.newClass < -1 || change.newClass >= m_classes)
            return fail("label change " + std::to_string(a) + " (item " + std::to_string(change.item) + "): class "
                        + std::to_string(change.newClass) + " is outside [0, " + std::to_string(m_classes)
                        + "); use -1 to remove a label, or add the class first");
    }

    IncrementalUpdate update;
    update.stats.errorBound = errorBound();
    // The last entry for an item wins: walk backwards and keep the first one seen.
    std::vector<int32_t> changed; // layout positions
    m_listed.clear();
    for (size_t a = changes.size(); a-- > 0;) {
        const LabelChange& change = changes[a];
        if (!m_listed.insert(change.item) || m_seeds[size_t(change.item)] == change.newClass)
            continue;
        m_seeds[size_t(change.item)] = change.newClass;
        update.changedSeeds.push_back(change.item);
    }
    if (update.changedSeeds.empty()) {
        update.stats.microseconds = clock.microseconds();
        return update;
    }
    std::sort(update.changedSeeds.begin(), update.changedSeeds.end());
    for (int32_t item : update.changedSeeds) {
        const int64_t p = positionOf(s, item);
        m_seedAt[size_t(p)] = m_seeds[size_t(item)];
        setSeedRow(p);
        changed.push_back(int32_t(p));
    }

    IncrementalStats& stats = update.stats;
    bool dense = double(changed.size()) > m_options.fullRecomputeFraction * double(n);
    stats.mode = dense ? IncrementalStats::Mode::Dense : IncrementalStats::Mode::Local;
    stats.denseFromStep = dense ? 1 : 0;
    std::vector<int32_t> written = changed, next; // rows of Y(t-1) / Y(t) that were rewritten
    for (int step = 1; step <= m_steps; ++step) {
        if (!collectCandidates(changed, written, dense)) {
            dense = true;
            stats.mode = IncrementalStats::Mode::Dense;
            stats.denseFromStep = step;
            (void)collectCandidates(changed, written, dense);
        }
        stats.rowsComputed += int64_t(m_candidates.size());
        next.clear();
        computeRows(step, next);
        stats.rowsWritten += int64_t(next.size());
        written.swap(next);
    }
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
    std::vector<LabelChange> pending;
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
    a.m_vote = neighbourVote(propagation.graph(), result, threads);
    a.m_given.assign(propagation.seeds().begin(), propagation.seeds().end());
    a.m_judged.assign(size_t(n), 0);
    a.m_disagrees.assign(size_t(n), 0);
    a.m_pGiven.assign(size_t(n), 0.0f);
    a.m_classFlagged.assign(size_t(c), 0);
    a.m_row.resize(size_t(c));
    a.m_listed.resize(n);
    LabelQualityReport& r = a.m_report;
    r.issueScore.assign(size_t(n), 0.0f);
    r.flagged.assign(size_t(n), 0);
    r.suggested.assign(size_t(n), -1);
    r.classNoiseRate.assign(size_t(c), 0.0);
    r.classCount.assign(size_t(c), 0);
    // Judge everything, sort once, then let the threshold rise from 0 (flagging every judged row
    // below it): the same report as assessGivenLabels().
    for (int64_t i = 0; i < n; ++i)
        a.judge(i, true);
    std::sort(a.m_sorted.begin(), a.m_sorted.end());
    std::sort(r.ranking.begin(), r.ranking.end(), [&a](int32_t x, int32_t y) { return a.ranksBefore(x, y); });
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

bool IncrementalAudit::computeVote(int64_t item, const IncrementalPropagation& propagation)
{
    // Row `item` of neighbourVote(): S P summed in the order multiplyGraph sums it (the graph's
    // layout), then divided by its float sum.
    const SparseGraph& s = propagation.graph();
    const CsrMatrix& m = layoutMatrix(s);
    const int c = m_classes;
    const float* probabilities = propagation.result().probabilities.data();
    const int64_t p = positionOf(s, item);
    std::fill(m_row.begin(), m_row.end(), 0.0f);
    for (int64_t e = m.rowStart[size_t(p)]; e < m.rowStart[size_t(p) + 1]; ++e) {
        const float w = m.weights[size_t(e)];
        const float* x = probabilities + itemAt(s, m.columns[size_t(e)]) * c;
        for (int q = 0; q < c; ++q)
            m_row[size_t(q)] += w * x[q];
    }
    const float total = std::accumulate(m_row.begin(), m_row.end(), 0.0f);
    if (total > 0.0f)
        for (float& x : m_row)
            x /= total;
    float* stored = m_vote.data() + item * c;
    if (std::equal(m_row.begin(), m_row.end(), stored))
        return false;
    std::copy(m_row.begin(), m_row.end(), stored);
    return true;
}

void IncrementalAudit::judge(int64_t item, bool bulk)
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
        const std::pair<float, int32_t> key{p[g], int32_t(item)};
        if (bulk)
            m_sorted.push_back(key);
        else
            m_sorted.insert(std::lower_bound(m_sorted.begin(), m_sorted.end(), key), key);
    }
    auto& ranking = m_report.ranking;
    if (bulk)
        ranking.push_back(int32_t(item));
    else
        ranking.insert(std::lower_bound(ranking.begin(), ranking.end(), int32_t(item),
                                        [this](int32_t x, int32_t y) { return ranksBefore(x, y); }),
                       int32_t(item));
}

void IncrementalAudit::unjudge(int64_t item)
{
    const int32_t g = m_given[size_t(item)];
    if (g < 0)
        return;
    --m_report.classCount[size_t(g)];
    auto& ranking = m_report.ranking;
    const auto at = std::lower_bound(ranking.begin(), ranking.end(), int32_t(item),
                                     [this](int32_t x, int32_t y) { return ranksBefore(x, y); });
    ranking.erase(at);
    if (m_judged[size_t(item)]) {
        const auto key = std::lower_bound(m_sorted.begin(), m_sorted.end(),
                                          std::pair<float, int32_t>{m_pGiven[size_t(item)], int32_t(item)});
        m_sorted.erase(key);
        m_disagreeing -= m_disagrees[size_t(item)];
        m_judged[size_t(item)] = 0;
        m_disagrees[size_t(item)] = 0;
    }
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
    // Votes of the neighbours of every row whose probabilities changed.
    std::vector<int32_t> again; // rows to judge again: vote changed, or label changed
    m_listed.clear();
    for (int32_t j : change.changedRows)
        for (int64_t e = s.rowStart[size_t(j)]; e < s.rowStart[size_t(j) + 1]; ++e) {
            const int32_t i = s.columns[size_t(e)];
            if (!m_listed.insert(i))
                continue;
            ++out.stats.votesComputed;
            if (computeVote(i, propagation))
                again.push_back(i);
        }
    m_listed.clear();
    for (int32_t i : again)
        m_listed.insert(i);
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
    const auto seeds = propagation.seeds();
    for (int32_t i : again) {
        before.push_back({i, m_report.issueScore[size_t(i)], m_report.flagged[size_t(i)], m_report.suggested[size_t(i)]});
        unjudge(i);
        m_given[size_t(i)] = seeds[size_t(i)];
        judge(i, false);
    }
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
