#include "core/project/ProjectSchema.h"

#include "core/project/SqliteDatabase.h"

#include <optional>
#include <string>

namespace labelprop {

namespace {

// Version 1. Comments give units; ids of items and classes are dense (never deleted).
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE items(
    id INTEGER PRIMARY KEY,            -- 1-based, dense; index = id - 1
    path TEXT NOT NULL UNIQUE,         -- relative to meta 'root', or 'file#i' for IDX images
    content_hash BLOB,                 -- 16 bytes XXH3-128 of the file (IDX: of the pixels)
    size INTEGER NOT NULL DEFAULT 0,   -- bytes
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0, -- ItemStatus: 0 present, 1 missing, 2 changed, 3 unreadable
    added_ms INTEGER NOT NULL          -- ms since the epoch
);
CREATE INDEX items_by_hash ON items(content_hash);

CREATE TABLE classes(
    id INTEGER PRIMARY KEY,            -- 0-based, dense, display order
    name TEXT NOT NULL UNIQUE,
    colour TEXT NOT NULL,              -- '#rrggbb'
    hotkey TEXT NOT NULL DEFAULT ''
);

CREATE TABLE actions(
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,             -- ActionKind: 0 label, 1 import, 2 review, 3 bulk
    description TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0   -- 0 done, 1 undone (can be redone), 2 undone and superseded
);
CREATE INDEX actions_by_state ON actions(state, id);

CREATE TABLE label_events(
    id INTEGER PRIMARY KEY,
    action_id INTEGER NOT NULL REFERENCES actions(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    class_id INTEGER REFERENCES classes(id), -- NULL: the label was removed
    source INTEGER NOT NULL                  -- LabelSource
);
CREATE INDEX label_events_by_item ON label_events(item_id, id);
CREATE INDEX label_events_by_action ON label_events(action_id);

CREATE TABLE review_events(
    id INTEGER PRIMARY KEY,
    action_id INTEGER NOT NULL REFERENCES actions(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    decision INTEGER NOT NULL                -- ReviewDecision
);
CREATE INDEX review_events_by_item ON review_events(item_id, id);
CREATE INDEX review_events_by_action ON review_events(action_id);

-- Derived from the events of done actions (the latest event per item wins); kept up to date in
-- the same transaction as the events.
CREATE TABLE current_labels(
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    class_id INTEGER NOT NULL REFERENCES classes(id),
    source INTEGER NOT NULL,
    event_id INTEGER NOT NULL
);
CREATE TABLE current_reviews(
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    decision INTEGER NOT NULL,
    event_id INTEGER NOT NULL
);

CREATE TABLE settings(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Fitted encoder state (a PCA basis), so items added later embed the same way.
CREATE TABLE encoder_states(
    encoder TEXT PRIMARY KEY,          -- the encoder spec, e.g. 'pca:64'
    state BLOB NOT NULL,
    saved_ms INTEGER NOT NULL
);

-- The latest propagation and the latest audit; arrays are little-endian blobs aligned to item_ids.
CREATE TABLE propagation(
    kind TEXT PRIMARY KEY,             -- 'propagate' or 'audit'
    time_ms INTEGER NOT NULL,
    settings TEXT NOT NULL,            -- JSON
    embedding_version TEXT NOT NULL,
    label_version INTEGER NOT NULL,
    seconds REAL NOT NULL,
    classes TEXT NOT NULL,             -- JSON array of class names
    item_ids BLOB NOT NULL,            -- int64 x n
    scores BLOB NOT NULL,              -- float32 x n x c
    predicted BLOB NOT NULL,           -- int32 x n
    confidence BLOB NOT NULL,          -- float32 x n
    margin BLOB NOT NULL,              -- float32 x n
    issue_score BLOB NOT NULL,         -- float32 x n
    given BLOB NOT NULL,               -- int32 x n: the label judged (class index or -1)
    flagged BLOB NOT NULL,             -- uint8 x n
    suggested BLOB NOT NULL            -- int32 x n
);
)sql";

// Version 2: class edits are actions like labeling (undoable, in the history). A class's state is
// derived from its class events the way an item's label is derived from its label events, and a
// class merged away keeps its row (nothing is deleted; its labels' history refers to it). So names
// are unique among live classes only: SQLite cannot drop v1's UNIQUE(name), hence the rebuild
// (same ids; runs with foreign keys off, see migrateSchema). actions.kind gains 4: a class edit.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE classes_v2(
    id INTEGER PRIMARY KEY,            -- stable key, referenced by the events; never reused
    name TEXT NOT NULL,
    colour TEXT NOT NULL,              -- '#rrggbb'
    hotkey TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,         -- display order; the API numbers the live classes 0..n-1 by it
    live INTEGER NOT NULL DEFAULT 1    -- 0: merged away, or its addition was undone
);
INSERT INTO classes_v2(id, name, colour, hotkey, position, live) SELECT id, name, colour, hotkey, id, 1 FROM classes;
DROP TABLE classes;
ALTER TABLE classes_v2 RENAME TO classes;
CREATE UNIQUE INDEX classes_by_live_name ON classes(name) WHERE live = 1;

-- Each event is the class's whole state after it. The derived `classes` row is the latest event
-- that counts (its action is done, or it has none), else the class's first event with live = 0.
CREATE TABLE class_events(
    id INTEGER PRIMARY KEY,
    action_id INTEGER REFERENCES actions(id), -- NULL: setup, never undone (a class an import or a label
                                              -- added, or one the project had before schema 2)
    class_id INTEGER NOT NULL REFERENCES classes(id),
    name TEXT NOT NULL,
    colour TEXT NOT NULL,
    hotkey TEXT NOT NULL,
    position INTEGER NOT NULL,
    live INTEGER NOT NULL
);
CREATE INDEX class_events_by_class ON class_events(class_id, id);
CREATE INDEX class_events_by_action ON class_events(action_id);
INSERT INTO class_events(action_id, class_id, name, colour, hotkey, position, live)
    SELECT NULL, id, name, colour, hotkey, position, live FROM classes ORDER BY id;

-- A merge finds the labels of a class without scanning every label.
CREATE INDEX current_labels_by_class ON current_labels(class_id);
)sql";

constexpr SchemaMigration kMigrations[] = {
    {1, kSchemaV1},
    {2, kSchemaV2},
};

} // namespace

std::span<const SchemaMigration> projectMigrations()
{
    return kMigrations;
}

Expected<void> migrateSchema(SqliteDatabase& db, int from, int to, std::span<const SchemaMigration> migrations)
{
    // A step may rebuild a table that others reference (SQLite's way to change a constraint); with
    // foreign keys on, dropping the old table would fail or cascade. The pragma is a no-op inside a
    // transaction, so it is switched off around it and the keys are checked before the commit.
    auto foreignKeys = db.queryInteger("PRAGMA foreign_keys");
    if (!foreignKeys)
        return std::unexpected(foreignKeys.error());
    if (auto r = db.exec("PRAGMA foreign_keys = OFF", "upgrading the project's schema"); !r)
        return r;
    struct RestoreForeignKeys {
        SqliteDatabase& db;
        bool on;
        ~RestoreForeignKeys()
        {
            if (on)
                (void)db.exec("PRAGMA foreign_keys = ON", "upgrading the project's schema");
        }
    } restore{db, foreignKeys->value_or(0) != 0};
    auto tx = SqliteTransaction::begin(db, "upgrading the project's schema");
    if (!tx)
        return std::unexpected(tx.error());
    int version = from;
    for (const auto& m : migrations) {
        if (m.toVersion <= from || m.toVersion > to)
            continue;
        if (m.toVersion != version + 1)
            return fail(db.path() + ": internal error: no migration from schema " + std::to_string(version) + " to "
                        + std::to_string(version + 1));
        if (auto r = db.exec(m.sql, "upgrading the project to schema " + std::to_string(m.toVersion)); !r)
            return r;
        version = m.toVersion;
    }
    if (version != to)
        return fail(db.path() + ": internal error: migrations stop at schema " + std::to_string(version) + ", not "
                    + std::to_string(to));
    if (auto r = db.exec("PRAGMA user_version = " + std::to_string(to), "recording the schema version"); !r)
        return r;
    if (auto r = db.exec("PRAGMA application_id = " + std::to_string(kProjectApplicationId), "marking the file"); !r)
        return r;
    std::optional<std::string> broken;
    if (auto r = db.forEachRow("PRAGMA foreign_key_check", "checking the upgraded schema",
                               [&](const SqliteStatement& row) {
                                   if (!broken)
                                       broken = row.text(0) + " row " + std::to_string(row.integer(1)) + " refers to a missing "
                                           + row.text(2) + " row";
                               });
        !r)
        return r;
    if (broken)
        return fail(db.path() + ": cannot upgrade the project to schema " + std::to_string(to) + ": " + *broken
                    + "; the file was not changed (restore it from a backup, or report this)");
    return tx->commit();
}

} // namespace labelprop
