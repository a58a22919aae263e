#include "core/project/ProjectStore.h"

#include "core/project/ProjectLock.h"
#include "core/project/ProjectSchema.h"
#include "core/project/SqliteDatabase.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <type_traits>

namespace labelprop {

namespace {

namespace fs = std::filesystem;

// Tableau 20 (first the 10 strong colours, then their light partners): distinct on a grid.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                    "#ff9da7", "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6",
                                    "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"};

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

std::int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

template <class T>
std::span<const std::uint8_t> asBytes(const std::vector<T>& v)
{
    static_assert(std::is_trivially_copyable_v<T>);
    return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(T)};
}

template <class T>
bool fromBytes(std::span<const std::uint8_t> bytes, std::size_t count, std::vector<T>& out)
{
    if (bytes.size() != count * sizeof(T))
        return false;
    out.resize(count);
    if (count > 0)
        std::memcpy(out.data(), bytes.data(), bytes.size());
    return true;
}

#define LP_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        if (auto lp_try_result = (expr); !lp_try_result)                                                               \
            return std::unexpected(lp_try_result.error());                                                             \
    } while (false)

} // namespace

// ---- names -------------------------------------------------------------------------------------

namespace {

constexpr std::pair<LabelSource, std::string_view> kLabelSourceNames[] = {
    {LabelSource::Human, "human"}, {LabelSource::Imported, "imported"},
    {LabelSource::Accepted, "accepted"}, {LabelSource::Bulk, "bulk"}};
constexpr std::pair<ItemStatus, std::string_view> kItemStatusNames[] = {
    {ItemStatus::Present, "present"}, {ItemStatus::Missing, "missing"},
    {ItemStatus::Changed, "changed"}, {ItemStatus::Unreadable, "unreadable"}};
constexpr std::pair<ReviewDecision, std::string_view> kReviewDecisionNames[] = {
    {ReviewDecision::Kept, "kept"}, {ReviewDecision::Relabeled, "relabeled"}, {ReviewDecision::Skipped, "skipped"}};

template <class E, std::size_t N>
std::string_view nameIn(const std::pair<E, std::string_view> (&table)[N], E value)
{
    for (const auto& [v, name] : table)
        if (v == value)
            return name;
    return "unknown";
}

template <class E, std::size_t N>
std::optional<E> valueIn(const std::pair<E, std::string_view> (&table)[N], std::string_view name)
{
    for (const auto& [v, n] : table)
        if (n == name)
            return v;
    return std::nullopt;
}

} // namespace

std::string_view labelSourceName(LabelSource source)
{
    return nameIn(kLabelSourceNames, source);
}

std::optional<LabelSource> parseLabelSource(std::string_view name)
{
    return valueIn(kLabelSourceNames, name);
}

std::string_view itemStatusName(ItemStatus status)
{
    return nameIn(kItemStatusNames, status);
}

std::string_view reviewDecisionName(ReviewDecision decision)
{
    return nameIn(kReviewDecisionNames, decision);
}

std::optional<ReviewDecision> parseReviewDecision(std::string_view name)
{
    return valueIn(kReviewDecisionNames, name);
}

// ---- open / create -----------------------------------------------------------------------------

ProjectStore::ProjectStore(std::string path, Access access, std::unique_ptr<SqliteDatabase> db,
                           std::unique_ptr<ProjectLock> lock)
    : m_path(std::move(path))
    , m_access(access)
    , m_lock(std::move(lock))
    , m_db(std::move(db))
{
}

ProjectStore::~ProjectStore() = default;

namespace {

// Connection settings for every open: WAL (readers never block the writer), FULL sync (a commit
// that returned is on disk), foreign keys checked.
Expected<void> configureConnection(SqliteDatabase& db, bool writable)
{
    if (writable)
        LP_TRY(db.exec("PRAGMA journal_mode = WAL", "switching the project to the WAL journal"));
    // 64 MiB page cache (SQLite's default is 2 MiB): a 1M-item import touches indexes far larger than that.
    LP_TRY(db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536",
                   "configuring the connection"));
    return {};
}

Expected<void> setMeta(SqliteDatabase& db, std::string_view key, std::string_view value)
{
    auto st = db.prepare("INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
    if (!st)
        return std::unexpected(st.error());
    return st->bind(1, key).bind(2, value).run("saving project information");
}

Expected<std::optional<std::string>> getMeta(const SqliteDatabase& db, std::string_view key)
{
    auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
    if (!st)
        return std::unexpected(st.error());
    std::optional<std::string> value;
    LP_TRY(st->bind(1, key).forEachRow("reading project information",
                                       [&](const SqliteStatement& row) { value = row.text(0); }));
    return value;
}

void removeProjectFiles(const std::string& path)
{
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        fs::remove(path + suffix, ec);
}

Expected<void> writeSettings(SqliteDatabase& db, const ProjectSettings& s)
{
    auto st = db.prepare("INSERT INTO settings(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2");
    if (!st)
        return std::unexpected(st.error());
    const std::pair<const char*, std::string> values[] = {
        {"encoder", s.encoder},         {"k", std::to_string(s.k)},         {"temperature", s.temperature},
        {"steps", std::to_string(s.steps)}, {"clamp", s.clamp},            {"strategy", s.strategy},
        {"knn", s.knn},
    };
    for (const auto& [key, value] : values)
        LP_TRY(st->bind(1, key).bind(2, value).run("saving the settings"));
    return {};
}

// The schema version of a project file, read on a read-only connection. Refuses a file that is
// not an SQLite database, a foreign one, and one from a newer Labelprop.
Expected<std::int64_t> readProjectVersion(const std::string& path)
{
    auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::ReadOnly);
    if (!db)
        return std::unexpected(db.error());
    auto appId = (*db)->queryInteger("PRAGMA application_id");
    if (!appId)
        return fail(path + ": not a Labelprop project (" + appId.error().message.substr(path.size() + 2) + ")");
    auto version = (*db)->queryInteger("PRAGMA user_version");
    if (!version)
        return std::unexpected(version.error());
    if (appId->value_or(0) != kProjectApplicationId)
        return fail(path + ": an SQLite database, but not a Labelprop project (application id "
                    + std::to_string(appId->value_or(0)) + "); it was not changed");
    const auto v = version->value_or(0);
    if (v > ProjectStore::kSchemaVersion)
        return fail(path + ": written by a newer Labelprop (project schema " + std::to_string(v)
                    + "; this build reads up to " + std::to_string(ProjectStore::kSchemaVersion)
                    + "); upgrade Labelprop to open it; the file was not changed");
    return v;
}

} // namespace

