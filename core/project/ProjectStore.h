#pragma once
// The project store: one SQLite file (`*.labelprop`, WAL journal) that holds everything a person
// did in a project. The desktop app and `labelprop-cli project ...` both work through it.
//
// What it holds (schema in ProjectSchema.cpp):
//   - items: path relative to a relinkable root, content hash, size, status;
//   - classes: name, colour, hotkey, display order;
//   - actions and their label/review/class events: every labeling action and class edit a person
//     (or an import) made, with its source and time, and whether it was undone; nothing is ever
//     deleted (a class merged away keeps its row, out of sight);
//   - the current label and review decision of each item and the current state of each class,
//     derived from that history (kept in tables so a 1M-item project opens without replaying it;
//     verifyDerivedState() replays it);
//   - the settings in force, the fitted encoder states, and the latest propagation result with the
//     settings and embedding version that produced it.
//
// Durability: each mutating call is one IMMEDIATE transaction committed with synchronous=FULL
// before it returns. Once a call has returned success, killing the process (or the machine
// losing power) cannot lose that change. A failed call (disk full, ...) changes nothing.
//
// Concurrency: a writable store holds the project's ProjectLock, so only one process writes. Any
// number of read-only stores (other processes, or reader threads with their own store) may be open
// at the same time; each read runs on a consistent snapshot (WAL).
//
// Thread-safety: a ProjectStore belongs to one thread at a time (it owns one SQLite connection).

#include "core/base/ContentHash.h"
#include "core/base/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

class SqliteDatabase;
class ProjectLock;

// Who or what gave a label.
enum class LabelSource : int {
    Human = 0,    // a person, one item at a time
    Imported = 1, // came with the data set (an import); the audit judges these
    Accepted = 2, // a person accepted a suggested fix or relabeled a flagged item in review
    Bulk = 3,     // a person, many items at once (a batch file, a selection)
};
[[nodiscard]] std::string_view labelSourceName(LabelSource source);
[[nodiscard]] std::optional<LabelSource> parseLabelSource(std::string_view name);

enum class ItemStatus : int {
    Present = 0,    // the file is there with the bytes we hashed
    Missing = 1,    // the last import or relink did not find it (its labels are kept)
    Changed = 2,    // found with other bytes than when it was added (labels kept; check them)
    Unreadable = 3, // there, but it cannot be read or decoded
};
[[nodiscard]] std::string_view itemStatusName(ItemStatus status);

enum class ReviewDecision : int {
    Kept = 0,      // the given label is right after all
    Relabeled = 1, // the label was changed (the same action carries the new label)
    Skipped = 2,   // looked at, no decision
};
[[nodiscard]] std::string_view reviewDecisionName(ReviewDecision decision);
[[nodiscard]] std::optional<ReviewDecision> parseReviewDecision(std::string_view name);

struct ProjectItem {
    std::int64_t id = 0;       // 1-based and dense: items are never deleted; index = id - 1
    std::string path;          // relative to the root (or "file#i" inside an IDX file)
    ContentHash hash;          // zero until hashed
    std::int64_t size = 0;     // bytes (IDX: pixels)
    std::int64_t mtimeNs = 0;  // file modification time when hashed
    ItemStatus status = ItemStatus::Present;
};

struct ProjectClass {
    int id = 0;           // dense 0..classes-1, in display order (see ProjectStore::classes())
    std::string name;
    std::string colour;   // "#rrggbb"
    std::string hotkey;   // "1".."9", "0", or empty
};

struct CurrentLabel {
    std::int64_t itemId = 0;
    int classId = -1;
    LabelSource source = LabelSource::Human;
};

struct LabelChange {
    std::int64_t itemId = 0;
    int classId = -1; // -1 removes the item's label
};

// Where the items come from; `root` is absolute and can be changed (relink) when data moves.
struct ProjectSourceInfo {
    std::string root;     // absolute folder
    std::string kind;     // sourceKindName(): "folder", "imagefolder", "csv", "idx"
    std::string location; // the source relative to root: "." for a folder, "train.csv", ...
};

// Settings in force (the engine's options), stored as text so older builds keep unknown keys.
struct ProjectSettings {
    std::string encoder = "pca:64";
    int k = 10;
    std::string temperature = "auto"; // "auto" or a number > 0
    int steps = 20;
    std::string clamp = "hard";
    std::string strategy = "margin";
    std::string knn = "exact";
};

