// incremental_bench: what one click costs with IncrementalPropagation (bench/README.md).
//
// Graphs: Fashion-MNIST (70,000 items: pca:64 embeddings as `labelprop-cli embed` makes them, exact
// k = 10 kNN, T = automatic) and a synthetic one (default 1,000,000 items: random clustered
// embeddings, approximate k = 10 kNN). For each graph and each seed fraction (0.1%, 1%): build the
// incremental state, then time random single clicks (an unlabeled item gets its true label; a
// labeled one loses it) and batches of random items labelled at once, and the audit update after
// each. Prints median / p95 / max per update, the rows recomputed, and the largest probability
// difference against a from-scratch propagateLabels() at the end.
//
// Usage: incremental_bench [--fashion DIR | --no-fashion] [--synthetic N] [--clicks N] [--batches N]
//                          [--intrinsic D] [--batch-size N] [--max-error E] [--threads N] [--seed N]
//                          [--dense-fraction F]   (IncrementalOptions::fullRecomputeFraction)

#include "core/base/Embeddings.h"
#include "core/base/SimdLevel.h"
#include "core/encoders/Encoder.h"
#include "core/engine/AffinityGraph.h"
#include "core/engine/ApproximateKnn.h"
#include "core/engine/IncrementalPropagation.h"
#include "core/engine/KnnSearch.h"
#include "core/engine/LabelPropagation.h"
#include "core/engine/LabelQuality.h"
#include "core/engine/SimdDispatch.h"
#include "core/sources/ImageSource.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace labelprop;

