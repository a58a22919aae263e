// ProjectStore: the classes (name, colour, hotkey, display order) and their edits, each one
// undoable action like a labeling action.

#include "core/project/ProjectStore.h"

#include "core/project/ProjectStoreDetail.h"
#include "core/project/SqliteDatabase.h"

#include <algorithm>
#include <set>

namespace labelprop {

using namespace store_detail;

namespace {

// Tableau 20 (first the 10 strong colours, then their light partners): distinct on a grid.
constexpr std::string_view kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                         "#ff9da7", "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6",
                                         "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"};
// The keys of a keyboard's number row, in the order new classes get them.
constexpr std::string_view kHotkeys[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "0"};

bool isColour(std::string_view s)
{
    return s.size() == 7 && s[0] == '#' && s.find_first_not_of("0123456789abcdefABCDEF", 1) == std::string_view::npos;
}

bool isHotkey(std::string_view s)
{
    return s.empty() || (s.size() == 1 && s[0] > ' ' && s[0] < 0x7f);
}

std::string quoted(std::string_view name)
{
    return "'" + std::string(name) + "'";
}

} // namespace

// ---- the class table ---------------------------------------------------------------------------

Expected<ClassTable> ClassTable::load(const SqliteDatabase& db)
{
    ClassTable t;
    LP_TRY(db.forEachRow("SELECT id, name, colour, hotkey, position, live FROM classes ORDER BY position, id",
                         "reading the classes", [&](const SqliteStatement& st) {
                             const auto key = st.integer(0);
                             ClassState s{st.text(1), st.text(2), st.text(3), st.integer(4), st.integer(5) != 0};
                             if (s.live) {
                                 t.m_idOfKey.emplace(key, int(t.m_liveKeys.size()));
                                 t.m_liveKeys.push_back(key);
                             }
                             t.m_all.emplace(key, std::move(s));
                         }));
    return t;
}

int ClassTable::id(std::int64_t key) const
{
    const auto it = m_idOfKey.find(key);
    return it == m_idOfKey.end() ? -1 : it->second;
}

Expected<void> ClassTable::requireId(int id, const std::string& path) const
{
    if (validId(id))
        return {};
    return fail(path + ": class id " + std::to_string(id) + " does not exist (the project has "
                + std::to_string(liveCount()) + " classes)");
}

std::optional<int> ClassTable::idNamed(std::string_view name) const
{
    for (std::size_t i = 0; i < m_liveKeys.size(); ++i)
        if (m_all.at(m_liveKeys[i]).name == name)
            return int(i);
    return std::nullopt;
}

std::vector<ProjectClass> ClassTable::live() const
{
    std::vector<ProjectClass> out;
    out.reserve(m_liveKeys.size());
    for (std::size_t i = 0; i < m_liveKeys.size(); ++i) {
        const auto& s = m_all.at(m_liveKeys[i]);
        out.push_back(ProjectClass{int(i), s.name, s.colour, s.hotkey});
    }
    return out;
}

std::pair<std::int64_t, ClassState> ClassTable::added(std::string_view name) const
{
    std::set<std::string_view> colours, hotkeys;
    std::int64_t nextKey = 0, nextPosition = 0;
    std::optional<std::int64_t> gone; // the latest-added class of this name that is gone
    for (const auto& [key, s] : m_all) {
        nextKey = std::max(nextKey, key + 1);
        nextPosition = std::max(nextPosition, s.position + 1);
        if (s.live) {
            colours.insert(s.colour);
            hotkeys.insert(s.hotkey);
        } else if (s.name == name) {
            gone = key;
        }
    }
    // Last in display order either way, so that no id a caller holds moves.
    ClassState s{std::string(name), "", "", nextPosition, true};
    const auto colour = std::ranges::find_if(kPalette, [&](std::string_view c) { return !colours.contains(c); });
    s.colour = colour != std::end(kPalette) ? *colour : kPalette[m_liveKeys.size() % std::size(kPalette)];
    const auto hotkey = std::ranges::find_if(kHotkeys, [&](std::string_view k) { return !hotkeys.contains(k); });
    s.hotkey = hotkey != std::end(kHotkeys) ? *hotkey : "";
    if (gone) {
        // It comes back as it was, but where new classes go, and with its old colour and hotkey
        // only where no other class has taken them.
        const auto& old = m_all.at(*gone);
        if (!colours.contains(old.colour))
            s.colour = old.colour;
        if (!old.hotkey.empty() && !hotkeys.contains(old.hotkey))
            s.hotkey = old.hotkey;
        return {*gone, s};
    }
    return {nextKey, s};
}

