// labelprop-cli simulate: the paper's experiments with a simulated annotator (core/Simulation.h)
// on a labelled collection, written as CSV tables and PNG plots.
//
// runSimulate() reads the options (readSettings), loads or encodes the data (loadDataset), keeps
// the labelled items as the truth (labelledTruth), runs the simulation, then writes each
// experiment's table and plot (writeResults) and prints a summary (printSummary).

#include "ArgumentParser.h"
#include "CommandSupport.h"
#include "Commands.h"

#include "core/formats/Csv.h"
#include "core/encoders/Encoder.h"
#include "core/sources/ImageSource.h"
#include "core/sources/SubsetSource.h"
#include "core/experiments/LinePlot.h"
#include "core/experiments/Simulation.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

namespace labelprop::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultSource = "/usr/share/datasets/fashion-mnist";

// Ctrl-C asks the simulation to stop at its next check instead of killing it mid-write.
std::atomic<bool> g_interrupted{false};
extern "C" void onInterrupt(int)
{
    g_interrupted.store(true);
}

// A seeded random subset of `count` indices out of `total`, in ascending order.
std::vector<std::size_t> randomSubset(std::size_t total, std::size_t count, uint64_t seed)
{
    std::vector<std::size_t> order(total);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::mt19937_64 rng(seed ^ 0x5eed5eb5e7ULL);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(std::min(count, total));
    std::sort(order.begin(), order.end());
    return order;
}

// ---- options --------------------------------------------------------------------------------

// "a,b,c" -> parts, trimmed of spaces; empty parts are an error.
Expected<std::vector<std::string>> splitList(const std::string& text, const std::string& option)
{
    std::vector<std::string> parts;
    std::stringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) {
        const auto b = part.find_first_not_of(' '), e = part.find_last_not_of(' ');
        if (b == std::string::npos)
            return fail("labelprop-cli simulate: --" + option + " has an empty entry in '" + text + "'");
        parts.push_back(part.substr(b, e - b + 1));
    }
    if (parts.empty())
        return fail("labelprop-cli simulate: --" + option + " is empty");
    return parts;
}

Expected<std::vector<int64_t>> parseSchedule(const std::string& text)
{
    auto parts = splitList(text, "schedule");
    if (!parts)
        return std::unexpected(parts.error());
    std::vector<int64_t> counts;
    for (const auto& p : *parts) {
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (ec != std::errc() || end != p.data() + p.size() || v < 1)
            return fail("labelprop-cli simulate: --schedule: '" + p + "' is not a positive label count (e.g. 10,20,50,100)");
        counts.push_back(v);
    }
    std::sort(counts.begin(), counts.end());
    counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
    return counts;
}

Expected<std::vector<double>> parseRates(const std::string& text, const std::string& option)
{
    auto parts = splitList(text, option);
    if (!parts)
        return std::unexpected(parts.error());
    std::vector<double> rates;
    for (const auto& p : *parts) {
        double v = 0;
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (ec != std::errc() || end != p.data() + p.size() || !(v >= 0.0 && v <= 1.0))
            return fail("labelprop-cli simulate: --" + option + ": '" + p + "' is not a rate between 0 and 1 (e.g. 0.1,0.2)");
        rates.push_back(v);
    }
    return rates;
}

