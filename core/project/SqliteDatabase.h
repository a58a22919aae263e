#pragma once
// A thin RAII layer over SQLite: one connection, prepared statements, and an immediate
// transaction guard. Every failure comes back as an Error whose message names the database file,
// what was being done, SQLite's reason, and what the user can do (disk full, read-only, corrupt,
// not a database, locked).
//
// Thread-safety: a SqliteDatabase and its statements belong to one thread at a time (SQLite's
// multi-thread mode). Use one connection per thread; with the WAL journal, readers on their own
// connections see a consistent snapshot while one writer commits.

#include "core/base/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace labelprop {

class SqliteStatement;

class SqliteDatabase final {
public:
    enum class Mode {
        ReadOnly,  // the file must exist; nothing is ever written to it
        ReadWrite, // the file must exist
        Create,    // the file must not exist yet; it is created
    };

    // Opens `path`. Only opens the file; the first statement is what finds out whether it really
    // is an SQLite database (see check()).
    [[nodiscard]] static Expected<std::unique_ptr<SqliteDatabase>> open(const std::string& path, Mode mode);
    ~SqliteDatabase();
    SqliteDatabase(const SqliteDatabase&) = delete;
    SqliteDatabase& operator=(const SqliteDatabase&) = delete;

    // Runs one or more statements that return no rows. `what` says what was being done, for the
    // message ("creating the tables").
    [[nodiscard]] Expected<void> exec(std::string_view sql, std::string_view what);
    [[nodiscard]] Expected<SqliteStatement> prepare(std::string_view sql) const;
    // A single integer from a query such as "PRAGMA user_version"; nullopt when it returns no row.
    [[nodiscard]] Expected<std::optional<std::int64_t>> queryInteger(std::string_view sql) const;
    // Prepares `sql` and calls onRow(statement) for each row (see SqliteStatement::forEachRow).
    template <class OnRow>
    [[nodiscard]] Expected<void> forEachRow(std::string_view sql, std::string_view what, OnRow&& onRow) const;

    [[nodiscard]] std::int64_t lastInsertRowId() const;
    [[nodiscard]] const std::string& path() const { return m_path; }
    [[nodiscard]] bool readOnly() const { return m_mode == Mode::ReadOnly; }
    [[nodiscard]] sqlite3* handle() const { return m_db; }

    // "<path>: <what>: <SQLite's message>; <hint>" for the connection's last error code.
    [[nodiscard]] Error error(std::string_view what) const;
    [[nodiscard]] Error error(int code, std::string_view what) const;

private:
    SqliteDatabase(sqlite3* db, std::string path, Mode mode);

    sqlite3* m_db = nullptr;
    std::string m_path;
    Mode m_mode;
};

// One prepared statement. Bind parameters are 1-based as in SQLite. step() returns true while
// there is a row; column getters are 0-based.
class SqliteStatement final {
public:
    SqliteStatement(const SqliteDatabase& db, sqlite3_stmt* stmt, std::string sql);
    ~SqliteStatement();
    SqliteStatement(SqliteStatement&& other) noexcept;
    SqliteStatement& operator=(SqliteStatement&&) = delete;
    SqliteStatement(const SqliteStatement&) = delete;

    SqliteStatement& bind(int index, std::int64_t value);
    SqliteStatement& bind(int index, int value) { return bind(index, std::int64_t(value)); }
    SqliteStatement& bind(int index, double value);
    SqliteStatement& bind(int index, std::string_view text);
    SqliteStatement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    SqliteStatement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    SqliteStatement& bindBlob(int index, std::span<const std::uint8_t> bytes);
    SqliteStatement& bindNull(int index);
    template <class T>
    SqliteStatement& bind(int index, const std::optional<T>& value)
    {
        return value ? bind(index, *value) : bindNull(index);
    }

    // True: a row is ready; false: done. `what` names the operation in an error.
    [[nodiscard]] Expected<bool> step(std::string_view what);
    // Steps to completion (for INSERT/UPDATE/DELETE) and resets the statement for reuse.
    [[nodiscard]] Expected<void> run(std::string_view what);
    // Calls onRow(*this) for every row, then resets the statement; stops at the first error.
    template <class OnRow>
    [[nodiscard]] Expected<void> forEachRow(std::string_view what, OnRow&& onRow)
    {
        for (;;) {
            auto row = step(what);
            if (!row)
                return std::unexpected(row.error());
            if (!*row)
                break;
            onRow(static_cast<const SqliteStatement&>(*this));
        }
        reset();
        return {};
    }
    void reset();

    [[nodiscard]] bool isNull(int column) const;
    [[nodiscard]] std::int64_t integer(int column) const;
    [[nodiscard]] double real(int column) const;
    [[nodiscard]] std::string text(int column) const;
    [[nodiscard]] std::span<const std::uint8_t> blob(int column) const;

private:
    const SqliteDatabase* m_db;
    sqlite3_stmt* m_stmt;
    std::string m_sql;
};

template <class OnRow>
Expected<void> SqliteDatabase::forEachRow(std::string_view sql, std::string_view what, OnRow&& onRow) const
{
    auto st = prepare(sql);
    if (!st)
        return std::unexpected(st.error());
    return st->forEachRow(what, std::forward<OnRow>(onRow));
}

// BEGIN IMMEDIATE on construction (takes the write lock at once, so a busy database fails here
// rather than halfway through); ROLLBACK in the destructor unless commit() succeeded.
class SqliteTransaction final {
public:
    [[nodiscard]] static Expected<SqliteTransaction> begin(SqliteDatabase& db, std::string_view what);
    ~SqliteTransaction();
    SqliteTransaction(SqliteTransaction&& other) noexcept;
    SqliteTransaction& operator=(SqliteTransaction&&) = delete;
    SqliteTransaction(const SqliteTransaction&) = delete;

    // COMMIT; once it returns success the change is on disk (synchronous=FULL).
    [[nodiscard]] Expected<void> commit();

private:
    SqliteTransaction(SqliteDatabase& db, std::string what);

    SqliteDatabase* m_db;
    std::string m_what;
    bool m_open = true;
};

} // namespace labelprop