namespace {

struct Settings {
    double denseFraction = IncrementalOptions{}.fullRecomputeFraction;
    std::string fashion = "/usr/share/datasets/fashion-mnist";
    int64_t synthetic = 1000000;
    int clicks = 500;
    int batches = 50;
    int batchSize = 200;
    int intrinsic = 4;
    double maxError = 1e-4;
    int threads = 2;
    uint64_t seed = 1;
};

double seconds(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

[[noreturn]] void die(const std::string& message)
{
    std::fprintf(stderr, "incremental_bench: %s\n", message.c_str());
    std::exit(2);
}

template <class T>
T orDie(Expected<T> value)
{
    if (!value)
        die(value.error().message);
    return std::move(*value);
}

struct Figures {
    std::vector<double> values;
    void add(double v) { values.push_back(v); }
    [[nodiscard]] double at(double quantile) const
    {
        std::vector<double> v = values;
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[size_t(std::min<double>(double(v.size() - 1), std::ceil(quantile * double(v.size())) - 1))];
    }
};

struct Problem {
    std::string name;
    std::shared_ptr<const SparseGraph> graph;
    std::vector<int32_t> truth;
    int classes = 0;
};

Problem fashionMnist(const Settings& settings)
{
    auto start = std::chrono::steady_clock::now();
    auto source = orDie(openImageSource(settings.fashion, SourceKind::Idx));
    auto encoder = orDie(makeEncoder("pca:64"));
    EncodedSet encoded = orDie(encoder->encode(*source));
    std::map<std::string, int32_t> classOf;
    for (const Item& item : encoded.items)
        classOf.emplace(item.label, 0);
    int32_t next = 0;
    for (auto& [label, id] : classOf)
        id = next++;
    Problem p;
    p.name = "Fashion-MNIST";
    p.classes = int(classOf.size());
    for (const Item& item : encoded.items)
        p.truth.push_back(classOf[item.label]);
    const double embedSeconds = seconds(start);
    start = std::chrono::steady_clock::now();
    KnnOptions knnOptions;
    knnOptions.k = 10;
    knnOptions.threads = settings.threads;
    const KnnGraph knn = orDie(searchSelfKnn(encoded.embeddings, knnOptions));
    const float temperature = automaticTemperature(knn);
    p.graph = std::make_shared<const SparseGraph>(orDie(buildNormalisedAffinity(knn, temperature)));
    std::printf("%s: %lld items x %lld dims, %d classes; embed %.1f s, exact k = 10 graph %.1f s (T = %.3f, "
                "%.1f edges per row)\n",
                p.name.c_str(), (long long)encoded.embeddings.rows(), (long long)encoded.embeddings.cols(), p.classes,
                embedSeconds, seconds(start), temperature, double(p.graph->nnz()) / double(p.graph->n));
    return p;
}

// Random clustered embeddings in 32 dims: 1000 Gaussian clusters (10 classes, the class of an item
// is its cluster's), centres on the sphere. `intrinsic` > 0: each cluster spreads along its own
// random `intrinsic`-dimensional subspace (plus a little isotropic noise), as real features lie
// near low-dimensional manifolds; 0: isotropic blobs, whose kNN graphs mix almost like random
// graphs (the hard case for a local update).
Problem syntheticGraph(const Settings& settings)
{
    const auto start = std::chrono::steady_clock::now();
    constexpr int kDims = 32, kClasses = 10, kClusters = 1000;
    const int intrinsic = settings.intrinsic;
    std::mt19937_64 rng(settings.seed + 99);
    std::normal_distribution<float> normal;
    EmbeddingMatrix centres(kClusters, kDims);
    std::vector<EmbeddingMatrix> bases(static_cast<size_t>(kClusters)); // intrinsic x kDims, orthonormal rows
    for (int c = 0; c < kClusters; ++c) {
        for (int j = 0; j < kDims; ++j)
            centres(c, j) = normal(rng);
        centres.row(c).normalize();
        EmbeddingMatrix basis(intrinsic, kDims);
        for (int r = 0; r < intrinsic; ++r) {
            for (int j = 0; j < kDims; ++j)
                basis(r, j) = normal(rng);
            for (int q = 0; q < r; ++q)
                basis.row(r) -= basis.row(r).dot(basis.row(q)) * basis.row(q);
            basis.row(r).normalize();
        }
        bases[size_t(c)] = std::move(basis);
    }
    const int64_t n = settings.synthetic;
    EmbeddingMatrix x(n, kDims);
    Problem p;
    p.name = intrinsic > 0 ? "synthetic " + std::to_string(intrinsic) + "-d clusters" : "synthetic isotropic blobs";
    p.classes = kClasses;
    p.truth.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
        const int c = int(rng() % kClusters);
        p.truth[size_t(i)] = c % kClasses;
        const float spread = 0.15f + 0.05f * float(c % 5);
        for (int j = 0; j < kDims; ++j)
            x(i, j) = centres(c, j) + (intrinsic > 0 ? 0.01f : spread) * normal(rng);
        for (int r = 0; r < intrinsic; ++r)
            x.row(i) += spread * normal(rng) * bases[size_t(c)].row(r);
        x.row(i).normalize();
    }
    KnnOptions knnOptions;
    knnOptions.k = 10;
    knnOptions.threads = settings.threads;
    const KnnGraph knn = orDie(searchApproximateSelfKnn(x, knnOptions));
    const float temperature = automaticTemperature(knn);
    p.graph = std::make_shared<const SparseGraph>(orDie(buildNormalisedAffinity(knn, temperature)));
    std::printf("%s: %lld items x %d dims, 10 classes, approximate k = 10 graph (T = %.3f, %.1f edges per row); "
                "built in %.1f s\n",
                p.name.c_str(), (long long)n, kDims, temperature, double(p.graph->nnz()) / double(p.graph->n),
                seconds(start));
    return p;
}

// How fast h-hop neighbourhoods grow (median over 16 random items): the reach of a click's
// first steps, and how graph-like (slow growth) or random-graph-like (fast growth) the graph is.
void printBallGrowth(const SparseGraph& s, uint64_t seed)
{
    constexpr int kHops[] = {1, 2, 4, 8, 16};
    std::mt19937_64 rng(seed);
    std::vector<Figures> sizes(std::size(kHops));
    std::vector<int32_t> hop(size_t(s.n), -1), frontier, next;
    for (int source = 0; source < 16; ++source) {
        std::fill(hop.begin(), hop.end(), -1);
        frontier.assign(1, int32_t(rng() % uint64_t(s.n)));
        hop[size_t(frontier[0])] = 0;
        int64_t reached = 1;
        for (int h = 1; h <= kHops[std::size(kHops) - 1]; ++h) {
            next.clear();
            for (int32_t u : frontier)
                for (int64_t e = s.rowStart[size_t(u)]; e < s.rowStart[size_t(u) + 1]; ++e)
                    if (const int32_t v = s.columns[size_t(e)]; hop[size_t(v)] < 0) {
                        hop[size_t(v)] = h;
                        next.push_back(v);
                    }
            reached += int64_t(next.size());
            frontier.swap(next);
            for (size_t a = 0; a < std::size(kHops); ++a)
                if (kHops[a] == h)
                    sizes[a].add(double(reached));
        }
    }
    std::printf("  items within h hops (median of 16):");
    for (size_t a = 0; a < std::size(kHops); ++a)
        std::printf(" h=%d: %.0f", kHops[a], sizes[a].at(0.5));
    std::printf("\n");
}

void printRow(const char* what, const Figures& micros, const Figures& rows, const Figures& written, const Figures& moved,
              int dense, const Figures& audit)
{
    std::printf("  %-20s median %7.2f ms  p95 %7.2f ms  max %7.2f ms | row-steps computed: median %8.0f, written %8.0f | "
                "rows moved > 1e-4: median %6.0f | dense %3d | audit: median %6.2f ms p95 %6.2f ms\n",
                what, micros.at(0.5) / 1000, micros.at(0.95) / 1000, micros.at(1.0) / 1000, rows.at(0.5),
                written.at(0.5), moved.at(0.5), dense, audit.at(0.5) / 1000, audit.at(0.95) / 1000);
}

double maxDifference(const IncrementalPropagation& ip, int threads)
{
    PropagationOptions options;
    options.iterations = ip.steps();
    options.threads = threads;
    const PropagationResult full = orDie(propagateLabels(ip.graph(), ip.seeds(), ip.classes(), options));
    double worst = 0.0;
    for (size_t a = 0; a < full.probabilities.size(); ++a)
        worst = std::max(worst, double(std::abs(full.probabilities[a] - ip.result().probabilities[a])));
    return worst;
}

void run(const Problem& p, const Settings& settings)
{
    const int64_t n = p.graph->n;
    printBallGrowth(*p.graph, settings.seed);
    // The full propagation, for reference: what every click would cost without the local update.
    {
        Figures full;
        std::vector<int32_t> seeds(size_t(n), -1);
        for (int64_t i = 0; i < n; i += 100)
            seeds[size_t(i)] = p.truth[size_t(i)];
        PropagationOptions options;
        options.threads = settings.threads;
        for (int r = 0; r < 3; ++r) {
            const auto start = std::chrono::steady_clock::now();
            (void)orDie(propagateLabels(*p.graph, seeds, p.classes, options));
            full.add(seconds(start) * 1e6);
        }
        std::printf("  full propagateLabels (20 steps, %d threads): median %.1f ms\n", settings.threads,
                    full.at(0.5) / 1000);
    }
    for (double fraction : {0.001, 0.01}) {
        std::mt19937_64 rng(settings.seed);
        std::vector<int32_t> seeds(size_t(n), -1);
        for (int64_t i = 0; i < n; ++i)
            if (std::uniform_real_distribution<double>()(rng) < fraction)
                seeds[size_t(i)] = p.truth[size_t(i)];
        IncrementalOptions options;
        options.threads = settings.threads;
        options.maxProbabilityError = settings.maxError;
        options.fullRecomputeFraction = settings.denseFraction;
        auto start = std::chrono::steady_clock::now();
        IncrementalPropagation ip = orDie(IncrementalPropagation::create(p.graph, seeds, p.classes, options));
        const double buildSeconds = seconds(start);
        start = std::chrono::steady_clock::now();
        IncrementalAudit audit = IncrementalAudit::create(ip, settings.threads);
        std::printf(" %s, %.1f%% labeled: build %.2f s (state %.0f MB), audit build %.2f s, error bound %.1e\n",
                    p.name.c_str(), fraction * 100, buildSeconds, double(ip.memoryBytes()) / (1 << 20),
                    seconds(start), ip.errorBound());

        // The app's copy of the shown result, brought up to date from changedRows after each update.
        PropagationResult shown = ip.result();
        const auto session = [&](const char* what, int updates, int size) {
            Figures micros, rows, written, moved, auditMicros;
            int dense = 0;
            for (int u = 0; u < updates; ++u) {
                std::vector<SeedChange> changes;
                for (int a = 0; a < size; ++a) {
                    const auto item = int32_t(rng() % uint64_t(n));
                    // single clicks: label an unlabeled item, unlabel a labeled one (an undo);
                    // batches: a selection labelled at once
                    const bool labeled = ip.seeds()[size_t(item)] >= 0;
                    changes.push_back({item, labeled && size == 1 ? -1 : p.truth[size_t(item)]});
                }
                const IncrementalUpdate update = orDie(ip.apply(changes));
                const AuditUpdate audited = audit.update(ip, update);
                micros.add(update.stats.microseconds);
                rows.add(double(update.stats.rowsComputed));
                written.add(double(update.stats.rowsWritten));
                auditMicros.add(audited.stats.microseconds);
                dense += update.stats.mode == IncrementalStats::Mode::Dense;
                // Rows whose shown probabilities moved by more than 1e-4: what any update exact to
                // 1e-4 has to rewrite, whatever its method.
                int64_t count = 0;
                for (int32_t i : update.changedRows)
                    for (int q = 0; q < p.classes; ++q)
                        if (std::abs(ip.result().probabilities[size_t(i) * size_t(p.classes) + size_t(q)]
                                     - shown.probabilities[size_t(i) * size_t(p.classes) + size_t(q)]) > 1e-4f) {
                            ++count;
                            break;
                        }
                moved.add(double(count));
                ip.copyRowsTo(update.changedRows, shown);
            }
            printRow(what, micros, rows, written, moved, dense, auditMicros);
        };
        session("single clicks", settings.clicks, 1);
        const std::string batch = std::to_string(settings.batchSize) + "-item batches";
        session(batch.c_str(), settings.batches, settings.batchSize);
        std::printf("  max |p - p(from scratch)| after the session: %.2e\n", maxDifference(ip, settings.threads));
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // figures appear as they are measured, also through a pipe
    Settings settings;
    for (int a = 1; a < argc; ++a) {
        const std::string arg = argv[a];
        const auto value = [&]() -> std::string {
            if (a + 1 >= argc)
                die(arg + " needs a value");
            return argv[++a];
        };
        if (arg == "--fashion")
            settings.fashion = value();
        else if (arg == "--no-fashion")
            settings.fashion.clear();
        else if (arg == "--synthetic")
            settings.synthetic = std::stoll(value());
        else if (arg == "--max-error")
            settings.maxError = std::stod(value());
        else if (arg == "--intrinsic")
            settings.intrinsic = std::stoi(value());
        else if (arg == "--clicks")
            settings.clicks = std::stoi(value());
        else if (arg == "--batches")
            settings.batches = std::stoi(value());
        else if (arg == "--batch-size")
            settings.batchSize = std::stoi(value());
        else if (arg == "--threads")
            settings.threads = std::stoi(value());
        else if (arg == "--seed")
            settings.seed = std::stoull(value());
        else if (arg == "--dense-fraction")
            settings.denseFraction = std::stod(value());
        else
            die("unknown argument '" + arg + "'; see the comment at the top of bench/incremental_bench.cpp");
    }
    const auto level = resolveSimdLevel({}); // the kernels' level: LABELPROP_SIMD, else the fastest measured
    if (!level)
        die(level.error().message);
    std::printf("CPU: %s (kernels at SIMD level %s), %u hardware threads; benchmark threads: %d\n",
                cpuModelName().c_str(), describeProcessSimdLevel().c_str(),
                std::thread::hardware_concurrency(), settings.threads);
    if (!settings.fashion.empty())
        run(fashionMnist(settings), settings);
    if (settings.synthetic > 0)
        run(syntheticGraph(settings), settings);
    return 0;
}