ArgumentParser simulateParser()
{
    ArgumentParser parser(
        "simulate",
        "Runs the BYOL+LP paper's experiments with a simulated annotator who answers with the true labels:\n"
        "  annotation  accuracy on the unlabelled items against the number of labels, from zero labels, for\n"
        "              every selection strategy; LP against a kNN vote over the labelled items only;\n"
        "  noise       noise level at each step of propagating noisy labels without clamp;\n"
        "  knn         weighted-kNN test accuracy with corrupted against LP-smoothed train labels.\n"
        "Writes annotation.csv, noise_by_step.csv, knn_accuracy.csv and a PNG plot of each to --out.");
    parser.addPositional("SOURCE",
                         std::string("a labelled image collection (folder of class subfolders, CSV, IDX files); "
                                     "default ")
                             + kDefaultSource,
                         false);
    parser.addOption("out", "DIR", "folder for the tables and plots (created)", std::nullopt, 'o');
    parser.addOption("embeddings", "EMB.npy", "use these embeddings instead of encoding SOURCE (with --items)");
    parser.addOption("items", "ITEMS.csv", "the items table written with the embeddings; its labels are the truth");
    parser.addOption("encoder", "SPEC", "encoder for SOURCE", "pca:64");
    parser.addOption("experiments", "LIST", "which experiments to run", "annotation,noise,knn");
    parser.addOption("schedule", "COUNTS", "cumulative label counts of the annotation experiment (kept below n)",
                     "10,20,50,100,200,500,1000,2000");
    parser.addOption("strategies", "LIST", "selection strategies to compare (default: all)");
    parser.addOption("noise-rates", "RATES", "label noise rates of the noise experiment",
                     "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9");
    parser.addOption("knn-rates", "RATES", "train label noise rates of the kNN experiment",
                     "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9");
    parser.addOption("train-count", "auto|N",
                     "kNN experiment: the first N items are train, the rest test; auto = the source's own split "
                     "(train files first, e.g. Fashion-MNIST 60,000/10,000), else a random 6/7 : 1/7 split; 0 = random",
                     "auto");
    addGraphOptions(parser);
    parser.addOption("iterations", "N", "propagation steps", "20");
    parser.addOption("seed", "N", "seed of every random choice", "1");
    parser.addOption("subset", "N", "use a seeded random subset of N items (quick runs)");
    return parser;
}

// What the options ask for. `options` still lacks the label schedule and the train count, which
// depend on the data (see fitToData).
struct SimulateSettings {
    std::string outDir;
    SimulationOptions options;
    std::vector<int64_t> schedule;     // --schedule, sorted, unique
    std::optional<int64_t> trainCount; // empty: auto
    std::optional<std::size_t> subset;
};

// --graph options, --iterations, --seed.
Expected<void> readRunOptions(const ArgumentParser& parser, SimulationOptions& options)
{
    auto graph = readGraphSettings(parser);
    if (!graph)
        return std::unexpected(graph.error());
    auto iterations = parser.integer("iterations", 1, 100000);
    if (!iterations)
        return std::unexpected(iterations.error());
    auto seed = parser.integer("seed", 0, std::numeric_limits<long long>::max());
    if (!seed)
        return std::unexpected(seed.error());
    options.k = graph->k;
    options.approximateKnn = graph->approximate;
    options.temperature = graph->temperature;
    options.threads = graph->threads;
    options.iterations = int(*iterations);
    options.seed = uint64_t(*seed);
    return {};
}

// --experiments and --strategies.
Expected<void> readExperiments(const ArgumentParser& parser, SimulationOptions& options)
{
    auto experiments = splitList(*parser.value("experiments"), "experiments");
    if (!experiments)
        return std::unexpected(experiments.error());
    options.runAnnotation = options.runNoise = options.runKnn = false;
    for (const auto& e : *experiments) {
        if (e == "annotation")
            options.runAnnotation = true;
        else if (e == "noise")
            options.runNoise = true;
        else if (e == "knn")
            options.runKnn = true;
        else
            return fail("labelprop-cli simulate: --experiments: unknown experiment '" + e
                        + "'; choose from annotation, noise, knn");
    }
    return {};
}

Expected<void> readStrategies(const ArgumentParser& parser, SimulationOptions& options)
{
    const auto list = parser.value("strategies");
    if (!list)
        return {};
    auto names = splitList(*list, "strategies");
    if (!names)
        return std::unexpected(names.error());
    for (const auto& n : *names) {
        auto s = parseSelectionStrategy(n);
        if (!s)
            return fail("labelprop-cli simulate: --strategies: " + s.error().message);
        options.strategies.push_back(*s);
    }
    return {};
}