Expected<std::unique_ptr<ProjectStore>> ProjectStore::create(const std::string& path,
                                                             const ProjectCreateOptions& options)
{
    std::error_code ec;
    if (fs::exists(path, ec))
        return fail(path + ": already exists; open it, or choose another name");
    if (!fs::path(options.source.root).is_absolute())
        return fail("internal error: the project root must be an absolute path, got '" + options.source.root + "'");
    auto lock = ProjectLock::acquire(path, options.holder);
    if (!lock)
        return std::unexpected(lock.error());
    auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::Create);
    if (!db)
        return std::unexpected(db.error());
    auto fill = [&]() -> Expected<void> {
        LP_TRY(configureConnection(**db, true));
        LP_TRY(migrateSchema(**db, 0, kSchemaVersion, projectMigrations()));
        auto tx = SqliteTransaction::begin(**db, "creating the project");
        if (!tx)
            return std::unexpected(tx.error());
        LP_TRY(setMeta(**db, "root", options.source.root));
        LP_TRY(setMeta(**db, "source_kind", options.source.kind));
        LP_TRY(setMeta(**db, "source_location", options.source.location));
        LP_TRY(setMeta(**db, "created_ms", std::to_string(nowMs())));
        LP_TRY(setMeta(**db, kLabelVersionKey, "0"));
        LP_TRY(writeSettings(**db, options.settings));
        return tx->commit();
    };
    if (auto r = fill(); !r) {
        db->reset();
        removeProjectFiles(path);
        return std::unexpected(r.error());
    }
    return std::unique_ptr<ProjectStore>(new ProjectStore(path, Access::ReadWrite, std::move(*db), std::move(*lock)));
}

Expected<std::unique_ptr<ProjectStore>> ProjectStore::open(const std::string& path, Access access,
                                                           const std::string& holder)
{
    std::error_code ec;
    if (!fs::exists(path, ec))
        return fail(path + ": no such project file; create one with 'labelprop-cli project create " + path
                    + " --source FOLDER'");
    // Identify the file on a read-only connection first, so nothing (not even the lock file) is
    // created beside a file that is not a project.
    auto checked = readProjectVersion(path);
    if (!checked)
        return std::unexpected(checked.error());
    if (*checked < kSchemaVersion && access == Access::ReadOnly)
        return fail(path + ": written by an older Labelprop (project schema " + std::to_string(*checked)
                    + "); open it once for writing to upgrade it, e.g. with 'labelprop-cli project import " + path + "'");
    std::unique_ptr<ProjectLock> lock;
    if (access == Access::ReadWrite) {
        auto l = ProjectLock::acquire(path, holder);
        if (!l)
            return std::unexpected(l.error());
        lock = std::move(*l);
    }
    auto db = SqliteDatabase::open(path, access == Access::ReadOnly ? SqliteDatabase::Mode::ReadOnly
                                                                      : SqliteDatabase::Mode::ReadWrite);
    if (!db)
        return std::unexpected(db.error());
    if (access == Access::ReadWrite) {
        // Under the lock: another writer may have upgraded it meanwhile.
        auto version = (*db)->queryInteger("PRAGMA user_version");
        if (!version)
            return std::unexpected(version.error());
        if (const auto v = version->value_or(0); v < kSchemaVersion)
            if (auto r = migrateSchema(**db, int(v), kSchemaVersion, projectMigrations()); !r)
                return std::unexpected(r.error());
    }
    if (auto r = configureConnection(**db, access == Access::ReadWrite); !r)
        return std::unexpected(r.error());
    // Touch the main tables now, so a damaged file is reported on open rather than mid-session.
    if (auto r = (*db)->queryInteger("SELECT count(*) FROM items"); !r)
        return std::unexpected(r.error());
    return std::unique_ptr<ProjectStore>(new ProjectStore(path, access, std::move(*db), std::move(lock)));
}

Expected<void> ProjectStore::requireWritable(std::string_view what) const
{
    if (m_access == Access::ReadOnly)
        return fail(m_path + ": opened read-only, cannot " + std::string(what));
    return {};
}

// ---- source and items --------------------------------------------------------------------------

Expected<ProjectSourceInfo> ProjectStore::sourceInfo() const
{
    ProjectSourceInfo info;
    for (auto [key, out] : {std::pair{"root", &info.root}, std::pair{"source_kind", &info.kind},
                            std::pair{"source_location", &info.location}}) {
        auto v = getMeta(*m_db, key);
        if (!v)
            return std::unexpected(v.error());
        *out = v->value_or("");
    }
    return info;
}

Expected<void> ProjectStore::setRoot(const std::string& absoluteRoot)
{
    LP_TRY(requireWritable("relink it"));
    auto tx = SqliteTransaction::begin(*m_db, "changing the project's root folder");
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(setMeta(*m_db, "root", absoluteRoot));
    return tx->commit();
}

