#include "core/project/ProjectSchema.h"

#include "core/project/SqliteDatabase.h"

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

constexpr SchemaMigration kMigrations[] = {
    {1, kSchemaV1},
};

} // namespace

std::span<const SchemaMigration> projectMigrations()
{
    return kMigrations;
}

Expected<void> migrateSchema(SqliteDatabase& db, int from, int to, std::span<const SchemaMigration> migrations)
{
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
    return tx->commit();
}

} // namespace labelprop