// Reads and checks every option; the first bad one is reported.
Expected<SimulateSettings> readSettings(const ArgumentParser& parser)
{
    SimulateSettings s;
    auto outDir = parser.required("out");
    if (!outDir)
        return std::unexpected(outDir.error());
    s.outDir = *outDir;
    if (auto ok = readRunOptions(parser, s.options); !ok)
        return std::unexpected(ok.error());
    if (auto ok = readExperiments(parser, s.options); !ok)
        return std::unexpected(ok.error());
    auto schedule = parseSchedule(*parser.value("schedule"));
    if (!schedule)
        return std::unexpected(schedule.error());
    s.schedule = std::move(*schedule);
    if (auto ok = readStrategies(parser, s.options); !ok)
        return std::unexpected(ok.error());
    auto noiseRates = parseRates(*parser.value("noise-rates"), "noise-rates");
    if (!noiseRates)
        return std::unexpected(noiseRates.error());
    s.options.noiseRates = std::move(*noiseRates);
    auto knnRates = parseRates(*parser.value("knn-rates"), "knn-rates");
    if (!knnRates)
        return std::unexpected(knnRates.error());
    s.options.knnNoiseRates = std::move(*knnRates);
    if (parser.value("train-count") != "auto") {
        auto n = parser.integer("train-count", 0, std::numeric_limits<int32_t>::max());
        if (!n)
            return std::unexpected(n.error());
        s.trainCount = *n;
    }
    if (parser.value("subset")) {
        auto n = parser.integer("subset", 20, std::numeric_limits<int32_t>::max());
        if (!n)
            return std::unexpected(n.error());
        s.subset = std::size_t(*n);
    }
    return s;
}

Expected<void> createOutputFolder(const std::string& dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir))
        return fail(dir + ": cannot create the output folder (" + (ec ? ec.message() : "not a folder")
                    + "); choose a writable --out");
    return {};
}

// ---- data -----------------------------------------------------------------------------------

bool containsTrain(const std::string& path)
{
    std::string lower = path;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return lower.find("train") != std::string::npos;
}

// The items' own train/test split: a leading run of items whose path says "train" followed only
// by items whose path does not (Fashion-MNIST IDX: 60,000 train, then 10,000 t10k). 0: none.
int64_t detectTrainCount(const std::vector<Item>& items)
{
    int64_t run = 0;
    while (run < int64_t(items.size()) && containsTrain(items[size_t(run)].path))
        ++run;
    if (run == 0 || run == int64_t(items.size()))
        return 0;
    for (size_t i = size_t(run); i < items.size(); ++i)
        if (containsTrain(items[i].path))
            return 0;
    return run;
}

struct Dataset {
    EmbeddingMatrix embeddings;
    std::vector<Item> items;
    std::string name; // for titles
    std::string origin; // for the summary
};

// --embeddings and --items: the pair `labelprop-cli embed` wrote, optionally a random subset.
Expected<Dataset> loadEmbedded(const std::string& embeddingsPath, const std::string& itemsPath,
                               std::optional<std::size_t> subset, uint64_t seed)
{
    auto x = loadEmbeddings(embeddingsPath);
    if (!x)
        return std::unexpected(x.error());
    auto items = readItemsCsv(itemsPath);
    if (!items)
        return std::unexpected(items.error());
    if (int64_t(items->size()) != x->rows())
        return fail(itemsPath + ": lists " + std::to_string(items->size()) + " items but " + embeddingsPath + " has "
                    + std::to_string(x->rows()) + " rows; pass the pair written by the same embed run");
    Dataset data;
    data.embeddings = std::move(*x);
    data.items = std::move(*items);
    if (subset && *subset < data.items.size()) {
        const auto keep = randomSubset(data.items.size(), *subset, seed);
        EmbeddingMatrix sub(Eigen::Index(keep.size()), data.embeddings.cols());
        std::vector<Item> subItems;
        for (size_t r = 0; r < keep.size(); ++r) {
            sub.row(Eigen::Index(r)) = data.embeddings.row(Eigen::Index(keep[r]));
            subItems.push_back(data.items[keep[r]]);
        }
        data.embeddings = std::move(sub);
        data.items = std::move(subItems);
    }
    data.name = fs::path(embeddingsPath).stem().string();
    data.origin = embeddingsPath + " + " + itemsPath;
    return data;
}

