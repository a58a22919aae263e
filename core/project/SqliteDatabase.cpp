#include "core/project/SqliteDatabase.h"

#include <sqlite3.h>

#include <cstring>
#include <filesystem>
#include <utility>

namespace labelprop {

namespace {

// What the user can do about an SQLite error, by primary result code.
std::string_view hintFor(int primary)
{
    switch (primary) {
    case SQLITE_FULL:
        return "the disk is full; free some space and try again (this step was not saved; everything saved "
               "before it is safe)";
    case SQLITE_NOTADB:
        return "the file is not an SQLite database, so it is not a Labelprop project";
    case SQLITE_CORRUPT:
        return "the file is damaged; restore it from a backup, or try 'sqlite3 FILE .recover > dump.sql'";
    case SQLITE_READONLY:
        return "the file or its folder is read-only; make it writable, or use a read-only command";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "another program is writing to it; close that program and try again";
    case SQLITE_CANTOPEN:
        return "check that the file exists and that its folder is writable (SQLite keeps its journal beside it)";
    case SQLITE_IOERR:
        return "the disk reported an error; check free space and the disk's health";
    case SQLITE_NOMEM:
        return "out of memory";
    default:
        return {};
    }
}

} // namespace

SqliteDatabase::SqliteDatabase(sqlite3* db, std::string path, Mode mode)
    : m_db(db)
    , m_path(std::move(path))
    , m_mode(mode)
{
}

SqliteDatabase::~SqliteDatabase()
{
    // sqlite3_close_v2 defers the close until unfinalised statements are gone.
    sqlite3_close_v2(m_db);
}

Expected<std::unique_ptr<SqliteDatabase>> SqliteDatabase::open(const std::string& path, Mode mode)
{
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    if (mode == Mode::Create && exists)
        return fail(path + ": already exists; choose another name or open it instead");
    if (mode != Mode::Create && !exists)
        return fail(path + ": no such file");
    if (mode != Mode::Create && !std::filesystem::is_regular_file(path, ec))
        return fail(path + ": not a regular file");
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    flags |= mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY
             : mode == Mode::Create ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                                    : SQLITE_OPEN_READWRITE;
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        std::string message = path + ": cannot open: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        const auto hint = hintFor(rc & 0xff);
        if (!hint.empty())
            message += std::string("; ") + std::string(hint);
        sqlite3_close_v2(db);
        return fail(std::move(message));
    }
    sqlite3_extended_result_codes(db, 1);
    // A writer holding the lock for a moment (another reader's checkpoint) is waited for briefly.
    sqlite3_busy_timeout(db, 2000);
    return std::unique_ptr<SqliteDatabase>(new SqliteDatabase(db, path, mode));
}

Error SqliteDatabase::error(std::string_view what) const
{
    return error(sqlite3_extended_errcode(m_db), what);
}

Error SqliteDatabase::error(int code, std::string_view what) const
{
    std::string message = m_path + ": " + std::string(what) + ": ";
    const char* text = sqlite3_errmsg(m_db);
    message += (text && *text && sqlite3_extended_errcode(m_db) == code) ? text : sqlite3_errstr(code);
    if (const int sys = sqlite3_system_errno(m_db); sys != 0 && (code & 0xff) == SQLITE_IOERR)
        message += std::string(" (") + std::strerror(sys) + ")";
    const auto hint = hintFor(code & 0xff);
    if (!hint.empty())
        message += std::string("; ") + std::string(hint);
    return Error{std::move(message)};
}

Expected<void> SqliteDatabase::exec(std::string_view sql, std::string_view what)
{
    const std::string text(sql);
    char* raw = nullptr;
    const int rc = sqlite3_exec(m_db, text.c_str(), nullptr, nullptr, &raw);
    sqlite3_free(raw);
    if (rc != SQLITE_OK)
        return std::unexpected(error(rc, what));
    return {};
}