// ---- class events --------------------------------------------------------------------------------

Expected<void> store_detail::writeClassRow(SqliteDatabase& db, std::int64_t key, const ClassState& s)
{
    auto st = db.prepare("INSERT INTO classes(id, name, colour, hotkey, position, live) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
                         "ON CONFLICT(id) DO UPDATE SET name = ?2, colour = ?3, hotkey = ?4, position = ?5, live = ?6");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, key).bind(2, s.name).bind(3, s.colour).bind(4, s.hotkey).bind(5, s.position).bind(6, s.live ? 1 : 0);
    return st->run("saving the class " + quoted(s.name));
}

Expected<void> store_detail::writeClassEvent(SqliteDatabase& db, std::optional<std::int64_t> actionId,
                                             std::int64_t key, const ClassState& s)
{
    LP_TRY(writeClassRow(db, key, s)); // first: the event refers to the row
    auto st = db.prepare("INSERT INTO class_events(action_id, class_id, name, colour, hotkey, position, live) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return std::unexpected(st.error());
    st->bind(1, actionId).bind(2, key).bind(3, s.name).bind(4, s.colour).bind(5, s.hotkey).bind(6, s.position);
    return st->bind(7, s.live ? 1 : 0).run("recording the change of the class " + quoted(s.name));
}

Expected<std::map<std::int64_t, ClassState>> store_detail::replayClassEvents(const SqliteDatabase& db)
{
    std::map<std::int64_t, ClassState> out;
    LP_TRY(db.forEachRow("SELECT e.class_id, e.name, e.colour, e.hotkey, e.position, e.live, "
                         "e.action_id IS NULL OR a.state = 0 FROM class_events e "
                         "LEFT JOIN actions a ON a.id = e.action_id ORDER BY e.id",
                         "replaying the class history", [&](const SqliteStatement& st) {
                             const auto key = st.integer(0);
                             ClassState s{st.text(1), st.text(2), st.text(3), st.integer(4), st.integer(5) != 0};
                             if (st.integer(6) != 0) {
                                 out.insert_or_assign(key, std::move(s));
                             } else if (!out.contains(key)) {
                                 s.live = false; // e.g. an addition that was undone
                                 out.emplace(key, std::move(s));
                             }
                         }));
    return out;
}

Expected<std::optional<std::string>> store_detail::labelOfGoneClass(const SqliteDatabase& db)
{
    std::optional<std::string> found;
    LP_TRY(db.forEachRow("SELECT l.item_id, c.name FROM classes c JOIN current_labels l ON l.class_id = c.id "
                         "WHERE c.live = 0 LIMIT 1",
                         "checking the labels' classes", [&](const SqliteStatement& st) {
                             found = "item " + std::to_string(st.integer(0) - 1) + " is labeled with the class "
                                 + quoted(st.text(1)) + ", which is gone";
                         }));
    return found;
}

// ---- reading and setup -------------------------------------------------------------------------

Expected<std::vector<ProjectClass>> ProjectStore::classes() const
{
    auto table = ClassTable::load(*m_db);
    if (!table)
        return std::unexpected(table.error());
    return table->live();
}

Expected<int> ProjectStore::ensureClass(std::string_view name)
{
    if (name.empty())
        return fail(m_path + ": a class name cannot be empty");
    // Imports call this once per label: the usual case (the class exists) is two small queries.
    auto find = m_db->prepare("SELECT (SELECT count(*) FROM classes o WHERE o.live = 1 AND "
                              "(o.position < c.position OR (o.position = c.position AND o.id < c.id))) "
                              "FROM classes c WHERE c.name = ?1 AND c.live = 1");
    if (!find)
        return std::unexpected(find.error());
    std::optional<int> existing;
    LP_TRY(find->bind(1, name).forEachRow("looking up a class",
                                          [&](const SqliteStatement& row) { existing = int(row.integer(0)); }));
    if (existing)
        return *existing;
    LP_TRY(requireWritable("add the class " + quoted(name)));
    auto tx = SqliteTransaction::begin(*m_db, "adding the class " + quoted(name));
    if (!tx)
        return std::unexpected(tx.error());
    auto table = ClassTable::load(*m_db);
    if (!table)
        return std::unexpected(table.error());
    const auto [key, state] = table->added(name);
    LP_TRY(discardRedoStack(*m_db));
    LP_TRY(writeClassEvent(*m_db, std::nullopt, key, state));
    LP_TRY(bumpLabelVersion(*m_db));
    LP_TRY(tx->commit());
    return table->liveCount(); // last in display order
}

// ---- edits -------------------------------------------------------------------------------------

namespace {

// One class edit, checked and ready to record: the classes' new states and, for a merge, the
// labels to move.
struct ClassEdit {
    std::string description;
    std::vector<std::pair<std::int64_t, ClassState>> states; // key -> state after the edit
    std::optional<std::pair<std::int64_t, std::int64_t>> moveLabels; // merge: from key, into key
};

// Records `edit` as one action in one transaction; `before` is the table it was checked against.
Expected<ActionInfo> recordClassEdit(SqliteDatabase& db, const ClassTable& before, const ClassEdit& edit)
{
    auto tx = SqliteTransaction::begin(db, edit.description);
    if (!tx)
        return std::unexpected(tx.error());
    LP_TRY(discardRedoStack(db));
    // Labels moved by a merge keep their source: `item, source` of each label of the merged class.
    std::vector<std::pair<std::int64_t, LabelSource>> moved;
    if (edit.moveLabels) {
        auto st = db.prepare("SELECT item_id, source FROM current_labels WHERE class_id = ?1 ORDER BY item_id");
        if (!st)
            return std::unexpected(st.error());
        LP_TRY(st->bind(1, edit.moveLabels->first).forEachRow("finding the class's labels", [&](const SqliteStatement& row) {
            moved.emplace_back(row.integer(0), LabelSource(row.integer(1)));
        }));
    }
    auto action = insertAction(db, ActionKind::Class, edit.description, std::int64_t(moved.size()));
    if (!action)
        return std::unexpected(action.error());
    if (!moved.empty()) {
        auto writer = LabelWriter::prepare(db);
        if (!writer)
            return std::unexpected(writer.error());
        for (const auto& [item, source] : moved)
            LP_TRY(writer->write(action->id, item, edit.moveLabels->second, source, "moving the class's labels"));
    }
    bool namesChanged = !moved.empty();
    for (const auto& [key, state] : edit.states) {
        const auto old = before.all().find(key);
        namesChanged = namesChanged || old == before.all().end() || old->second.name != state.name
            || old->second.live != state.live;
        LP_TRY(writeClassEvent(db, action->id, key, state));
    }
    if (namesChanged || edit.moveLabels)
        LP_TRY(bumpLabelVersion(db));
    LP_TRY(tx->commit());
    return *action;
}

// Loads the classes, checks `classId`, and records the edit that `change(table, edit)` makes:
// edit.states comes with the class's key and state first, for `change` to alter (and to add
// other classes after it); `change` checks the request and writes the description.
template <class Change>
Expected<ActionInfo> editClass(SqliteDatabase& db, int classId, Change&& change)
{
    auto table = ClassTable::load(db);
    if (!table)
        return std::unexpected(table.error());
    LP_TRY(table->requireId(classId, db.path()));
    ClassEdit edit;
    edit.states.emplace_back(table->key(classId), table->state(classId));
    LP_TRY(change(*table, edit));
    return recordClassEdit(db, *table, edit);
}

} // namespace

Expected<ProjectStore::AddedClass> ProjectStore::addClass(std::string_view name)
{
    LP_TRY(requireWritable("add the class " + quoted(name)));
    if (name.empty())
        return fail(m_path + ": a class name cannot be empty");
    auto table = ClassTable::load(*m_db);
    if (!table)
        return std::unexpected(table.error());
    if (table->idNamed(name))
        return fail(m_path + ": the class " + quoted(name) + " exists already");
    const ClassEdit edit{"add class " + quoted(name), {table->added(name)}, std::nullopt};
    auto action = recordClassEdit(*m_db, *table, edit);
    if (!action)
        return std::unexpected(action.error());
    return AddedClass{*action, table->liveCount()};
}

Expected<ActionInfo> ProjectStore::renameClass(int classId, std::string_view newName)
{
    LP_TRY(requireWritable("rename a class"));
    return editClass(*m_db, classId, [&](const ClassTable& table, ClassEdit& edit) -> Expected<void> {
        auto& state = edit.states.front().second;
        if (newName.empty())
            return fail(m_path + ": cannot rename the class " + quoted(state.name) + " to an empty name");
        if (newName == state.name)
            return fail(m_path + ": the class " + quoted(state.name) + " has that name already");
        if (table.idNamed(newName))
            return fail(m_path + ": cannot rename the class " + quoted(state.name) + " to " + quoted(newName)
                        + ": another class has that name (merge them instead)");
        edit.description = "rename class " + quoted(state.name) + " to " + quoted(newName);
        state.name = std::string(newName);
        return {};
    });
}

Expected<ActionInfo> ProjectStore::mergeClass(int fromClassId, int intoClassId)
{
    LP_TRY(requireWritable("merge classes"));
    return editClass(*m_db, fromClassId, [&](const ClassTable& table, ClassEdit& edit) -> Expected<void> {
        auto& [from, state] = edit.states.front();
        LP_TRY(table.requireId(intoClassId, m_path));
        if (intoClassId == fromClassId)
            return fail(m_path + ": cannot merge the class " + quoted(state.name) + " into itself");
        edit.description = "merge class " + quoted(state.name) + " into " + quoted(table.state(intoClassId).name);
        edit.moveLabels = std::pair(from, table.key(intoClassId));
        state.live = false;
        return {};
    });
}

Expected<ActionInfo> ProjectStore::setClassColour(int classId, std::string_view colour)
{
    LP_TRY(requireWritable("change a class's colour"));
    return editClass(*m_db, classId, [&](const ClassTable&, ClassEdit& edit) -> Expected<void> {
        auto& state = edit.states.front().second;
        if (!isColour(colour))
            return fail(m_path + ": '" + std::string(colour) + "' is not a colour like #4e79a7 (for the class "
                        + quoted(state.name) + ")");
        if (colour == state.colour)
            return fail(m_path + ": the class " + quoted(state.name) + " has that colour already");
        edit.description = "set the colour of class " + quoted(state.name) + " to " + std::string(colour);
        state.colour = std::string(colour);
        return {};
    });
}

Expected<ActionInfo> ProjectStore::setClassHotkey(int classId, std::string_view hotkey)
{
    LP_TRY(requireWritable("change a class's hotkey"));
    return editClass(*m_db, classId, [&](const ClassTable& table, ClassEdit& edit) -> Expected<void> {
        auto& state = edit.states.front().second;
        if (!isHotkey(hotkey))
            return fail(m_path + ": '" + std::string(hotkey) + "' is not a hotkey (one character such as 1, or none) "
                        + "for the class " + quoted(state.name));
        if (hotkey == state.hotkey)
            return fail(m_path + ": the class " + quoted(state.name) + " has that hotkey already");
        edit.description = hotkey.empty() ? "clear the hotkey of class " + quoted(state.name)
                                          : "set the hotkey of class " + quoted(state.name) + " to " + std::string(hotkey);
        state.hotkey = std::string(hotkey);
        // The key moves: the class that had it loses it, in the same action.
        if (!hotkey.empty())
            for (int other = 0; other < table.liveCount(); ++other)
                if (other != classId && table.state(other).hotkey == hotkey) {
                    ClassState s = table.state(other);
                    s.hotkey.clear();
                    edit.states.emplace_back(table.key(other), std::move(s));
                }
        return {};
    });
}

} // namespace labelprop