// SOURCE encoded with --encoder, optionally a random subset of it.
Expected<Dataset> encodeSource(const std::string& sourcePath, const std::string& spec, std::optional<std::size_t> subset,
                               uint64_t seed)
{
    if (sourcePath.ends_with(".npy"))
        return fail("labelprop-cli simulate: " + sourcePath + " holds embeddings, not images; pass it as --embeddings "
                    + sourcePath + " --items ITEMS.csv (the items table written beside it)");
    auto source = openImageSource(sourcePath);
    if (!source)
        return std::unexpected(source.error());
    for (const auto& warning : (*source)->warnings())
        std::cerr << "labelprop-cli simulate: warning: " << warning << "\n";
    auto encoder = makeEncoder(spec);
    if (!encoder)
        return std::unexpected(encoder.error());
    std::unique_ptr<SubsetSource> subsetSource;
    const ImageSource* input = source->get();
    std::string what = input->describe();
    if (subset && *subset < input->size()) {
        subsetSource = std::make_unique<SubsetSource>(*input, randomSubset(input->size(), *subset, seed));
        input = subsetSource.get();
        what += " (a random subset of " + std::to_string(input->size()) + ")";
    }
    std::cerr << "labelprop-cli simulate: encoding " << what << " with " << (*encoder)->id() << "\n";
    auto encoded = (*encoder)->encode(*input, [](std::size_t, std::size_t) { return !g_interrupted.load(); });
    if (!encoded)
        return std::unexpected(encoded.error());
    if (!encoded->skipped.empty())
        std::cerr << "labelprop-cli simulate: " << encoded->skipped.size() << " items could not be decoded and are left out (first: "
                  << encoded->skipped.front() << ")\n";
    Dataset data;
    data.embeddings = std::move(encoded->embeddings);
    data.items = std::move(encoded->items);
    data.name = fs::path(sourcePath).filename().string();
    if (data.name.empty())
        data.name = fs::path(sourcePath).parent_path().filename().string();
    data.origin = sourcePath + " (" + (*encoder)->id() + ")";
    return data;
}

Expected<Dataset> loadDataset(const ArgumentParser& parser, std::optional<std::size_t> subset, uint64_t seed)
{
    const auto embeddingsPath = parser.value("embeddings");
    const auto itemsPath = parser.value("items");
    if (!embeddingsPath && !itemsPath)
        return encodeSource(parser.positional(0).value_or(kDefaultSource), parser.value("encoder").value_or("pca:64"),
                            subset, seed);
    if (!embeddingsPath || !itemsPath)
        return fail("labelprop-cli simulate: --embeddings and --items go together (the .npy and the items.csv "
                    "that `labelprop-cli embed` wrote)");
    if (parser.positional(0))
        return fail("labelprop-cli simulate: give either SOURCE or --embeddings/--items, not both");
    return loadEmbedded(*embeddingsPath, *itemsPath, subset, seed);
}

// The truth: every item with a label, as a class id; unlabelled items are dropped from `data`.
struct Truth {
    std::vector<int32_t> labels; // class id per item of data
    int classes = 0;
};

