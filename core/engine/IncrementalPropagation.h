#pragma once
// The propagation of the current labels kept up to date click by click, at a cost that follows
// what the click changes rather than n (METHOD.md, "Updating the propagation after one click").
//
// What is kept: the hard-clamped propagation of LabelPropagation.h (Y(0) one-hot on labeled
// rows, Y(t+1) = S Y(t), labeled rows reset after every step, T fixed steps) together with its
// whole trajectory Y(0..T). After a batch of label changes, step t+1 recomputes only the rows
// whose inputs changed at step t: the changed items themselves (clamped to their new class, or
// free again and recomputed from their neighbours) and the free neighbours of every row whose
// stored Y(t) was rewritten. A recomputed row is written back only when it moved by more than
// a relative tolerance; otherwise its stored value (and with it everything downstream) stays.
// This is METHOD.md's difference recursion D(t+1) = P S D(t) + corrections, carried out on the
// values, Y'(t+1)_i = (S Y'(t))_i, instead of on D, for two reasons:
//   - no cancellation: removing a label takes rows back from mass ~1 to mass ~1e-10; Y + D in
//     float32 would leave residues of 1e-7 that decide the normalised probabilities of those
//     rows, while a recomputed row is a sum of non-negative terms, accurate to its own size;
//   - no drift: the stored trajectory always satisfies, for every free row i and step t,
//         |Y(t+1)_i - (S Y(t))_i|_1 <= tol |(S Y(t))_i|_1            (*)
//     because a row is compared with its stored value (which carries whatever earlier clicks
//     left behind) each time its inputs change, and nothing else can break (*). The error left
//     by skipped writes therefore does not add up over clicks.
// Guarantee: since S, Y >= 0, a relative row error e_t passes through a step as
//   |(S (Y~ - Y))_i|_1 <= e_t (S Y)_i, so e_{t+1} <= e_t + tol (1 + e_t) and e_T <= (1+tol)^T - 1;
// normalising a row at most doubles its L1 error, |p~ - p|_1 <= 2 e_T / (1 - e_T), and two
// probability rows differ in no entry by more than half their L1 distance, so every probability
// is within e_T / (1 - e_T) of the exact one. errorBound() returns that figure; the tolerance is
// chosen so that it is 80% of maxProbabilityError, leaving the rest for float32 rounding (T steps
// of k-term non-negative sums, ~1e-6 relative, in this and in a from-scratch run alike). It
// holds on every row, whatever its mass, for the whole life of the object: no rebuild is ever
// needed for accuracy.
//
// Cost of an update: one gather over a row's neighbours (k ~ 15 rows of c floats) per
// recomputed row per step. What must be recomputed is set by the graph, not by this class: after
// t steps a label reaches the t-hop ball around it. Where those balls grow slowly (features near
// a low-dimensional manifold, tight neighbours) a click costs about 1 ms at 1M items; where they
// grow fast (Fashion-MNIST pixel PCA: 8 hops reach a third of the 70,000 items) one click moves
// about 10,000 items' probabilities by more than 1e-4, so any update exact to 1e-4 costs a good
// part of a full run (bench/README.md has the figures). When a step would recompute more than
// fullRecomputeFraction of all rows, it and the remaining steps run densely over all rows, which
// is then cheaper than the bookkeeping (stats say so).
//
// Memory: the trajectory Y(0..T) is (T + 1) x n x c float32 (70,000 items x 10 classes x 21:
// 59 MB; 1M items: 840 MB), plus the result view (scores and probabilities, 2 x n x c floats,
// 3 x n more) and 2 x n int32 of seeds; memoryBytes() reports it. All of it is needed:
// recomputing row i at step t reads Y(t-1) of every neighbour of i, and any item can be the next
// click (Y(0) could be derived from the seeds; storing it, 1/T more, lets every step run the
// same kernel). It is stored in the graph's local layout (SparseGraph::local), so a click's
// neighbourhood sits in few cache lines.
//
// Thread-safety: not thread-safe; one owner thread (the app's engine worker) calls everything.
// The graph is shared read-only. To hand results to other threads, copy the changed rows into
// the caller's own snapshot with copyRowsTo(). apply() uses up to `threads` threads inside.

#include "core/base/Error.h"
#include "core/base/SimdLevel.h"
#include "core/engine/AffinityGraph.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace labelprop {

