// `propagate` (a few labels -> every item) and `audit` (every label -> which are wrong).
// Both: load embeddings and labels, build the kNN graph and S, propagate, judge the given labels,
// write the result table and optionally a stats file with the wall time of every stage.

#include "CommandSupport.h"
#include "Commands.h"

#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "core/formats/LabelSeeds.h"
#include "core/results/ResultTable.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace labelprop::cli {
namespace {

enum class Mode { Propagate, Audit };

struct Timings {
    double load = 0, knn = 0, graph = 0, propagate = 0, quality = 0, write = 0;
};

nlohmann::json statsJson(const EmbeddingMatrix& x, const GraphStage& graph, const LabelSeeds& labels,
                         const LabelQualityReport& quality, const Timings& t, nlohmann::json settings)
{
    nlohmann::json classNoise = nlohmann::json::object();
    for (int q = 0; q < labels.classes.size(); ++q)
        classNoise[labels.classes.name(q)] = quality.classNoiseRate[size_t(q)];
    const auto flagged = std::count(quality.flagged.begin(), quality.flagged.end(), uint8_t(1));
    return {
        {"n", x.rows()},
        {"d", x.cols()},
        {"k", graph.knn.k},
        {"nnz", graph.affinity.nnz()},
        {"temperature", graph.temperature},
        {"classes", labels.classes.names()},
        {"labelled", labels.labelled},
        {"settings", std::move(settings)},
        {"seconds",
         {{"load", t.load},
          {"knn", t.knn},
          {"graph", t.graph},
          {"propagate", t.propagate},
          {"quality", t.quality},
          {"write", t.write},
          {"total", t.load + t.knn + t.graph + t.propagate + t.quality + t.write}}},
        {"peak_rss_mib", peakResidentMiB()},
        {"quality",
         {{"flag_threshold", quality.threshold},
          {"flagged", flagged},
          {"estimated_noise_rate", quality.noiseRate},
          {"estimated_class_noise_rate", classNoise}}},
    };
}

void printQualitySummary(const LabelSeeds& labels, const LabelQualityReport& quality, const PropagationResult& result,
                         Mode mode)
{
    const auto flagged = std::count(quality.flagged.begin(), quality.flagged.end(), uint8_t(1));
    std::printf("given labels judged: %lld; flagged as likely wrong: %lld (estimated noise rate %.1f%%, flag when "
                "p(given) < %.3f)\n",
                (long long)labels.labelled, (long long)flagged, 100.0 * quality.noiseRate, quality.threshold);
    if (mode != Mode::Audit)
        return;
    std::printf("estimated noise rate by given class:\n");
    for (int q = 0; q < labels.classes.size(); ++q)
        std::printf("  %-24s %6.1f%% of %lld\n", labels.classes.name(q).c_str(), 100.0 * quality.classNoiseRate[size_t(q)],
                    (long long)quality.classCount[size_t(q)]);
    std::printf("most likely wrong:\n");
    for (size_t r = 0; r < std::min<size_t>(10, quality.ranking.size()); ++r) {
        const int32_t i = quality.ranking[r];
        if (!quality.flagged[size_t(i)])
            break;
        std::printf("  item %d: given %s, suggested %s (issue score %.3f)\n", i,
                    labels.classes.name(labels.seeds[size_t(i)]).c_str(),
                    quality.suggested[size_t(i)] >= 0 ? labels.classes.name(quality.suggested[size_t(i)]).c_str() : "-",
                    quality.issueScore[size_t(i)]);
    }
    (void)result;
}

int run(Mode mode, const std::vector<std::string>& args)
{
    const bool audit = mode == Mode::Audit;
    ArgumentParser parser(audit ? "audit" : "propagate",
                          audit ? "Find likely wrong labels. Every item should carry a given label (some wrong). The "
                                  "labels are smoothed over the kNN graph without clamping for a few steps; items whose "
                                  "given label gets little of its neighbourhood's mass are flagged. The output lists "
                                  "the labelled items, most likely wrong first; for flagged rows 'predicted' is the "
                                  "suggested fix."
                                : "Spread the given labels to every item by label propagation over the kNN graph. "
                                  "Labelled items are also judged by their neighbours (issue_score, flagged).");
    parser.addOption("embeddings", "FILE.npy", "item embeddings, n x d float32/float16 (from labelprop-cli embed)");
    parser.addOption("labels", "FILE.csv", "header index,label; only the labelled rows; labels are names or numbers");
    addGraphOptions(parser);
    if (audit) {
        parser.addOption("steps", "N", "propagation steps without clamp (odd: an item's own label is not echoed back)",
                         "3");
    } else {
        parser.addOption("iterations", "N", "propagation steps (a fixed number, as in the paper)", "20");
        parser.addOption("clamp", "MODE", "hard (labelled rows reset every step), soft:ALPHA or none", "hard");
    }
    parser.addOption("output", "FILE.csv", "result table: index,given,predicted,confidence,margin,issue_score,flagged",
                     std::nullopt, 'o');
    parser.addOption("stats", "FILE.json", "also write n, d, k, nnz and the wall seconds of each stage");
    parser.addFlag("probabilities", "append one probability column per class");
    if (auto exit = parseOrExit(parser, args))
        return *exit;

    auto embeddingsPath = parser.required("embeddings");
    auto labelsPath = parser.required("labels");
    auto outputPath = parser.required("output");
    auto settings = readGraphSettings(parser);
    for (const auto* e : {&embeddingsPath, &labelsPath, &outputPath})
        if (!*e)
            return reportError(e->error());
    if (!settings)
        return reportError(settings.error());
    PropagationOptions propagation;
    propagation.threads = settings->threads;
    AuditOptions auditOptions;
    if (audit) {
        auto steps = parser.integer("steps", 1, 1000);
        if (!steps)
            return reportError(steps.error());
        auditOptions.steps = int(*steps);
    } else {
        auto iterations = parser.integer("iterations", 0, 100000);
        if (!iterations)
            return reportError(iterations.error());
        propagation.iterations = int(*iterations);
        auto clamp = parseClampMode(*parser.value("clamp"));
        if (!clamp)
            return reportError(clamp.error());
        propagation.clamp = *clamp;
    }

    Timings t;
    Stopwatch clock;
    auto x = loadEmbeddings(*embeddingsPath);
    if (!x)
        return reportError(x.error());
    auto entries = readLabelsCsv(*labelsPath, x->rows());
    if (!entries)
        return reportError(entries.error());
    const LabelSeeds labels = seedsFromLabels(*entries, x->rows());
    t.load = clock.seconds();

    auto graph = buildGraphStage(*x, *settings);
    if (!graph)
        return reportError(graph.error());
    t.knn = graph->knnSeconds;
    t.graph = graph->graphSeconds;

    clock.restart();
    PropagationResult result;
    LabelQualityReport quality;
    if (audit) {
        // The audit's propagation is its few unclamped steps; judging the labels is the quality stage.
        PropagationOptions smoothing;
        smoothing.iterations = auditOptions.steps;
        smoothing.clamp.kind = ClampMode::Kind::None;
        smoothing.threads = settings->threads;
        auto smoothed = propagateLabels(graph->affinity, labels.seeds, labels.classes.size(), smoothing);
        if (!smoothed)
            return reportError(smoothed.error());
        result = std::move(*smoothed);
        t.propagate = clock.seconds();
        clock.restart();
        quality = assessGivenLabels(result.probabilities, result.classes, labels.seeds);
    } else {
        auto outcome = propagateLabels(graph->affinity, labels.seeds, labels.classes.size(), propagation);
        if (!outcome)
            return reportError(outcome.error());
        result = std::move(*outcome);
        t.propagate = clock.seconds();
        clock.restart();
        quality = assessGivenLabels(neighbourVote(graph->affinity, result, settings->threads), result.classes,
                                    labels.seeds);
    }
    t.quality = clock.seconds();

    clock.restart();
    ResultTableOptions table;
    table.probabilities = parser.flag("probabilities");
    if (audit) {
        table.order = quality.ranking;
        table.suggestedAsPredicted = true;
    }
    if (auto written = writeResultTable(*outputPath, result, quality, labels.seeds, labels.classes, table); !written)
        return reportError(written.error());
    t.write = clock.seconds();

    std::printf("%lld items x %lld dims, %d classes, %lld labelled; k = %d, T = %.4g%s, nnz = %lld\n",
                (long long)x->rows(), (long long)x->cols(), labels.classes.size(), (long long)labels.labelled,
                graph->knn.k, graph->temperature, settings->temperature ? "" : " (auto)",
                (long long)graph->affinity.nnz());
    std::printf("seconds: load %.3f, knn %.3f, graph %.3f, propagate %.3f, quality %.3f, write %.3f\n", t.load,
                t.knn, t.graph, t.propagate, t.quality, t.write);
    if (!audit) {
        const auto unreached = std::count(result.predicted.begin(), result.predicted.end(), -1);
        if (unreached > 0)
            std::printf("%lld items were not reached by any label (their predicted column is empty); add labels in "
                        "those regions or raise --iterations\n",
                        (long long)unreached);
    }
    printQualitySummary(labels, quality, result, mode);
    std::printf("wrote %s\n", outputPath->c_str());

    if (auto statsPath = parser.value("stats"); statsPath && !statsPath->empty()) {
        nlohmann::json used = audit ? nlohmann::json{{"mode", "audit"}, {"steps", auditOptions.steps}, {"clamp", "none"}}
                                    : nlohmann::json{{"mode", "propagate"},
                                                     {"iterations", propagation.iterations},
                                                     {"clamp", *parser.value("clamp")}};
        const auto stats = statsJson(*x, *graph, labels, quality, t, std::move(used));
        if (auto written = writeFileAtomically(*statsPath, stats.dump(2) + "\n"); !written)
            return reportError(written.error());
    }
    return 0;
}

} // namespace

int runPropagate(const std::vector<std::string>& args)
{
    return run(Mode::Propagate, args);
}

int runAudit(const std::vector<std::string>& args)
{
    return run(Mode::Audit, args);
}

} // namespace labelprop::cli