Expected<Truth> labelledTruth(Dataset& data)
{
    std::vector<int32_t> keep;
    std::vector<std::string> names;
    for (size_t i = 0; i < data.items.size(); ++i)
        if (!data.items[i].label.empty()) {
            keep.push_back(int32_t(i));
            names.push_back(data.items[i].label);
        }
    if (keep.size() < data.items.size()) {
        std::cerr << "labelprop-cli simulate: " << data.items.size() - keep.size()
                  << " items have no label and are left out\n";
        EmbeddingMatrix x(Eigen::Index(keep.size()), data.embeddings.cols());
        std::vector<Item> items;
        for (size_t r = 0; r < keep.size(); ++r) {
            x.row(Eigen::Index(r)) = data.embeddings.row(keep[r]);
            items.push_back(data.items[size_t(keep[r])]);
        }
        data.embeddings = std::move(x);
        data.items = std::move(items);
    }
    const ClassIndex classes = ClassIndex::fromNames(names);
    if (classes.size() < 2)
        return fail("labelprop-cli simulate: " + data.origin + " has " + std::to_string(classes.size())
                    + " labelled class(es); the simulation needs a labelled collection with at least 2 classes");
    Truth truth{std::vector<int32_t>(data.items.size()), classes.size()};
    for (size_t i = 0; i < truth.labels.size(); ++i)
        truth.labels[i] = classes.id(data.items[i].label);
    return truth;
}

// Completes `s.options` for n labelled items: the schedule counts below n, and the train count.
Expected<void> fitToData(SimulateSettings& s, const std::vector<Item>& items)
{
    SimulationOptions& options = s.options;
    const int64_t n = int64_t(items.size());
    if (n <= options.k + 1)
        return fail("labelprop-cli simulate: " + std::to_string(n) + " labelled items are too few for k = "
                    + std::to_string(options.k));
    for (const int64_t count : s.schedule)
        if (count < n)
            options.labelSchedule.push_back(count);
    if (options.runAnnotation && options.labelSchedule.empty())
        return fail("labelprop-cli simulate: every --schedule count is at least the number of items ("
                    + std::to_string(n) + "); give smaller counts");
    options.trainCount = s.trainCount.value_or(detectTrainCount(items));
    if (options.trainCount >= n)
        return fail("labelprop-cli simulate: --train-count " + std::to_string(options.trainCount)
                    + " leaves no test items (there are " + std::to_string(n) + ")");
    return {};
}

// ---- tables and plots, one experiment at a time ---------------------------------------------

std::string fixed(double v, int decimals)
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
    return buffer;
}

std::vector<std::string> strategyNames(const SimulationReport& report)
{
    std::vector<std::string> names;
    for (const auto& p : report.annotation) {
        const std::string name(selectionStrategyName(p.strategy));
        if (std::find(names.begin(), names.end(), name) == names.end())
            names.push_back(name);
    }
    return names;
}

std::string annotationTable(const SimulationReport& report)
{
    std::string csv = "strategy,labels,method,accuracy\n";
    for (const auto& p : report.annotation) {
        const std::string strategy(selectionStrategyName(p.strategy));
        csv += csvLine({strategy, std::to_string(p.labels), "lp", fixed(p.lpAccuracy, 6)});
        csv += csvLine({strategy, std::to_string(p.labels), "labelled-only", fixed(p.labelledOnlyAccuracy, 6)});
    }
    return csv;
}

// A plot of a rate or accuracy: y from 0 to 1.
PlotSpec unitPlot(std::string title, std::string xLabel, std::string yLabel)
{
    PlotSpec spec;
    spec.title = std::move(title);
    spec.xLabel = std::move(xLabel);
    spec.yLabel = std::move(yLabel);
    spec.yMin = 0.0;
    spec.yMax = 1.0;
    return spec;
}

