// `labelprop-cli project propagate|audit|suggest|export`: the engine over a project file. Results
// are saved in the project (the latest propagation and the latest audit), so `status`, `export`
// and the desktop app see them.

#include "ProjectCommands.h"
#include "ProjectSupport.h"

#include "core/engine/ActiveSelection.h"
#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"
#include "core/encoders/Encoder.h"
#include "core/project/ProjectEngine.h"
#include "core/project/ProjectExport.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <limits>
#include <map>

namespace labelprop::cli {

namespace {

// An opened project and its loaded run (embeddings, graph, labels).
struct OpenedRun {
    std::unique_ptr<ProjectStore> store;
    ProjectRun run;
    ProjectRunControl control;
};

void addRunOptions(ArgumentParser& parser)
{
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("encoder", "SPEC", "embedding encoder (default: the project's setting)");
    addProjectGraphOptions(parser);
}

// Opens the project for writing, merges the options into its settings (saved), and loads the run.
Expected<OpenedRun> openRun(const ArgumentParser& parser, const std::string& subcommand,
                            const std::function<Expected<void>(ProjectSettings&)>& applyOptions = {})
{
    OpenedRun opened;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, subcommand);
    if (!store)
        return std::unexpected(store.error());
    opened.store = std::move(*store);
    auto settings = opened.store->settings();
    if (!settings)
        return std::unexpected(settings.error());
    if (auto encoder = parser.value("encoder")) {
        if (auto e = makeEncoder(*encoder); !e)
            return std::unexpected(e.error());
        settings->encoder = *encoder;
    }
    auto threads = mergeGraphSettings(parser, *settings);
    if (!threads)
        return std::unexpected(threads.error());
    opened.control.threads = *threads;
    if (applyOptions)
        if (auto applied = applyOptions(*settings); !applied)
            return std::unexpected(applied.error());
    if (auto checked = checkEngineSettings(*settings, opened.store->path()); !checked)
        return std::unexpected(checked.error());
    if (auto saved = opened.store->saveSettings(*settings); !saved)
        return std::unexpected(saved.error());
    auto run = loadProjectRun(*opened.store, *settings, opened.control);
    if (!run)
        return std::unexpected(run.error());
    opened.run = std::move(*run);
    for (const auto& w : opened.run.warnings)
        std::fprintf(stderr, "warning: %s\n", w.c_str());
    return opened;
}

const std::string& className(const ProjectRun& run, int id)
{
    static const std::string none;
    return id >= 0 ? run.classes[std::size_t(id)].name : none;
}

// Writes path,given,predicted,confidence,margin,issue_score,flagged for every embedded item.
Expected<void> writeProjectResult(const std::string& path, const ProjectRun& run, const ProjectPropagation& p,
                                  bool suggestedAsPredicted)
{
    std::string text = "path,given,predicted,confidence,margin,issue_score,flagged\n";
    char number[3][32];
    for (std::size_t r = 0; r < run.embeddings.itemIds.size(); ++r) {
        int predicted = p.result.predicted[r];
        if (suggestedAsPredicted && p.quality.flagged[r])
            predicted = p.quality.suggested[r];
        std::snprintf(number[0], 32, "%.4f", double(p.result.confidence[r]));
        std::snprintf(number[1], 32, "%.4f", double(p.result.margin[r]));
        std::snprintf(number[2], 32, "%.4f", double(p.quality.issueScore[r]));
        text += csvLine({run.paths.at(std::size_t(run.embeddings.itemIds[r])), className(run, run.seeds[r]),
                         className(run, predicted), number[0], number[1], number[2], p.quality.flagged[r] ? "1" : "0"});
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
                    run.paths.at(std::size_t(item)).c_str(), className(run, run.seeds[std::size_t(r)]).c_str(),
                    s >= 0 ? className(run, s).c_str() : "-", quality.issueScore[std::size_t(r)]);
        ++shown;
    }
}

