#pragma once
// Private to the ProjectStore*.cpp files (the store is one class split by concern across them):
// the error-forwarding macro, the clock, project metadata, and the statements that keep the
// derived tables in step with the events. Not part of the layer's interface.

#include "core/base/Error.h"
#include "core/project/ProjectStore.h"
#include "core/project/SqliteDatabase.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace labelprop::store_detail {

constexpr std::string_view kLabelVersionKey = "label_version";

// The statements that keep the derived tables in step with the events.
constexpr std::string_view kInsertLabelEvent =
    "INSERT INTO label_events(action_id, item_id, class_id, source) VALUES(?1, ?2, ?3, ?4)";
constexpr std::string_view kSetCurrentLabel =
    "INSERT INTO current_labels(item_id, class_id, source, event_id) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(item_id) DO UPDATE SET class_id = ?2, source = ?3, event_id = ?4";
constexpr std::string_view kSetCurrentReview =
    "INSERT INTO current_reviews(item_id, decision, event_id) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(item_id) DO UPDATE SET decision = ?2, event_id = ?3";

// ms since the epoch.
inline std::int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The `meta` table: project information as text (root, source kind, label version, ...).
[[nodiscard]] Expected<void> setMeta(SqliteDatabase& db, std::string_view key, std::string_view value);
[[nodiscard]] Expected<std::optional<std::string>> getMeta(const SqliteDatabase& db, std::string_view key);

// ---- actions (ProjectStoreLabels.cpp); call inside the caller's transaction ----
[[nodiscard]] Expected<void> bumpLabelVersion(SqliteDatabase& db);
// Undone actions can no longer be redone once another change is made.
[[nodiscard]] Expected<void> discardRedoStack(SqliteDatabase& db);
// A new done action; `events` only fills the returned ActionInfo.
[[nodiscard]] Expected<ActionInfo> insertAction(SqliteDatabase& db, ActionKind kind, const std::string& description,
                                                std::int64_t events);

// Writes label events and keeps current_labels in step, with the statements prepared once.
class LabelWriter {
public:
    [[nodiscard]] static Expected<LabelWriter> prepare(SqliteDatabase& db);
    // classKey: the class's key (see ClassTable), or nullopt to remove the item's label.
    // `what` names the operation in an error ("saving the label").
    [[nodiscard]] Expected<void> write(std::int64_t actionId, std::int64_t itemId, std::optional<std::int64_t> classKey,
                                       LabelSource source, std::string_view what);

private:
    LabelWriter(SqliteDatabase& db, SqliteStatement event, SqliteStatement upsert, SqliteStatement remove);

    SqliteDatabase* m_db;
    SqliteStatement m_event, m_upsert, m_remove;
};

// ---- classes (ProjectStoreClasses.cpp) ----
// The tables store a class by its key (classes.id: stable, never reused, referenced by the
// events); the API numbers the live classes 0..n-1 in display order (position, then key).
struct ClassState {
    std::string name;
    std::string colour;
    std::string hotkey;
    std::int64_t position = 0;
    bool live = true;
    bool operator==(const ClassState&) const = default;
};

// The classes table as read at one moment, with the map between keys and the API's ids.
class ClassTable {
public:
    [[nodiscard]] static Expected<ClassTable> load(const SqliteDatabase& db);

    [[nodiscard]] const std::map<std::int64_t, ClassState>& all() const { return m_all; } // by key
    [[nodiscard]] int liveCount() const { return int(m_liveKeys.size()); }
    [[nodiscard]] bool validId(int id) const { return id >= 0 && id < liveCount(); }
    // validId(id), or an error naming the project file `path`, the id and how many classes there are.
    [[nodiscard]] Expected<void> requireId(int id, const std::string& path) const;
    // The key of live class `id`; validId(id) must hold.
    [[nodiscard]] std::int64_t key(int id) const { return m_liveKeys[std::size_t(id)]; }
    // The id of the class with `key`, or -1 when it is gone (or unknown).
    [[nodiscard]] int id(std::int64_t key) const;
    [[nodiscard]] const ClassState& state(int id) const { return m_all.at(key(id)); }
    [[nodiscard]] std::optional<int> idNamed(std::string_view name) const;
    [[nodiscard]] std::vector<ProjectClass> live() const;
    // Class `name` as a new class or, when a class of that name is gone, that one back; either way
    // the last in display order, with the first colour and hotkey no live class uses.
    [[nodiscard]] std::pair<std::int64_t, ClassState> added(std::string_view name) const;

private:
    std::map<std::int64_t, ClassState> m_all;
    std::vector<std::int64_t> m_liveKeys;          // id -> key
    std::unordered_map<std::int64_t, int> m_idOfKey; // live keys only
};

// Appends the class's state as an event (actionId: nullopt for setup, never undone) and makes it
// the derived classes row.
[[nodiscard]] Expected<void> writeClassEvent(SqliteDatabase& db, std::optional<std::int64_t> actionId,
                                             std::int64_t key, const ClassState& state);
[[nodiscard]] Expected<void> writeClassRow(SqliteDatabase& db, std::int64_t key, const ClassState& state);
// Every class's state from its events: the latest that counts (its action is done, or it has
// none), else its first with live = false. By key.
[[nodiscard]] Expected<std::map<std::int64_t, ClassState>> replayClassEvents(const SqliteDatabase& db);
// "item 4 is labeled with the class 'fox', which is gone" for the first label of a gone class, or nullopt.
[[nodiscard]] Expected<std::optional<std::string>> labelOfGoneClass(const SqliteDatabase& db);

} // namespace labelprop::store_detail

