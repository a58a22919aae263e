#pragma once
// ProjectSession: one open project in the desktop app, and the two workers behind it.
//
//   GUI thread     owns the ItemColumns the grid shows, the classes and the counts; never waits
//   store worker   one thread, owns the writable ProjectStore: commits each action (fsync) in order
//   engine worker  one thread, owns the LivePropagation: applies label changes, returns the rows
//                  whose shown values changed
//
// A label change is applied to the GUI's columns at once (the tile shows its new label in the same
// frame), then sent to both workers. Changes that arrive while the engine is busy are merged into
// its next batch, so a newer click supersedes a stale run instead of queueing behind it. Undo and
// redo go through the store (they are persisted: they survive a restart); the store answers with
// the label changes they made, which then travel the same way.
//
// Thread-safety: GUI thread only. Workers get values and shared pointers to objects only they use
// (the store, the live propagation) and hand values back through runThen().

#include "core/project/ItemView.h"
#include "core/project/LivePropagation.h"
#include "core/project/ProjectExport.h"
#include "core/project/ProjectStore.h"
#include "ui/Tasks.h"

#include <QObject>
#include <QString>
#include <QThreadPool>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <vector>

namespace labelprop {
class ImageSource;
}

namespace labelprop::ui {

class ProjectSession final : public QObject {
    Q_OBJECT
public:
    explicit ProjectSession(QObject* parent = nullptr);
    // Waits for the workers (the store commits what it was given before it closes).
    ~ProjectSession() override;

    // Opens a project file for writing. Asynchronous: progress(), then opened() or failed().
    void open(const QString& projectPath);
    // Cancels an open in progress (encoding, graph search); failed() follows.
    void cancelOpen();
    // Closes the project without waiting: aboutToClose() first (views drop what they show of it),
    // then the columns are emptied at once, and the workers finish in the background: every commit
    // queued is made, the live propagation saved (at 1M items, a 1M-row result), and the store and
    // its lock let go; closed() follows. Work queued on the store worker afterwards (the next open,
    // runAfterClose()) runs after all of that. Answers still on their way are dropped.
    void close();
    // Runs `task` on the store worker after everything queued there (a close's save and release),
    // then `done(result)` on the GUI thread: for work on a project file the session just let go.
    template <class Task, class Done>
    void runAfterClose(Task task, Done done);
    // Whether a close is still saving in the background (the project file is still locked).
    [[nodiscard]] bool closing() const { return m_closing > 0; }
    [[nodiscard]] bool isOpen() const { return m_open; }
    [[nodiscard]] const QString& projectPath() const { return m_path; }

    [[nodiscard]] const ItemColumns& items() const { return m_items; }
    [[nodiscard]] const std::vector<ProjectClass>& classes() const { return m_classes; }
    [[nodiscard]] const std::shared_ptr<const ImageSource>& images() const { return m_images; }
    // Content hash per item (index = item), for the thumbnails kept on disk.
    [[nodiscard]] const std::shared_ptr<const std::vector<ContentHash>>& hashes() const { return m_hashes; }
    // "<project>-cache": rebuildable files beside the project (embeddings, graphs, thumbnails).
    [[nodiscard]] QString cacheFolder() const { return m_path + QStringLiteral("-cache"); }
    // Whether the images are files worth keeping thumbnails of on disk (not IDX arrays, which decode
    // faster than a thumbnail file loads).
    [[nodiscard]] bool imagesAreFiles() const { return m_imagesAreFiles; }
    [[nodiscard]] std::int64_t embeddedCount() const { return m_embedded; }
    // The project's encoder spec and where it runs ("cpu fp32", "cuda:0 bf16"; Encoder::placement()).
    [[nodiscard]] const QString& encoderSpec() const { return m_encoderSpec; }
    [[nodiscard]] const QString& encoderPlacement() const { return m_encoderPlacement; }
    // Sets the encoder of the (closed) project file `path`: checks the spec (makeEncoder: options,
    // the weights file) and saves it in the project's settings. Blocking: run it off the GUI
    // thread. The next open embeds the images with it (cached per encoder).
    [[nodiscard]] static Expected<void> writeEncoderSetting(const QString& path, const QString& spec);
    [[nodiscard]] double noiseRate() const { return m_noiseRate; }
    // The status bar's counts, kept up to date item by item as labels and propagation change (no
    // pass over every item on the GUI thread). Confident: propagated at >= kConfidentAbove.
    [[nodiscard]] const ItemCounts& counts() const { return m_counts; }
    static constexpr float kConfidentAbove = 0.9f;
    [[nodiscard]] std::int64_t undoDepth() const { return m_undoable; }
    [[nodiscard]] std::int64_t redoDepth() const { return m_redoable; }