enum class ActionKind : int { Label = 0, Import = 1, Review = 2, Bulk = 3, Class = 4 /* a class edit */ };

struct ActionInfo {
    std::int64_t id = 0;
    ActionKind kind = ActionKind::Label;
    std::string description; // e.g. "label 3 as 'Coat'", "merge class 'Top' into 'Shirt'"
    std::int64_t timeMs = 0; // ms since the epoch
    std::int64_t events = 0; // label events in the action (undo()/redo(): items whose label or review changed)
    bool undone = false;     // undone (and maybe superseded); only history(..., true) returns these
};

// One event in an item's history: a label given or removed, or a review decision.
struct ItemEvent {
    std::int64_t actionId = 0;
    std::string description;                // the action's
    std::int64_t timeMs = 0;
    bool undone = false;
    std::optional<int> classId;             // label events: the class's id now, or -1 when the label was
                                            // removed or the class is gone (merged away: see className)
    std::string className;                  // label events: the class's name ("" when removed)
    LabelSource source = LabelSource::Human; // label events
    std::optional<ReviewDecision> decision;  // review events
};

// Counts for `project status` and the app's status bar.
struct ProjectCounts {
    std::int64_t items = 0;
    std::int64_t present = 0, missing = 0, changed = 0, unreadable = 0;
    std::int64_t labeled = 0;
    std::vector<std::int64_t> byClass;        // labeled items per class id
    std::vector<std::int64_t> bySource;       // labeled items per LabelSource
    std::int64_t reviewed = 0;                // items with a current review decision
    std::vector<std::int64_t> byDecision;     // per ReviewDecision
    std::int64_t undoable = 0, redoable = 0;  // actions on the undo / redo stacks
};

// The latest propagation (or audit) result, aligned to `itemIds`.
struct StoredPropagation {
    std::string kind = "propagate";       // "propagate" or "audit"
    std::int64_t timeMs = 0;
    std::string settings;                 // JSON: the settings that produced it
    std::string embeddingVersion;         // encoder id + embedding cache key
    std::int64_t labelVersion = 0;        // ProjectStore::labelVersion() it saw
    double seconds = 0.0;                 // wall time of the run
    std::vector<std::string> classes;     // class names, column order of `scores`
    std::vector<std::int64_t> itemIds;    // n
    std::vector<float> scores;            // n x classes, row-major: the warm-start state
    std::vector<std::int32_t> predicted;  // n, class id or -1
    std::vector<float> confidence;        // n
    std::vector<float> margin;            // n
    std::vector<float> issueScore;        // n (0 for unlabeled items)
    std::vector<std::int32_t> given;      // n, the label that was judged (index into classes) or -1
    std::vector<std::uint8_t> flagged;    // n, 1 = the current label is likely wrong
    std::vector<std::int32_t> suggested;  // n, suggested fix for flagged items or -1
};

struct ProjectCreateOptions {
    ProjectSourceInfo source;
    ProjectSettings settings;
    std::string holder = "labelprop"; // who holds the lock, for other processes' messages
};

class ProjectStore final {
public:
    enum class Access { ReadWrite, ReadOnly };

    // Creates a new project file (it must not exist) with the current schema.
    [[nodiscard]] static Expected<std::unique_ptr<ProjectStore>> create(const std::string& path,
                                                                        const ProjectCreateOptions& options);
    // Opens a project. ReadWrite takes the lock (refused while another process has it open for
    // writing) and migrates an older schema; ReadOnly never writes and works beside a writer.
    // Refused: a file that is not a project, a damaged one, one from a newer Labelprop.
    [[nodiscard]] static Expected<std::unique_ptr<ProjectStore>> open(const std::string& path, Access access,
                                                                      const std::string& holder = "labelprop");
    ~ProjectStore();
    ProjectStore(const ProjectStore&) = delete;
    ProjectStore& operator=(const ProjectStore&) = delete;

    [[nodiscard]] const std::string& path() const { return m_path; }
    [[nodiscard]] bool readOnly() const { return m_access == Access::ReadOnly; }
    // "<project>-cache": embeddings, graphs and thumbnails; always rebuildable.
    [[nodiscard]] std::string cacheFolder() const { return m_path + "-cache"; }

