// kernel_bench: times the engine's SIMD kernels at every level this build and CPU can run
// (AVX-512, AVX2, baseline; see core/base/SimdLevel.h), on one machine, so a slow path that
// another CPU would take shows here too. Per level it prints the median [min-max] of --runs
// timings of
//   - the exact self-kNN search (k = 10; OpenBLAS sgemm tiles + our top-k tile scans), and
//   - 20 propagation steps with hard clamp (propagateLabels, as the CLI's propagate stage; each
//     timing the mean of 10 back-to-back calls),
// on the Fashion-MNIST graph built through the core (IDX source, pca:64 as `labelprop-cli embed`,
// T = 0.05, 1% of the items seeded with their labels), and checks that every level's kNN graph
// and scores equal the baseline's (computed once, untimed). The levels are timed in rounds, one
// run of each per round in rotated order, so a disturbance hits them alike, and each level's
// propagation is also given as the median of its per-round ratio to the first level's; a round
// disturbed by other processes is taken again. It also prints the CPU (lscpu's model name,
// the CPUID brand, family, SIMD flags) and the level the dispatch picks when nothing forces one
// (core/engine/SimdDispatch.h: measured at first use, or LABELPROP_SIMD), with its timings.
// bench/kernel_levels.py adds the scipy CSR loop reference.
//
// Only our kernels change with the level: OpenBLAS picks its own sgemm kernel for the CPU
// (OPENBLAS_CORETYPE=Haswell makes it take the AVX2 one; see bench/README.md).

#include "core/base/SimdLevel.h"
#include "core/base/Stopwatch.h"
#include "core/encoders/Encoder.h"
#include "core/engine/AffinityGraph.h"
#include "core/engine/KnnSearch.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/SimdDispatch.h"
#include "core/sources/ImageSource.h"

#include <cblas.h>
#include <sys/resource.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace labelprop;