    // Labels items (indices) with class `classId` (-1 removes their labels), as one undoable action.
    void label(const std::vector<std::int32_t>& items, int classId);
    // Gives each listed item its propagated class (items without one are skipped), one action.
    void acceptPropagated(const std::vector<std::int32_t>& items);
    void undo();
    void redo();
    // Class edits, each one undoable action (ProjectStore); classesChanged() follows, and a merge's
    // moved labels arrive like any label change.
    void addClass(const QString& name);
    void renameClass(int classId, const QString& name);
    void mergeClass(int fromClassId, int intoClassId);
    void setClassColour(int classId, const QString& colour); // "#rrggbb"
    void setClassHotkey(int classId, const QString& key);    // one character, or empty for none
    // Saves the live propagation in the project (so `project status`, `export` and the next open
    // see it), once the engine has caught up with every label. Asynchronous; saved() follows.
    void saveLivePropagation();
    // Writes the cleaned labels (core's exportLabels) with the confidences and flags the window
    // shows: once the engine has caught up with every label, its result is saved in the project
    // and exported from there, on the store worker after every commit queued. While the engine is
    // busy the export waits (message() says so). exported() or storeError() follows. With
    // `previewOnly` nothing is written: exportPreviewed() (what it would write, per class) or
    // exportFailed() follows.
    void exportLabels(const QString& file, const ExportOptions& options, bool previewOnly = false);

    // The latest engine version the GUI has applied, and whether the engine is idle (nothing
    // running, nothing queued): the latency benchmark and the tests wait for this.
    [[nodiscard]] std::int64_t shownVersion() const { return m_shownVersion; }
    [[nodiscard]] bool engineIdle() const { return !m_engineBusy && m_pending.empty(); }
    // The last engine update: its time on the engine worker (s), the rows it changed, and whether
    // it ran over every row (benchmarks and the status bar's tooltip).
    // The last engine update's figures (its rows and values are dropped once applied).
    struct EngineFigures {
        double seconds = 0.0, propagationSeconds = 0.0, auditSeconds = 0.0;
        std::int64_t rowSteps = 0;
        std::size_t changedRows = 0;
    };
    [[nodiscard]] const EngineFigures& lastEngineUpdate() const { return m_lastEngineUpdate; }
    // Ranks what to label next (the project's strategy over the live propagation) on the engine
    // worker and fills items().suggestionRank; suggestionsReady() follows.
    void requestSuggestions(int budget = 500);

