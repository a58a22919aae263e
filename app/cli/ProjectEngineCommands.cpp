// `labelprop-cli project propagate|audit|suggest|export`: the engine over a project file. Results
// are saved in the project (the latest propagation and the latest audit), so `status`, `export`
// and the desktop app see them.

#include "ProjectCommands.h"
#include "ProjectSupport.h"

#include "core/engine/ActiveSelection.h"
#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "core/project/ProjectEmbeddings.h"
#include "core/project/ProjectExport.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <limits>
#include <map>

namespace labelprop::cli {

namespace {

// Everything a run over the project needs: embeddings, the graph, and the current labels as seeds.
struct ProjectRun {
    std::unique_ptr<ProjectStore> store;
    ProjectSettings settings;
    ProjectEmbeddings embeddings;
    GraphStage graph;
    std::vector<ProjectClass> classes;
    std::vector<std::int32_t> seeds; // per embedding row: class id or -1
    std::int64_t labeled = 0;
    std::int64_t labelVersion = 0;
    std::vector<std::string> paths; // item id -> path (ids are dense from 1; paths[0] unused)
    double prepareSeconds = 0;
    int threads = 0; // --threads: 0 = all cores
};

void addRunOptions(ArgumentParser& parser)
{
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("encoder", "SPEC", "embedding encoder (default: the project's setting)");
    addProjectGraphOptions(parser);
}

Expected<ProjectRun> prepareRun(const ArgumentParser& parser, const std::string& subcommand,
                                const std::function<void(ProjectSettings&)>& applyOptions = {})
{
    Stopwatch clock;
    ProjectRun run;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, subcommand);
    if (!store)
        return std::unexpected(store.error());
    run.store = std::move(*store);
    auto settings = run.store->settings();
    if (!settings)
        return std::unexpected(settings.error());
    run.settings = *settings;
    if (auto encoder = parser.value("encoder")) {
        if (auto e = makeEncoder(*encoder); !e)
            return std::unexpected(e.error());
        run.settings.encoder = *encoder;
    }
    auto graphSettings = mergeGraphSettings(parser, run.settings);
    if (!graphSettings)
        return std::unexpected(graphSettings.error());
    run.threads = graphSettings->threads;
    if (applyOptions)
        applyOptions(run.settings);
    if (auto saved = run.store->saveSettings(run.settings); !saved)
        return std::unexpected(saved.error());

    auto items = run.store->items();
    if (!items)
        return std::unexpected(items.error());
    auto embeddings = loadProjectEmbeddings(*run.store, *items, run.settings.encoder);
    if (!embeddings)
        return std::unexpected(embeddings.error());
    run.embeddings = std::move(*embeddings);
    for (const auto& w : run.embeddings.warnings)
        std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (!run.embeddings.skipped.empty())
        std::fprintf(stderr, "warning: %zu items are left out (not encoded); first: %s\n",
                     run.embeddings.skipped.size(), run.embeddings.skipped.front().c_str());

    auto classes = run.store->classes();
    auto labels = run.store->currentLabels();
    auto version = run.store->labelVersion();
    if (!classes)
        return std::unexpected(classes.error());
    if (!labels)
        return std::unexpected(labels.error());
    if (!version)
        return std::unexpected(version.error());
    run.classes = std::move(*classes);
    run.labelVersion = *version;
    run.paths.resize(items->size() + 1);
    for (auto& it : *items)
        run.paths.at(std::size_t(it.id)) = std::move(it.path);
    std::vector<std::int64_t> rowOf(run.paths.size(), -1); // item id -> embedding row
    for (std::size_t r = 0; r < run.embeddings.itemIds.size(); ++r)
        rowOf.at(std::size_t(run.embeddings.itemIds[r])) = std::int64_t(r);
    run.seeds.assign(run.embeddings.itemIds.size(), -1);
    for (const auto& l : *labels) {
        const auto r = rowOf.at(std::size_t(l.itemId));
        if (r < 0)
            continue;
        run.seeds[std::size_t(r)] = l.classId;
        ++run.labeled;
    }
    run.prepareSeconds = clock.seconds();