void printPredictedPerClass(const ProjectRun& run, const PropagationResult& result)
{
    std::vector<std::int64_t> perClass(run.classes.size(), 0);
    for (const auto p : result.predicted)
        if (p >= 0)
            ++perClass[std::size_t(p)];
    std::printf("predicted per class:");
    for (std::size_t c = 0; c < perClass.size(); ++c)
        std::printf(" %s %lld%s", run.classes[c].name.c_str(), (long long)perClass[c], c + 1 < perClass.size() ? "," : "\n");
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
        parser.addFlag("warm", "start from the last propagation's scores (fewer steps settle a few new labels; "
                               "results then depend on the history)");
    }
    parser.addOption("output", "FILE.csv", "also write path,given,predicted,confidence,margin,issue_score,flagged",
                     std::nullopt, 'o');
    parser.addOption("top", "N", "flagged items to list", "10");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto top = parser.integer("top", 0, 1000000);
    if (!top)
        return reportError(top.error());
    auto auditSteps = audit ? parser.integer("steps", 1, 1000) : Expected<long long>(0);
    if (!auditSteps)
        return reportError(auditSteps.error());
    auto opened = openRun(parser, audit ? "audit" : "propagate", [&](ProjectSettings& s) -> Expected<void> {
        if (audit)
            return {};
        if (parser.value("iterations")) {
            auto n = parser.integer("iterations", 1, 100000);
            if (!n)
                return std::unexpected(n.error());
            s.steps = int(*n);
        }
        if (auto c = parser.value("clamp")) {
            if (auto mode = parseClampMode(*c); !mode)
                return std::unexpected(mode.error());
            s.clamp = *c;
        }
        return {};
    });
    if (!opened)
        return reportError(opened.error());
    const auto& run = opened->run;

    std::vector<float> warmStart;
    if (!audit && parser.flag("warm")) {
        auto last = opened->store->latestPropagation("propagate");
        if (!last)
            return reportError(last.error());
        if (*last)
            warmStart = warmStartScores(run, **last);
    }
    auto p = audit ? auditProject(run, int(*auditSteps), opened->control)
                   : propagateProject(run, opened->control, warmStart);
    if (!p)
        return reportError(p.error());
    if (auto saved = opened->store->savePropagation(storedPropagation(run, *p)); !saved)
        return reportError(saved.error());
    if (auto out = parser.value("output"))
        if (auto w = writeProjectResult(*out, run, *p, audit); !w)
            return reportError(w.error());

    std::printf("%lld items x %lld dims (%lld encoded now, %lld from the cache), %zu classes, %lld labeled; k = %d, "
                "T = %.4g\n",
                (long long)run.embeddings.x.rows(), (long long)run.embeddings.x.cols(),
                (long long)run.embeddings.encodedNow, (long long)run.embeddings.fromCache, run.classes.size(),
                (long long)run.labeled, run.graph->knn.k, run.graph->temperature);
    std::printf("seconds: prepare %.3f, knn %.3f%s, graph %.3f, %s %.3f%s\n", run.prepareSeconds,
                run.graph->knnSeconds, run.graphFromCache ? " (cached graph)" : "", run.graph->graphSeconds,
                audit ? "audit" : "propagate", p->engineSeconds, p->warm ? " (warm start)" : "");
    if (!audit)
        printPredictedPerClass(run, p->result);
    printFlagged(run, p->quality, std::size_t(*top));
    std::printf("saved in %s\n", opened->store->path().c_str());
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
    auto opened = openRun(parser, "suggest", [&](ProjectSettings& s) -> Expected<void> {
        if (auto name = parser.value("strategy")) {
            if (auto st = parseSelectionStrategy(*name); !st)
                return std::unexpected(st.error());
            s.strategy = *name;
        }
        return {};
    });
    if (!opened)
        return reportError(opened.error());
    const auto& run = opened->run;
    auto picked = suggestForProject(run, *budget, std::uint64_t(*seed), opened->control);
    if (!picked)
        return reportError(picked.error());
    std::string text = "index,path,score\n";
    std::printf("%zu items to label next (%s):\n", picked->items.size(), run.settings.strategy.c_str());
    for (std::size_t k = 0; k < picked->items.size(); ++k) {
        const auto item = run.embeddings.itemIds[std::size_t(picked->items[k])];
        std::printf("  %lld %s (score %.4f)\n", (long long)(item - 1), run.paths.at(std::size_t(item)).c_str(),
                    double(picked->scores[k]));
        char score[32];
        std::snprintf(score, sizeof score, "%.6f", double(picked->scores[k]));
        text += csvLine({std::to_string(item - 1), run.paths.at(std::size_t(item)), score});
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
                          "with confidence >= T. Items whose file cannot be decoded (unreadable) are left out unless "
                          "--unreadable mark. Written aside and renamed, so OUT is never half-written. Read-only: "
                          "works while the project is open elsewhere.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("format", "FORMAT", "csv (path,label,source,confidence,flagged; paths relative to OUT's folder, so OUT works as a --source), json (paths relative to its root) or imagefolder", "csv");
    parser.addOption("include", "LEVEL", "human, fixed or pseudo:THRESHOLD", "fixed");
    parser.addOption("flagged", "POLICY", "items flagged and not reviewed: mark (flagged = 1), drop or keep", "mark");
    parser.addOption("link", "MODE", "imagefolder: copy, hardlink or symlink", "copy");
    parser.addOption("unreadable", "drop|mark",
                     "items whose file cannot be decoded ('project status' counts them): drop leaves them out; mark "
                     "keeps them with their label, marked (csv: an 'unreadable' column, 1 for them; json: an "
                     "\"unreadable\" field; imagefolder: listed in OUT/unreadable.txt)",
                     "drop");
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
    auto unreadable = pickChoice<UnreadablePolicy>(parser, "unreadable", {{"drop", UnreadablePolicy::Drop},
                                                                          {"mark", UnreadablePolicy::Mark}});
    if (!unreadable)
        return reportError(unreadable.error());
    options.unreadable = *unreadable;
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
                "%lld left out",
                out->c_str(), (long long)report->written, (long long)report->human, (long long)report->imported,
                (long long)report->fixed, (long long)report->pseudo, (long long)report->flaggedMarked,
                (long long)report->flaggedDropped);
    if (report->unreadableDropped > 0)
        std::printf("; unreadable: %lld left out (--unreadable mark keeps them, marked)",
                    (long long)report->unreadableDropped);
    else if (report->unreadableMarked > 0)
        std::printf("; unreadable: %lld marked", (long long)report->unreadableMarked);
    std::printf("\n");
    if (report->missingSkipped > 0)
        std::fprintf(stderr, "warning: %lld items were left out because their files are missing\n",
                     (long long)report->missingSkipped);
    if (report->stalePropagation)
        std::fprintf(stderr, "warning: labels changed since the last propagation/audit; confidences and flags are "
                             "from then (run 'project propagate' or 'project audit' again)\n");
    return 0;
}

} // namespace labelprop::cli
