#pragma once
// Pieces every subcommand shares: loading embeddings, building the graph with stage timings,
// the common options, error reporting and the stats file.

#include "ArgumentParser.h"

#include "core/engine/AffinityGraph.h"
#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace labelprop::cli {

// Exit codes: 0 success, 1 bad input or failure (the message says which file), 2 bad usage.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

class Stopwatch {
public:
    [[nodiscard]] double seconds() const
    {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    }
    void restart() { m_start = std::chrono::steady_clock::now(); }

private:
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

// Prints "labelprop-cli: error: <message>" on stderr and returns kExitFailure.
int reportError(const Error& error);

// Parses args; on --help prints usage and returns 0; on a usage error prints it and returns 2.
// Returns std::nullopt when the command should go on.
std::optional<int> parseOrExit(ArgumentParser& parser, const std::vector<std::string>& args);

// Reads a .npy (float32/float16, n x d), checks it is finite with no zero rows, normalises rows.
[[nodiscard]] Expected<EmbeddingMatrix> loadEmbeddings(const std::string& path);

// --k, --temperature, --knn, --threads.
void addGraphOptions(ArgumentParser& parser);

struct GraphStage {
    KnnGraph knn;
    SparseGraph affinity;
    float temperature = 0.0f;
    double knnSeconds = 0.0;
    double graphSeconds = 0.0;
};

struct GraphSettings {
    int k = 10;
    std::optional<float> temperature; // empty: automaticTemperature()
    int threads = 0;
    bool approximate = false; // --knn approximate: k-d tree candidates + exact re-ranking
};

[[nodiscard]] Expected<GraphSettings> readGraphSettings(const ArgumentParser& parser);
[[nodiscard]] Expected<GraphStage> buildGraphStage(const EmbeddingMatrix& x, const GraphSettings& settings);

// Peak resident set size of this process so far, in MiB.
[[nodiscard]] double peakResidentMiB();

} // namespace labelprop::cli
