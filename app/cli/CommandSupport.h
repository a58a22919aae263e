#pragma once
// Pieces every subcommand shares: loading embeddings, building the graph with stage timings,
// the common options, error reporting and the stats file.

#include "ArgumentParser.h"

#include "core/base/Stopwatch.h"
#include "core/engine/GraphBuild.h"
#include "core/base/Embeddings.h"
#include "core/base/Error.h"
#include "core/engine/KnnSearch.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace labelprop::cli {

// Exit codes: 0 success, 1 bad input or failure (the message says which file), 2 bad usage.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

using labelprop::Stopwatch;

// Prints "labelprop-cli: error: <message>" on stderr and returns kExitFailure.
int reportError(const Error& error);

// Parses args; on --help prints usage and returns 0; on a usage error prints it and returns 2.
// Returns std::nullopt when the command should go on.
std::optional<int> parseOrExit(ArgumentParser& parser, const std::vector<std::string>& args);

// Reads a .npy (float32/float16, n x d), checks it is finite with no zero rows, normalises rows.
[[nodiscard]] Expected<EmbeddingMatrix> loadEmbeddings(const std::string& path);

// --k, --temperature, --knn, --threads.
void addGraphOptions(ArgumentParser& parser);

[[nodiscard]] Expected<GraphSettings> readGraphSettings(const ArgumentParser& parser);

// Peak resident set size of this process so far, in MiB.
[[nodiscard]] double peakResidentMiB();

} // namespace labelprop::cli