namespace {

ProjectItem readItem(const SqliteStatement& st)
{
    ProjectItem it;
    it.id = st.integer(0);
    it.path = st.text(1);
    if (auto h = contentHashFromBytes(st.blob(2)))
        it.hash = *h;
    it.size = st.integer(3);
    it.mtimeNs = st.integer(4);
    it.status = ItemStatus(std::clamp<std::int64_t>(st.integer(5), 0, 3));
    return it;
}

} // namespace

Expected<std::vector<ProjectItem>> ProjectStore::items() const
{
    std::vector<ProjectItem> out;
    LP_TRY(m_db->forEachRow("SELECT id, path, content_hash, size, mtime_ns, status FROM items ORDER BY id",
                            "reading the items", [&](const SqliteStatement& st) { out.push_back(readItem(st)); }));
    return out;
}

Expected<std::int64_t> ProjectStore::itemCount() const
{
    auto n = m_db->queryInteger("SELECT count(*) FROM items");
    if (!n)
        return std::unexpected(n.error());
    return n->value_or(0);
}

Expected<std::optional<ProjectItem>> ProjectStore::findItem(std::string_view path) const
{
    auto st = m_db->prepare("SELECT id, path, content_hash, size, mtime_ns, status FROM items WHERE path = ?1");
    if (!st)
        return std::unexpected(st.error());
    std::optional<ProjectItem> item;
    LP_TRY(st->bind(1, path).forEachRow("looking up an item", [&](const SqliteStatement& row) { item = readItem(row); }));
    return item;
}

namespace {

// Parameters ?1..?5 of an items INSERT or UPDATE: path, content hash (NULL until hashed), size,
// mtime, status.
SqliteStatement& bindItemColumns(SqliteStatement& st, const ProjectItem& it)
{
    st.bind(1, it.path);
    if (it.hash.isZero())
        st.bindNull(2);
    else
        st.bindBlob(2, it.hash.bytes);
    return st.bind(3, it.size).bind(4, it.mtimeNs).bind(5, int(it.status));
}

} // namespace

Expected<std::vector<std::int64_t>> ProjectStore::addItems(std::span<const ProjectItem> items)
{
    LP_TRY(requireWritable("add items"));
    auto tx = SqliteTransaction::begin(*m_db, "adding items");
    if (!tx)
        return std::unexpected(tx.error());
    auto st = m_db->prepare(
        "INSERT INTO items(path, content_hash, size, mtime_ns, status, added_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st)
        return std::unexpected(st.error());
    const auto now = nowMs();
    std::vector<std::int64_t> ids;
    ids.reserve(items.size());
    for (const auto& it : items) {
        bindItemColumns(*st, it).bind(6, now);
        if (auto r = st->run("adding item '" + it.path + "'"); !r)
            return std::unexpected(r.error());
        ids.push_back(m_db->lastInsertRowId());
    }
    LP_TRY(tx->commit());
    return ids;
}

Expected<void> ProjectStore::updateItems(std::span<const ProjectItem> items)
{
    LP_TRY(requireWritable("update items"));
    auto tx = SqliteTransaction::begin(*m_db, "updating items");
    if (!tx)
        return std::unexpected(tx.error());
    auto st = m_db->prepare("UPDATE items SET path = ?1, content_hash = ?2, size = ?3, mtime_ns = ?4, status = ?5 "
                            "WHERE id = ?6");
    if (!st)
        return std::unexpected(st.error());
    for (const auto& it : items) {
        bindItemColumns(*st, it).bind(6, it.id);
        LP_TRY(st->run("updating item '" + it.path + "'"));
    }
    return tx->commit();
}

// ---- classes -----------------------------------------------------------------------------------

Expected<std::vector<ProjectClass>> ProjectStore::classes() const
{
    std::vector<ProjectClass> out;
    LP_TRY(m_db->forEachRow("SELECT id, name, colour, hotkey FROM classes ORDER BY id", "reading the classes",
                            [&](const SqliteStatement& st) {
                                out.push_back(ProjectClass{int(st.integer(0)), st.text(1), st.text(2), st.text(3)});
                            }));
    return out;
}

Expected<int> ProjectStore::ensureClass(std::string_view name)
{
    if (name.empty())
        return fail(m_path + ": a class name cannot be empty");
    auto find = m_db->prepare("SELECT id FROM classes WHERE name = ?1");
    if (!find)
        return std::unexpected(find.error());
    std::optional<int> existing;
    LP_TRY(find->bind(1, name).forEachRow("looking up a class",
                                          [&](const SqliteStatement& row) { existing = int(row.integer(0)); }));
    if (existing)
        return *existing;
    LP_TRY(requireWritable("add the class '" + std::string(name) + "'"));
    auto count = m_db->queryInteger("SELECT count(*) FROM classes");
    if (!count)
        return std::unexpected(count.error());
    const int id = int(count->value_or(0));
    const std::string hotkey = id < 9 ? std::to_string(id + 1) : id == 9 ? std::string("0") : std::string();
    auto insert = m_db->prepare("INSERT INTO classes(id, name, colour, hotkey) VALUES(?1, ?2, ?3, ?4)");
    if (!insert)
        return std::unexpected(insert.error());
    insert->bind(1, id).bind(2, name).bind(3, kPalette[std::size_t(id) % std::size(kPalette)]).bind(4, hotkey);
    LP_TRY(insert->run("adding the class '" + std::string(name) + "'"));
    return id;
}

Expected<void> ProjectStore::updateClass(const ProjectClass& cls)
{
    LP_TRY(requireWritable("change a class"));
    auto tx = SqliteTransaction::begin(*m_db, "changing the class '" + cls.name + "'");
    if (!tx)
        return std::unexpected(tx.error());
    auto st = m_db->prepare("UPDATE classes SET name = ?1, colour = ?2, hotkey = ?3 WHERE id = ?4 AND "
                            "(name != ?1 OR colour != ?2 OR hotkey != ?3)");
    if (!st)
        return std::unexpected(st.error());
    auto old = m_db->prepare("SELECT name FROM classes WHERE id = ?1");
    if (!old)
        return std::unexpected(old.error());
    std::optional<std::string> oldName;
    LP_TRY(old->bind(1, cls.id).forEachRow("changing the class", [&](const SqliteStatement& row) { oldName = row.text(0); }));
    if (!oldName)
        return fail(m_path + ": class id " + std::to_string(cls.id) + " does not exist");
    st->bind(1, cls.name).bind(2, cls.colour).bind(3, cls.hotkey).bind(4, cls.id);
    LP_TRY(st->run("changing the class '" + cls.name + "'"));
    // Stored results name their classes: after a rename they are out of date like after a label change.
    if (*oldName != cls.name)
        LP_TRY(bumpLabelVersion());
    return tx->commit();
}

// ---- labeling ----------------------------------------------------------------------------------

Expected<void> ProjectStore::bumpLabelVersion()
{
    return m_db->exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'label_version'",
                      "recording the label version");
}