    // ---- source and items ----
    [[nodiscard]] Expected<ProjectSourceInfo> sourceInfo() const;
    // Points the project at a new root folder (the data set moved). The caller checks the items
    // are there (see relinkProject()).
    [[nodiscard]] Expected<void> setRoot(const std::string& absoluteRoot);
    [[nodiscard]] Expected<std::vector<ProjectItem>> items() const;
    [[nodiscard]] Expected<std::int64_t> itemCount() const;
    // The item with this path (as stored), or nullopt.
    [[nodiscard]] Expected<std::optional<ProjectItem>> findItem(std::string_view path) const;
    // Adds items (paths must be new) and returns their ids, in order. One transaction.
    [[nodiscard]] Expected<std::vector<std::int64_t>> addItems(std::span<const ProjectItem> items);
    // Updates hash, size, mtime, status and path of existing items (by id). One transaction.
    [[nodiscard]] Expected<void> updateItems(std::span<const ProjectItem> items);

    // ---- classes ----
    // The classes, ids dense 0..n-1 in display order. Merging a class away (or undoing its
    // addition) takes it out and the ids after it move down by one; undoing the merge puts them
    // back. Labels, reviews and counts use these ids; stored results name their classes. Re-read
    // the classes after any class edit, undo() or redo().
    [[nodiscard]] Expected<std::vector<ProjectClass>> classes() const;
    // The id of class `name`, adding it (first unused colour, first free hotkey of 1..9, 0) if no
    // class has that name. The addition is setup, like an import: no action, never undone, and it
    // clears the redo stack. A class of that name that was merged away comes back, without labels.
    // A new class always takes the last id, so ids the caller holds stay valid. Imports and
    // `project label --add-class` use it.
    [[nodiscard]] Expected<int> ensureClass(std::string_view name);

    // Class edits, for the app's undo commands and `project classes`. Each is one action (one
    // transaction, one step on the undo stack shared with the labeling actions) returned on
    // success: undo() and redo() revert and repeat it, history() lists it, it survives a restart,
    // and it clears the redo stack. An edit that changes nothing, an unknown id, a name that is
    // empty or taken by another class, a malformed colour or hotkey is an error and changes nothing.
    // Adding, renaming and merging change labelVersion() (stored results name their classes, so
    // they are out of date); a colour or a hotkey does not.
    struct AddedClass {
        ActionInfo action;
        int classId = -1; // the new class's id: the last one
    };
    // Adds class `name` (as ensureClass() does, but undoably); an error if a class has that name.
    [[nodiscard]] Expected<AddedClass> addClass(std::string_view name);
    [[nodiscard]] Expected<ActionInfo> renameClass(int classId, std::string_view newName);
    // Every label of class `fromClassId` becomes `intoClassId`, keeping its source (an imported
    // label stays imported, so the audit still judges it), and `fromClassId` goes away: the ids
    // after it move down by one. ActionInfo::events counts the labels moved. undo() brings the
    // class back with exactly its labels and their sources, at its place (or last, when a label or
    // an import named it since and ensureClass() brought it back there).
    [[nodiscard]] Expected<ActionInfo> mergeClass(int fromClassId, int intoClassId);
    // colour: "#rrggbb".
    [[nodiscard]] Expected<ActionInfo> setClassColour(int classId, std::string_view colour);
    // hotkey: one printable ASCII character other than space, or "" for none. A class that had
    // the key loses it in the same action.
    [[nodiscard]] Expected<ActionInfo> setClassHotkey(int classId, std::string_view hotkey);

    // ---- labeling (each call is one action: one undo step, one transaction) ----
    // Applies `changes` (each item at most once) as one action and returns it. Empty changes are
    // an error. Starting a new action clears the redo stack.
    [[nodiscard]] Expected<ActionInfo> applyLabels(std::span<const LabelChange> changes, LabelSource source,
                                                   std::string description);
    // Imported labels: set only on items whose current label is missing or itself imported, so an
    // import never overrides a person's label. Not undoable (an import is setup, not an edit); it
    // does clear the redo stack.
    struct ImportedLabels {
        std::int64_t applied = 0;    // labels set
        std::int64_t keptPerson = 0; // changes not applied: a person gave the item another label
    };
    [[nodiscard]] Expected<ImportedLabels> importLabels(std::span<const LabelChange> changes, std::string description);
    // Records review decisions (with the new label for Relabeled) as one undoable action.
    [[nodiscard]] Expected<ActionInfo> review(std::int64_t itemId, ReviewDecision decision,
                                              std::optional<int> newClassId = std::nullopt);
    // Undoes the latest done action (label, bulk, review or class edit); nullopt when there is
    // none. Imports are not undone, so an import made after a class edit can block undoing it: a
    // class it labeled cannot go away, nor a name come back that a class it added holds. That
    // undo is an error that names the class, and changes nothing.
    [[nodiscard]] Expected<std::optional<ActionInfo>> undo();
    // Redoes the most recently undone action; nullopt when there is none.
    [[nodiscard]] Expected<std::optional<ActionInfo>> redo();