// One label change of a graph row (the project store's LabelChange speaks in item ids instead).
struct SeedChange {
    int32_t item = 0;      // row of the graph, in [0, n)
    int32_t newClass = -1; // a class in [0, classes), or -1: the item becomes unlabeled
};

struct IncrementalOptions {
    int steps = 20;                      // T (PropagationOptions::iterations with the hard clamp)
    double maxProbabilityError = 1e-4;   // bound on |p - p(from scratch)| per probability, in (0, 0.5)
    double fullRecomputeFraction = 0.5;  // a step recomputing more than this fraction of rows goes dense
    int threads = 0;                     // for dense and large steps; 0: all hardware threads
    std::optional<SimdLevel> simd;       // kernel level; unset: the process level (see SimdDispatch.h)
};

struct IncrementalStats {
    enum class Mode {
        Unchanged, // every change was a no-op (the item already had that label)
        Local,     // only rows near the changes were recomputed
        Dense,     // from step denseFromStep on, every row was recomputed (a large change)
        Rebuilt,   // rebase(): the trajectory was replaced by a fresh full propagation
    };
    Mode mode = Mode::Unchanged;
    int denseFromStep = 0;    // Dense: the first step that ran over all rows
    int64_t rowsComputed = 0; // row recomputations summed over the T steps
    int64_t rowsWritten = 0;  // of those, rows whose stored value changed
    int64_t rowsChanged = 0;  // rows of the result view that changed (= changedRows.size())
    double microseconds = 0.0;
    double errorBound = 0.0;  // bound on max |p - p(exact arithmetic)| after the update (see above)
};

struct IncrementalUpdate {
    std::vector<int32_t> changedRows;  // items whose shown values (scores, probabilities, predicted,
                                       // confidence, margin) changed, ascending
    std::vector<int32_t> changedSeeds; // items whose label changed, ascending
    IncrementalStats stats;
};

namespace detail {
// A set of rows that empties in O(1): a row is in it while its stamp equals the current one.
class RowMarks {
public:
    void resize(int64_t n)
    {
        m_stamps.assign(size_t(n), 0);
        m_stamp = 1;
    }
    void clear()
    {
        if (++m_stamp == 0) { // wrapped after 2^32 clears: forget every old stamp
            std::fill(m_stamps.begin(), m_stamps.end(), 0u);
            m_stamp = 1;
        }
    }
    bool insert(int64_t row) // true when the row was not in the set yet
    {
        if (m_stamps[size_t(row)] == m_stamp)
            return false;
        m_stamps[size_t(row)] = m_stamp;
        return true;
    }
    [[nodiscard]] bool contains(int64_t row) const { return m_stamps[size_t(row)] == m_stamp; }
    [[nodiscard]] int64_t bytes() const { return int64_t(m_stamps.size() * sizeof(uint32_t)); }

private:
    std::vector<uint32_t> m_stamps;
    uint32_t m_stamp = 1;
};
} // namespace detail

class IncrementalPropagation {
public:
    // Runs the full propagation once (propagateLabels with the hard clamp, so the result matches it
    // at the start) and keeps the trajectory. seeds: n entries, a class in [0, classes) or -1.
    // Fails on the same inputs as propagateLabels, and on options out of range.
    [[nodiscard]] static Expected<IncrementalPropagation> create(std::shared_ptr<const SparseGraph> graph,
                                                                 std::span<const int32_t> seeds, int classes,
                                                                 const IncrementalOptions& options = {});

    // The propagation of the current seeds: scores = Y(T) (n x c, item order), probabilities,
    // predicted, confidence, margin, within errorBound() of propagateLabels().
    [[nodiscard]] const PropagationResult& result() const { return m_result; }
    [[nodiscard]] std::span<const int32_t> seeds() const { return m_seeds; } // n, item order
    [[nodiscard]] int classes() const { return m_classes; }
    [[nodiscard]] int steps() const { return m_steps; }
    [[nodiscard]] SimdLevel simdLevel() const { return m_level; } // the kernels' level (IncrementalAudit's too)
    [[nodiscard]] const SparseGraph& graph() const { return *m_graph; }
    [[nodiscard]] const std::shared_ptr<const SparseGraph>& sharedGraph() const { return m_graph; }
    // The relative row tolerance tol of (*) and the probability bound it implies.
    [[nodiscard]] double rowTolerance() const { return m_tolerance; }
    [[nodiscard]] double errorBound() const;
    [[nodiscard]] int64_t memoryBytes() const;