Expected<void> ProjectStore::discardRedoStack()
{
    return m_db->exec("UPDATE actions SET state = 2 WHERE state = 1", "clearing the redo stack");
}

Expected<ActionInfo> ProjectStore::insertAction(ActionKind kind, const std::string& description, std::int64_t events)
{
    auto st = m_db->prepare("INSERT INTO actions(kind, description, time_ms, state) VALUES(?1, ?2, ?3, 0)");
    if (!st)
        return std::unexpected(st.error());
    ActionInfo info{0, kind, description, nowMs(), events};
    st->bind(1, int(kind)).bind(2, description).bind(3, info.timeMs);
    LP_TRY(st->run("recording the action"));
    info.id = m_db->lastInsertRowId();
    return info;
}

namespace {

// Checks item and class ids before anything is written, so a bad batch changes nothing.
Expected<void> validateChanges(const SqliteDatabase& db, std::span<const LabelChange> changes)
{
    auto items = db.queryInteger("SELECT count(*) FROM items");
    auto classes = db.queryInteger("SELECT count(*) FROM classes");
    if (!items)
        return std::unexpected(items.error());
    if (!classes)
        return std::unexpected(classes.error());
    std::set<std::int64_t> seen;
    for (const auto& c : changes) {
        if (c.itemId < 1 || c.itemId > items->value_or(0))
            return fail(db.path() + ": item " + std::to_string(c.itemId - 1) + " does not exist (the project has "
                        + std::to_string(items->value_or(0)) + " items)");
        if (c.classId < -1 || c.classId >= classes->value_or(0))
            return fail(db.path() + ": class id " + std::to_string(c.classId) + " does not exist");
        if (!seen.insert(c.itemId).second)
            return fail(db.path() + ": item " + std::to_string(c.itemId - 1)
                        + " appears twice in one action; give each item one label");
    }
    return {};
}

} // namespace

Expected<ActionInfo> ProjectStore::applyLabels(std::span<const LabelChange> changes, LabelSource source,
                                               std::string description)
{
    LP_TRY(requireWritable("change labels"));
    if (changes.empty())
        return fail(m_path + ": no labels to apply");
    if (source == LabelSource::Imported)
        return fail("internal error: imported labels go through importLabels()");
    LP_TRY(validateChanges(*m_db, changes));
    auto tx = SqliteTransaction::begin(*m_db, "saving the label");
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(discardRedoStack());
    const ActionKind kind = source == LabelSource::Bulk ? ActionKind::Bulk : ActionKind::Label;
    auto action = insertAction(kind, description, std::int64_t(changes.size()));
    if (!action)
        return std::unexpected(action.error());
    auto event = m_db->prepare(kInsertLabelEvent);
    auto upsert = m_db->prepare(kSetCurrentLabel);
    auto remove = m_db->prepare("DELETE FROM current_labels WHERE item_id = ?1");
    if (!event || !upsert || !remove)
        return std::unexpected((!event ? event : !upsert ? upsert : remove).error());
    for (const auto& c : changes) {
        event->bind(1, action->id).bind(2, c.itemId).bind(4, int(source));
        if (c.classId < 0)
            event->bindNull(3);
        else
            event->bind(3, c.classId);
        LP_TRY(event->run("saving the label"));
        const auto eventId = m_db->lastInsertRowId();
        if (c.classId < 0)
            LP_TRY(remove->bind(1, c.itemId).run("saving the label"));
        else
            LP_TRY(upsert->bind(1, c.itemId).bind(2, c.classId).bind(3, int(source)).bind(4, eventId).run("saving the label"));
    }
    LP_TRY(bumpLabelVersion());
    LP_TRY(tx->commit());
    return *action;
}