    [[nodiscard]] Expected<std::vector<CurrentLabel>> currentLabels() const;
    // The current label of every item that action `actionId` labeled or unlabeled (classId -1
    // when it has none now), ascending items: after undo() or redo() of a labeling action, what
    // changed, in O(its items) instead of currentLabels()' O(labels). A class edit renumbers
    // classes, so after one of those read currentLabels() instead.
    [[nodiscard]] Expected<std::vector<CurrentLabel>> labelsOfAction(std::int64_t actionId) const;
    // Current review decision per item id (only items that have one).
    [[nodiscard]] Expected<std::vector<std::pair<std::int64_t, ReviewDecision>>> currentReviews() const;
    // The latest `limit` actions, newest first; undone ones only with `includeUndone`.
    [[nodiscard]] Expected<std::vector<ActionInfo>> history(std::int64_t limit, bool includeUndone = false) const;
    // Every event that touched an item, oldest first, undone ones included (marked).
    [[nodiscard]] Expected<std::vector<ItemEvent>> itemHistory(std::int64_t itemId) const;
    // Increases with every change to labels, reviews or class names (apply, import, undo, redo,
    // adding, renaming or merging a class); a stored result that saw another value is out of date.
    [[nodiscard]] Expected<std::int64_t> labelVersion() const;
    // Scans the items and labels (O(items)); undoDepth() alone is O(actions) through an index,
    // cheap enough to ask after every click.
    [[nodiscard]] Expected<ProjectCounts> counts() const;
    struct UndoDepth {
        std::int64_t undoable = 0, redoable = 0; // actions on the undo / redo stacks
    };
    [[nodiscard]] Expected<UndoDepth> undoDepth() const;
    // Replays the whole event history (labels, reviews, class edits) and compares it with the
    // current-label, current-review and class tables; also checks that no label is of a class
    // that is gone. An error describes the first mismatch (tests and `project status --check`).
    [[nodiscard]] Expected<void> verifyDerivedState() const;
    // SQLite's quick_check of the file's pages and indexes; the error quotes its first complaint.
    [[nodiscard]] Expected<void> checkFileIntegrity() const;

    // ---- settings, encoder state, propagation ----
    [[nodiscard]] Expected<ProjectSettings> settings() const;
    [[nodiscard]] Expected<void> saveSettings(const ProjectSettings& settings);
    [[nodiscard]] Expected<std::optional<std::string>> encoderState(std::string_view encoderSpec) const;
    [[nodiscard]] Expected<void> saveEncoderState(std::string_view encoderSpec, std::string_view state);
    // The latest result of `kind` ("propagate" or "audit"), or the newer of the two when no kind
    // is given; nullopt when there is none.
    [[nodiscard]] Expected<std::optional<StoredPropagation>>
    latestPropagation(std::optional<std::string_view> kind = std::nullopt) const;
    // Replaces the stored result of the same kind.
    [[nodiscard]] Expected<void> savePropagation(const StoredPropagation& result);

    // The schema version this build writes and the newest it can read.
    static constexpr int kSchemaVersion = 2;

private:
    ProjectStore(std::string path, Access access, std::unique_ptr<SqliteDatabase> db, std::unique_ptr<ProjectLock> lock);

    [[nodiscard]] Expected<void> requireWritable(std::string_view what) const;
    [[nodiscard]] Expected<void> recomputeItems(std::span<const std::int64_t> itemIds);
    // After marking `action` undone or done: re-derives the classes from their events; true when a
    // class's name or presence changed. Refuses a result with two classes of one name.
    [[nodiscard]] Expected<bool> recomputeClasses(const ActionInfo& action, bool undoing);
    [[nodiscard]] Expected<std::optional<ActionInfo>> setActionState(bool undoing);

    std::string m_path;
    Access m_access;
    std::unique_ptr<ProjectLock> m_lock; // declared before m_db: released after the connection closes
    std::unique_ptr<SqliteDatabase> m_db;
};

} // namespace labelprop