    // Applies a batch of label changes (one click: one item or a whole selection; an undo is the
    // same with the old values). Later entries for the same item win; entries that give an item
    // the label it has are no-ops. Fails, changing nothing, when an item or class is out of range.
    [[nodiscard]] Expected<IncrementalUpdate> apply(std::span<const SeedChange> changes);

    // Adopts `fresh` (built by create() on any thread, from a snapshot of the seeds taken earlier,
    // over the same graph and steps), then re-applies the label changes made since the snapshot,
    // so the result again corresponds to seeds(). changedRows compares with the result before the
    // call. Optional: accuracy never needs it (see above); it resets the skipped-write residuals
    // to zero. Fails when the graph, steps or classes do not fit (fresh may have fewer classes:
    // they are added).
    [[nodiscard]] Expected<IncrementalUpdate> rebase(IncrementalPropagation&& fresh);

    // Adds a class column (c -> c + 1), all zeros: exact, since no item has that label yet.
    // O(T n c) copying; the caller also recreates its IncrementalAudit (it does so itself).
    void addClass();

    // Copies rows `rows` (items) of result() into `snapshot`; a snapshot of another shape gets a
    // full copy instead. O(rows x c).
    void copyRowsTo(std::span<const int32_t> rows, PropagationResult& snapshot) const;

private:
    IncrementalPropagation() = default;

    [[nodiscard]] float* row(int step, int64_t position)
    {
        return m_trajectory.data() + step * m_blockStride + position * m_classes;
    }
    void setSeedRow(int64_t position);
    struct StepTotals {
        int64_t computed = 0; // rows recomputed
        int64_t written = 0;  // rows rewritten
        int64_t marked = 0;   // neighbours marked for the next step (an upper bound on its rows)
    };
    // Step `step`: recomputes the candidate rows (every row when dense), marks the free neighbours
    // of the rewritten ones for the next step unless `last`, and lists the rewritten rows if `last`.
    StepTotals runStep(int step, bool dense, bool last, std::vector<int32_t>& written);
    void clearCandidates();
    [[nodiscard]] int64_t countCandidates() const; // rows in this step's bitmaps
    void refreshResultRows(std::span<const int32_t> positions, std::vector<int32_t>& changedRows);
    void adoptResult(PropagationResult&& full);

    std::shared_ptr<const SparseGraph> m_graph;
    int m_classes = 0;
    int m_steps = 0;
    IncrementalOptions m_options;
    SimdLevel m_level = SimdLevel::Baseline;
    double m_tolerance = 0.0;
    int64_t m_blockStride = 0;          // floats per stored step: n x c plus padding for vector loads
    std::vector<float> m_trajectory;    // Y(0..T), each n x c in layout order, step t at t x m_blockStride
    std::vector<float> m_oneHot;        // c x c identity (padded): the clamped rows
    std::vector<int32_t> m_seeds;       // n, item order
    std::vector<int32_t> m_seedAt;      // n, layout order
    PropagationResult m_result;         // item order
    // Candidate rows as bitmaps over layout positions (64 rows a word), so a step visits them in
    // memory order and marking a neighbour is one OR. One bitmap per worker and step parity, so
    // workers mark the next step's rows without sharing a word; a step reads the OR of them.
    int m_threads = 1;
    int64_t m_words = 0;                     // ceil(n / 64)
    std::vector<uint64_t> m_changedBits;     // words: the rows whose label this update changes
    std::vector<uint64_t> m_bits;            // 2 x threads x words
    std::vector<std::pair<int64_t, int64_t>> m_ranges; // 2 x threads: word range [lo, hi) that may hold bits
    int m_parity = 0;                        // which half of m_bits holds this step's candidates
    std::pair<int64_t, int64_t> m_changedRange{0, 0}; // word range of m_changedBits
    int64_t m_changedCount = 0;              // rows whose label this update changes
    int64_t m_pendingRows = 0;               // upper bound on the next step's candidates
};

struct AuditStats {
    int64_t votesComputed = 0;   // neighbour votes recomputed
    int64_t rowsJudged = 0;      // labelled or relabelled rows judged again
    bool thresholdChanged = false;
    double microseconds = 0.0;
};