Expected<ProjectStore::ImportedLabels> ProjectStore::importLabels(std::span<const LabelChange> changes,
                                                                  std::string description)
{
    LP_TRY(requireWritable("import labels"));
    ImportedLabels out;
    if (changes.empty())
        return out;
    LP_TRY(validateChanges(*m_db, changes));
    auto tx = SqliteTransaction::begin(*m_db, "importing labels");
    if (!tx)
        return std::unexpected(tx.error());
    auto current = m_db->prepare("SELECT class_id, source FROM current_labels WHERE item_id = ?1");
    auto event = m_db->prepare(kInsertLabelEvent);
    auto upsert = m_db->prepare(kSetCurrentLabel);
    if (!current || !event || !upsert)
        return std::unexpected((!current ? current : !event ? event : upsert).error());
    std::optional<ActionInfo> action;
    for (const auto& c : changes) {
        if (c.classId < 0)
            continue;
        current->bind(1, c.itemId);
        auto row = current->step("importing labels");
        if (!row)
            return std::unexpected(row.error());
        const bool has = *row;
        const int cls = has ? int(current->integer(0)) : -1;
        const auto src = has ? LabelSource(current->integer(1)) : LabelSource::Imported;
        current->reset();
        if (has && src != LabelSource::Imported) {
            out.keptPerson += cls != c.classId ? 1 : 0; // never override a person's label
            continue;
        }
        if (has && cls == c.classId)
            continue; // nothing to do
        if (!action) {
            LP_TRY(discardRedoStack());
            auto a = insertAction(ActionKind::Import, description, 0);
            if (!a)
                return std::unexpected(a.error());
            action = *a;
        }
        LP_TRY(event->bind(1, action->id).bind(2, c.itemId).bind(3, c.classId).bind(4, int(LabelSource::Imported))
                   .run("importing labels"));
        const auto eventId = m_db->lastInsertRowId();
        LP_TRY(upsert->bind(1, c.itemId).bind(2, c.classId).bind(3, int(LabelSource::Imported)).bind(4, eventId)
                   .run("importing labels"));
        ++out.applied;
    }
    if (out.applied == 0)
        return out; // the transaction rolls back: nothing changed
    LP_TRY(bumpLabelVersion());
    LP_TRY(tx->commit());
    return out;
}

Expected<ActionInfo> ProjectStore::review(std::int64_t itemId, ReviewDecision decision, std::optional<int> newClassId)
{
    LP_TRY(requireWritable("record a review decision"));
    if (decision == ReviewDecision::Relabeled && !newClassId)
        return fail(m_path + ": a 'relabeled' decision needs the new label");
    const LabelChange change{itemId, newClassId.value_or(-1)};
    LP_TRY(validateChanges(*m_db, std::span(&change, 1)));
    auto tx = SqliteTransaction::begin(*m_db, "saving the review decision");
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(discardRedoStack());
    std::string description = "review item " + std::to_string(itemId - 1) + ": " + std::string(reviewDecisionName(decision));
    auto action = insertAction(ActionKind::Review, description, decision == ReviewDecision::Relabeled ? 1 : 0);
    if (!action)
        return std::unexpected(action.error());
    auto ev = m_db->prepare("INSERT INTO review_events(action_id, item_id, decision) VALUES(?1, ?2, ?3)");
    if (!ev)
        return std::unexpected(ev.error());
    LP_TRY(ev->bind(1, action->id).bind(2, itemId).bind(3, int(decision)).run("saving the review decision"));
    const auto reviewEvent = m_db->lastInsertRowId();
    auto cur = m_db->prepare(kSetCurrentReview);
    if (!cur)
        return std::unexpected(cur.error());
    LP_TRY(cur->bind(1, itemId).bind(2, int(decision)).bind(3, reviewEvent).run("saving the review decision"));
    if (decision == ReviewDecision::Relabeled) {
        auto le = m_db->prepare(kInsertLabelEvent);
        if (!le)
            return std::unexpected(le.error());
        LP_TRY(le->bind(1, action->id).bind(2, itemId).bind(3, *newClassId).bind(4, int(LabelSource::Accepted))
                   .run("saving the new label"));
        const auto labelEvent = m_db->lastInsertRowId();
        auto up = m_db->prepare(kSetCurrentLabel);
        if (!up)
            return std::unexpected(up.error());
        LP_TRY(up->bind(1, itemId).bind(2, *newClassId).bind(3, int(LabelSource::Accepted)).bind(4, labelEvent)
                   .run("saving the new label"));
    }
    LP_TRY(bumpLabelVersion());
    LP_TRY(tx->commit());
    return *action;
}

Expected<void> ProjectStore::recomputeItems(std::span<const std::int64_t> itemIds)
{
    auto latestLabel = m_db->prepare("SELECT e.id, e.class_id, e.source FROM label_events e JOIN actions a ON "
                                     "a.id = e.action_id WHERE e.item_id = ?1 AND a.state = 0 ORDER BY e.id DESC LIMIT 1");
    auto latestReview = m_db->prepare("SELECT e.id, e.decision FROM review_events e JOIN actions a ON "
                                      "a.id = e.action_id WHERE e.item_id = ?1 AND a.state = 0 ORDER BY e.id DESC LIMIT 1");
    auto setLabel = m_db->prepare(kSetCurrentLabel);
    auto dropLabel = m_db->prepare("DELETE FROM current_labels WHERE item_id = ?1");
    auto setReview = m_db->prepare(kSetCurrentReview);
    auto dropReview = m_db->prepare("DELETE FROM current_reviews WHERE item_id = ?1");
    for (auto* st : {&latestLabel, &latestReview, &setLabel, &dropLabel, &setReview, &dropReview})
        if (!*st)
            return std::unexpected(st->error());
    for (const auto item : itemIds) {
        latestLabel->bind(1, item);
        auto row = latestLabel->step("updating the current labels");
        if (!row)
            return std::unexpected(row.error());
        if (*row && !latestLabel->isNull(1)) {
            const auto ev = latestLabel->integer(0);
            const auto cls = latestLabel->integer(1);
            const auto src = latestLabel->integer(2);
            latestLabel->reset();
            LP_TRY(setLabel->bind(1, item).bind(2, cls).bind(3, src).bind(4, ev).run("updating the current labels"));
        } else {
            latestLabel->reset();
            LP_TRY(dropLabel->bind(1, item).run("updating the current labels"));
        }
        latestReview->bind(1, item);
        row = latestReview->step("updating the review decisions");
        if (!row)
            return std::unexpected(row.error());
        if (*row) {
            const auto ev = latestReview->integer(0);
            const auto decision = latestReview->integer(1);
            latestReview->reset();
            LP_TRY(setReview->bind(1, item).bind(2, decision).bind(3, ev).run("updating the review decisions"));
        } else {
            latestReview->reset();
            LP_TRY(dropReview->bind(1, item).run("updating the review decisions"));
        }
    }
    return {};
}

