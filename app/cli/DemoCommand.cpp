// `demo`: the whole pipeline on Fashion-MNIST, through the same subcommands a user would run,
// scored against the dataset's true labels.

#include "CommandSupport.h"
#include "Commands.h"

#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>

#ifndef LABELPROP_RESOURCE_DIR
#define LABELPROP_RESOURCE_DIR ""
#endif

namespace labelprop::cli {
namespace {

// Fashion-MNIST's digits 0-9 named as in resources/fashion-mnist.classes (one name per line).
std::vector<std::string> fashionMnistClassNames()
{
    for (const char* dir : {LABELPROP_RESOURCE_DIR, "/usr/share/labelprop", "/usr/local/share/labelprop"}) {
        std::ifstream in(std::string(dir) + "/fashion-mnist.classes");
        std::vector<std::string> names;
        for (std::string line; std::getline(in, line);)
            if (!line.empty())
                names.push_back(line);
        if (names.size() == 10)
            return names;
    }
    return {};
}

int runStep(const char* title, int (*command)(const std::vector<std::string>&), const char* name,
            const std::vector<std::string>& args)
{
    std::string line = std::string("labelprop-cli ") + name;
    for (const auto& a : args)
        line += " " + a;
    std::printf("\n== %s\n$ %s\n", title, line.c_str());
    std::fflush(stdout);
    const int code = command(args);
    std::fflush(stdout);
    return code;
}

// Column `name` of every row of a CSV written by propagate/audit, keyed by the index column.
Expected<std::map<int64_t, std::vector<std::string>>> readResultRows(const std::string& path)
{
    auto records = readCsvFile(path);
    if (!records)
        return std::unexpected(records.error());
    std::map<int64_t, std::vector<std::string>> rows;
    for (size_t r = 1; r < records->size(); ++r)
        rows[std::stoll((*records)[r].fields.at(0))] = (*records)[r].fields;
    return rows;
}

} // namespace

int runDemo(const std::vector<std::string>& args)
{
    ArgumentParser parser("demo",
                          "Run the whole pipeline on Fashion-MNIST (70,000 images, Debian package "
                          "dataset-fashion-mnist) and score it against the true labels: embed, propagate from a few "
                          "labels, audit labels with injected noise, suggest what to label next.");
    parser.addOption("source", "DIR", "the IDX folder", "/usr/share/datasets/fashion-mnist");
    parser.addOption("out", "DIR", "where every file goes", "labelprop-demo");
    parser.addOption("fraction", "F", "fraction of items given a label for propagate", "0.01");
    parser.addOption("noise", "F", "fraction of labels made wrong for audit", "0.2");
    parser.addOption("seed", "N", "random seed", "1");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto fraction = parser.number("fraction", 0.0, 1.0);
    auto noise = parser.number("noise", -1e-9, 0.9);
    auto seed = parser.integer("seed", 0, 1LL << 62);
    if (!fraction)
        return reportError(fraction.error());
    if (!noise)
        return reportError(noise.error());
    if (!seed)
        return reportError(seed.error());
    const std::filesystem::path out = *parser.value("out");
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec)
        return reportError({out.string() + ": cannot create the output folder (" + ec.message() + ")"});
    const auto file = [&](const char* name) { return (out / name).string(); };

    Stopwatch total;
    if (int code = runStep("1. Embed every image (built-in PCA encoder, no model file needed)", runEmbed, "embed",
                           {*parser.value("source"), "--encoder", "pca:64", "-o", file("emb.npy")}))
        return code;
    auto items = readItemsCsv(file("items.csv"));
    if (!items)
        return reportError(items.error());
    const int64_t n = int64_t(items->size());
    if (n < 20)
        return reportError({*parser.value("source") + ": the demo needs a labelled source with at least 20 items"});
    // Truth, by class name where the classes are Fashion-MNIST's digits.
    const auto names = fashionMnistClassNames();
    std::vector<std::string> truth(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const std::string& label = (*items)[size_t(i)].label;
        if (label.empty())
            return reportError({file("items.csv") + ": item " + std::to_string(i) + " has no label; the demo needs a labelled source"});
        const bool digit = label.size() == 1 && label[0] >= '0' && label[0] <= '9';
        truth[size_t(i)] = digit && !names.empty() ? names[size_t(label[0] - '0')] : label;
    }
    std::vector<std::string> classNames(truth);
    std::sort(classNames.begin(), classNames.end());
    classNames.erase(std::unique(classNames.begin(), classNames.end()), classNames.end());

