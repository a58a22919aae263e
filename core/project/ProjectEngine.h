#pragma once
// One project pipeline for the CLI and the desktop app:
//   stored settings (checked) -> embeddings (cached by content) -> kNN graph (cached by embedding
//   version and graph settings) -> affinity S -> propagation or audit -> a StoredPropagation.
// Neither front end talks to the engine's kernels or SQL directly; both call these functions.
//
// Thread-safety: loadProjectRun and refreshRunLabels use the store, so they run on the store's
// thread. A ProjectRun is a value: once loaded it can be moved to another thread and read from
// several (propagateProject, auditProject and suggestForProject only read it).

#include "core/engine/ActiveSelection.h"
#include "core/engine/GraphBuild.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "core/project/ProjectEmbeddings.h"
#include "core/project/ProjectStore.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

// ProjectSettings (text, as stored) parsed and checked: a bad stored value is an error naming the
// project file and the setting, never dereferenced unchecked.
struct EngineSettings {
    std::string encoder; // a spec makeEncoder() accepts
    GraphSettings graph; // threads = 0 (the caller sets it)
    int steps = 20;
    ClampMode clamp;
    SelectionStrategy strategy = SelectionStrategy::Margin;
};
[[nodiscard]] Expected<EngineSettings> checkEngineSettings(const ProjectSettings& settings,
                                                           const std::string& projectPath);

struct ProjectRunControl {
    int threads = 0;                           // 0: all hardware threads
    const std::atomic<bool>* cancel = nullptr; // checked by encoding (per batch) and the kNN search (per tile)
    // Stage ("embedding", "neighbours", "graph") and its fraction done, in [0, 1]; throttled, from
    // worker threads.
    std::function<void(std::string_view stage, double fraction)> progress;
};

// Everything a run over a project needs, by value.
struct ProjectRun {
    std::string projectPath;
    ProjectSettings settings;
    EngineSettings engine;
    ProjectEmbeddings embeddings;            // row r is item embeddings.itemIds[r]
    std::shared_ptr<const GraphStage> graph; // over the embedding rows
    bool graphFromCache = false;
    std::vector<ProjectClass> classes;
    std::vector<std::int32_t> seeds;         // per embedding row: class id or -1
    std::int64_t labeled = 0;                // rows with a seed
    std::int64_t labelVersion = 0;           // ProjectStore::labelVersion() the seeds came from
    std::vector<std::string> paths;          // item id -> stored path (ids are dense from 1; [0] unused)
    std::vector<std::int64_t> rowOfItem;     // item id -> embedding row, or -1 (not embedded)
    std::vector<std::string> warnings;       // encoder and cache warnings, for the user
    double prepareSeconds = 0.0;             // settings, items, embeddings, labels
};

// Loads or computes the embeddings and the graph with `settings` (the caller saves them first if
// they are new) and reads the current labels. Writes only to the cache folder (and the encoder state
// on first use, which needs a writable store).
[[nodiscard]] Expected<ProjectRun> loadProjectRun(ProjectStore& store, const ProjectSettings& settings,
                                                  const ProjectRunControl& control = {});
// The same with the project's items (store.items()) already read by the caller, who needs them too.
[[nodiscard]] Expected<ProjectRun> loadProjectRun(ProjectStore& store, const std::vector<ProjectItem>& items,
                                                  const ProjectSettings& settings, const ProjectRunControl& control = {});
// Re-reads classes, labels and the label version into `run` (after labeling; no embedding or graph work).
[[nodiscard]] Expected<void> refreshRunLabels(const ProjectStore& store, ProjectRun& run);

// A propagation or an audit of a run, ready to store.
struct ProjectPropagation {
    std::string kind;              // "propagate" or "audit"
    PropagationResult result;      // over the embedding rows
    LabelQualityReport quality;    // flags on the current labels
    std::string settingsJson;      // what produced it (mode, steps, clamp, encoder, k, T, knn)
    double engineSeconds = 0.0;    // propagation + audit alone
    bool warm = false;             // started from an earlier result (results then depend on history)
};

// The paper's propagation with the run's settings (hard clamp, fixed steps by default); flags come
// from the neighbour vote. warmStart: empty, or rows x classes scores (warmStartScores()).
[[nodiscard]] Expected<ProjectPropagation> propagateProject(const ProjectRun& run, const ProjectRunControl& control = {},
                                                            std::span<const float> warmStart = {});
// `steps` unclamped steps over every current label; flags the likely wrong ones.
[[nodiscard]] Expected<ProjectPropagation> auditProject(const ProjectRun& run, int steps,
                                                        const ProjectRunControl& control = {});
// The stored form (item ids, class names, time, label version, timings).
[[nodiscard]] StoredPropagation storedPropagation(const ProjectRun& run, const ProjectPropagation& propagation);

// rows x classes scores from an earlier stored propagation over the same embeddings (new classes get
// zero columns), or empty when it does not fit this run.
[[nodiscard]] std::vector<float> warmStartScores(const ProjectRun& run, const StoredPropagation& earlier);

// What to label next with the run's strategy: propagates first when there are labels.
[[nodiscard]] Expected<Selection> suggestForProject(const ProjectRun& run, std::int64_t budget, std::uint64_t seed,
                                                    const ProjectRunControl& control = {});

} // namespace labelprop