namespace {

struct BenchOptions {
    std::string data = "/usr/share/datasets/fashion-mnist";
    std::string encoder = "pca:64";
    int runs = 5;
    int threads = 0; // 0: all hardware threads
    int k = 10;
    int steps = 20;
    float temperature = 0.05f;
    double seededFraction = 0.01;
    std::vector<SimdLevel> levels; // empty: every level of this CPU, best first
    std::string json;              // write the figures here as JSON
    std::string knnOut;            // write the first level's kNN graph here as an edge list
};

constexpr const char* kUsage =
    "usage: kernel_bench [--data DIR] [--encoder SPEC] [--runs N] [--threads N] [--levels L1,L2,...]\n"
    "                    [--json FILE] [--knn-out FILE.csv]\n"
    "  --data DIR       image source to encode (default /usr/share/datasets/fashion-mnist)\n"
    "  --encoder SPEC   encoder spec as `labelprop-cli embed --encoder` (default pca:64)\n"
    "  --runs N         timed runs per figure and level (default 5)\n"
    "  --threads N      worker threads (default: all hardware threads)\n"
    "  --levels LIST    SIMD levels to time, comma-separated: avx512, avx2, baseline (default: all this CPU runs)\n"
    "  --json FILE      also write every timing as JSON\n"
    "  --knn-out FILE   write the exact kNN graph as index,neighbour,rank,similarity rows (as `labelprop-cli knn`)\n";

Expected<int> positiveInteger(const std::string& flag, const std::string& text)
{
    try {
        size_t used = 0;
        const int value = std::stoi(text, &used);
        if (used == text.size() && value > 0)
            return value;
    } catch (const std::exception&) {
    }
    return fail(flag + ": '" + text + "' is not a positive integer");
}

Expected<BenchOptions> parseArguments(int argc, char** argv)
{
    BenchOptions options;
    for (int a = 1; a < argc; ++a) {
        const std::string flag = argv[a];
        if (flag == "--help" || flag == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        }
        if (a + 1 >= argc)
            return fail(flag + ": unknown option or missing value\n" + kUsage);
        const std::string value = argv[++a];
        if (flag == "--data") {
            options.data = value;
        } else if (flag == "--encoder") {
            options.encoder = value;
        } else if (flag == "--json") {
            options.json = value;
        } else if (flag == "--knn-out") {
            options.knnOut = value;
        } else if (flag == "--runs" || flag == "--threads") {
            auto number = positiveInteger(flag, value);
            if (!number)
                return std::unexpected(number.error());
            (flag == "--runs" ? options.runs : options.threads) = *number;
        } else if (flag == "--levels") {
            for (size_t from = 0; from <= value.size();) {
                const size_t comma = std::min(value.find(',', from), value.size());
                auto level = parseSimdLevel(value.substr(from, comma - from), cpuSimdLevels(), "--levels");
                if (!level)
                    return std::unexpected(level.error());
                options.levels.push_back(*level);
                from = comma + 1;
            }
        } else {
            return fail(flag + ": unknown option\n" + kUsage);
        }
    }
    if (options.levels.empty())
        options.levels.assign(cpuSimdLevels().rbegin(), cpuSimdLevels().rend());
    return options;
}

struct Spread {
    double median = 0, min = 0, max = 0;
};

Spread spreadOf(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    const double median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    return {median, values.front(), values.back()};
}

// The encoded source: L2-normalised rows and the class of every item (its label's rank among
// the sorted distinct labels).
struct Dataset {
    EmbeddingMatrix x;
    std::vector<int32_t> classes;
    int classCount = 0;
};

Expected<Dataset> encodeSource(const BenchOptions& options)
{
    auto encoder = makeEncoder(options.encoder);
    if (!encoder)
        return std::unexpected(encoder.error());
    auto source = openImageSource(options.data);
    if (!source)
        return std::unexpected(source.error());
    auto encoded = (*encoder)->encode(**source);
    if (!encoded)
        return std::unexpected(encoded.error());
    std::map<std::string, int32_t> classOf;
    for (const Item& item : encoded->items)
        classOf.emplace(item.label, 0);
    int32_t next = 0;
    for (auto& [label, index] : classOf)
        index = next++;
    Dataset data;
    data.x = std::move(encoded->embeddings);
    for (const Item& item : encoded->items)
        data.classes.push_back(classOf[item.label]);
    data.classCount = int(classOf.size());
    return data;
}

// A fixed draw of round(fraction n) items (at least one) seeded with their class; -1 elsewhere.
std::vector<int32_t> drawSeeds(const Dataset& data, double fraction)
{
    std::vector<int32_t> order(data.classes.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(20211121);
    std::shuffle(order.begin(), order.end(), rng);
    const size_t count = std::max<size_t>(1, size_t(std::lround(fraction * double(order.size()))));
    std::vector<int32_t> seeds(order.size(), -1);
    for (size_t a = 0; a < count; ++a)
        seeds[size_t(order[a])] = data.classes[size_t(order[a])];
    return seeds;
}

Expected<void> writeEdgeList(const std::string& path, const KnnGraph& knn)
{
    std::ofstream out(path);
    out << "index,neighbour,rank,similarity\n";
    char similarity[32];
    for (int64_t i = 0; i < knn.rows; ++i)
        for (int a = 0; a < knn.k; ++a) {
            std::snprintf(similarity, sizeof similarity, "%.9g", double(knn.similaritiesOf(i)[a]));
            out << i << ',' << knn.neighboursOf(i)[a] << ',' << a + 1 << ',' << similarity << '\n';
        }
    out.close();
    if (!out)
        return fail(path + ": cannot write the kNN edge list; check that the folder exists and is writable");
    return {};
}

// Cores other processes kept busy since construction: the machine's busy CPU time (/proc/stat,
// every CPU, in clock ticks of 10 ms) minus this process's own (every thread), over the wall
// time. A timing taken while other processes ran is inflated (on 2 cores one busy neighbour
// doubles a 2-thread timing), so such runs are taken again. NaN where /proc/stat cannot be read.
class OtherLoad {
public:
    OtherLoad() : m_machine(machineBusySeconds()), m_own(ownCpuSeconds()) {}
    [[nodiscard]] double cores() const
    {
        return std::max(0.0, (machineBusySeconds() - m_machine - (ownCpuSeconds() - m_own)) / m_clock.seconds());
    }

private:
    static double machineBusySeconds()
    {
        std::ifstream stat("/proc/stat");
        std::string cpu;
        long long ticks[8] = {}; // user nice system idle iowait irq softirq steal
        stat >> cpu;
        for (long long& t : ticks)
            stat >> t;
        if (!stat || cpu != "cpu")
            return std::nan("");
        return double(std::accumulate(ticks, ticks + 8, 0LL) - ticks[3] - ticks[4]) / double(sysconf(_SC_CLK_TCK));
    }
    static double ownCpuSeconds()
    {
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        const auto seconds = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
        return seconds(usage.ru_utime) + seconds(usage.ru_stime);
    }

    Stopwatch m_clock;
    double m_machine;
    double m_own;
};
// Cores other processes may use during a kept run. Low: with a worker thread per core, the
// slowest thread sets the time, so a neighbour on one core for a quarter of a run shows (on 2
// cores, propagation runs with 0.28 cores of others measured 25 ms, idle ones 15 ms).
constexpr double kDisturbed = 0.15;

// Waits (at most 30 s) until other processes use at most kDisturbed cores over half a second.
void waitUntilQuiet()
{
    for (int tries = 0; tries < 60; ++tries) {
        const OtherLoad load;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        if (!(load.cores() > kDisturbed))
            return;
    }
}

struct Timings {
    std::vector<double> seconds; // the kept runs, in call order
    std::vector<double> ratios;  // seconds / the first level's seconds in the same round, kept rounds
    double worstOthers = 0;      // most cores other processes used during a kept round
    int calls = 0;
};

// Rounds of one call per level (`run(a)` times level a of `levels`), the order rotated each
// round, so that a disturbance lasting seconds (another process, or the host: this is often a
// virtual machine whose neighbours /proc/stat cannot see) lands on every level alike instead of
// on whichever level was being timed then. Timing the levels one after another, as this bench
// did before, made one level look up to 2x slower than another on an idle Zen 5 whose kernels
// ran equally fast when interleaved. A round in which other processes used more than kDisturbed
// cores during a call counts as disturbed and is followed by a wait for a quiet machine; rounds
// are taken until `runs` were undisturbed or 3 x runs were made, and the `runs` least disturbed
// are kept. Returns one Timings per level.
template <class Run>
Expected<std::vector<Timings>> timeInterleaved(int runs, size_t levels, Run&& run)
{
    struct Round {
        std::vector<double> seconds;
        double others = 0;
    };
    std::vector<Round> rounds;
    int undisturbed = 0;
    while (undisturbed < runs && int(rounds.size()) < 3 * runs) {
        Round round{std::vector<double>(levels, 0.0), 0.0};
        for (size_t step = 0; step < levels; ++step) {
            const size_t a = (step + rounds.size()) % levels;
            const OtherLoad load;
            Stopwatch clock;
            if (auto done = run(a); !done)
                return std::unexpected(done.error());
            round.seconds[a] = clock.seconds();
            round.others = std::max(round.others, load.cores());
        }
        const bool disturbed = round.others > kDisturbed;
        rounds.push_back(std::move(round));
        if (disturbed)
            waitUntilQuiet();
        else
            ++undisturbed;
    }
    std::vector<size_t> order(rounds.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rounds[a].others < rounds[b].others; });
    order.resize(std::min(order.size(), size_t(runs)));
    std::sort(order.begin(), order.end());
    std::vector<Timings> out(levels);
    for (size_t a = 0; a < levels; ++a) {
        out[a].calls = int(rounds.size());
        for (const size_t r : order) {
            out[a].seconds.push_back(rounds[r].seconds[a]);
            out[a].ratios.push_back(rounds[r].seconds[a] / rounds[r].seconds[0]);
            out[a].worstOthers = std::max(out[a].worstOthers, rounds[r].others);
        }
    }
    return out;
}

// What lscpu shows of the CPU (its 'Model name' is /proc/cpuinfo's "model name", which under a
// hypervisor can differ from the CPUID brand string), and which of the SIMD flags the levels
// need it lists.
struct CpuInfo {
    std::string modelName = "unknown", family = "?", model = "?", simdFlags;
};

CpuInfo readCpuInfo()
{
    CpuInfo info;
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    const auto value = [&] { return line.substr(std::min(line.size(), line.find(':') + 2)); };
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0)
            info.modelName = value();
        else if (line.rfind("cpu family", 0) == 0)
            info.family = value();
        else if (line.rfind("model\t", 0) == 0)
            info.model = value();
        else if (line.rfind("flags", 0) == 0) {
            const std::string flags = " " + value() + " ";
            for (const char* flag : {"avx2", "avx512f", "avx512vl", "avx512bw", "avx512dq"})
                if (flags.find(" " + std::string(flag) + " ") != std::string::npos)
                    info.simdFlags += (info.simdFlags.empty() ? "" : " ") + std::string(flag);
            break; // the first CPU's entry is enough
        }
    }
    if (info.simdFlags.empty())
        info.simdFlags = "none of avx2, avx512*";
    return info;
}

