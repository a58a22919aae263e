#pragma once
// The kNN graph of a project's embeddings, kept in its cache folder so that reopening a project
// does not search again (exact kNN takes seconds at 70k items and far longer at 1M):
// "<project>-cache/graphs/<hash of the key>.knn", keyed by the embedding version (encoder +
// items + content hashes) and the graph settings that decide the neighbours (exact or approximate,
// k). S at a given temperature is kept beside it (loadCachedAffinity below).
//
// File layout (little-endian): 8-byte magic "LPKNN01\n"; uint32 key length + key bytes;
// int64 rows; int32 k; rows x k int32 neighbours; rows x k float32 similarities.
// A file that does not match (other key, damaged, neighbour out of range) is ignored and
// rewritten; the cache can always be deleted.
//
// Thread-safety: free functions, safe from any thread for distinct folders; two writers of the
// same key write the same bytes (atomic rename), so the last one wins harmlessly.

#include "core/base/Error.h"
#include "core/engine/AffinityGraph.h"
#include "core/engine/KnnSearch.h"

#include <optional>
#include <string>

namespace labelprop {

// The key of a graph: "<embedding version>|<GraphSettings::knnKey()>".
[[nodiscard]] std::string graphCacheKey(const std::string& embeddingVersion, const std::string& knnKey);

struct CachedGraph {
    std::optional<KnnGraph> graph; // empty: not cached (or the file was unusable)
    std::string warning;           // why a file that was there could not be used
};

// Reads the graph for `key` under `cacheFolder`; `rows` is the number of embedding rows it must have.
[[nodiscard]] CachedGraph loadCachedGraph(const std::string& cacheFolder, const std::string& key, std::int64_t rows);
// Writes it atomically (creating the folder). Errors name the file.
[[nodiscard]] Expected<void> saveCachedGraph(const std::string& cacheFolder, const std::string& key,
                                             const KnnGraph& graph);

// The normalised affinity S built from a cached kNN graph at one temperature (and its local
// layout), kept beside it: at 1M items building S takes seconds, reading it back a fraction of
// that. "<project>-cache/graphs/<hash of the key>.aff", key = graphCacheKey(...) + "|T=<bits>".
// Layout: 8-byte magic "LPAFF01\n"; uint32 key length + key; int64 n; then the three CSR
// matrices (item order, local layout) as int64 nnz + (n + 1) int64 row starts + nnz int32 columns +
// nnz float32 weights, the local one preceded by n int32 localOrder. Damaged or foreign: rebuilt.
[[nodiscard]] std::string affinityCacheKey(const std::string& graphKey, float temperature);
[[nodiscard]] std::optional<SparseGraph> loadCachedAffinity(const std::string& cacheFolder, const std::string& key,
                                                            std::int64_t n, std::string* warning = nullptr);
[[nodiscard]] Expected<void> saveCachedAffinity(const std::string& cacheFolder, const std::string& key,
                                                const SparseGraph& s);

} // namespace labelprop