Expected<SqliteStatement> SqliteDatabase::prepare(std::string_view sql) const
{
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v2(m_db, sql.data(), int(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK)
        return std::unexpected(error(rc, "cannot read the project (preparing '" + std::string(sql.substr(0, 60)) + "')"));
    return SqliteStatement(*this, stmt, std::string(sql));
}

Expected<std::optional<std::int64_t>> SqliteDatabase::queryInteger(std::string_view sql) const
{
    auto stmt = prepare(sql);
    if (!stmt)
        return std::unexpected(stmt.error());
    auto row = stmt->step("reading the project");
    if (!row)
        return std::unexpected(row.error());
    if (!*row || stmt->isNull(0))
        return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(stmt->integer(0));
}

std::int64_t SqliteDatabase::lastInsertRowId() const
{
    return sqlite3_last_insert_rowid(m_db);
}

// ---- SqliteStatement ----------------------------------------------------------------------------

SqliteStatement::SqliteStatement(const SqliteDatabase& db, sqlite3_stmt* stmt, std::string sql)
    : m_db(&db)
    , m_stmt(stmt)
    , m_sql(std::move(sql))
{
}

SqliteStatement::~SqliteStatement()
{
    sqlite3_finalize(m_stmt);
}

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : m_db(other.m_db)
    , m_stmt(std::exchange(other.m_stmt, nullptr))
    , m_sql(std::move(other.m_sql))
{
}

SqliteStatement& SqliteStatement::bind(int index, std::int64_t value)
{
    sqlite3_bind_int64(m_stmt, index, value);
    return *this;
}

SqliteStatement& SqliteStatement::bind(int index, double value)
{
    sqlite3_bind_double(m_stmt, index, value);
    return *this;
}

SqliteStatement& SqliteStatement::bind(int index, std::string_view text)
{
    sqlite3_bind_text64(m_stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
}

SqliteStatement& SqliteStatement::bindBlob(int index, std::span<const std::uint8_t> bytes)
{
    // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
    static const std::uint8_t empty = 0;
    sqlite3_bind_blob64(m_stmt, index, bytes.empty() ? &empty : bytes.data(), bytes.size(), SQLITE_TRANSIENT);
    return *this;
}

SqliteStatement& SqliteStatement::bindNull(int index)
{
    sqlite3_bind_null(m_stmt, index);
    return *this;
}

Expected<bool> SqliteStatement::step(std::string_view what)
{
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW)
        return true;
    if (rc == SQLITE_DONE)
        return false;
    Error e = m_db->error(rc, what);
    sqlite3_reset(m_stmt);
    return std::unexpected(std::move(e));
}

Expected<void> SqliteStatement::run(std::string_view what)
{
    return forEachRow(what, [](const SqliteStatement&) {});
}

void SqliteStatement::reset()
{
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

bool SqliteStatement::isNull(int column) const
{
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

std::int64_t SqliteStatement::integer(int column) const
{
    return sqlite3_column_int64(m_stmt, column);
}

double SqliteStatement::real(int column) const
{
    return sqlite3_column_double(m_stmt, column);
}

std::string SqliteStatement::text(int column) const
{
    const auto* p = sqlite3_column_text(m_stmt, column);
    const int n = sqlite3_column_bytes(m_stmt, column);
    return p ? std::string(reinterpret_cast<const char*>(p), std::size_t(n)) : std::string();
}

std::span<const std::uint8_t> SqliteStatement::blob(int column) const
{
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(m_stmt, column));
    const int n = sqlite3_column_bytes(m_stmt, column);
    return p ? std::span<const std::uint8_t>(p, std::size_t(n)) : std::span<const std::uint8_t>();
}

// ---- SqliteTransaction --------------------------------------------------------------------------

SqliteTransaction::SqliteTransaction(SqliteDatabase& db, std::string what)
    : m_db(&db)
    , m_what(std::move(what))
{
}

Expected<SqliteTransaction> SqliteTransaction::begin(SqliteDatabase& db, std::string_view what)
{
    if (auto r = db.exec("BEGIN IMMEDIATE", what); !r)
        return std::unexpected(r.error());
    return SqliteTransaction(db, std::string(what));
}

SqliteTransaction::SqliteTransaction(SqliteTransaction&& other) noexcept
    : m_db(other.m_db)
    , m_what(std::move(other.m_what))
    , m_open(std::exchange(other.m_open, false))
{
}

SqliteTransaction::~SqliteTransaction()
{
    if (m_open)
        sqlite3_exec(m_db->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

Expected<void> SqliteTransaction::commit()
{
    if (auto r = m_db->exec("COMMIT", m_what); !r) {
        // A failed COMMIT (disk full) may leave the transaction open: the destructor rolls back.
        return r;
    }
    m_open = false;
    return {};
}

} // namespace labelprop
