#include "ui/ProjectSession.h"

#include "core/encoders/Encoder.h"
#include "core/project/ProjectEngine.h"
#include "core/project/ProjectImageSource.h"
#include "ui/Tasks.h"

#include <QFile>
#include <QMetaObject>
#include <QPointer>

#include <exception>
#include <future>
#include <unordered_map>

namespace labelprop::ui {

namespace {

constexpr auto kHolder = "labelprop (the desktop app)";

std::string localPath(const QString& path)
{
    return QFile::encodeName(path).toStdString();
}

QString text(const std::string& s)
{
    return QString::fromStdString(s);
}

using StoredLabel = ProjectSession::StoredLabel;
using LabelMirror = std::vector<StoredLabel>;

Expected<LabelMirror> readLabels(const ProjectStore& store, std::size_t items)
{
    auto labels = store.currentLabels();
    if (!labels)
        return std::unexpected(labels.error());
    LabelMirror mirror(items);
    for (const auto& l : *labels)
        if (l.itemId > 0 && std::size_t(l.itemId) <= items)
            mirror[std::size_t(l.itemId - 1)] = StoredLabel{l.classId, std::uint8_t(l.source)};
    return mirror;
}

} // namespace

// Everything an open hands to the GUI thread.
struct ProjectSession::Opened {
    Expected<void> status;
    std::shared_ptr<ProjectStore> store;
    std::shared_ptr<LivePropagation> live;
    std::shared_ptr<LabelMirror> mirror;
    std::shared_ptr<const ImageSource> images;
    std::shared_ptr<const std::vector<ContentHash>> hashes;
    bool imagesAreFiles = false;
    ItemColumns items;
    std::vector<ProjectClass> classes;
    std::vector<std::int32_t> itemOfRow;
    LiveUpdate initial;
    std::string encoderSpec, encoderPlacement;
    std::int64_t undoable = 0, redoable = 0;
    std::vector<std::string> warnings;
};

// What the store worker says after an action.
struct ProjectSession::StoreAnswer {
    std::optional<Error> error;            // the action failed (nothing of it was saved)
    std::vector<LabelChange> changes;      // labels that changed in the store and not yet in the GUI
    std::vector<std::uint8_t> sources;     // aligned with changes
    std::optional<std::vector<ProjectClass>> classes;
    std::int64_t undoable = 0, redoable = 0;
    QString description;                   // what was undone or redone
};

ProjectSession::ProjectSession(QObject* parent)
    : QObject(parent)
{
    m_storePool.setMaxThreadCount(1);
    m_storePool.setExpiryTimeout(-1);
    m_enginePool.setMaxThreadCount(1);
    m_enginePool.setExpiryTimeout(-1);
}

ProjectSession::~ProjectSession()
{
    close();
    m_cancel->store(true);
    // The close's save must finish before the program ends (the pools' destructors would wait
    // too; this says so).
    m_enginePool.waitForDone();
    m_storePool.waitForDone();
}

void ProjectSession::open(const QString& projectPath)
{
    close(); // one project at a time; its lock goes before the next one is opened
    m_path = projectPath;
    m_open = false;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    const auto request = ++m_openRequest;
    QPointer<ProjectSession> self(this);
    auto report = [self](std::string_view stage, double fraction) {
        // From worker threads: the GUI hears it through its event loop.
        QMetaObject::invokeMethod(
            self.data(), [self, stage = QString::fromUtf8(stage.data(), qsizetype(stage.size())), fraction] {
                if (self)
                    emit self->progress(stage, fraction);
            },
            Qt::QueuedConnection);
    };
    auto task = [path = localPath(projectPath), cancel = m_cancel, report]() -> std::shared_ptr<Opened> {
        auto out = std::make_shared<Opened>();
        try {
            report("opening", 0.0);
            auto store = ProjectStore::open(path, ProjectStore::Access::ReadWrite, kHolder);
            if (!store) {
                out->status = std::unexpected(store.error());
                return out;
            }
            out->store = std::shared_ptr<ProjectStore>(std::move(*store));
            auto& s = *out->store;
            auto settings = s.settings();
            auto items = s.items();
            auto info = s.sourceInfo();
            auto reviews = s.currentReviews();
            auto counts = s.counts();
            for (const auto* e : {settings ? nullptr : &settings.error(), items ? nullptr : &items.error(),
                                  info ? nullptr : &info.error(), reviews ? nullptr : &reviews.error(),
                                  counts ? nullptr : &counts.error()})
                if (e) {
                    out->status = std::unexpected(*e);
                    return out;
                }
            auto mirror = readLabels(s, items->size());
            if (!mirror) {
                out->status = std::unexpected(mirror.error());
                return out;
            }
            out->mirror = std::make_shared<LabelMirror>(std::move(*mirror));
            auto& cols = out->items;
            const auto n = items->size();
            auto paths = std::make_shared<std::vector<std::string>>(n);
            cols.status.resize(n);
            for (const auto& it : *items) {
                (*paths)[std::size_t(it.id - 1)] = it.path;
                cols.status[std::size_t(it.id - 1)] = std::uint8_t(it.status);
            }
            cols.paths = std::move(paths);
            auto hashes = std::make_shared<std::vector<ContentHash>>(n);
            for (const auto& it : *items)
                (*hashes)[std::size_t(it.id - 1)] = it.hash;
            out->hashes = std::move(hashes);
            out->imagesAreFiles = info->kind != "idx";
            cols.label.resize(n);
            cols.source.resize(n);
            for (std::size_t i = 0; i < n; ++i) {
                cols.label[i] = (*out->mirror)[i].classId;
                cols.source[i] = (*out->mirror)[i].source;
            }
            cols.reviewed.assign(n, 0);
            for (const auto& [id, decision] : *reviews)
                cols.reviewed[std::size_t(id - 1)] = 1;
            cols.shown.assign(n, ShownRow{});
            out->undoable = counts->undoable;
            out->redoable = counts->redoable;
            // The images for the thumbnails open on a thread of their own (an IDX file of 1M images
            // takes a while) while the embeddings and the graph load here.
            auto images = std::async(std::launch::async, [info = *info, &items = *items] { return ProjectImageSource::open(info, items); });

            out->encoderSpec = settings->encoder;
            if (auto encoder = makeEncoder(settings->encoder))
                out->encoderPlacement = (*encoder)->placement();
            ProjectRunControl control;
            control.cancel = cancel.get();
            control.progress = report;
            auto run = loadProjectRun(s, *items, *settings, control);
            if (auto opened = images.get())
                out->images = std::shared_ptr<const ImageSource>(std::move(*opened));
            else
                out->warnings.push_back(opened.error().message);
            if (!run) {
                out->status = std::unexpected(run.error());
                return out;
            }
            out->warnings.insert(out->warnings.end(), run->warnings.begin(), run->warnings.end());
            out->classes = run->classes;
            out->itemOfRow.resize(run->embeddings.itemIds.size());
            for (std::size_t r = 0; r < out->itemOfRow.size(); ++r)
                out->itemOfRow[r] = std::int32_t(run->embeddings.itemIds[r] - 1);
            report("propagation", 0.0);
            auto live = LivePropagation::start(std::move(*run));
            if (!live) {
                out->status = std::unexpected(live.error());
                return out;
            }
            out->live = std::shared_ptr<LivePropagation>(std::move(*live));
            out->initial = out->live->initial();
            if (cancel->load()) { // closed or cancelled meanwhile: let the file go here, on the worker
                out->live.reset();
                out->store.reset();
                out->status = fail(path + ": cancelled");
            }
        } catch (const std::exception& e) { // SQLite, OpenCV, allocation: stop at the task boundary
            out->status = fail(path + ": " + e.what());
        }
        return out;
    };
    runThen(m_storePool, this, std::move(task), [this, request](std::shared_ptr<Opened> opened) {
        if (request != m_openRequest)
            return; // a newer open superseded this one
        finishOpen(std::move(opened));
    });
}

Expected<void> ProjectSession::writeEncoderSetting(const QString& path, const QString& spec)
{
    return catchErrors(localPath(path), [&]() -> Expected<void> {
        if (auto encoder = makeEncoder(spec.toStdString()); !encoder)
            return std::unexpected(encoder.error());
        auto store = ProjectStore::open(localPath(path), ProjectStore::Access::ReadWrite, kHolder);
        if (!store)
            return std::unexpected(store.error());
        auto settings = (*store)->settings();
        if (!settings)
            return std::unexpected(settings.error());
        settings->encoder = spec.toStdString();
        return (*store)->saveSettings(*settings);
    });
}

void ProjectSession::cancelOpen()
{
    m_cancel->store(true);
}

void ProjectSession::finishOpen(std::shared_ptr<Opened> o)
{
    if (!o->status) {
        // The store and its lock go now, before failed() is heard: a listener may open the project
        // again at once (the app does, to put the previous encoder back). The future that brought
        // `o` still holds a copy of it, so its members are let go, not just this reference.
        // Nothing is written.
        o->store.reset();
        o->live.reset();
        emit failed(text(o->status.error().message));
        return;
    }
    m_store = std::move(o->store);
    m_live = std::move(o->live);
    m_mirror = std::move(o->mirror);
    m_images = std::move(o->images);
    m_hashes = std::move(o->hashes);
    m_imagesAreFiles = o->imagesAreFiles;
    m_items = std::move(o->items);
    m_classes = std::move(o->classes);
    m_itemOfRow = std::move(o->itemOfRow);
    m_embedded = std::int64_t(m_itemOfRow.size());
    m_encoderSpec = text(o->encoderSpec);
    m_encoderPlacement = text(o->encoderPlacement);
    m_undoable = o->undoable;
    m_redoable = o->redoable;
    for (std::size_t k = 0; k < o->initial.rows.size(); ++k)
        m_items.shown[std::size_t(m_itemOfRow[std::size_t(o->initial.rows[k])])] = o->initial.values[k];
    recount();
    m_noiseRate = o->initial.noiseRate;
    m_shownVersion = o->initial.version;
    m_open = true;
    for (const auto& w : o->warnings)
        emit message(text(w));
    emit opened();
}

void ProjectSession::label(const std::vector<std::int32_t>& items, int classId)
{
    if (!m_open || items.empty())
        return;
    std::vector<LabelChange> changes;
    changes.reserve(items.size());
    for (const auto i : items)
        if (i >= 0 && std::size_t(i) < m_items.size() && m_items.label[std::size_t(i)] != classId)
            changes.push_back(LabelChange{std::int64_t(i) + 1, classId});
    if (changes.empty())
        return;
    const auto source = changes.size() == 1 ? LabelSource::Human : LabelSource::Bulk;
    QString description;
    if (classId < 0)
        description = changes.size() == 1 ? tr("remove the label of %1").arg(text(m_items.path(std::size_t(items[0]))))
                                          : tr("remove %1 labels").arg(changes.size());
    else
        description = tr("label %1 as '%2'")
                          .arg(changes.size() == 1 ? text(m_items.path(std::size_t(changes[0].itemId - 1)))
                                                   : tr("%1 items").arg(changes.size()),
                               text(m_classes.at(std::size_t(classId)).name));
    applyChanges(std::move(changes), source, description, false);
}

void ProjectSession::acceptPropagated(const std::vector<std::int32_t>& items)
{
    if (!m_open)
        return;
    // One action for the whole selection, whatever the classes: one undo step.
    std::vector<LabelChange> changes;
    for (const auto i : items) {
        if (i < 0 || std::size_t(i) >= m_items.size() || m_items.label[std::size_t(i)] >= 0)
            continue;
        const auto predicted = m_items.shown[std::size_t(i)].predicted;
        if (predicted >= 0)
            changes.push_back(LabelChange{std::int64_t(i) + 1, predicted});
    }
    if (changes.empty()) {
        emit message(tr("Nothing to accept: the selection has no unlabeled item with a propagated label."));
        return;
    }
    const auto source = changes.size() == 1 ? LabelSource::Human : LabelSource::Bulk;
    const auto description = tr("accept %1 propagated labels").arg(changes.size());
    applyChanges(std::move(changes), source, description, false);
}

void ProjectSession::applyChanges(std::vector<LabelChange> changes, LabelSource source, const QString& description,
                                  bool fromStore)
{
    std::vector<std::int32_t> touched;
    touched.reserve(changes.size());
    for (const auto& c : changes) {
        const auto i = std::size_t(c.itemId - 1);
        setLabel(i, c.classId, std::uint8_t(source));
        touched.push_back(std::int32_t(i));
    }
    m_pending.insert(m_pending.end(), changes.begin(), changes.end());
    emit labelsChanged(touched);
    dispatchEngine();
    if (fromStore)
        return;
    auto task = [store = m_store, mirror = m_mirror, changes = std::move(changes), source,
                 description = description.toStdString()]() -> StoreAnswer {
        StoreAnswer answer;
        try {
            auto action = store->applyLabels(changes, source, description);
            if (!action) {
                answer.error = action.error();
                // What is shown must be what is saved: hand back the store's labels for these items.
                for (const auto& c : changes) {
                    const auto& kept = (*mirror)[std::size_t(c.itemId - 1)];
                    answer.changes.push_back(LabelChange{c.itemId, kept.classId});
                    answer.sources.push_back(kept.source);
                }
            } else {
                for (const auto& c : changes)
                    (*mirror)[std::size_t(c.itemId - 1)] = StoredLabel{c.classId, std::uint8_t(source)};
            }
            if (auto depth = store->undoDepth()) {
                answer.undoable = depth->undoable;
                answer.redoable = depth->redoable;
            }
        } catch (const std::exception& e) {
            answer.error = Error{store->path() + ": " + e.what()};
        }
        return answer;
    };
    runThen(m_storePool, this, std::move(task), [this, gen = m_generation](StoreAnswer answer) {
        if (gen == m_generation)
            storeAnswered(answer);
    });
}

void ProjectSession::storeAnswered(const StoreAnswer& answer)
{
    m_undoable = answer.undoable;
    m_redoable = answer.redoable;
    if (answer.error)
        emit storeError(text(answer.error->message));
    if (answer.classes) {
        m_classes = *answer.classes;
        recount(); // the per-class counts follow the class list
        emit classesChanged();
    }
    // Apply the store's changes grouped by source (undo can restore labels of several sources).
    std::unordered_map<std::uint8_t, std::vector<LabelChange>> bySource;
    for (std::size_t k = 0; k < answer.changes.size(); ++k)
        bySource[answer.sources[k]].push_back(answer.changes[k]);
    for (auto& [source, changes] : bySource)
        applyChanges(std::move(changes), LabelSource(source), {}, true);
    if (!answer.description.isEmpty())
        emit message(answer.description);
    emit undoStateChanged();
}

void ProjectSession::setLabel(std::size_t i, std::int32_t classId, std::uint8_t source)
{
    countItem(m_counts, m_items, i, kConfidentAbove, -1);
    m_items.label[i] = classId;
    m_items.source[i] = source;
    countItem(m_counts, m_items, i, kConfidentAbove, +1);
}

void ProjectSession::setShown(std::size_t i, const ShownRow& row)
{
    countItem(m_counts, m_items, i, kConfidentAbove, -1);
    m_items.shown[i] = row;
    countItem(m_counts, m_items, i, kConfidentAbove, +1);
}

void ProjectSession::recount()
{
    m_counts = countItems(m_items, int(m_classes.size()), kConfidentAbove);
}

void ProjectSession::dispatchEngine()
{
    if (m_engineBusy || m_pending.empty() || !m_live)
        return;
    m_engineBusy = true;
    auto task = [live = m_live, batch = std::exchange(m_pending, {}), classes = m_classes] {
        return catchErrors("propagation failed", [&] { return live->apply(batch, classes); });
    };
    runThen(m_enginePool, this, std::move(task), [this, gen = m_generation](Expected<LiveUpdate> update) {
        if (gen != m_generation)
            return; // the project was closed meanwhile
        m_engineBusy = false;
        if (!update) {
            emit message(text(update.error().message));
        } else {
            std::vector<std::int32_t> changed;
            changed.reserve(update->rows.size());
            for (std::size_t k = 0; k < update->rows.size(); ++k) {
                const auto item = m_itemOfRow[std::size_t(update->rows[k])];
                setShown(std::size_t(item), update->values[k]);
                changed.push_back(item);
            }
            m_noiseRate = update->noiseRate;
            m_shownVersion = update->version;
            m_lastEngineUpdate = {update->seconds, update->propagationSeconds, update->auditSeconds, update->rowSteps,
                                  update->rows.size()};
            emit propagationChanged(changed, update->version);
        }
        dispatchEngine();
        if (m_waitingExport && engineIdle())
            exportLabels(m_waitingExport->file, m_waitingExport->options, m_waitingExport->previewOnly);
    });
}

void ProjectSession::undo()
{
    undoOrRedo(true);
}

void ProjectSession::redo()
{
    undoOrRedo(false);
}

void ProjectSession::undoOrRedo(bool undoing)
{
    runStoreStep([undoing](ProjectStore& store) { return undoing ? store.undo() : store.redo(); },
                 undoing ? tr("Undid: %1") : tr("Redid: %1"), undoing ? tr("Nothing to undo") : tr("Nothing to redo"));
}

void ProjectSession::addClass(const QString& name)
{
    runStoreStep(
        [name = name.toStdString()](ProjectStore& store) -> Expected<std::optional<ActionInfo>> {
            auto added = store.addClass(name);
            if (!added)
                return std::unexpected(added.error());
            return added->action;
        },
        tr("Done: %1"), {});
}

void ProjectSession::renameClass(int classId, const QString& name)
{
    runStoreStep([classId, name = name.toStdString()](ProjectStore& s) -> Expected<std::optional<ActionInfo>> {
        return s.renameClass(classId, name);
    }, tr("Done: %1"), {});
}

void ProjectSession::mergeClass(int fromClassId, int intoClassId)
{
    runStoreStep([fromClassId, intoClassId](ProjectStore& s) -> Expected<std::optional<ActionInfo>> {
        return s.mergeClass(fromClassId, intoClassId);
    }, tr("Done: %1"), {});
}

void ProjectSession::setClassColour(int classId, const QString& colour)
{
    runStoreStep([classId, colour = colour.toStdString()](ProjectStore& s) -> Expected<std::optional<ActionInfo>> {
        return s.setClassColour(classId, colour);
    }, tr("Done: %1"), {});
}

void ProjectSession::setClassHotkey(int classId, const QString& key)
{
    runStoreStep([classId, key = key.toStdString()](ProjectStore& s) -> Expected<std::optional<ActionInfo>> {
        return s.setClassHotkey(classId, key);
    }, tr("Done: %1"), {});
}

void ProjectSession::runStoreStep(std::function<Expected<std::optional<ActionInfo>>(ProjectStore&)> step,
                                  const QString& doneFormat, const QString& nothingText)
{
    if (!m_open)
        return;
    // On the store worker: the step, then the labels and classes it changed (the mirror says what
    // the labels were), so undo, redo and class edits (a merge moves labels) travel like labels do.
    auto task = [store = m_store, mirror = m_mirror, step = std::move(step), doneFormat, nothingText] {
        StoreAnswer a;
        try {
            auto action = step(*store);
            if (!action) {
                a.error = action.error();
                return a;
            }
            const QString what = *action ? text((*action)->description) : QString();
            a.description = what.isEmpty() ? nothingText : doneFormat.arg(what);
            const auto record = [&](std::int64_t itemId, const StoredLabel& now) {
                auto& kept = (*mirror)[std::size_t(itemId - 1)];
                if (now == kept)
                    return;
                kept = now;
                a.changes.push_back(LabelChange{itemId, now.classId});
                a.sources.push_back(now.source);
            };
            if (*action && (*action)->kind != ActionKind::Class) {
                // A labeling action (undone or redone): only its items can have changed.
                auto now = store->labelsOfAction((*action)->id);
                if (!now) {
                    a.error = now.error();
                    return a;
                }
                for (const auto& l : *now)
                    if (l.itemId > 0 && std::size_t(l.itemId) <= mirror->size())
                        record(l.itemId, l.classId >= 0 ? StoredLabel{l.classId, std::uint8_t(l.source)} : StoredLabel{});
            } else {
                // A class edit renumbers classes (a merge moves labels): compare every label.
                auto now = readLabels(*store, mirror->size());
                if (!now) {
                    a.error = now.error();
                    return a;
                }
                for (std::size_t i = 0; i < now->size(); ++i)
                    record(std::int64_t(i) + 1, (*now)[i]);
            }
            if (auto classes = store->classes())
                a.classes = std::move(*classes);
            if (auto depth = store->undoDepth()) {
                a.undoable = depth->undoable;
                a.redoable = depth->redoable;
            }
        } catch (const std::exception& e) {
            a.error = Error{store->path() + ": " + e.what()};
        }
        return a;
    };
    runThen(m_storePool, this, std::move(task), [this, gen = m_generation](StoreAnswer a) {
        if (gen == m_generation)
            storeAnswered(a);
    });
}

namespace {

// Records `stored` as the project's latest propagation when its labels are the saved ones (a
// later save catches up otherwise): false when it did not. On the store worker.
Expected<bool> saveSnapshot(ProjectStore& store, const LabelMirror& mirror, const StoredPropagation& stored,
                            const std::vector<std::int32_t>& itemOfRow)
{
    return catchErrors(store.path(), [&]() -> Expected<bool> {
        if (stored.scores.empty())
            return false; // nothing propagated yet
        for (std::size_t r = 0; r < itemOfRow.size(); ++r)
            if (mirror[std::size_t(itemOfRow[r])].classId != stored.given[r])
                return false;
        auto version = store.labelVersion();
        if (!version)
            return std::unexpected(version.error());
        StoredPropagation copy = stored;
        copy.labelVersion = *version;
        LP_TRY(store.savePropagation(copy));
        return true;
    });
}

} // namespace

void ProjectSession::close()
{
    if (!m_store && !m_live) {
        // An open in progress is cancelled, and its answer dropped: its task lets the store go on
        // the worker (below, in open()), so a next open queued behind it finds the file free.
        m_cancel->store(true);
        ++m_openRequest;
        return;
    }
    emit aboutToClose(); // views let go of the rows before the columns are emptied
    ++m_generation;      // answers still on their way are for the closed project: dropped
    m_cancel->store(true);
    m_open = false;
    // The last save runs on the workers, in order, so the GUI never waits for it: the engine
    // worker takes the snapshot after the update in flight; the store worker saves it after every
    // commit queued, then lets the store (and its lock) go. Both hold the only references left to
    // the live propagation and the store. The next open queues behind this on the store worker.
    auto snapshot = std::make_shared<std::promise<std::shared_ptr<const StoredPropagation>>>();
    auto ready = snapshot->get_future().share();
    m_enginePool.start([live = std::exchange(m_live, {}), snapshot]() mutable {
        try {
            snapshot->set_value(std::make_shared<const StoredPropagation>(storedPropagation(live->run(), live->current())));
        } catch (...) {
            snapshot->set_exception(std::current_exception());
        }
        live.reset(); // the trajectory (hundreds of MB at 1M) goes here, not on the GUI thread
    });
    ++m_closing;
    auto save = [store = std::exchange(m_store, {}), mirror = std::exchange(m_mirror, {}),
                 itemOfRow = std::exchange(m_itemOfRow, {}), ready]() mutable -> QString {
        QString error;
        try {
            if (auto written = saveSnapshot(*store, *mirror, *ready.get(), itemOfRow); !written)
                error = text(written.error().message);
        } catch (const std::exception& e) {
            error = text(store->path() + ": the propagation was not saved: " + e.what());
        }
        store.reset(); // closes the file and releases its lock
        return error;
    };
    runThen(m_storePool, this, std::move(save), [this, path = m_path](const QString& error) {
        --m_closing;
        if (!error.isEmpty())
            emit storeError(error);
        emit closed(path);
    });
    // What the GUI held of the project is freed on a worker too: at 1M items the paths alone are a
    // million strings, and letting them go here held the GUI thread up for a quarter of a second.
    QThreadPool::globalInstance()->start(
        [items = std::exchange(m_items, ItemColumns{}), images = std::exchange(m_images, {}),
         hashes = std::exchange(m_hashes, {})]() mutable {
            items = ItemColumns{};
            images.reset();
            hashes.reset();
        });
    m_pending.clear();
    m_engineBusy = false;
    m_waitingExport.reset();
    m_counts = ItemCounts{};
    m_classes.clear();
}

void ProjectSession::saveLivePropagation()
{
    if (!m_open || !engineIdle())
        return;
    // The engine's snapshot first (its thread), then the store checks that the snapshot's labels are
    // the saved ones before it records them with its label version.
    auto snapshot = [live = m_live] {
        return std::make_shared<const StoredPropagation>(storedPropagation(live->run(), live->current()));
    };
    runThen(m_enginePool, this, std::move(snapshot), [this, gen = m_generation](std::shared_ptr<const StoredPropagation> stored) {
        if (gen != m_generation)
            return;
        auto task = [store = m_store, mirror = m_mirror, stored, itemOfRow = m_itemOfRow] {
            return saveSnapshot(*store, *mirror, *stored, itemOfRow);
        };
        runThen(m_storePool, this, std::move(task), [this, gen](Expected<bool> written) {
            if (gen != m_generation)
                return;
            if (!written)
                emit storeError(text(written.error().message));
            else
                emit saved(*written);
        });
    });
}

void ProjectSession::exportLabels(const QString& file, const ExportOptions& options, bool previewOnly)
{
    if (!m_open)
        return;
    if (!engineIdle()) {
        // The file must hold what the window shows: it is written once the propagation has caught
        // up with every label (a later export request replaces this one).
        const bool said = m_waitingExport.has_value();
        m_waitingExport = WaitingExport{file, options, previewOnly};
        if (!said && !previewOnly)
            emit message(tr("Waiting for the propagation to catch up, then writing %1").arg(file));
        return;
    }
    m_waitingExport.reset();
    // The engine's result as shown, saved in the project, then exported from it (or counted, for a
    // preview): one store task, after every commit queued, so the file's confidences and flags are
    // the window's.
    auto snapshot = [live = m_live] {
        return std::make_shared<const StoredPropagation>(storedPropagation(live->run(), live->current()));
    };
    struct Outcome {
        bool stale = false; // labels moved on since the snapshot: export again when idle
        std::optional<Error> error;
        ExportReport report;
        ExportPreview preview;
    };
    runThen(m_enginePool, this, std::move(snapshot), [this, file, options, previewOnly, gen = m_generation](
                                                          std::shared_ptr<const StoredPropagation> stored) {
        if (gen != m_generation)
            return;
        auto task = [store = m_store, mirror = m_mirror, stored, itemOfRow = m_itemOfRow, out = localPath(file),
                     options, previewOnly]() {
            Outcome o;
            try {
                auto saved = saveSnapshot(*store, *mirror, *stored, itemOfRow);
                if (!saved) {
                    o.error = saved.error();
                    return o;
                }
                if (!*saved && !stored->scores.empty()) {
                    o.stale = true;
                    return o;
                }
                if (previewOnly) {
                    auto preview = previewExport(*store, options);
                    preview ? void(o.preview = std::move(*preview)) : void(o.error = preview.error());
                } else {
                    auto report = labelprop::exportLabels(*store, out, options);
                    report ? void(o.report = *report) : void(o.error = report.error());
                }
            } catch (const std::exception& e) {
                o.error = Error{out + ": " + e.what(), {}};
            }
            return o;
        };
        runThen(m_storePool, this, std::move(task), [this, file, options, previewOnly, gen](Outcome o) {
            if (gen != m_generation)
                return;
            if (o.stale)
                exportLabels(file, options, previewOnly); // waits for the new labels' propagation
            else if (o.error)
                previewOnly ? emit exportFailed(text(o.error->message)) : emit storeError(text(o.error->message));
            else if (previewOnly)
                emit exportPreviewed(o.preview);
            else
                emit exported(file, o.report);
        });
    });
}

void ProjectSession::requestSuggestions(int budget)
{
    if (!m_open || !m_live)
        return;
    auto task = [live = m_live, budget] {
        return catchErrors("suggestions failed", [&] { return live->suggest(budget, 1); });
    };
    runThen(m_enginePool, this, std::move(task), [this, gen = m_generation](Expected<Selection> picked) {
        if (gen != m_generation)
            return;
        if (!picked) {
            emit message(text(picked.error().message));
            return;
        }
        m_items.suggestionRank.assign(m_items.size(), -1);
        for (std::size_t k = 0; k < picked->items.size(); ++k)
            m_items.suggestionRank[std::size_t(m_itemOfRow[std::size_t(picked->items[k])])] = std::int32_t(k);
        emit message(tr("%1 items suggested to label next (%2)")
                         .arg(picked->items.size())
                         .arg(QString::fromUtf8(selectionStrategyName(m_live->run().engine.strategy).data())));
        emit suggestionsReady();
    });
}

void ProjectSession::requestLiveResult()
{
    if (!m_live)
        return;
    auto task = [live = m_live] {
        return std::pair<ProjectPropagation, std::vector<std::int32_t>>{
            live->current(), std::vector<std::int32_t>(live->seeds().begin(), live->seeds().end())};
    };
    runThen(m_enginePool, this, std::move(task),
            [this](std::pair<ProjectPropagation, std::vector<std::int32_t>> r) { emit liveResult(r.first, r.second); });
}

} // namespace labelprop::ui