    auto graph = buildGraphStage(run.embeddings.x, *graphSettings);
    if (!graph)
        return std::unexpected(graph.error());
    run.graph = std::move(*graph);
    return run;
}

std::vector<std::string> classNames(const ProjectRun& run)
{
    std::vector<std::string> names;
    for (const auto& c : run.classes)
        names.push_back(c.name);
    return names;
}

nlohmann::json runSettingsJson(const ProjectRun& run, nlohmann::json extra)
{
    extra["encoder"] = run.embeddings.encoderId;
    extra["k"] = run.graph.knn.k;
    extra["temperature"] = run.graph.temperature;
    extra["knn"] = run.settings.knn;
    return extra;
}

StoredPropagation toStored(const ProjectRun& run, const PropagationResult& result, const LabelQualityReport& quality,
                           std::string kind, nlohmann::json settings, double seconds)
{
    StoredPropagation s;
    s.kind = std::move(kind);
    s.timeMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    s.settings = runSettingsJson(run, std::move(settings)).dump();
    s.embeddingVersion = run.embeddings.version;
    s.labelVersion = run.labelVersion;
    s.seconds = seconds;
    s.classes = classNames(run);
    s.itemIds = run.embeddings.itemIds;
    s.scores = result.scores;
    s.predicted = result.predicted;
    s.confidence = result.confidence;
    s.margin = result.margin;
    s.issueScore = quality.issueScore;
    s.given = run.seeds;
    s.flagged = quality.flagged;
    s.suggested = quality.suggested;
    return s;
}

// Writes path,given,predicted,confidence,margin,issue_score,flagged for every embedded item.
Expected<void> writeProjectResult(const std::string& path, const ProjectRun& run, const PropagationResult& result,
                                  const LabelQualityReport& quality, bool suggestedAsPredicted)
{
    std::string text = "path,given,predicted,confidence,margin,issue_score,flagged\n";
    char number[3][32];
    for (std::size_t r = 0; r < run.embeddings.itemIds.size(); ++r) {
        const int given = run.seeds[r];
        int predicted = result.predicted[r];
        if (suggestedAsPredicted && quality.flagged[r])
            predicted = quality.suggested[r];
        std::snprintf(number[0], 32, "%.4f", double(result.confidence[r]));
        std::snprintf(number[1], 32, "%.4f", double(result.margin[r]));
        std::snprintf(number[2], 32, "%.4f", double(quality.issueScore[r]));
        text += csvLine({run.paths.at(run.embeddings.itemIds[r]), given >= 0 ? run.classes[std::size_t(given)].name : "",
                         predicted >= 0 ? run.classes[std::size_t(predicted)].name : "", number[0], number[1],
                         number[2], quality.flagged[r] ? "1" : "0"});
    }
    return writeFileAtomically(path, text);
}

void printFlagged(const ProjectRun& run, const LabelQualityReport& quality, std::size_t limit)
{
    const auto flagged = std::count(quality.flagged.begin(), quality.flagged.end(), std::uint8_t(1));
    std::printf("labels judged: %lld; flagged as likely wrong: %lld (estimated noise rate %.1f%%)\n",
                (long long)run.labeled, (long long)flagged, 100.0 * quality.noiseRate);
    std::size_t shown = 0;
    for (const auto r : quality.ranking) {
        if (shown == limit || !quality.flagged[std::size_t(r)])
            break;
        const auto item = run.embeddings.itemIds[std::size_t(r)];
        const int s = quality.suggested[std::size_t(r)];
        std::printf("  %lld %s: labeled %s, suggested %s (issue score %.3f)\n", (long long)(item - 1),
                    run.paths.at(item).c_str(), run.classes[std::size_t(run.seeds[std::size_t(r)])].name.c_str(),
                    s >= 0 ? run.classes[std::size_t(s)].name.c_str() : "-", quality.issueScore[std::size_t(r)]);
        ++shown;
    }
}

int runPropagateOrAudit(const std::vector<std::string>& args, bool audit)
{
    ArgumentParser parser(audit ? "project audit" : "project propagate",
                          audit ? "Judge every current label by its neighbours (a few unclamped propagation steps) and "
                                  "flag the likely wrong ones, with a suggested fix. The result is saved in the project."
                                : "Spread the current labels to every item with a fixed number of steps (as in the "
                                  "paper), so equal labels give equal results. The result is saved in the project.");
    addRunOptions(parser);
    if (audit) {
        parser.addOption("steps", "N", "propagation steps without clamp (odd)", "3");
    } else {
        parser.addOption("iterations", "N", "propagation steps (default: the project's setting, first 20)");
        parser.addOption("clamp", "MODE", "hard, soft:ALPHA or none (default: the project's setting)");
        parser.addFlag("warm", "start from the last propagation's scores (the desktop app does this after each click: "
                               "fewer steps settle a few new labels; results then depend on the history)");
    }
    parser.addOption("output", "FILE.csv", "also write path,given,predicted,confidence,margin,issue_score,flagged",
                     std::nullopt, 'o');
    parser.addOption("top", "N", "flagged items to list", "10");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto top = parser.integer("top", 0, 1000000);
    if (!top)
        return reportError(top.error());
    std::optional<Error> optionError;
    auto run = prepareRun(parser, audit ? "audit" : "propagate", [&](ProjectSettings& s) {
        if (audit)
            return;
        if (parser.value("iterations")) {
            auto n = parser.integer("iterations", 0, 100000);
            if (!n)
                optionError = n.error();
            else
                s.steps = int(*n);
        }
        if (auto c = parser.value("clamp")) {
            if (auto mode = parseClampMode(*c); !mode)
                optionError = mode.error();
            else
                s.clamp = *c;
        }
    });
    if (optionError)
        return reportError(*optionError);
    if (!run)
        return reportError(run.error());
    if (run->classes.empty() || run->labeled == 0)
        return reportError(Error{run->store->path() + ": no labels yet; label some items first ('project label')"});

    Stopwatch clock;
    PropagationResult result;
    LabelQualityReport quality;
    nlohmann::json used;
    bool warm = false;
    const int threads = run->threads;
    if (audit) {
        auto steps = parser.integer("steps", 1, 1000);
        if (!steps)
            return reportError(steps.error());
        AuditOptions options;
        options.steps = int(*steps);
        options.threads = threads;
        auto a = auditLabels(run->graph.affinity, run->seeds, int(run->classes.size()), options);
        if (!a)
            return reportError(a.error());
        result = std::move(a->smoothed);
        quality = std::move(a->quality);
        used = {{"mode", "audit"}, {"steps", options.steps}};
    } else {
        PropagationOptions options;
        options.iterations = run->settings.steps;
        options.clamp = *parseClampMode(run->settings.clamp);
        options.threads = threads;
        std::vector<float> warmStart;
        if (parser.flag("warm")) {
            auto last = run->store->latestPropagation("propagate");
            if (!last)
                return reportError(last.error());
            if (*last && (*last)->embeddingVersion == run->embeddings.version && (*last)->classes.size() <= run->classes.size()
                && (*last)->itemIds == run->embeddings.itemIds) {
                // New classes get zero scores; existing columns carry over.
                const std::size_t c0 = (*last)->classes.size(), c = run->classes.size();
                warmStart.assign(run->embeddings.itemIds.size() * c, 0.0f);
                for (std::size_t r = 0; r < run->embeddings.itemIds.size(); ++r)
                    for (std::size_t j = 0; j < c0; ++j)
                        warmStart[r * c + j] = (*last)->scores[r * c0 + j];
                warm = true;
            }
        }
        auto p = propagateLabels(run->graph.affinity, run->seeds, int(run->classes.size()), options, warmStart);
        if (!p)
            return reportError(p.error());
        result = std::move(*p);
        quality = assessGivenLabels(neighbourVote(run->graph.affinity, result, threads), result.classes, run->seeds);
        used = {{"mode", "propagate"}, {"iterations", options.iterations}, {"clamp", run->settings.clamp},
                {"warm_start", warm}};
    }
    const double engineSeconds = clock.seconds();
    const double total = run->prepareSeconds + run->graph.knnSeconds + run->graph.graphSeconds + engineSeconds;
    if (auto saved = run->store->savePropagation(toStored(*run, result, quality, audit ? "audit" : "propagate",
                                                          used, total));
        !saved)
        return reportError(saved.error());
    if (auto out = parser.value("output"))
        if (auto w = writeProjectResult(*out, *run, result, quality, audit); !w)
            return reportError(w.error());

    std::printf("%lld items x %lld dims (%lld encoded now, %lld from the cache), %zu classes, %lld labeled; k = %d, "
                "T = %.4g\n",
                (long long)run->embeddings.x.rows(), (long long)run->embeddings.x.cols(),
                (long long)run->embeddings.encodedNow, (long long)run->embeddings.fromCache, run->classes.size(),
                (long long)run->labeled, run->graph.knn.k, run->graph.temperature);
    std::printf("seconds: prepare %.3f, knn %.3f, graph %.3f, %s %.3f%s\n", run->prepareSeconds,
                run->graph.knnSeconds, run->graph.graphSeconds, audit ? "audit" : "propagate", engineSeconds,
                warm ? " (warm start)" : "");
    if (!audit) {
        std::vector<std::int64_t> perClass(run->classes.size(), 0);
        for (const auto p : result.predicted)
            if (p >= 0)
                ++perClass[std::size_t(p)];
        std::printf("predicted per class:");
        for (std::size_t c = 0; c < perClass.size(); ++c)
            std::printf(" %s %lld%s", run->classes[c].name.c_str(), (long long)perClass[c],
                        c + 1 < perClass.size() ? "," : "\n");
    }
    printFlagged(*run, quality, std::size_t(*top));
    std::printf("saved in %s\n", run->store->path().c_str());
    return 0;
}

// The value of option `name` looked up in `choices`; the error lists them.
template <class E>
Expected<E> pickChoice(const ArgumentParser& parser, const std::string& name,
                       std::initializer_list<std::pair<std::string_view, E>> choices)
{
    const auto given = parser.value(name).value_or("");
    std::string names;
    for (const auto& [text, value] : choices) {
        if (text == given)
            return value;
        names += (names.empty() ? "" : ", ") + std::string(text);
    }
    return fail("--" + name + " must be one of " + names + " (got '" + given + "')");
}

} // namespace

