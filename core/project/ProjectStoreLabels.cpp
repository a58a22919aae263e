// ProjectStore: labeling actions (labels, imports, review decisions), the current labels and the counts.

#include "core/project/ProjectStore.h"

#include "core/project/ProjectStoreDetail.h"
#include "core/project/SqliteDatabase.h"

#include <set>

namespace labelprop {

using namespace store_detail;

// ---- actions -----------------------------------------------------------------------------------

Expected<void> store_detail::bumpLabelVersion(SqliteDatabase& db)
{
    return db.exec("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'label_version'",
                   "recording the label version");
}

Expected<void> store_detail::discardRedoStack(SqliteDatabase& db)
{
    return db.exec("UPDATE actions SET state = 2 WHERE state = 1", "clearing the redo stack");
}

Expected<ActionInfo> store_detail::insertAction(SqliteDatabase& db, ActionKind kind, const std::string& description,
                                                std::int64_t events)
{
    auto st = db.prepare("INSERT INTO actions(kind, description, time_ms, state) VALUES(?1, ?2, ?3, 0)");
    if (!st)
        return std::unexpected(st.error());
    ActionInfo info{0, kind, description, nowMs(), events};
    st->bind(1, int(kind)).bind(2, description).bind(3, info.timeMs);
    LP_TRY(st->run("recording the action"));
    info.id = db.lastInsertRowId();
    return info;
}

Expected<LabelWriter> LabelWriter::prepare(SqliteDatabase& db)
{
    auto event = db.prepare(kInsertLabelEvent);
    auto upsert = db.prepare(kSetCurrentLabel);
    auto remove = db.prepare("DELETE FROM current_labels WHERE item_id = ?1");
    if (!event || !upsert || !remove)
        return std::unexpected((!event ? event : !upsert ? upsert : remove).error());
    return LabelWriter(db, std::move(*event), std::move(*upsert), std::move(*remove));
}

LabelWriter::LabelWriter(SqliteDatabase& db, SqliteStatement event, SqliteStatement upsert, SqliteStatement remove)
    : m_db(&db)
    , m_event(std::move(event))
    , m_upsert(std::move(upsert))
    , m_remove(std::move(remove))
{
}

Expected<void> LabelWriter::write(std::int64_t actionId, std::int64_t itemId, std::optional<std::int64_t> classKey,
                                  LabelSource source, std::string_view what)
{
    LP_TRY(m_event.bind(1, actionId).bind(2, itemId).bind(3, classKey).bind(4, int(source)).run(what));
    const auto eventId = m_db->lastInsertRowId();
    if (!classKey)
        return m_remove.bind(1, itemId).run(what);
    return m_upsert.bind(1, itemId).bind(2, *classKey).bind(3, int(source)).bind(4, eventId).run(what);
}

// ---- labeling ----------------------------------------------------------------------------------

namespace {

// Checks item and class ids before anything is written, so a bad batch changes nothing, and
// returns the class key of each change (nullopt: remove the label).
Expected<std::vector<std::optional<std::int64_t>>> classKeysOf(const SqliteDatabase& db,
                                                               std::span<const LabelChange> changes)
{
    auto items = db.queryInteger("SELECT count(*) FROM items");
    if (!items)
        return std::unexpected(items.error());
    auto classes = ClassTable::load(db);
    if (!classes)
        return std::unexpected(classes.error());
    std::set<std::int64_t> seen;
    std::vector<std::optional<std::int64_t>> keys;
    keys.reserve(changes.size());
    for (const auto& c : changes) {
        if (c.itemId < 1 || c.itemId > items->value_or(0))
            return fail(db.path() + ": item " + std::to_string(c.itemId - 1) + " does not exist (the project has "
                        + std::to_string(items->value_or(0)) + " items)");
        if (c.classId != -1)
            LP_TRY(classes->requireId(c.classId, db.path()));
        if (!seen.insert(c.itemId).second)
            return fail(db.path() + ": item " + std::to_string(c.itemId - 1)
                        + " appears twice in one action; give each item one label");
        keys.push_back(c.classId < 0 ? std::nullopt : std::optional(classes->key(c.classId)));
    }
    return keys;
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
    auto keys = classKeysOf(*m_db, changes);
    if (!keys)
        return std::unexpected(keys.error());
    auto tx = SqliteTransaction::begin(*m_db, "saving the label");
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(discardRedoStack(*m_db));
    const ActionKind kind = source == LabelSource::Bulk ? ActionKind::Bulk : ActionKind::Label;
    auto action = insertAction(*m_db, kind, description, std::int64_t(changes.size()));
    if (!action)
        return std::unexpected(action.error());
    auto writer = LabelWriter::prepare(*m_db);
    if (!writer)
        return std::unexpected(writer.error());
    for (std::size_t i = 0; i < changes.size(); ++i)
        LP_TRY(writer->write(action->id, changes[i].itemId, (*keys)[i], source, "saving the label"));
    LP_TRY(bumpLabelVersion(*m_db));
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
    auto keys = classKeysOf(*m_db, changes);
    if (!keys)
        return std::unexpected(keys.error());
    auto tx = SqliteTransaction::begin(*m_db, "importing labels");
    if (!tx)
        return std::unexpected(tx.error());
    auto current = m_db->prepare("SELECT class_id, source FROM current_labels WHERE item_id = ?1");
    if (!current)
        return std::unexpected(current.error());
    auto writer = LabelWriter::prepare(*m_db);
    if (!writer)
        return std::unexpected(writer.error());
    std::optional<ActionInfo> action;
    for (std::size_t i = 0; i < changes.size(); ++i) {
        const auto& key = (*keys)[i];
        if (!key)
            continue;
        current->bind(1, changes[i].itemId);
        auto row = current->step("importing labels");
        if (!row)
            return std::unexpected(row.error());
        const bool has = *row;
        const std::int64_t cls = has ? current->integer(0) : -1;
        const auto src = has ? LabelSource(current->integer(1)) : LabelSource::Imported;
        current->reset();
        if (has && src != LabelSource::Imported) {
            out.keptPerson += cls != *key ? 1 : 0; // never override a person's label
            continue;
        }
        if (has && cls == *key)
            continue; // nothing to do
        if (!action) {
            LP_TRY(discardRedoStack(*m_db));
            auto a = insertAction(*m_db, ActionKind::Import, description, 0);
            if (!a)
                return std::unexpected(a.error());
            action = *a;
        }
        LP_TRY(writer->write(action->id, changes[i].itemId, key, LabelSource::Imported, "importing labels"));
        ++out.applied;
    }
    if (out.applied == 0)
        return out; // the transaction rolls back: nothing changed
    LP_TRY(bumpLabelVersion(*m_db));
    LP_TRY(tx->commit());
    return out;
}

Expected<ActionInfo> ProjectStore::review(std::int64_t itemId, ReviewDecision decision, std::optional<int> newClassId)
{
    LP_TRY(requireWritable("record a review decision"));
    if (decision == ReviewDecision::Relabeled && !newClassId)
        return fail(m_path + ": a 'relabeled' decision needs the new label");
    const LabelChange change{itemId, newClassId.value_or(-1)};
    auto keys = classKeysOf(*m_db, std::span(&change, 1));
    if (!keys)
        return std::unexpected(keys.error());
    auto tx = SqliteTransaction::begin(*m_db, "saving the review decision");
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(discardRedoStack(*m_db));
    std::string description = "review item " + std::to_string(itemId - 1) + ": " + std::string(reviewDecisionName(decision));
    auto action = insertAction(*m_db, ActionKind::Review, description, decision == ReviewDecision::Relabeled ? 1 : 0);
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
        auto writer = LabelWriter::prepare(*m_db);
        if (!writer)
            return std::unexpected(writer.error());
        LP_TRY(writer->write(action->id, itemId, keys->front(), LabelSource::Accepted, "saving the new label"));
    }
    LP_TRY(bumpLabelVersion(*m_db));
    LP_TRY(tx->commit());
    return *action;
}

// ---- current labels and counts -----------------------------------------------------------------

Expected<std::vector<CurrentLabel>> ProjectStore::currentLabels() const
{
    auto classes = ClassTable::load(*m_db);
    if (!classes)
        return std::unexpected(classes.error());
    std::vector<CurrentLabel> out;
    std::optional<std::int64_t> orphan; // an item labeled with a class that is gone: a broken invariant
    LP_TRY(m_db->forEachRow("SELECT item_id, class_id, source FROM current_labels ORDER BY item_id",
                            "reading the labels", [&](const SqliteStatement& st) {
                                const int id = classes->id(st.integer(1));
                                if (id < 0)
                                    orphan = orphan.value_or(st.integer(0));
                                else
                                    out.push_back(CurrentLabel{st.integer(0), id, LabelSource(st.integer(2))});
                            }));
    if (orphan)
        return fail(m_path + ": item " + std::to_string(*orphan - 1) + " is labeled with a class that is gone; "
                    + "check the project with 'labelprop-cli project status " + m_path + " --check'");
    return out;
}

Expected<std::vector<CurrentLabel>> ProjectStore::labelsOfAction(std::int64_t actionId) const
{
    auto classes = ClassTable::load(*m_db);
    if (!classes)
        return std::unexpected(classes.error());
    auto st = m_db->prepare("SELECT e.item_id, c.class_id, c.source FROM "
                            "(SELECT DISTINCT item_id FROM label_events WHERE action_id = ?1) e "
                            "LEFT JOIN current_labels c ON c.item_id = e.item_id ORDER BY e.item_id");
    if (!st)
        return std::unexpected(st.error());
    std::vector<CurrentLabel> out;
    LP_TRY(st->bind(1, actionId).forEachRow("reading the labels of an action", [&](const SqliteStatement& row) {
        CurrentLabel l{row.integer(0), -1, LabelSource::Human};
        if (!row.isNull(1)) {
            l.classId = classes->id(row.integer(1));
            l.source = LabelSource(row.integer(2));
        }
        out.push_back(l);
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
    auto classes = ClassTable::load(*m_db);
    if (!classes)
        return std::unexpected(classes.error());
    c.byClass.assign(std::size_t(classes->liveCount()), 0);
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
                   const auto src = st.integer(1), n = st.integer(2);
                   const int cls = classes->id(st.integer(0));
                   c.labeled += n;
                   if (cls >= 0)
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
    auto depth = undoDepth();
    if (!depth)
        return std::unexpected(depth.error());
    c.undoable = depth->undoable;
    c.redoable = depth->redoable;
    return c;
}

Expected<ProjectStore::UndoDepth> ProjectStore::undoDepth() const
{
    UndoDepth d;
    LP_TRY(m_db->forEachRow("SELECT state, count(*) FROM actions WHERE kind != 1 GROUP BY state", "counting",
                            [&](const SqliteStatement& st) {
                                if (st.integer(0) == 0)
                                    d.undoable = st.integer(1);
                                else if (st.integer(0) == 1)
                                    d.redoable = st.integer(1);
                            }));
    return d;
}

} // namespace labelprop