// `where`: "<data set>, <n> items", for the title.
PlotSpec annotationPlot(const SimulationReport& report, const std::string& where)
{
    PlotSpec spec = unitPlot("Annotation from zero labels (" + where + ")", "labelled items (log scale)",
                             "accuracy on the unlabelled items");
    spec.logX = true;
    const auto names = strategyNames(report);
    for (size_t s = 0; s < names.size(); ++s) {
        PlotSeries lp{names[s] + ": LP", {}, {}, int(s), false};
        PlotSeries only{names[s] + ": labelled only", {}, {}, int(s), true};
        for (const auto& p : report.annotation) {
            if (selectionStrategyName(p.strategy) != names[s])
                continue;
            lp.x.push_back(double(p.labels));
            lp.y.push_back(p.lpAccuracy);
            only.x.push_back(double(p.labels));
            only.y.push_back(p.labelledOnlyAccuracy);
        }
        spec.series.push_back(std::move(lp));
        spec.series.push_back(std::move(only));
    }
    return spec;
}

std::string noiseTable(const SimulationReport& report)
{
    std::string csv = "rate,step,noise_level\n";
    for (const auto& p : report.noise)
        csv += csvLine({fixed(p.rate, 4), std::to_string(p.step), fixed(p.noiseLevel, 6)});
    return csv;
}

PlotSpec noisePlot(const SimulationReport& report, const std::string& where)
{
    PlotSpec spec = unitPlot("Noisy labels propagated without clamp (" + where + ")", "propagation step",
                             "noise level (wrong labels)");
    std::map<double, PlotSeries> byRate;
    for (const auto& p : report.noise) {
        PlotSeries& s = byRate[p.rate];
        s.name = "noise " + fixed(p.rate * 100.0, p.rate * 100.0 == std::round(p.rate * 100.0) ? 0 : 1) + "%";
        s.x.push_back(p.step);
        s.y.push_back(p.noiseLevel);
    }
    for (auto& [rate, s] : byRate)
        spec.series.push_back(std::move(s));
    return spec;
}

std::string knnTable(const SimulationReport& report)
{
    std::string csv = "rate,corrupted_accuracy,smoothed_accuracy,audited_accuracy,smoothed_train_noise,"
                      "audited_train_noise\n";
    for (const auto& p : report.knn)
        csv += csvLine({fixed(p.rate, 4), fixed(p.corruptedAccuracy, 6), fixed(p.smoothedAccuracy, 6),
                        fixed(p.auditedAccuracy, 6), fixed(p.smoothedTrainNoise, 6), fixed(p.auditedTrainNoise, 6)});
    return csv;
}

PlotSpec knnPlot(const SimulationReport& report, const std::string& datasetName)
{
    PlotSpec spec = unitPlot("Weighted kNN test accuracy (" + datasetName + ": " + std::to_string(report.trainItems)
                                 + " train, " + std::to_string(report.testItems) + " test)",
                             "noise rate of the train labels", "test accuracy");
    PlotSeries corrupted{"train labels as corrupted", {}, {}, 3, false};
    PlotSeries smoothed{"all train labels smoothed by LP", {}, {}, 0, false};
    PlotSeries audited{"only flagged train labels replaced", {}, {}, 2, true};
    for (const auto& p : report.knn) {
        for (auto* s : {&corrupted, &smoothed, &audited})
            s->x.push_back(p.rate);
        corrupted.y.push_back(p.corruptedAccuracy);
        smoothed.y.push_back(p.smoothedAccuracy);
        audited.y.push_back(p.auditedAccuracy);
    }
    spec.series = {std::move(smoothed), std::move(audited), std::move(corrupted)};
    return spec;
}

// One experiment's results: its table and plot, written as <stem>.csv and <stem>.png.
struct ExperimentOutput {
    std::string stem;
    std::string table;
    PlotSpec plot;
};