int runProjectPropagate(const std::vector<std::string>& args)
{
    return runPropagateOrAudit(args, false);
}

int runProjectAudit(const std::vector<std::string>& args)
{
    return runPropagateOrAudit(args, true);
}

int runProjectSuggest(const std::vector<std::string>& args)
{
    ArgumentParser parser("project suggest",
                          "Pick the unlabeled items to label next, from the project's latest propagation (computed "
                          "now when labels changed since).");
    addRunOptions(parser);
    parser.addOption("budget", "N", "how many items", "20");
    parser.addOption("strategy", "NAME", "random, least-confidence, margin, entropy or density (default: the "
                                         "project's setting, first margin)");
    parser.addOption("seed", "N", "random seed (random strategy, ties)", "1");
    parser.addOption("output", "FILE.csv", "also write index,path,score", std::nullopt, 'o');
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto budget = parser.integer("budget", 1, std::numeric_limits<std::int32_t>::max());
    auto seed = parser.integer("seed", 0, std::numeric_limits<long long>::max());
    if (!budget)
        return reportError(budget.error());
    if (!seed)
        return reportError(seed.error());
    std::optional<Error> optionError;
    auto run = prepareRun(parser, "suggest", [&](ProjectSettings& s) {
        if (auto name = parser.value("strategy")) {
            if (auto st = parseSelectionStrategy(*name); !st)
                optionError = st.error();
            else
                s.strategy = *name;
        }
    });
    if (optionError)
        return reportError(*optionError);
    if (!run)
        return reportError(run.error());
    auto strategy = parseSelectionStrategy(run->settings.strategy);
    if (!strategy)
        return reportError(strategy.error());

    std::optional<PropagationResult> result;
    if (run->labeled > 0 && !run->classes.empty()) {
        PropagationOptions options;
        options.iterations = run->settings.steps;
        options.clamp = *parseClampMode(run->settings.clamp);
        auto p = propagateLabels(run->graph.affinity, run->seeds, int(run->classes.size()), options);
        if (!p)
            return reportError(p.error());
        result = std::move(*p);
    }
    SelectionInputs inputs;
    inputs.embeddings = &run->embeddings.x;
    inputs.knn = &run->graph.knn;
    inputs.result = result ? &*result : nullptr;
    inputs.labels = run->seeds;
    auto picked = selectItemsToLabel(*strategy, *budget, inputs, std::uint64_t(*seed));
    if (!picked)
        return reportError(picked.error());
    std::string text = "index,path,score\n";
    std::printf("%zu items to label next (%s):\n", picked->items.size(), run->settings.strategy.c_str());
    for (std::size_t k = 0; k < picked->items.size(); ++k) {
        const auto item = run->embeddings.itemIds[std::size_t(picked->items[k])];
        std::printf("  %lld %s (score %.4f)\n", (long long)(item - 1), run->paths.at(item).c_str(),
                    double(picked->scores[k]));
        char score[32];
        std::snprintf(score, sizeof score, "%.6f", double(picked->scores[k]));
        text += csvLine({std::to_string(item - 1), run->paths.at(item), score});
    }
    if (auto out = parser.value("output"))
        if (auto w = writeFileAtomically(*out, text); !w)
            return reportError(w.error());
    return 0;
}

