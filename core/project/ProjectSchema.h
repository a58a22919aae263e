#pragma once
// The project file's schema and its forward migrations. A project records its schema version in
// SQLite's `PRAGMA user_version` and carries Labelprop's `PRAGMA application_id`, so a foreign
// SQLite file is recognised and left alone.
//
// Adding a version: append one SchemaMigration with the SQL that turns version N-1 into N, and
// raise ProjectStore::kSchemaVersion. Never edit a released migration.

#include "core/base/Error.h"

#include <cstdint>
#include <span>
#include <string_view>

namespace labelprop {

class SqliteDatabase;

// "LBPR" as a big-endian 32-bit integer.
constexpr std::int64_t kProjectApplicationId = 0x4C425052;

struct SchemaMigration {
    int toVersion;        // the version after this step
    std::string_view sql; // statements run inside the migration's transaction
};

// The project's migrations, version 0 (empty file) -> 1 -> ...
[[nodiscard]] std::span<const SchemaMigration> projectMigrations();

// Brings `db` from version `from` to `to` (from < to) by running the migrations in order, all in
// one transaction, and sets user_version. Foreign keys are off while the steps run (a step may
// rebuild a table) and checked before the commit. A failure leaves the file as it was.
[[nodiscard]] Expected<void> migrateSchema(SqliteDatabase& db, int from, int to,
                                           std::span<const SchemaMigration> migrations);

} // namespace labelprop