Expected<std::optional<ActionInfo>> ProjectStore::setActionState(bool undoing)
{
    LP_TRY(requireWritable(undoing ? "undo" : "redo"));
    auto tx = SqliteTransaction::begin(*m_db, undoing ? "undoing" : "redoing");
    if (!tx)
        return std::unexpected(tx.error());
    auto pick = m_db->prepare(undoing ? "SELECT id, kind, description, time_ms FROM actions WHERE state = 0 AND kind != 1 "
                                        "ORDER BY id DESC LIMIT 1"
                                      : "SELECT id, kind, description, time_ms FROM actions WHERE state = 1 "
                                        "ORDER BY id ASC LIMIT 1");
    if (!pick)
        return std::unexpected(pick.error());
    auto row = pick->step("finding the action");
    if (!row)
        return std::unexpected(row.error());
    if (!*row)
        return std::optional<ActionInfo>();
    ActionInfo info{pick->integer(0), ActionKind(pick->integer(1)), pick->text(2), pick->integer(3), 0};
    pick->reset();
    auto set = m_db->prepare("UPDATE actions SET state = ?1 WHERE id = ?2");
    if (!set)
        return std::unexpected(set.error());
    LP_TRY(set->bind(1, undoing ? 1 : 0).bind(2, info.id).run("marking the action"));
    auto affected = m_db->prepare("SELECT item_id FROM label_events WHERE action_id = ?1 UNION "
                                  "SELECT item_id FROM review_events WHERE action_id = ?1");
    if (!affected)
        return std::unexpected(affected.error());
    affected->bind(1, info.id);
    std::vector<std::int64_t> items;
    LP_TRY(affected->forEachRow("finding the action's items",
                                [&](const SqliteStatement& st) { items.push_back(st.integer(0)); }));
    info.events = std::int64_t(items.size());
    LP_TRY(recomputeItems(items));
    LP_TRY(bumpLabelVersion());
    LP_TRY(tx->commit());
    return std::optional<ActionInfo>(info);
}

Expected<std::optional<ActionInfo>> ProjectStore::undo()
{
    return setActionState(true);
}

Expected<std::optional<ActionInfo>> ProjectStore::redo()
{
    return setActionState(false);
}

Expected<std::vector<CurrentLabel>> ProjectStore::currentLabels() const
{
    std::vector<CurrentLabel> out;
    LP_TRY(m_db->forEachRow("SELECT item_id, class_id, source FROM current_labels ORDER BY item_id",
                            "reading the labels", [&](const SqliteStatement& st) {
                                out.push_back(CurrentLabel{st.integer(0), int(st.integer(1)), LabelSource(st.integer(2))});
                            }));
    return out;
}

Expected<std::vector<std::pair<std::int64_t, ReviewDecision>>> ProjectStore::currentReviews() const
{
    std::vector<std::pair<std::int64_t, ReviewDecision>> out;
    LP_TRY(m_db->forEachRow("SELECT item_id, decision FROM current_reviews ORDER BY item_id",
                            "reading the review decisions", [&](const SqliteStatement& st) {
                                out.emplace_back(st.integer(0), ReviewDecision(st.integer(1)));
                            }));
    return out;
}

Expected<std::vector<ActionInfo>> ProjectStore::history(std::int64_t limit, bool includeUndone) const
{
    auto st = m_db->prepare(std::string("SELECT a.id, a.kind, a.description, a.time_ms, "
                                        "(SELECT count(*) FROM label_events e WHERE e.action_id = a.id), a.state "
                                        "FROM actions a ")
                            + (includeUndone ? "" : "WHERE a.state = 0 ") + "ORDER BY a.id DESC LIMIT ?1");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, limit);
    std::vector<ActionInfo> out;
    LP_TRY(st->forEachRow("reading the history", [&](const SqliteStatement& row) {
        out.push_back(ActionInfo{row.integer(0), ActionKind(row.integer(1)), row.text(2), row.integer(3), row.integer(4),
                                 row.integer(5) != 0});
    }));
    return out;
}

Expected<std::vector<ItemEvent>> ProjectStore::itemHistory(std::int64_t itemId) const
{
    // By action; within one, the review decision before the label it brought, then by event id.
    auto st = m_db->prepare(
        "SELECT a.id, a.description, a.time_ms, a.state, e.class_id, e.source, NULL, e.id, 0 FROM label_events e "
        "JOIN actions a ON a.id = e.action_id WHERE e.item_id = ?1 "
        "UNION ALL SELECT a.id, a.description, a.time_ms, a.state, NULL, NULL, r.decision, r.id, 1 FROM review_events r "
        "JOIN actions a ON a.id = r.action_id WHERE r.item_id = ?1 ORDER BY 1, 9 DESC, 8");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, itemId);
    std::vector<ItemEvent> out;
    LP_TRY(st->forEachRow("reading the item's history", [&](const SqliteStatement& row) {
        ItemEvent e;
        e.actionId = row.integer(0);
        e.description = row.text(1);
        e.timeMs = row.integer(2);
        e.undone = row.integer(3) != 0;
        if (row.integer(8) == 0) {
            e.classId = row.isNull(4) ? -1 : int(row.integer(4));
            e.source = LabelSource(row.integer(5));
        } else {
            e.decision = ReviewDecision(row.integer(6));
        }
        out.push_back(std::move(e));
    }));
    return out;
}

