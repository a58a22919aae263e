#pragma once
// Embeddings kept beside a project, keyed by image content hash, one file per encoder state:
// "<project>-cache/embeddings/<hash of the encoder id>.emb". Reopening a project or adding ten
// images to a large one encodes only hashes the file does not have. The file can always be
// deleted; it is rebuilt from the images.
//
// File layout (little-endian), append-only so that saving new rows never rewrites old ones (a
// 1M x 768 cache is 3 GB; adding ten images or saving a long encode's progress writes only theirs):
//   header:   8-byte magic "LPEMB02\n"; uint32 id length + the encoder id bytes; uint32 dims
//   segments: uint64 count; count x 16-byte content hashes; count x dims float32 rows (L2-unit);
//             16-byte XXH3-128 of the hashes then 16 of the rows (each a ContentHash of its bytes)
// A save appends one segment of the rows added since the last save and flushes it to disk. A
// segment cut short (a crash while appending) or whose check fails ends the file: the rows
// before it load, and the next save truncates it away first. A file whose header does not match
// (damaged, other encoder) is ignored and rewritten whole, as is a file of the older layout
// "LPEMB01\n" (header, then all hashes, then all rows), which still loads.
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
    // Appends the rows added since the last save (no-op when there are none); rewrites the whole
    // file atomically when there is no valid one to append to. On an error the file keeps what
    // it had and a later save tries again.
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
    std::size_t m_saved = 0;       // rows [0, m_saved) are in the file
    std::uint64_t m_fileBytes = 0; // length of the file's valid part; 0: no file to append to
    std::uint64_t m_fileInode = 0; // the file m_fileBytes describes (a rewrite by another session makes a new one)
    std::string m_warning;

    [[nodiscard]] Expected<void> rewrite();
    [[nodiscard]] Expected<void> append();
};

} // namespace labelprop