    // The live propagation's full result, computed on the engine worker (tests compare it with a
    // from-scratch propagation). Asynchronous: liveResult() follows.
    void requestLiveResult();

signals:
    void progress(const QString& stage, double fraction);
    void opened();
    // The open project is about to go: items() is emptied right after. Views must stop showing it.
    void aboutToClose();
    // A close finished in the background: `project` is saved and unlocked.
    void closed(const QString& project);
    void failed(const QString& message);
    // Labels of these items changed in the columns (before propagation caught up).
    void labelsChanged(const std::vector<std::int32_t>& items);
    // Propagated values of these items changed; `version` is the engine's.
    void propagationChanged(const std::vector<std::int32_t>& items, std::int64_t version);
    void classesChanged();
    void undoStateChanged();
    // A save failed: the message names the project and what to do. The GUI's labels are re-read
    // from the store afterwards, so what is shown is what is saved.
    void storeError(const QString& message);
    void message(const QString& text);
    void liveResult(const ProjectPropagation& result, const std::vector<std::int32_t>& seeds);
    void suggestionsReady();
    void saved(bool written); // false: labels moved on meanwhile (a later save will catch up)
    void exported(const QString& file, const ExportReport& report);
    void exportPreviewed(const ExportPreview& preview);
    void exportFailed(const QString& message); // a preview that could not be made (e.g. nothing propagated)

private:
    struct Opened;
    struct StoreAnswer;
    void finishOpen(std::shared_ptr<Opened> opened);
    // Applies changes to the columns now and sends them to the engine and (unless fromStore) the store.
    void applyChanges(std::vector<LabelChange> changes, LabelSource source, const QString& description, bool fromStore);
    void dispatchEngine();
    void undoOrRedo(bool undoing);
    // Runs a store action on the store worker and answers with what it changed.
    void runStoreStep(std::function<Expected<std::optional<ActionInfo>>(ProjectStore&)> step, const QString& doneFormat,
                      const QString& nothingText);
    void storeAnswered(const StoreAnswer& answer);
    // Sets item i's label (and source) or shown row, keeping m_counts in step.
    void setLabel(std::size_t i, std::int32_t classId, std::uint8_t source);
    void setShown(std::size_t i, const ShownRow& row);
    void recount();

    QString m_path;
    bool m_open = false;
    ItemColumns m_items;
    std::vector<ProjectClass> m_classes;
    std::shared_ptr<const ImageSource> m_images;
    std::shared_ptr<const std::vector<ContentHash>> m_hashes;
    bool m_imagesAreFiles = false;
    std::int64_t m_embedded = 0;
    QString m_encoderSpec, m_encoderPlacement;
    double m_noiseRate = 0.0;
    ItemCounts m_counts;
    int m_closing = 0; // closes still saving in the background
    std::int64_t m_undoable = 0, m_redoable = 0;

    std::shared_ptr<ProjectStore> m_store;     // used on m_storePool only
    std::shared_ptr<LivePropagation> m_live;   // used on m_enginePool only
public:
    // A label as the store has it: class id (-1: none) and its LabelSource.
    struct StoredLabel {
        std::int32_t classId = -1;
        std::uint8_t source = 0;
        friend bool operator==(const StoredLabel&, const StoredLabel&) = default;
    };

private:
    // The store worker's copy of every item's label (item index -> label), so an undo can say which
    // items it changed without the GUI reading the whole table. Used on m_storePool only.
    std::shared_ptr<std::vector<StoredLabel>> m_mirror;
    std::vector<std::int32_t> m_itemOfRow; // embedding row -> item index
    std::shared_ptr<std::atomic<bool>> m_cancel = std::make_shared<std::atomic<bool>>(false);
    std::vector<LabelChange> m_pending;        // changes waiting for the engine
    struct WaitingExport {
        QString file;
        ExportOptions options;
        bool previewOnly = false;
    };
    std::optional<WaitingExport> m_waitingExport; // written when the engine is idle
    bool m_engineBusy = false;
    std::int64_t m_shownVersion = 0;
    EngineFigures m_lastEngineUpdate;
    std::uint64_t m_openRequest = 0;
    std::uint64_t m_generation = 0; // bumped by close(): continuations of an older project return

    QThreadPool m_storePool;  // one thread: store commits in order
    QThreadPool m_enginePool; // one thread: the live propagation
};

template <class Task, class Done>
void ProjectSession::runAfterClose(Task task, Done done)
{
    runThen(m_storePool, this, std::move(task), std::move(done));
}

} // namespace labelprop::ui