Expected<std::int64_t> ProjectStore::labelVersion() const
{
    auto v = getMeta(*m_db, kLabelVersionKey);
    if (!v)
        return std::unexpected(v.error());
    return v->has_value() ? std::stoll(**v) : 0;
}

Expected<ProjectCounts> ProjectStore::counts() const
{
    ProjectCounts c;
    auto classes = this->classes();
    if (!classes)
        return std::unexpected(classes.error());
    c.byClass.assign(classes->size(), 0);
    c.bySource.assign(4, 0);
    c.byDecision.assign(3, 0);
    auto run = [&](std::string_view sql, auto&& onRow) { return m_db->forEachRow(sql, "counting", onRow); };
    LP_TRY(run("SELECT status, count(*) FROM items GROUP BY status", [&](const SqliteStatement& st) {
        const auto n = st.integer(1);
        c.items += n;
        switch (ItemStatus(st.integer(0))) {
        case ItemStatus::Present:
            c.present += n;
            break;
        case ItemStatus::Missing:
            c.missing += n;
            break;
        case ItemStatus::Changed:
            c.changed += n;
            break;
        case ItemStatus::Unreadable:
            c.unreadable += n;
            break;
        }
    }));
    LP_TRY(run("SELECT class_id, source, count(*) FROM current_labels GROUP BY class_id, source",
               [&](const SqliteStatement& st) {
                   const auto cls = st.integer(0), src = st.integer(1), n = st.integer(2);
                   c.labeled += n;
                   if (cls >= 0 && std::size_t(cls) < c.byClass.size())
                       c.byClass[std::size_t(cls)] += n;
                   if (src >= 0 && src < 4)
                       c.bySource[std::size_t(src)] += n;
               }));
    LP_TRY(run("SELECT decision, count(*) FROM current_reviews GROUP BY decision", [&](const SqliteStatement& st) {
        const auto d = st.integer(0), n = st.integer(1);
        c.reviewed += n;
        if (d >= 0 && d < 3)
            c.byDecision[std::size_t(d)] += n;
    }));
    LP_TRY(run("SELECT state, count(*) FROM actions WHERE kind != 1 GROUP BY state", [&](const SqliteStatement& st) {
        if (st.integer(0) == 0)
            c.undoable = st.integer(1);
        else if (st.integer(0) == 1)
            c.redoable = st.integer(1);
    }));
    return c;
}

Expected<void> ProjectStore::verifyDerivedState() const
{
    struct Latest {
        std::int64_t value;
        std::int64_t extra;
    };
    auto replay = [&](std::string_view sql, std::map<std::int64_t, Latest>& out) {
        return m_db->forEachRow(sql, "replaying the history", [&](const SqliteStatement& st) {
            if (st.isNull(1))
                out.erase(st.integer(0));
            else
                out[st.integer(0)] = Latest{st.integer(1), st.integer(2)};
        });
    };
    std::map<std::int64_t, Latest> labels, reviews, storedLabels, storedReviews;
    LP_TRY(replay("SELECT e.item_id, e.class_id, e.source FROM label_events e JOIN actions a ON a.id = e.action_id "
                  "WHERE a.state = 0 ORDER BY e.id",
                  labels));
    LP_TRY(replay("SELECT e.item_id, e.decision, 0 FROM review_events e JOIN actions a ON a.id = e.action_id "
                  "WHERE a.state = 0 ORDER BY e.id",
                  reviews));
    LP_TRY(replay("SELECT item_id, class_id, source FROM current_labels", storedLabels));
    LP_TRY(replay("SELECT item_id, decision, 0 FROM current_reviews", storedReviews));
    auto compare = [&](const std::map<std::int64_t, Latest>& replayed, const std::map<std::int64_t, Latest>& stored,
                       const char* what) -> Expected<void> {
        for (const auto& [item, l] : replayed) {
            auto it = stored.find(item);
            if (it == stored.end() || it->second.value != l.value || it->second.extra != l.extra)
                return fail(m_path + ": item " + std::to_string(item - 1) + ": the stored " + what
                            + " does not match the history");
        }
        for (const auto& [item, l] : stored)
            if (!replayed.contains(item))
                return fail(m_path + ": item " + std::to_string(item - 1) + " has a stored " + what
                            + " that the history does not give");
        return {};
    };
    LP_TRY(compare(labels, storedLabels, "label"));
    LP_TRY(compare(reviews, storedReviews, "review decision"));
    return {};
}

Expected<void> ProjectStore::checkFileIntegrity() const
{
    std::vector<std::string> complaints;
    LP_TRY(m_db->forEachRow("PRAGMA quick_check", "checking the file",
                            [&](const SqliteStatement& st) { complaints.push_back(st.text(0)); }));
    if (complaints.size() == 1 && complaints.front() == "ok")
        return {};
    return fail(m_path + ": the file is damaged (" + (complaints.empty() ? std::string("no answer") : complaints.front())
                + "); restore it from a backup, or try 'sqlite3 FILE .recover > dump.sql'");
}

// ---- settings, encoder state, propagation ------------------------------------------------------

