#pragma once
// The embeddings of a project's items, encoded once and cached by content hash (EmbeddingCache).
// Encoders with fitted state (PCA) are fitted once, on the project's items at the time, and the
// state is saved in the project file, so items added later embed exactly like the first ones and a
// deleted cache rebuilds to the same numbers.
//
// Thread-safety: runs on the store's thread (encoding uses worker threads).

#include "core/base/Embeddings.h"
#include "core/encoders/Encoder.h"
#include "core/base/Error.h"
#include "core/project/ProjectStore.h"

#include <cstdint>
#include <string>
#include <vector>

namespace labelprop {

struct ProjectEmbeddings {
    EmbeddingMatrix x;                // rows x dims, L2-normalised, row r is item itemIds[r]
    std::vector<std::int64_t> itemIds; // ascending
    std::string encoderId;            // frozen encoder id, e.g. "pca:64,model=1a2b..."
    std::string version;              // encoderId + a hash of (item ids, content hashes)
    std::int64_t encodedNow = 0;      // rows encoded by this call
    std::int64_t fromCache = 0;       // rows read from the cache
    std::vector<std::string> skipped; // items that could not be encoded ("path: reason")
    std::int64_t markedUnreadable = 0; // items this call marked unreadable in the store: their file
                                       // could not be decoded (a writable store only; see below)
    std::vector<std::string> warnings;
};

// Embeds every present or changed item of the project with `encoderSpec` (encoding only hashes
// the cache lacks). Items the encoder cannot decode are marked ItemStatus::Unreadable in a
// writable store (kept as placeholders: counted by ProjectStore::counts(), left out of exports,
// not embedded again until a re-import finds them readable). Fitting a new encoder state needs a
// writable store. A long encode is saved to the cache as it goes (chunk by chunk, at least every
// two minutes, and when it is cancelled or fails), so the next call encodes only what is still
// missing.
[[nodiscard]] Expected<ProjectEmbeddings> loadProjectEmbeddings(ProjectStore& store, const std::string& encoderSpec,
                                                                const ProgressCallback& progress = {});
// The same with the project's items (store.items()) already read by the caller, who needs them too.
[[nodiscard]] Expected<ProjectEmbeddings> loadProjectEmbeddings(ProjectStore& store, const std::vector<ProjectItem>& items,
                                                                const std::string& encoderSpec,
                                                                const ProgressCallback& progress = {});

} // namespace labelprop