int runProjectExport(const std::vector<std::string>& args)
{
    ArgumentParser parser("project export",
                          "Write the project's cleaned labels. --include human: labels people gave (and imported "
                          "ones, unless --no-imported); fixed: plus accepted fixes; pseudo:T: plus propagated labels "
                          "with confidence >= T. Written aside and renamed, so OUT is never half-written. Read-only: "
                          "works while the project is open elsewhere.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("format", "FORMAT", "csv (path,label,source,confidence,flagged), json or imagefolder", "csv");
    parser.addOption("include", "LEVEL", "human, fixed or pseudo:THRESHOLD", "fixed");
    parser.addOption("flagged", "POLICY", "items flagged and not reviewed: mark (flagged = 1), drop or keep", "mark");
    parser.addOption("link", "MODE", "imagefolder: copy, hardlink or symlink", "copy");
    parser.addFlag("no-imported", "leave out labels that came with the data and no one confirmed");
    parser.addOption("output", "OUT", "the file (csv, json) or folder (imagefolder) to write", std::nullopt, 'o');
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto out = parser.required("output");
    if (!out)
        return reportError(out.error());
    ExportOptions options;
    auto format = pickChoice<ExportFormat>(parser, "format", {{"csv", ExportFormat::Csv}, {"json", ExportFormat::Json},
                                                              {"imagefolder", ExportFormat::ImageFolder}});
    auto flagged = pickChoice<FlaggedPolicy>(parser, "flagged", {{"mark", FlaggedPolicy::Mark},
                                                                 {"drop", FlaggedPolicy::Drop},
                                                                 {"keep", FlaggedPolicy::Keep}});
    auto link = pickChoice<LinkMode>(parser, "link", {{"copy", LinkMode::Copy}, {"hardlink", LinkMode::HardLink},
                                                      {"symlink", LinkMode::SymLink}});
    if (!format)
        return reportError(format.error());
    if (!flagged)
        return reportError(flagged.error());
    if (!link)
        return reportError(link.error());
    options.format = *format;
    options.flagged = *flagged;
    options.link = *link;
    if (auto level = parseExportLevel(*parser.value("include"), options); !level)
        return reportError(level.error());
    options.includeImported = !parser.flag("no-imported");

    auto store = openProject(parser, ProjectStore::Access::ReadOnly, "export");
    if (!store)
        return reportError(store.error());
    auto report = exportLabels(**store, *out, options);
    if (!report)
        return reportError(report.error());
    std::printf("wrote %s: %lld items (human %lld, imported %lld, fixes %lld, pseudo %lld); flagged: %lld marked, "
                "%lld left out\n",
                out->c_str(), (long long)report->written, (long long)report->human, (long long)report->imported,
                (long long)report->fixed, (long long)report->pseudo, (long long)report->flaggedMarked,
                (long long)report->flaggedDropped);
    if (report->missingSkipped > 0)
        std::fprintf(stderr, "warning: %lld items were left out because their files are missing\n",
                     (long long)report->missingSkipped);
    if (report->stalePropagation)
        std::fprintf(stderr, "warning: labels changed since the last propagation/audit; confidences and flags are "
                             "from then (run 'project propagate' or 'project audit' again)\n");
    return 0;
}

} // namespace labelprop::cli
