#pragma once
// Bringing images (and the labels they come with) into a project, again and again.
//
// An import hashes every item of the source and reconciles it with the project:
//   - a new path is added (with its label, source = imported);
//   - a known path with the same bytes is unchanged (a file whose size and mtime did not change
//     is not even re-read);
//   - a known path with other bytes is marked changed (labels kept, embeddings redone);
//   - a known path the source no longer has is marked missing (never deleted, labels kept);
//   - a new path whose bytes equal a missing item's is that item moved: its path is updated.
// Imported labels never override a person's label (see ProjectStore::importLabels).
//
// Thread-safety: runs on the calling thread (hashing uses worker threads); the store must not be
// used elsewhere meanwhile.

#include "core/encoders/Encoder.h"
#include "core/base/Error.h"
#include "core/project/ProjectStore.h"

#include <cstdint>
#include <string>
#include <vector>

namespace labelprop {

class ImageSource;

struct ImportReport {
    // unreadable: known items whose file could not be read, or still cannot be decoded (the bytes
    // an embedding found undecodable), and new files that could not be read (not added). New files
    // are not decoded here: the embedding that follows finds those (ProjectEmbeddings::markedUnreadable).
    std::int64_t added = 0, unchanged = 0, changed = 0, moved = 0, missing = 0, unreadable = 0;
    std::int64_t labelsImported = 0;  // labels set from the source
    std::int64_t labelsKept = 0;      // source labels not applied because a person labeled the item
    std::vector<std::string> warnings; // per file: unreadable, source warnings
};

struct ImportOptions {
    // Class names for integer labels: label "i" becomes classNames[i] (e.g. Fashion-MNIST's
    // "0".."9"). Also fixes the order of the classes. Empty: labels are used as they are.
    std::vector<std::string> classNames;
    bool importLabels = true;
    int threads = 0;
    ProgressCallback progress; // (items hashed, items in the source)
};

// Opens the project's own source (root + location + kind) for decoding and re-import.
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openProjectSource(const ProjectSourceInfo& info);

// The file behind item `path` of a source rooted at `root`, or empty for IDX items.
[[nodiscard]] std::string itemFilePath(const ProjectSourceInfo& info, const std::string& path);

// Imports `source` into `store` (see above). The source's paths must be relative to the
// project's root as recorded in the store.
[[nodiscard]] Expected<ImportReport> importSource(ProjectStore& store, const ImageSource& source,
                                                  const ImportOptions& options);

// Points the project at `newRoot` after checking that it holds the project's files: a sample of
// items must be found there with the same bytes. Nothing changes on failure.
[[nodiscard]] Expected<std::int64_t> relinkProject(ProjectStore& store, const std::string& newRoot);

// Applies labels from a labels file (CSV with header path,label[,...] or the JSON written by
// `project export --format json`) to items matched by path. Labels are imported (source =
// imported) and never override a person's label. Unknown paths are counted, not errors.
struct LabelFileReport {
    std::int64_t matched = 0, applied = 0, unknownPaths = 0, keptHuman = 0;
};
[[nodiscard]] Expected<LabelFileReport> importLabelFile(ProjectStore& store, const std::string& file);

} // namespace labelprop