Expected<ProjectSettings> ProjectStore::settings() const
{
    ProjectSettings s;
    LP_TRY(m_db->forEachRow("SELECT key, value FROM settings", "reading the settings", [&](const SqliteStatement& st) {
        const auto key = st.text(0);
        const auto value = st.text(1);
        auto toInt = [&](int& out) {
            try {
                out = std::stoi(value);
            } catch (const std::exception&) {
                // keep the default: a hand-edited value must not make the project unopenable
            }
        };
        if (key == "encoder")
            s.encoder = value;
        else if (key == "k")
            toInt(s.k);
        else if (key == "temperature")
            s.temperature = value;
        else if (key == "steps")
            toInt(s.steps);
        else if (key == "clamp")
            s.clamp = value;
        else if (key == "strategy")
            s.strategy = value;
        else if (key == "knn")
            s.knn = value;
    }));
    return s;
}

Expected<void> ProjectStore::saveSettings(const ProjectSettings& settings)
{
    LP_TRY(requireWritable("change the settings"));
    auto tx = SqliteTransaction::begin(*m_db, "saving the settings");
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(writeSettings(*m_db, settings));
    return tx->commit();
}

Expected<std::optional<std::string>> ProjectStore::encoderState(std::string_view encoderSpec) const
{
    auto st = m_db->prepare("SELECT state FROM encoder_states WHERE encoder = ?1");
    if (!st)
        return std::unexpected(st.error());
    std::optional<std::string> state;
    LP_TRY(st->bind(1, encoderSpec).forEachRow("reading the encoder state", [&](const SqliteStatement& row) {
        const auto b = row.blob(0);
        state = std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }));
    return state;
}

Expected<void> ProjectStore::saveEncoderState(std::string_view encoderSpec, std::string_view state)
{
    LP_TRY(requireWritable("save the encoder state"));
    auto st = m_db->prepare("INSERT INTO encoder_states(encoder, state, saved_ms) VALUES(?1, ?2, ?3) "
                            "ON CONFLICT(encoder) DO UPDATE SET state = ?2, saved_ms = ?3");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, encoderSpec)
        .bindBlob(2, std::span(reinterpret_cast<const std::uint8_t*>(state.data()), state.size()))
        .bind(3, nowMs());
    return st->run("saving the encoder state");
}

Expected<void> ProjectStore::savePropagation(const StoredPropagation& r)
{
    LP_TRY(requireWritable("save the propagation result"));
    const std::size_t n = r.itemIds.size();
    const std::size_t c = r.classes.size();
    if (r.scores.size() != n * c || r.predicted.size() != n || r.confidence.size() != n || r.margin.size() != n
        || r.issueScore.size() != n || r.given.size() != n || r.flagged.size() != n || r.suggested.size() != n)
        return fail("internal error: propagation arrays do not match " + std::to_string(n) + " items");
    auto st = m_db->prepare(
        "INSERT OR REPLACE INTO propagation(kind, time_ms, settings, embedding_version, label_version, seconds, "
        "classes, item_ids, scores, predicted, confidence, margin, issue_score, given, flagged, suggested) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, r.kind).bind(2, r.timeMs).bind(3, r.settings).bind(4, r.embeddingVersion).bind(5, r.labelVersion);
    st->bind(6, r.seconds).bind(7, nlohmann::json(r.classes).dump());
    st->bindBlob(8, asBytes(r.itemIds)).bindBlob(9, asBytes(r.scores)).bindBlob(10, asBytes(r.predicted));
    st->bindBlob(11, asBytes(r.confidence)).bindBlob(12, asBytes(r.margin)).bindBlob(13, asBytes(r.issueScore));
    st->bindBlob(14, asBytes(r.given)).bindBlob(15, asBytes(r.flagged)).bindBlob(16, asBytes(r.suggested));
    return st->run("saving the propagation result");
}

Expected<std::optional<StoredPropagation>> ProjectStore::latestPropagation(std::optional<std::string_view> kind) const
{
    const std::string select = "SELECT kind, time_ms, settings, embedding_version, label_version, seconds, classes, "
                               "item_ids, scores, predicted, confidence, margin, issue_score, given, flagged, suggested "
                               "FROM propagation ";
    auto st = m_db->prepare(select + (kind ? "WHERE kind = ?1" : "ORDER BY time_ms DESC, kind LIMIT 1"));
    if (!st)
        return std::unexpected(st.error());
    if (kind)
        st->bind(1, *kind);
    auto row = st->step("reading the propagation result");
    if (!row)
        return std::unexpected(row.error());
    if (!*row)
        return std::optional<StoredPropagation>();
    StoredPropagation r;
    r.kind = st->text(0);
    r.timeMs = st->integer(1);
    r.settings = st->text(2);
    r.embeddingVersion = st->text(3);
    r.labelVersion = st->integer(4);
    r.seconds = st->real(5);
    try {
        r.classes = nlohmann::json::parse(st->text(6)).get<std::vector<std::string>>();
    } catch (const std::exception&) {
        return fail(m_path + ": the stored propagation result is damaged (class list); run 'project propagate' again");
    }
    const auto b = st->blob(7);
    const std::size_t n = b.size() / sizeof(std::int64_t);
    const std::size_t c = r.classes.size();
    const bool ok = fromBytes(b, n, r.itemIds) && fromBytes(st->blob(8), n * c, r.scores)
        && fromBytes(st->blob(9), n, r.predicted) && fromBytes(st->blob(10), n, r.confidence)
        && fromBytes(st->blob(11), n, r.margin) && fromBytes(st->blob(12), n, r.issueScore)
        && fromBytes(st->blob(13), n, r.given) && fromBytes(st->blob(14), n, r.flagged)
        && fromBytes(st->blob(15), n, r.suggested);
    if (!ok)
        return fail(m_path + ": the stored propagation result is damaged (array sizes); run 'project propagate' again");
    return std::optional<StoredPropagation>(std::move(r));
}

} // namespace labelprop