void reportError(const Error& error)
{
    std::fprintf(stderr, "kernel_bench: error: %s\n", error.message.c_str());
}

// What the levels are checked against: the baseline's graph, S built from it, its scores.
struct Reference {
    KnnGraph knn;
    SparseGraph affinity;
    std::vector<float> scores;
};

KnnOptions knnOptionsAt(const BenchOptions& options, int threads, SimdLevel level)
{
    KnnOptions knn;
    knn.k = options.k;
    knn.threads = threads;
    knn.simd = level;
    return knn;
}

PropagationOptions propagationOptionsAt(const BenchOptions& options, int threads, SimdLevel level)
{
    PropagationOptions propagation;
    propagation.iterations = options.steps;
    propagation.clamp.kind = ClampMode::Kind::Hard;
    propagation.threads = threads;
    propagation.simd = level;
    return propagation;
}

Expected<Reference> computeReference(const BenchOptions& options, int threads, const Dataset& data,
                                     const std::vector<int32_t>& seeds)
{
    Reference reference;
    auto knn = searchSelfKnn(data.x, knnOptionsAt(options, threads, SimdLevel::Baseline));
    if (!knn)
        return std::unexpected(knn.error());
    reference.knn = std::move(*knn);
    auto affinity = buildNormalisedAffinity(reference.knn, options.temperature);
    if (!affinity)
        return std::unexpected(affinity.error());
    reference.affinity = std::move(*affinity);
    auto result = propagateLabels(reference.affinity, seeds, data.classCount,
                                  propagationOptionsAt(options, threads, SimdLevel::Baseline));
    if (!result)
        return std::unexpected(result.error());
    reference.scores = std::move(result->scores);
    return reference;
}

