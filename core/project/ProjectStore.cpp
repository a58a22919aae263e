#include "core/project/ProjectStore.h"

#include "core/base/NameTable.h"

#include "core/project/ProjectLock.h"
#include "core/project/ProjectSchema.h"
#include "core/project/ProjectStoreDetail.h"
#include "core/project/SqliteDatabase.h"

#include <algorithm>
#include <filesystem>

namespace labelprop {

using namespace store_detail;

// ---- names -------------------------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

constexpr std::pair<LabelSource, std::string_view> kLabelSourceNames[] = {
    {LabelSource::Human, "human"}, {LabelSource::Imported, "imported"},
    {LabelSource::Accepted, "accepted"}, {LabelSource::Bulk, "bulk"}};
constexpr std::pair<ItemStatus, std::string_view> kItemStatusNames[] = {
    {ItemStatus::Present, "present"}, {ItemStatus::Missing, "missing"},
    {ItemStatus::Changed, "changed"}, {ItemStatus::Unreadable, "unreadable"}};
constexpr std::pair<ReviewDecision, std::string_view> kReviewDecisionNames[] = {
    {ReviewDecision::Kept, "kept"}, {ReviewDecision::Relabeled, "relabeled"}, {ReviewDecision::Skipped, "skipped"}};

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

} // namespace

// ---- project information -------------------------------------------------------------------------

namespace store_detail {

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

} // namespace store_detail

namespace {

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
        return failWithCliAdvice(path + ": no such project file (it was moved or deleted)",
                                 "create one with 'labelprop-cli project create " + path + " --source FOLDER'");
    // Identify the file on a read-only connection first, so nothing (not even the lock file) is
    // created beside a file that is not a project.
    auto checked = readProjectVersion(path);
    if (!checked)
        return std::unexpected(checked.error());
    if (*checked < kSchemaVersion && access == Access::ReadOnly)
        return failWithCliAdvice(path + ": written by an older Labelprop (project schema " + std::to_string(*checked)
                                     + "); open it once for writing to upgrade it",
                                 "e.g. with 'labelprop-cli project import " + path + "'");
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

// ---- settings ----------------------------------------------------------------------------------

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

} // namespace labelprop
