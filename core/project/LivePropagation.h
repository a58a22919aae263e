#pragma once
// The propagation the desktop app shows while a person labels: the paper's propagation of the
// CURRENT labels (hard clamp, the project's fixed number of steps), kept up to date after every
// label change, and the flags on the given labels. Every update returns only the rows whose shown
// values changed, so the view repaints those and nothing else.
//
// The shown result equals a from-scratch propagateProject() of the same labels (within 1e-4 per
// probability): it never drifts toward convergence the way repeated warm starts would. With the
// hard clamp (the paper's, the default) a change costs what it changes, not n: IncrementalPropagation
// keeps the whole trajectory and recomputes only rows the change reaches, IncrementalAudit the
// flags near them. A merge of classes (ids renumbered) or another clamp propagates from scratch.
// Memory: the trajectory, steps x rows x classes float32 (70,000 x 10 x 20: 56 MB; 1M: 800 MB).
//
// Thread-safety: one owner thread (the app's engine worker). Updates are values; copying one out
// is cheap (it holds the changed rows only).

#include "core/engine/IncrementalPropagation.h"
#include "core/project/ProjectEngine.h"

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace labelprop {

// What a tile shows of the propagation, per embedding row.
struct ShownRow {
    std::int32_t predicted = -1; // class id, or -1 when no label reached the item
    float confidence = 0.0f;     // probability of `predicted`, in [0, 1]
    float issueScore = 0.0f;     // 1 - p(given) for labeled rows, else 0
    std::uint8_t flagged = 0;    // 1: the current label is likely wrong
    std::int32_t suggested = -1; // the suggested fix of a flagged row, or -1

    friend bool operator==(const ShownRow&, const ShownRow&) = default;
};

struct LiveUpdate {
    std::int64_t version = 0;       // increases with every update; the GUI drops older ones
    std::vector<std::int32_t> rows; // embedding rows whose ShownRow changed (all rows for the first one)
    std::vector<ShownRow> values;   // aligned with rows
    double noiseRate = 0.0;         // estimated share of wrong labels among the labeled rows
    double seconds = 0.0;           // time the update took, of which:
    double propagationSeconds = 0.0; //   the propagation (IncrementalPropagation, or a full run)
    double auditSeconds = 0.0;       //   the audit view (IncrementalAudit)
    std::int64_t rowSteps = 0;       // rows recomputed, summed over the propagation's steps
    bool full = false;              // a full propagation ran (not a local update)
};

class LivePropagation final {
public:
    // Propagates the run's labels once. `run.classes` may be empty (nothing propagated yet).
    [[nodiscard]] static Expected<std::unique_ptr<LivePropagation>> start(ProjectRun run, int threads = 0);

    // The first update: every row.
    [[nodiscard]] LiveUpdate initial() const;

    // Applies label changes (item id -> class id, or -1 to remove the label), as one step. Items
    // that are not embedded are ignored. `classes` are the project's classes now (one may have been
    // added or renamed). Returns the rows whose shown values changed.
    [[nodiscard]] Expected<LiveUpdate> apply(std::span<const LabelChange> changes, const std::vector<ProjectClass>& classes);

    [[nodiscard]] const ProjectRun& run() const { return m_run; }
    [[nodiscard]] std::span<const std::int32_t> seeds() const { return m_run.seeds; }
    [[nodiscard]] std::span<const ShownRow> shown() const { return m_shown; }
    // The full result (probabilities and all), a copy: for the tests and for saving.
    [[nodiscard]] ProjectPropagation current() const;
    [[nodiscard]] double noiseRate() const;
    // What to label next with the project's strategy, from the live propagation: up to `budget`
    // embedding rows, best first (ActiveSelection.h).
    [[nodiscard]] Expected<Selection> suggest(std::int64_t budget, std::uint64_t seed) const;

    LivePropagation(const LivePropagation&) = delete;
    LivePropagation& operator=(const LivePropagation&) = delete;
    ~LivePropagation();

private:
    explicit LivePropagation(ProjectRun run, int threads);
    // Propagates the run's seeds from scratch (incremental state for the hard clamp).
    [[nodiscard]] Expected<void> rebuild();
    [[nodiscard]] bool local() const; // the hard clamp: exact local updates (IncrementalPropagation)
    [[nodiscard]] ShownRow shownRow(std::size_t row) const;
    [[nodiscard]] std::vector<ShownRow> shownRows() const;

    ProjectRun m_run; // seeds and classes follow the changes
    int m_threads = 0;
    // Hard clamp (the paper's, the default): updated locally after each change.
    std::unique_ptr<IncrementalPropagation> m_incremental;
    std::unique_ptr<IncrementalAudit> m_audit;
    // Other clamps: the last full propagation.
    ProjectPropagation m_full;
    std::vector<ShownRow> m_shown; // per embedding row
    std::int64_t m_version = 0;
};

} // namespace labelprop