// One propagation timing is the mean of this many back-to-back calls: a single call (about
// 20 ms) is too short for /proc/stat's 10 ms ticks to tell whether other processes ran meanwhile.
constexpr int kPropagationsPerRun = 10;

struct LevelFigures {
    SimdLevel level = SimdLevel::Baseline;
    Timings knn, propagate;
    int64_t knnMismatches = 0;  // neighbour entries that differ from the baseline's graph
    double scoreDifference = 0; // largest |score - baseline's score|
};

// --runs timings of the kNN search, then of the propagation, at every level of options.levels
// (interleaved: timeInterleaved), compared with `reference`.
Expected<std::vector<LevelFigures>> measureLevels(const BenchOptions& options, int threads, const Dataset& data,
                                                  const std::vector<int32_t>& seeds, const Reference& reference)
{
    std::vector<LevelFigures> figures(options.levels.size());
    for (size_t a = 0; a < figures.size(); ++a)
        figures[a].level = options.levels[a];
    auto knn = timeInterleaved(options.runs, figures.size(), [&](size_t a) -> Expected<void> {
        LevelFigures& f = figures[a];
        auto found = searchSelfKnn(data.x, knnOptionsAt(options, threads, f.level));
        if (!found)
            return std::unexpected(found.error());
        f.knnMismatches = 0;
        for (size_t e = 0; e < found->neighbours.size(); ++e)
            f.knnMismatches += found->neighbours[e] != reference.knn.neighbours[e];
        return {};
    });
    if (!knn)
        return std::unexpected(knn.error());
    auto propagate = timeInterleaved(options.runs, figures.size(), [&](size_t a) -> Expected<void> {
        LevelFigures& f = figures[a];
        for (int call = 0; call < kPropagationsPerRun; ++call) {
            auto result = propagateLabels(reference.affinity, seeds, data.classCount,
                                          propagationOptionsAt(options, threads, f.level));
            if (!result)
                return std::unexpected(result.error());
            for (size_t e = 0; e < result->scores.size(); ++e)
                f.scoreDifference =
                    std::max(f.scoreDifference, double(std::abs(result->scores[e] - reference.scores[e])));
        }
        return {};
    });
    if (!propagate)
        return std::unexpected(propagate.error());
    for (size_t a = 0; a < figures.size(); ++a) {
        figures[a].knn = std::move((*knn)[a]);
        figures[a].propagate = std::move((*propagate)[a]);
        for (double& seconds : figures[a].propagate.seconds)
            seconds /= kPropagationsPerRun;
    }
    return figures;
}

