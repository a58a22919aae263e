#include "core/project/ProjectEngine.h"

#include "core/base/Stopwatch.h"
#include "core/encoders/Encoder.h"
#include "core/project/GraphCache.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>

namespace labelprop {

namespace {

constexpr int kMaxK = 10000;
constexpr int kMaxSteps = 100000;

Error settingError(const std::string& projectPath, std::string_view key, std::string_view value, std::string_view why)
{
    return Error{projectPath + ": the stored setting " + std::string(key) + " = '" + std::string(value) + "' " +
                 std::string(why)};
}

} // namespace

Expected<EngineSettings> checkEngineSettings(const ProjectSettings& s, const std::string& projectPath)
{
    EngineSettings out;
    if (auto encoder = makeEncoder(s.encoder); !encoder)
        return std::unexpected(settingError(projectPath, "encoder", s.encoder,
                                            "is not an encoder (" + encoder.error().message + "); pass --encoder"));
    out.encoder = s.encoder;
    if (s.k < 1 || s.k > kMaxK)
        return std::unexpected(settingError(projectPath, "k", std::to_string(s.k), "must be in 1..10000; pass --k"));
    out.graph.k = s.k;
    if (s.temperature != "auto") {
        float t = 0.0f;
        const auto* end = s.temperature.data() + s.temperature.size();
        const auto parsed = std::from_chars(s.temperature.data(), end, t);
        if (parsed.ec != std::errc{} || parsed.ptr != end || !(t > 0.0f) || t > 100.0f)
            return std::unexpected(settingError(projectPath, "temperature", s.temperature,
                                                "is not 'auto' or a number in (0, 100]; pass --temperature"));
        out.graph.temperature = t;
    }
    if (s.knn != "exact" && s.knn != "approximate")
        return std::unexpected(settingError(projectPath, "knn", s.knn, "must be exact or approximate; pass --knn"));
    out.graph.approximate = s.knn == "approximate";
    if (s.steps < 1 || s.steps > kMaxSteps)
        return std::unexpected(settingError(projectPath, "steps", std::to_string(s.steps),
                                            "must be in 1..100000; pass --iterations"));
    out.steps = s.steps;
    auto clamp = parseClampMode(s.clamp);
    if (!clamp)
        return std::unexpected(settingError(projectPath, "clamp", s.clamp, "is not hard, none or soft:ALPHA; pass --clamp"));
    out.clamp = *clamp;
    auto strategy = parseSelectionStrategy(s.strategy);
    if (!strategy)
        return std::unexpected(settingError(projectPath, "strategy", s.strategy, "is not a strategy; pass --strategy"));
    out.strategy = *strategy;
    return out;
}

Expected<void> refreshRunLabels(const ProjectStore& store, ProjectRun& run)
{
    auto classes = store.classes();
    if (!classes)
        return std::unexpected(classes.error());
    auto labels = store.currentLabels();
    if (!labels)
        return std::unexpected(labels.error());
    auto version = store.labelVersion();
    if (!version)
        return std::unexpected(version.error());
    run.classes = std::move(*classes);
    run.labelVersion = *version;
    run.seeds.assign(run.embeddings.itemIds.size(), -1);
    run.labeled = 0;
    for (const auto& l : *labels) {
        if (l.itemId <= 0 || std::size_t(l.itemId) >= run.rowOfItem.size())
            continue;
        const auto r = run.rowOfItem[std::size_t(l.itemId)];
        if (r < 0 || l.classId < 0 || l.classId >= int(run.classes.size()))
            continue;
        run.seeds[std::size_t(r)] = l.classId;
        ++run.labeled;
    }
    return {};
}

Expected<ProjectRun> loadProjectRun(ProjectStore& store, const ProjectSettings& settings, const ProjectRunControl& control)
{
    auto items = store.items();
    if (!items)
        return std::unexpected(items.error());
    return loadProjectRun(store, *items, settings, control);
}

Expected<ProjectRun> loadProjectRun(ProjectStore& store, const std::vector<ProjectItem>& items,
                                    const ProjectSettings& settings, const ProjectRunControl& control)
{
    Stopwatch clock;
    ProjectRun run;
    run.projectPath = store.path();
    run.settings = settings;
    auto engine = checkEngineSettings(settings, store.path());
    if (!engine)
        return std::unexpected(engine.error());
    run.engine = std::move(*engine);
    run.engine.graph.threads = control.threads;

    ProgressCallback encodingProgress;
    if (control.progress || control.cancel)
        encodingProgress = [&control](std::size_t done, std::size_t total) {
            if (control.progress && total > 0)
                control.progress("embedding", double(done) / double(total));
            return !(control.cancel && control.cancel->load());
        };
    auto embeddings = loadProjectEmbeddings(store, items, run.engine.encoder, encodingProgress);
    if (!embeddings)
        return std::unexpected(embeddings.error());
    run.embeddings = std::move(*embeddings);
    run.warnings = run.embeddings.warnings;
    if (!run.embeddings.skipped.empty())
        run.warnings.push_back(std::to_string(run.embeddings.skipped.size()) + " items are left out (not encoded); first: "
                               + run.embeddings.skipped.front());

    run.paths.resize(items.size() + 1);
    for (const auto& it : items)
        if (it.id > 0 && std::size_t(it.id) < run.paths.size())
            run.paths[std::size_t(it.id)] = it.path;
    run.rowOfItem.assign(run.paths.size(), -1);
    for (std::size_t r = 0; r < run.embeddings.itemIds.size(); ++r)
        run.rowOfItem.at(std::size_t(run.embeddings.itemIds[r])) = std::int64_t(r);
    if (auto labels = refreshRunLabels(store, run); !labels)
        return std::unexpected(labels.error());
    run.prepareSeconds = clock.seconds();

    // The kNN graph: from the cache when these embeddings were searched with these settings before.
    const auto key = graphCacheKey(run.embeddings.version, run.engine.graph.knnKey());
    auto cached = loadCachedGraph(store.cacheFolder(), key, run.embeddings.x.rows());
    if (!cached.warning.empty())
        run.warnings.push_back(cached.warning);
    KnnGraph knn;
    double knnSeconds = 0.0;
    if (cached.graph) {
        knn = std::move(*cached.graph);
        run.graphFromCache = true;
    } else {
        clock.restart();
        GraphBuildControl graphControl;
        graphControl.cancel = control.cancel;
        if (control.progress)
            graphControl.progress = [&control](double f) { control.progress("neighbours", f); };
        auto built = buildKnnGraph(run.embeddings.x, run.engine.graph, graphControl);
        if (!built)
            return std::unexpected(built.error());
        knn = std::move(*built);
        knnSeconds = clock.seconds();
        // A cache that cannot be written costs time on the next open, not correctness.
        if (auto saved = saveCachedGraph(store.cacheFolder(), key, knn); !saved)
            run.warnings.push_back(saved.error().message);
    }
    if (control.progress)
        control.progress("graph", 0.0);
    // S at this temperature: from the cache beside the kNN graph, or built and kept there.
    clock.restart();
    const float temperature = run.engine.graph.temperature.value_or(automaticTemperature(knn));
    const auto affinityKey = affinityCacheKey(key, temperature);
    std::string affinityWarning;
    auto cachedAffinity = run.graphFromCache
                              ? loadCachedAffinity(store.cacheFolder(), affinityKey, knn.rows, &affinityWarning)
                              : std::nullopt;
    if (!affinityWarning.empty())
        run.warnings.push_back(affinityWarning);
    GraphStage stage;
    if (cachedAffinity) {
        stage.knn = std::move(knn);
        stage.affinity = std::move(*cachedAffinity);
        stage.temperature = temperature;
        stage.graphSeconds = clock.seconds();
    } else {
        GraphSettings fixed = run.engine.graph;
        fixed.temperature = temperature;
        auto built = buildAffinityStage(std::move(knn), fixed);
        if (!built)
            return std::unexpected(built.error());
        stage = std::move(*built);
        if (auto saved = saveCachedAffinity(store.cacheFolder(), affinityKey, stage.affinity); !saved)
            run.warnings.push_back(saved.error().message);
    }
    stage.knnSeconds = knnSeconds;
    run.graph = std::make_shared<const GraphStage>(std::move(stage));
    return run;
}

namespace {

std::string runSettingsJson(const ProjectRun& run, nlohmann::json extra)
{
    extra["encoder"] = run.embeddings.encoderId;
    extra["k"] = run.graph->knn.k;
    extra["temperature"] = run.graph->temperature;
    extra["knn"] = run.settings.knn;
    return extra.dump();
}

Expected<void> requireLabels(const ProjectRun& run)
{
    if (run.classes.empty() || run.labeled == 0)
        return fail(run.projectPath + ": no labels yet; label some items first");
    return {};
}

} // namespace

Expected<ProjectPropagation> propagateProject(const ProjectRun& run, const ProjectRunControl& control,
                                              std::span<const float> warmStart)
{
    if (auto ok = requireLabels(run); !ok)
        return std::unexpected(ok.error());
    Stopwatch clock;
    PropagationOptions options;
    options.iterations = run.engine.steps;
    options.clamp = run.engine.clamp;
    options.threads = control.threads;
    options.cancel = control.cancel;
    auto p = propagateLabels(run.graph->affinity, run.seeds, int(run.classes.size()), options, warmStart);
    if (!p)
        return std::unexpected(p.error());
    ProjectPropagation out;
    out.kind = "propagate";
    out.warm = !warmStart.empty();
    out.quality = assessGivenLabels(neighbourVote(run.graph->affinity, *p, control.threads), p->classes, run.seeds);
    out.result = std::move(*p);
    out.engineSeconds = clock.seconds();
    out.settingsJson = runSettingsJson(run, {{"mode", "propagate"}, {"iterations", options.iterations},
                                             {"clamp", run.settings.clamp}, {"warm_start", out.warm}});
    return out;
}

Expected<ProjectPropagation> auditProject(const ProjectRun& run, int steps, const ProjectRunControl& control)
{
    if (auto ok = requireLabels(run); !ok)
        return std::unexpected(ok.error());
    Stopwatch clock;
    AuditOptions options;
    options.steps = steps;
    options.threads = control.threads;
    auto a = auditLabels(run.graph->affinity, run.seeds, int(run.classes.size()), options);
    if (!a)
        return std::unexpected(a.error());
    ProjectPropagation out;
    out.kind = "audit";
    out.result = std::move(a->smoothed);
    out.quality = std::move(a->quality);
    out.engineSeconds = clock.seconds();
    out.settingsJson = runSettingsJson(run, {{"mode", "audit"}, {"steps", options.steps}});
    return out;
}

StoredPropagation storedPropagation(const ProjectRun& run, const ProjectPropagation& p)
{
    StoredPropagation s;
    s.kind = p.kind;
    s.timeMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    s.settings = p.settingsJson;
    s.embeddingVersion = run.embeddings.version;
    s.labelVersion = run.labelVersion;
    s.seconds = run.prepareSeconds + run.graph->knnSeconds + run.graph->graphSeconds + p.engineSeconds;
    for (const auto& c : run.classes)
        s.classes.push_back(c.name);
    s.itemIds = run.embeddings.itemIds;
    s.scores = p.result.scores;
    s.predicted = p.result.predicted;
    s.confidence = p.result.confidence;
    s.margin = p.result.margin;
    s.issueScore = p.quality.issueScore;
    s.given = run.seeds;
    s.flagged = p.quality.flagged;
    s.suggested = p.quality.suggested;
    return s;
}

std::vector<float> warmStartScores(const ProjectRun& run, const StoredPropagation& earlier)
{
    const std::size_t c0 = earlier.classes.size(), c = run.classes.size(), rows = run.embeddings.itemIds.size();
    if (earlier.embeddingVersion != run.embeddings.version || c0 > c || earlier.itemIds != run.embeddings.itemIds
        || earlier.scores.size() != rows * c0)
        return {};
    std::vector<float> scores(rows * c, 0.0f);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < c0; ++j)
            scores[r * c + j] = earlier.scores[r * c0 + j];
    return scores;
}

Expected<Selection> suggestForProject(const ProjectRun& run, std::int64_t budget, std::uint64_t seed,
                                      const ProjectRunControl& control)
{
    std::optional<PropagationResult> result;
    if (run.labeled > 0 && !run.classes.empty()) {
        auto p = propagateProject(run, control);
        if (!p)
            return std::unexpected(p.error());
        result = std::move(p->result);
    }
    SelectionInputs inputs;
    inputs.embeddings = &run.embeddings.x;
    inputs.knn = &run.graph->knn;
    inputs.result = result ? &*result : nullptr;
    inputs.labels = run.seeds;
    return selectItemsToLabel(run.engine.strategy, budget, inputs, seed, control.threads);
}

} // namespace labelprop