// Writes the tables first, then the plots, of the experiments that ran; returns the paths written.
Expected<std::vector<std::string>> writeResults(const std::string& dir, const SimulationReport& report,
                                                const SimulationOptions& options, const std::string& datasetName)
{
    const std::string where = datasetName + ", " + std::to_string(report.items) + " items";
    std::vector<ExperimentOutput> outputs;
    if (options.runAnnotation)
        outputs.push_back({"annotation", annotationTable(report), annotationPlot(report, where)});
    if (options.runNoise)
        outputs.push_back({"noise_by_step", noiseTable(report), noisePlot(report, where)});
    if (options.runKnn)
        outputs.push_back({"knn_accuracy", knnTable(report), knnPlot(report, datasetName)});
    std::vector<std::string> written;
    for (const auto& o : outputs) {
        const std::string path = dir + "/" + o.stem + ".csv";
        if (auto ok = writeFileAtomically(path, o.table); !ok)
            return std::unexpected(ok.error());
        written.push_back(path);
    }
    for (const auto& o : outputs) {
        const std::string path = dir + "/" + o.stem + ".png";
        if (auto ok = writeLinePlotPng(path, o.plot); !ok)
            return std::unexpected(ok.error());
        written.push_back(path);
    }
    return written;
}

// ---- summary on stdout ----------------------------------------------------------------------

// Accuracy per label count (rows) and strategy (columns): LP, and the labelled-only vote in brackets.
void printAnnotationSummary(const SimulationReport& report)
{
    std::cout << "\nannotation from zero labels: accuracy on the unlabelled items, LP (labelled only)\n";
    const auto names = strategyNames(report);
    std::printf("%8s", "labels");
    for (const auto& n : names)
        std::printf("  %-17s", n.c_str());
    std::printf("\n");
    std::map<int64_t, std::map<std::string, const AnnotationPoint*>> rows;
    for (const auto& p : report.annotation)
        rows[p.labels][std::string(selectionStrategyName(p.strategy))] = &p;
    for (const auto& [labels, cells] : rows) {
        std::printf("%8lld", static_cast<long long>(labels));
        for (const auto& n : names) {
            const auto it = cells.find(n);
            const std::string cell = it == cells.end() ? "-"
                                                       : fixed(it->second->lpAccuracy, 3) + " ("
                                                             + fixed(it->second->labelledOnlyAccuracy, 3) + ")";
            std::printf("  %-17s", cell.c_str());
        }
        std::printf("\n");
    }
    std::fflush(stdout);
}

// Noise level per rate at a few steps, the best step, and the last step (`steps`).
void printNoiseSummary(const SimulationReport& report, int steps)
{
    std::cout << "\nnoise level while propagating noisy labels without clamp\n";
    std::cout << "    rate  step 0  step 1  step 3  step 5  best (step)  step " << steps << "\n";
    std::map<double, std::vector<const NoisePoint*>> byRate;
    for (const auto& p : report.noise)
        byRate[p.rate].push_back(&p);
    for (const auto& [rate, points] : byRate) {
        const auto at = [&](int step) {
            for (const auto* p : points)
                if (p->step == step)
                    return fixed(p->noiseLevel, 3);
            return std::string("-");
        };
        const auto best = *std::min_element(points.begin(), points.end(),
                                            [](const auto* a, const auto* b) { return a->noiseLevel < b->noiseLevel; });
        std::printf("%8s  %6s  %6s  %6s  %6s  %5s (%2d)  %7s\n", fixed(rate, 2).c_str(), at(0).c_str(), at(1).c_str(),
                    at(3).c_str(), at(5).c_str(), fixed(best->noiseLevel, 3).c_str(), best->step,
                    at(steps).c_str());
    }
    std::fflush(stdout);
}

// Test accuracy and train-label noise per rate of the kNN experiment (`k` neighbours).
void printKnnSummary(const SimulationReport& report, int k)
{
    std::cout << "\nweighted kNN (k = " << k << ") on " << report.testItems << " test items against "
              << report.trainItems << " train items\n";
    std::cout << "test accuracy with the train labels as corrupted / smoothed by LP / with only flagged ones "
                 "replaced,\nand the train labels' noise after smoothing / after replacing the flagged ones\n";
    std::cout << "    rate  corrupted  smoothed  flagged    noise: smoothed  flagged\n";
    for (const auto& p : report.knn)
        std::printf("%8s  %9s  %8s  %7s           %8s  %7s\n", fixed(p.rate, 2).c_str(),
                    fixed(p.corruptedAccuracy, 4).c_str(), fixed(p.smoothedAccuracy, 4).c_str(),
                    fixed(p.auditedAccuracy, 4).c_str(), fixed(p.smoothedTrainNoise, 4).c_str(),
                    fixed(p.auditedTrainNoise, 4).c_str());
    std::fflush(stdout);
}

