// `suggest`: which items to label next.

#include "CommandSupport.h"
#include "Commands.h"

#include "core/engine/ActiveSelection.h"
#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"
#include "core/engine/LabelPropagation.h"
#include "core/formats/LabelSeeds.h"

#include <charconv>
#include <cstdio>

namespace labelprop::cli {

int runSuggest(const std::vector<std::string>& args)
{
    ArgumentParser parser("suggest",
                          "Pick the next items for a person to label. Strategies: random (the paper), least-confidence, "
                          "margin, entropy (uncertainty of the propagated labels) and density (typical items of "
                          "clusters nobody has labelled yet; works from zero labels).");
    parser.addOption("embeddings", "FILE.npy", "item embeddings, n x d (from labelprop-cli embed)");
    parser.addOption("labels", "FILE.csv", "labels given so far (header index,label); omit to start from zero labels");
    parser.addOption("strategy", "NAME", "random | least-confidence | margin | entropy | density", "density");
    parser.addOption("budget", "N", "how many items to suggest");
    parser.addOption("seed", "N", "random seed for the random strategy and tie-breaking", "1");
    parser.addOption("iterations", "N", "propagation steps used to score uncertainty", "20");
    addGraphOptions(parser);
    parser.addOption("output", "FILE.csv", "rank,index,score; best first", std::nullopt, 'o');
    if (auto exit = parseOrExit(parser, args))
        return *exit;

    auto embeddingsPath = parser.required("embeddings");
    auto outputPath = parser.required("output");
    auto strategy = parseSelectionStrategy(*parser.value("strategy"));
    auto budget = parser.integer("budget", 1, std::numeric_limits<int32_t>::max());
    auto seed = parser.integer("seed", 0, std::numeric_limits<long long>::max());
    auto iterations = parser.integer("iterations", 0, 100000);
    auto settings = readGraphSettings(parser);
    if (!embeddingsPath)
        return reportError(embeddingsPath.error());
    if (!outputPath)
        return reportError(outputPath.error());
    if (!strategy)
        return reportError(strategy.error());
    if (!budget)
        return reportError(budget.error());
    if (!seed)
        return reportError(seed.error());
    if (!iterations)
        return reportError(iterations.error());
    if (!settings)
        return reportError(settings.error());

    auto x = loadEmbeddings(*embeddingsPath);
    if (!x)
        return reportError(x.error());
    LabelSeeds labels;
    labels.seeds.assign(size_t(x->rows()), -1);
    if (auto labelsPath = parser.value("labels"); labelsPath && !labelsPath->empty()) {
        auto entries = readLabelsCsv(*labelsPath, x->rows());
        if (!entries)
            return reportError(entries.error());
        labels = seedsFromLabels(*entries, x->rows());
    }

    // The kNN graph feeds both the density estimate and the propagation behind the uncertainty scores.
    const bool needsGraph = *strategy == SelectionStrategy::Density || labels.labelled > 0;
    GraphStage graph;
    if (needsGraph) {
        auto built = buildGraphStage(*x, *settings);
        if (!built)
            return reportError(built.error());
        graph = std::move(*built);
    }
    std::optional<PropagationResult> result;
    if (labels.labelled > 0 && *strategy != SelectionStrategy::Random) {
        PropagationOptions options;
        options.iterations = int(*iterations);
        options.threads = settings->threads;
        auto propagated = propagateLabels(graph.affinity, labels.seeds, labels.classes.size(), options);
        if (!propagated)
            return reportError(propagated.error());
        result = std::move(*propagated);
    }

    SelectionInputs inputs;
    inputs.embeddings = &*x;
    inputs.knn = needsGraph ? &graph.knn : nullptr;
    inputs.result = result ? &*result : nullptr;
    inputs.labels = labels.seeds;
    auto selection = selectItemsToLabel(*strategy, *budget, inputs, uint64_t(*seed), settings->threads);
    if (!selection)
        return reportError(selection.error());

    std::string out = "rank,index,score\n";
    for (size_t r = 0; r < selection->items.size(); ++r) {
        char score[32];
        const auto [end, ec] = std::to_chars(score, score + sizeof score, selection->scores[r]);
        out += std::to_string(r + 1) + "," + std::to_string(selection->items[r]) + ","
               + std::string(score, ec == std::errc() ? end : score) + "\n";
    }
    if (auto written = writeFileAtomically(*outputPath, out); !written)
        return reportError(written.error());
    std::printf("%zu items suggested by %s from %lld items (%lld labelled); wrote %s\n", selection->items.size(),
                std::string(selectionStrategyName(*strategy)).c_str(), (long long)x->rows(),
                (long long)labels.labelled, outputPath->c_str());
    return 0;
}

} // namespace labelprop::cli
