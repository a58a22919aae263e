// `classify`: label new items by a weighted kNN vote against labelled (or propagated) items.

#include "CommandSupport.h"
#include "Commands.h"

#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"
#include "core/engine/KnnClassifier.h"

#include <charconv>
#include <cstdio>

namespace labelprop::cli {
namespace {

struct BaseLabels {
    ClassIndex classes;
    std::vector<int32_t> labels; // n: class or -1
};

// Either a labels file (index,label) or a propagate/audit result (index,given,predicted,...), whose
// `predicted` column is used: the paper classifies new items against the propagated labels.
Expected<BaseLabels> readBaseLabels(const std::string& path, int64_t n)
{
    auto records = readCsvFile(path);
    if (!records)
        return std::unexpected(records.error());
    const bool result = !records->empty() && records->front().fields.size() >= 3
                        && records->front().fields[0] == "index" && records->front().fields[1] == "given"
                        && records->front().fields[2] == "predicted";
    std::vector<LabelEntry> entries;
    if (result) {
        std::vector<char> seen(static_cast<size_t>(n), 0);
        for (size_t r = 1; r < records->size(); ++r) {
            const auto& f = (*records)[r].fields;
            int64_t index = -1;
            const auto [end, ec] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), index);
            if (ec != std::errc() || end != f[0].data() + f[0].size() || index < 0 || index >= n || f.size() < 3)
                return fail(path + ":" + std::to_string((*records)[r].line) + ": expected an item index below "
                            + std::to_string(n) + " and a predicted column");
            if (seen[size_t(index)]++)
                return fail(path + ":" + std::to_string((*records)[r].line) + ": item " + std::to_string(index)
                            + " appears twice");
            if (!f[2].empty())
                entries.push_back({index, f[2], (*records)[r].line});
        }
    } else {
        auto labels = readLabelsCsv(path, n);
        if (!labels)
            return std::unexpected(labels.error());
        entries = std::move(*labels);
    }
    std::vector<std::string> names;
    for (const auto& e : entries)
        names.push_back(e.label);
    BaseLabels out{ClassIndex::fromNames(std::move(names)), std::vector<int32_t>(static_cast<size_t>(n), -1)};
    for (const auto& e : entries)
        out.labels[size_t(e.index)] = out.classes.id(e.label);
    if (out.classes.size() == 0)
        return fail(path + ": no item has a label to vote with");
    return out;
}

} // namespace

int runClassify(const std::vector<std::string>& args)
{
    ArgumentParser parser("classify",
                          "Classify new items by a weighted vote of their k most similar labelled items, weights "
                          "exp((s-1)/T) (the paper's kNN protocol). --labels is a labels file (index,label) or a "
                          "propagate result, whose predicted column is used.");
    parser.addOption("embeddings", "FILE.npy", "the labelled base items, n x d");
    parser.addOption("labels", "FILE.csv", "index,label for base items, or a result.csv from propagate");
    parser.addOption("queries", "FILE.npy", "the items to classify, m x d (same encoder as the base)");
    parser.addOption("k", "K", "neighbours that vote", "10");
    parser.addOption("temperature", "T|auto", "vote weights exp((s-1)/T); auto = median 1-s of the query neighbours",
                     "auto");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
    parser.addOption("output", "FILE.csv", "index,predicted,confidence for every query row", std::nullopt, 'o');
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto basePath = parser.required("embeddings");
    auto labelsPath = parser.required("labels");
    auto queriesPath = parser.required("queries");
    auto outputPath = parser.required("output");
    auto k = parser.integer("k", 1, 10000);
    auto threads = parser.integer("threads", 0, 1024);
    for (const auto* e : {&basePath, &labelsPath, &queriesPath, &outputPath})
        if (!*e)
            return reportError(e->error());
    if (!k)
        return reportError(k.error());
    if (!threads)
        return reportError(threads.error());
    float temperature = 0.0f;
    if (parser.value("temperature") != "auto") {
        auto t = parser.number("temperature", 0.0, 100.0);
        if (!t)
            return reportError(t.error());
        temperature = float(*t);
    }

    auto base = loadEmbeddings(*basePath);
    if (!base)
        return reportError(base.error());
    auto queries = loadEmbeddings(*queriesPath);
    if (!queries)
        return reportError(queries.error());
    if (queries->cols() != base->cols())
        return reportError({*queriesPath + ": " + std::to_string(queries->cols()) + " dimensions, but " + *basePath
                            + " has " + std::to_string(base->cols()) + "; encode both with the same encoder"});
    auto labels = readBaseLabels(*labelsPath, base->rows());
    if (!labels)
        return reportError(labels.error());
    auto result = classifyByWeightedKnn(*queries, *base, labels->labels, labels->classes.size(), int(*k), temperature,
                                        int(*threads));
    if (!result)
        return reportError(result.error());

    std::string out = "index,predicted,confidence\n";
    char number[32];
    for (size_t i = 0; i < result->predicted.size(); ++i) {
        const auto [end, ec] = std::to_chars(number, number + sizeof number, result->confidence[i]);
        out += std::to_string(i) + ","
               + (result->predicted[i] >= 0 ? csvField(labels->classes.name(result->predicted[i])) : std::string())
               + "," + std::string(number, ec == std::errc() ? end : number) + "\n";
    }
    if (auto written = writeFileAtomically(*outputPath, out); !written)
        return reportError(written.error());
    std::printf("%zu items classified against %lld base items (%d classes), k = %lld, T = %.4g; wrote %s\n",
                result->predicted.size(), (long long)base->rows(), labels->classes.size(), *k, result->temperature,
                outputPath->c_str());
    return 0;
}

} // namespace labelprop::cli