void printSummary(const SimulationReport& report, const SimulationOptions& options, double loadSeconds)
{
    std::cout << "simulate: " << report.items << " items, " << report.classes << " classes, k = " << report.k
              << ", T = " << fixed(report.temperature, 4) << "\n";
    if (options.runAnnotation && !report.annotation.empty())
        printAnnotationSummary(report);
    if (options.runNoise && !report.noise.empty())
        printNoiseSummary(report, options.noiseSteps);
    if (options.runKnn && !report.knn.empty())
        printKnnSummary(report, options.knnK);
    std::cout << "\ntimes: load " << fixed(loadSeconds, 1) << " s, graph " << fixed(report.graphSeconds, 1) << " s, annotation " << fixed(report.annotationSeconds, 1)
              << " s, noise " << fixed(report.noiseSeconds, 1) << " s, knn " << fixed(report.knnSeconds, 1) << " s\n";
}

// Progress on stderr: one line per stage, with a live percentage on a terminal.
class ProgressPrinter {
public:
    void operator()(std::string_view stage, double fraction)
    {
        const int percent = int(fraction * 100.0);
        if (stage != m_stage) {
            if (m_tty && !m_stage.empty())
                std::cerr << "\n";
            m_stage = std::string(stage);
            m_percent = -1;
            if (!m_tty)
                std::cerr << "labelprop-cli simulate: " << m_stage << "\n";
        }
        if (m_tty && percent != m_percent) {
            m_percent = percent;
            std::cerr << "\rlabelprop-cli simulate: " << m_stage << " " << percent << "%" << std::flush;
        }
    }
    void finish()
    {
        if (m_tty && !m_stage.empty())
            std::cerr << "\n";
    }

private:
    bool m_tty = ::isatty(STDERR_FILENO) != 0;
    std::string m_stage;
    int m_percent = -1;
};

} // namespace

int runSimulate(const std::vector<std::string>& args)
{
    ArgumentParser parser = simulateParser();
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto settings = readSettings(parser);
    if (!settings)
        return reportError(settings.error());
    if (auto ok = createOutputFolder(settings->outDir); !ok)
        return reportError(ok.error());

    std::signal(SIGINT, onInterrupt);
    Stopwatch clock;
    auto data = loadDataset(parser, settings->subset, settings->options.seed);
    if (!data)
        return reportError(data.error());
    const double loadSeconds = clock.seconds();
    auto truth = labelledTruth(*data);
    if (!truth)
        return reportError(truth.error());
    if (auto ok = fitToData(*settings, data->items); !ok)
        return reportError(ok.error());

    SimulationOptions& options = settings->options;
    ProgressPrinter printer;
    options.progress = [&printer](std::string_view stage, double fraction) { printer(stage, fraction); };
    options.cancel = &g_interrupted;
    auto report = runSimulation(data->embeddings, truth->labels, truth->classes, options);
    printer.finish();
    std::signal(SIGINT, SIG_DFL);
    if (!report)
        return reportError(report.error());

    auto written = writeResults(settings->outDir, *report, options, data->name);
    if (!written)
        return reportError(written.error());
    std::cout << "data: " << data->origin << "\n";
    printSummary(*report, options, loadSeconds);
    std::cout << "total " << fixed(clock.seconds(), 1) << " s\n\nwrote:\n";
    for (const auto& path : *written)
        std::cout << "  " << path << "\n";
    return 0;
}

} // namespace labelprop::cli
