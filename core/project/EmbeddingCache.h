#pragma once
// Embeddings kept beside a project, keyed by image content hash, one file per encoder state:
// "<project>-cache/embeddings/<hash of the encoder id>.emb". Reopening a project or adding ten
// images to a large one encodes only hashes the file does not have. The file can always be
// deleted; it is rebuilt from the images.
//
// File layout (little-endian): 8-byte magic "LPEMB01\n"; uint32 id length + the encoder id bytes;
// uint32 dims; uint64 count; count x 16-byte content hashes; count x dims float32 rows (L2-unit).
// A file that does not match (damaged, other encoder) is ignored and rewritten.
//
// Thread-safety: an EmbeddingCache is used by one thread at a time.

#include "core/base/ContentHash.h"
#include "core/base/Embeddings.h"
#include "core/base/Error.h"

#include <unordered_map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace labelprop {

class EmbeddingCache final {
public:
    // Loads the file for `encoderId` under `folder` if there is a valid one; otherwise starts
    // empty (the reason is in loadWarning()).
    [[nodiscard]] static EmbeddingCache load(const std::string& folder, const std::string& encoderId);

    [[nodiscard]] std::size_t size() const { return m_hashes.size(); }
    [[nodiscard]] int dims() const { return m_dims; }
    [[nodiscard]] bool contains(const ContentHash& hash) const { return m_rows.contains(hash); }
    // The row for `hash` (dims floats), or an empty span.
    [[nodiscard]] std::span<const float> row(const ContentHash& hash) const;
    // Adds rows (rows.rows() == hashes.size()); a hash already present keeps its old row.
    [[nodiscard]] Expected<void> add(std::span<const ContentHash> hashes, const EmbeddingMatrix& rows);
    // Writes the file atomically (no-op when nothing was added since load).
    [[nodiscard]] Expected<void> save();

    [[nodiscard]] const std::string& filePath() const { return m_file; }
    [[nodiscard]] const std::string& loadWarning() const { return m_warning; }

private:
    std::string m_file;
    std::string m_encoderId;
    int m_dims = 0;
    std::vector<ContentHash> m_hashes;
    std::vector<float> m_data; // size() x dims
    std::unordered_map<ContentHash, std::size_t, ContentHashHasher> m_rows;
    bool m_dirty = false;
    std::string m_warning;
};

} // namespace labelprop
