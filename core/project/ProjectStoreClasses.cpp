// ProjectStore: the classes (name, colour, hotkey, display order).

#include "core/project/ProjectStore.h"

#include "core/project/ProjectStoreDetail.h"
#include "core/project/SqliteDatabase.h"

namespace labelprop {

using namespace store_detail;

namespace {

// Tableau 20 (first the 10 strong colours, then their light partners): distinct on a grid.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                    "#ff9da7", "#9c755f", "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6",
                                    "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"};

} // namespace

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


} // namespace labelprop
