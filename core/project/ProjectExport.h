#pragma once
// Export of a project's cleaned labels, and the JSON labels format that goes with it.
//
// What goes in is chosen by level (each includes the ones before):
//   human        labels a person gave (one by one or in bulk), and labels that came with the data
//                (imported) unless `includeImported` is off;
//   fixed        plus fixes a person accepted (review relabels, accepted suggestions);
//   pseudo:T     plus propagated labels of unlabeled items with confidence >= T (needs a
//                propagation result).
// Items the latest propagation or audit flagged as likely wrong, and that no one has reviewed
// since, are marked (flagged = 1), left out, or kept unmarked.
// Unreadable items (ItemStatus::Unreadable: the file is there but cannot be decoded, e.g. cut
// short) keep the label their folder or a person gave them, but are no training data: they are
// left out, or kept and marked (an `unreadable` column or field, a list beside the tree).
//
// Formats (paths relative to the project root, as stored):
//   csv          path,label,source,confidence,flagged[,unreadable]
//   json         {"format": "labelprop-labels", "version": 1, "root": ..., "classes": [...],
//                 "items": [{"path", "label", "source", "confidence", "flagged"[, "unreadable"]}]}
//   imagefolder  OUT/<label>/<path>, by copy, hard link or symbolic link; IDX images are written
//                as PNG files. A '/' in a class name becomes '_' in its folder name. Marked
//                unreadable items are listed in OUT/unreadable.txt (paths in OUT, one a line):
//                ImageFolder readers take only folders as classes, so the list is not a class.
// The `unreadable` column and field are written only with UnreadablePolicy::Mark (0/1, false/true),
// so an export of clean data reads as before.
// Every export is atomic: CSV and JSON are written aside and renamed; an ImageFolder tree is built
// beside OUT and renamed into place (replacing an earlier export, never a foreign folder).
//
// Thread-safety: reads the store only; run it on the store's thread.

#include "core/base/Error.h"
#include "core/formats/LabelsJson.h"
#include "core/project/ProjectStore.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labelprop {

enum class ExportFormat { Csv, Json, ImageFolder };
enum class ExportLevel { Human, Fixed, Pseudo };
enum class FlaggedPolicy { Mark, Drop, Keep };
enum class LinkMode { Copy, HardLink, SymLink };
enum class UnreadablePolicy { Drop, Mark };

struct ExportOptions {
    ExportFormat format = ExportFormat::Csv;
    ExportLevel level = ExportLevel::Fixed;
    float pseudoThreshold = 0.9f; // ExportLevel::Pseudo only, in [0, 1]
    bool includeImported = true;
    FlaggedPolicy flagged = FlaggedPolicy::Mark;
    LinkMode link = LinkMode::Copy; // imagefolder only
    UnreadablePolicy unreadable = UnreadablePolicy::Drop;
};

struct ExportReport {
    std::int64_t written = 0;
    std::int64_t human = 0, imported = 0, fixed = 0, pseudo = 0;
    std::int64_t flaggedMarked = 0, flaggedDropped = 0;
    std::int64_t unreadableMarked = 0, unreadableDropped = 0; // labeled unreadable items
    std::int64_t missingSkipped = 0; // imagefolder: items whose file is gone
    bool stalePropagation = false;   // labels changed since the propagation used for pseudo/flags
};

// Parses "human", "fixed" or "pseudo:T" into options.level / options.pseudoThreshold.
[[nodiscard]] Expected<void> parseExportLevel(std::string_view text, ExportOptions& options);

[[nodiscard]] Expected<ExportReport> exportLabels(const ProjectStore& store, const std::string& out,
                                                  const ExportOptions& options);

// What exportLabels() with `options` would write, without writing anything: the report's counts
// (missingSkipped is known only when an ImageFolder tree is built) and, per class in class order,
// the labels given (people, imported, fixes) and propagated it would write.
struct ExportPreview {
    struct ClassCount {
        std::string name;
        std::int64_t given = 0, propagated = 0;
    };
    ExportReport report;
    std::vector<ClassCount> classes;
};
[[nodiscard]] Expected<ExportPreview> previewExport(const ProjectStore& store, const ExportOptions& options);

// Items still flagged: `latest` (store.latestPropagation(), the newest propagation or audit)
// flagged the label they carry now, and no one has reviewed them since. Ascending item ids.
// (`project status`, the coming review mode.)
[[nodiscard]] Expected<std::vector<std::int64_t>> itemsFlaggedNow(const ProjectStore& store,
                                                                  const std::optional<StoredPropagation>& latest);

} // namespace labelprop