struct AuditUpdate {
    std::vector<int32_t> changedRows; // items whose issueScore, flagged or suggested changed, ascending
    AuditStats stats;
};

// The audit view of the propagation, LabelQuality's
//   assessGivenLabels(neighbourVote(S, result), classes, seeds),
// kept up to date after each IncrementalPropagation update. A row's vote changes only when a
// neighbour's probabilities did, and only labelled rows' votes enter the report, so update()
// recomputes the votes of the labelled neighbours of the changed rows and of the newly labelled
// items, and judges those and the relabelled items again.
// The flag threshold tau depends on a global noise-rate estimate (the fixed point of
// LabelQuality.h over the p(given) of all judged items). It is kept exact, not frozen: p(given)
// of the judged items is held sorted, so each round of the fixed point is one binary search, and
// the flags that a new tau flips are the items whose p(given) lies between the old and the new
// tau. The report therefore equals assessGivenLabels() over vote() at every step (tests check
// it), ranking included; vote() equals neighbourVote() of the result up to float rounding (the
// sum runs in another order) on every labelled row, and so stays within the propagation's
// errorBound() of the audit of a from-scratch propagation. Cost: O(changed rows x k) to find the
// labelled neighbours, O(those x k x c) for their votes, O(log L) per fixed-point
// round, and O(L + R log R) to keep the sorted lists when R labelled rows are judged again (L:
// labelled items).
// Thread-safety: as IncrementalPropagation (one owner thread).
class IncrementalAudit {
public:
    // threads: for the first full neighbourVote; 0: all hardware threads.
    [[nodiscard]] static IncrementalAudit create(const IncrementalPropagation& propagation, int threads = 0);

    // Call after each propagation.apply() / rebase() with its result; recreates itself when the
    // class count changed (addClass()).
    AuditUpdate update(const IncrementalPropagation& propagation, const IncrementalUpdate& change);

    [[nodiscard]] const LabelQualityReport& report() const { return m_report; }
    // n x c, item order: neighbourVote() of the result on labelled rows; rows unlabelled since
    // create() keep an older vote (they are not judged).
    [[nodiscard]] std::span<const float> vote() const { return m_vote; }

private:
    IncrementalAudit() = default;
    struct JudgedKeys { // entries for m_sorted and the ranking, to merge in at once
        std::vector<std::pair<float, int32_t>> sorted;
        std::vector<int32_t> ranking;
    };
    void judge(int64_t item, JudgedKeys& added);
    void unjudge(int64_t item);
    void mergeKeys(JudgedKeys& added);
    void computeVotes(const SparseGraph& s, std::span<const int32_t> positions, std::vector<int32_t>& changedItems);
    void copyProbabilities(const IncrementalPropagation& propagation, std::span<const int32_t> items);
    bool setFlag(int64_t item, bool flag); // true when it flipped
    void settleThreshold(std::span<const int32_t> judgedAgain, std::vector<int32_t>& flipped);
    [[nodiscard]] bool ranksBefore(int32_t a, int32_t b) const;

    int m_classes = 0;
    int m_threads = 0;
    SimdLevel m_level = SimdLevel::Baseline;         // the propagation's
    std::vector<float> m_vote;                       // n x c, item order
    std::vector<float> m_layoutProbabilities;        // n x c (+ padding): the result's probabilities in layout order
    std::vector<uint64_t> m_voteBits;                // n bits, layout order: rows whose vote to recompute
    std::vector<int32_t> m_given;                    // n: the labels the report judged
    std::vector<uint8_t> m_judged;                   // n: labelled with some evidence
    std::vector<uint8_t> m_disagrees;                // n: judged and argmax of the vote != given
    std::vector<float> m_pGiven;                     // n: vote of the given class (judged rows)
    std::vector<std::pair<float, int32_t>> m_sorted; // judged rows by (p(given), item)
    int64_t m_disagreeing = 0;
    int64_t m_flaggedTotal = 0;
    std::vector<int64_t> m_classFlagged;
    LabelQualityReport m_report;
    detail::RowMarks m_listed;    // rows already listed by this update
    std::vector<float> m_row;     // c: scratch vote row (more than 16 classes)
};

} // namespace labelprop