int run(const BenchOptions& options)
{
    const int threads = options.threads > 0 ? options.threads : int(std::max(1u, std::thread::hardware_concurrency()));
    openblas_set_num_threads(threads);
    const CpuInfo cpu = readCpuInfo();
    std::printf("CPU: %s (lscpu 'Model name'; CPUID brand '%s'), family %s model %s; flags: %s; levels it runs:",
                cpu.modelName.c_str(), cpuModelName().c_str(), cpu.family.c_str(), cpu.model.c_str(),
                cpu.simdFlags.c_str());
    for (const SimdLevel level : cpuSimdLevels())
        std::printf(" %s", std::string(simdLevelName(level)).c_str());
    std::printf("\nOpenBLAS %s (core %s); %d threads\n", openblas_get_config(), openblas_get_corename(), threads);
    // Before the heavy work, as a program's first propagation would (it measures then).
    const std::string dispatch = describeProcessSimdLevel();
    const auto dispatchLevel = resolveSimdLevel({});
    std::printf("SIMD dispatch (kernel calls that force no level): %s\n", dispatch.c_str());

    Stopwatch clock;
    auto data = encodeSource(options);
    if (!data) {
        reportError(data.error());
        return 2;
    }
    const int64_t n = data->x.rows();
    const auto seeds = drawSeeds(*data, options.seededFraction);
    std::printf("%s: %lld x %lld (%s, %.1f s), %d classes, %lld seeded\n", options.data.c_str(), (long long)n,
                (long long)data->x.cols(), options.encoder.c_str(), clock.seconds(), data->classCount,
                (long long)std::count_if(seeds.begin(), seeds.end(), [](int32_t s) { return s >= 0; }));
    const auto reference = computeReference(options, threads, *data, seeds);
    if (!reference) {
        reportError(reference.error());
        return 2;
    }

    auto measured = measureLevels(options, threads, *data, seeds, *reference);
    if (!measured) {
        reportError(measured.error());
        return 2;
    }
    const std::vector<LevelFigures>& figures = *measured;

    const std::string first(simdLevelName(figures.front().level));
    std::printf("\nexact kNN k = %d and %d propagation steps (hard clamp, c = %d, nnz(S) = %lld; a run: the mean of %d "
                "calls); median [min-max] of %d runs, levels interleaved (one run of each per round, order rotated); "
                "x %s: the median over rounds of the propagation time / %s's in the same round; differences against "
                "the baseline; others: the most cores other processes used during a kept round (rounds above %.2f "
                "are taken again)\n",
                options.k, options.steps, data->classCount, (long long)reference->affinity.nnz(), kPropagationsPerRun,
                options.runs, first.c_str(), first.c_str(), kDisturbed);
    std::printf("%-9s %-26s %-26s %-11s %-16s %-18s %s\n", "level", "kNN (s)", "propagation (ms)",
                ("x " + first).c_str(), "kNN mismatches", "max |score diff|", "others (kNN, propagation)");
    nlohmann::json levels = nlohmann::json::array();
    const LevelFigures* fastest = &figures.front();
    for (const auto& f : figures) {
        const Spread knn = spreadOf(f.knn.seconds), lp = spreadOf(f.propagate.seconds);
        const double ratio = spreadOf(f.propagate.ratios).median;
        if (lp.median < spreadOf(fastest->propagate.seconds).median)
            fastest = &f;
        std::printf("%-9s %6.3f [%6.3f-%6.3f]     %7.1f [%7.1f-%7.1f]  %-11.2f %-16lld %-18.3g %.2f, %.2f\n",
                    std::string(simdLevelName(f.level)).c_str(), knn.median, knn.min, knn.max, lp.median * 1e3,
                    lp.min * 1e3, lp.max * 1e3, ratio, (long long)f.knnMismatches, f.scoreDifference,
                    f.knn.worstOthers, f.propagate.worstOthers);
        levels.push_back({{"level", simdLevelName(f.level)},
                          {"knn_seconds", f.knn.seconds},
                          {"propagate_seconds", f.propagate.seconds},
                          {"propagate_ratios", f.propagate.ratios},
                          {"propagate_ratio_median", ratio},
                          {"knn_calls", f.knn.calls},
                          {"propagate_calls", f.propagate.calls},
                          {"knn_median_s", knn.median},
                          {"propagate_median_s", lp.median},
                          {"knn_mismatches", f.knnMismatches},
                          {"max_score_difference", f.scoreDifference},
                          {"knn_other_processes_cores", f.knn.worstOthers},
                          {"propagate_other_processes_cores", f.propagate.worstOthers}});
    }
    std::printf("fastest propagation (median): %s; the dispatch picks %s\n",
                std::string(simdLevelName(fastest->level)).c_str(),
                dispatchLevel ? std::string(simdLevelName(*dispatchLevel)).c_str() : "nothing (see above)");
    if (!options.json.empty()) {
        nlohmann::json calibration = nlohmann::json::array();
        for (const auto& t : simdCalibration().timings)
            calibration.push_back({{"level", simdLevelName(t.level)}, {"seconds", t.seconds}});
        nlohmann::json seedList = nlohmann::json::array(); // [item, class] pairs, for the scipy reference
        for (int64_t i = 0; i < n; ++i)
            if (seeds[size_t(i)] >= 0)
                seedList.push_back({i, seeds[size_t(i)]});
        const nlohmann::json report = {{"cpu", cpuModelName()},
                                       {"cpu_model_name", cpu.modelName},
                                       {"cpu_family", cpu.family},
                                       {"cpu_model", cpu.model},
                                       {"cpu_simd_flags", cpu.simdFlags},
                                       {"dispatch", dispatch},
                                       {"dispatch_level", dispatchLevel ? simdLevelName(*dispatchLevel) : "none"},
                                       {"dispatch_calibration", calibration},
                                       {"openblas_core", openblas_get_corename()},
                                       {"threads", threads},
                                       {"data", options.data},
                                       {"encoder", options.encoder},
                                       {"n", n},
                                       {"d", data->x.cols()},
                                       {"classes", data->classCount},
                                       {"k", options.k},
                                       {"steps", options.steps},
                                       {"temperature", options.temperature},
                                       {"nnz", reference->affinity.nnz()},
                                       {"runs", options.runs},
                                       {"seeds", seedList},
                                       {"levels", levels}};
        std::ofstream out(options.json);
        out << report.dump(1) << '\n';
        if (!out) {
            reportError({options.json + ": cannot write the JSON report; check that the folder exists and is writable"});
            return 2;
        }
    }
    if (!options.knnOut.empty())
        if (auto written = writeEdgeList(options.knnOut, reference->knn); !written) {
            reportError(written.error());
            return 2;
        }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    const auto options = parseArguments(argc, argv);
    if (!options) {
        reportError(options.error());
        return 2;
    }
    return run(*options);
}