    std::mt19937_64 rng{static_cast<uint64_t>(*seed)};
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const int64_t labelled = std::max<int64_t>(1, int64_t(double(n) * *fraction));
    std::vector<int64_t> chosen(order.begin(), order.begin() + labelled);
    std::sort(chosen.begin(), chosen.end());
    std::string labelsCsv = "index,label\n";
    std::vector<char> isLabelled(size_t(n), 0);
    for (int64_t i : chosen) {
        labelsCsv += std::to_string(i) + "," + csvField(truth[size_t(i)]) + "\n";
        isLabelled[size_t(i)] = 1;
    }
    if (auto w = writeFileAtomically(file("labels.csv"), labelsCsv); !w)
        return reportError(w.error());
    std::printf("\nwrote %s: %lld of %lld items labelled (a person would give these)\n", file("labels.csv").c_str(),
                (long long)labelled, (long long)n);

    if (int code = runStep("2. Propagate the labels to every item", runPropagate, "propagate",
                           {"--embeddings", file("emb.npy"), "--labels", file("labels.csv"), "-o", file("result.csv"),
                            "--stats", file("propagate-stats.json")}))
        return code;
    auto result = readResultRows(file("result.csv"));
    if (!result)
        return reportError(result.error());
    int64_t correct = 0, judged = 0;
    for (const auto& [i, row] : *result)
        if (!isLabelled[size_t(i)]) {
            ++judged;
            correct += row.at(2) == truth[size_t(i)];
        }
    const double accuracy = judged ? double(correct) / double(judged) : 0.0;
    std::printf("accuracy on the %lld unlabelled items: %.1f%%\n", (long long)judged, 100.0 * accuracy);

    // Every item labelled, a fraction of them wrongly (a uniformly random other class).
    std::string noisyCsv = "index,label\n";
    std::vector<char> isWrong(size_t(n), 0);
    std::bernoulli_distribution flip(*noise);
    std::uniform_int_distribution<size_t> other(1, classNames.size() - 1);
    for (int64_t i = 0; i < n; ++i) {
        std::string label = truth[size_t(i)];
        if (classNames.size() > 1 && flip(rng)) {
            const size_t at = size_t(std::find(classNames.begin(), classNames.end(), label) - classNames.begin());
            label = classNames[(at + other(rng)) % classNames.size()];
            isWrong[size_t(i)] = 1;
        }
        noisyCsv += std::to_string(i) + "," + csvField(label) + "\n";
    }
    if (auto w = writeFileAtomically(file("noisy-labels.csv"), noisyCsv); !w)
        return reportError(w.error());
    const auto wrong = std::count(isWrong.begin(), isWrong.end(), 1);
    std::printf("\nwrote %s: every item labelled, %lld (%.1f%%) of them wrongly\n", file("noisy-labels.csv").c_str(),
                (long long)wrong, 100.0 * double(wrong) / double(n));
    if (int code = runStep("3. Audit the noisy labels", runAudit, "audit",
                           {"--embeddings", file("emb.npy"), "--labels", file("noisy-labels.csv"), "-o",
                            file("issues.csv"), "--stats", file("audit-stats.json")}))
        return code;
    auto issues = readResultRows(file("issues.csv"));
    if (!issues)
        return reportError(issues.error());
    int64_t truePositives = 0, flagged = 0, fixedRight = 0;
    for (const auto& [i, row] : *issues) {
        if (row.at(6) != "1")
            continue;
        ++flagged;
        truePositives += isWrong[size_t(i)];
        fixedRight += isWrong[size_t(i)] && row.at(2) == truth[size_t(i)];
    }
    const double precision = flagged ? double(truePositives) / double(flagged) : 0.0;
    const double recall = wrong ? double(truePositives) / double(wrong) : 0.0;
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    std::printf("flagged %lld items: precision %.3f, recall %.3f, F1 %.3f; the suggested fix is right for %.1f%% of "
                "the wrong labels it caught\n",
                (long long)flagged, precision, recall, f1,
                truePositives ? 100.0 * double(fixedRight) / double(truePositives) : 0.0);

    if (int code = runStep("4. Suggest the next items to label", runSuggest, "suggest",
                           {"--embeddings", file("emb.npy"), "--labels", file("labels.csv"), "--strategy", "density",
                            "--budget", "20", "-o", file("next.csv")}))
        return code;

    std::printf("\nDemo finished in %.1f s. Files are in %s/.\n", total.seconds(), out.string().c_str());
    std::printf("Summary: %.1f%% accuracy from %lld labels (%.2g%% of items); label audit F1 %.3f at %.0f%% noise.\n",
                100.0 * accuracy, (long long)labelled, 100.0 * double(labelled) / double(n), f1, 100.0 * *noise);
    return 0;
}

} // namespace labelprop::cli
