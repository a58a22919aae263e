// ProjectStore: undo and redo, the history of actions and of items, and the checks that replay it.

#include "core/project/ProjectStore.h"

#include "core/project/ProjectStoreDetail.h"
#include "core/project/SqliteDatabase.h"

#include <algorithm>
#include <map>

namespace labelprop {

using namespace store_detail;

// ---- undo / redo -------------------------------------------------------------------------------

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

Expected<bool> ProjectStore::recomputeClasses(const ActionInfo& action, bool undoing)
{
    auto count = m_db->prepare("SELECT count(*) FROM class_events WHERE action_id = ?1");
    if (!count)
        return std::unexpected(count.error());
    std::int64_t events = 0;
    LP_TRY(count->bind(1, action.id).forEachRow("finding the action's classes",
                                                [&](const SqliteStatement& st) { events = st.integer(0); }));
    if (events == 0)
        return false;
    auto before = ClassTable::load(*m_db);
    if (!before)
        return std::unexpected(before.error());
    auto replayed = replayClassEvents(*m_db);
    if (!replayed)
        return std::unexpected(replayed.error());
    // Imports (and the classes they add) are not undone, so the classes without this action can
    // clash: two of one name. Refuse rather than guess which one the labels meant.
    std::map<std::string, std::int64_t> liveNames;
    for (const auto& [key, s] : *replayed)
        if (s.live && !liveNames.emplace(s.name, key).second)
            return fail(m_path + ": cannot " + (undoing ? "undo '" : "redo '") + action.description + "' (action #"
                        + std::to_string(action.id) + "): it would bring back the class '" + s.name
                        + "', but another class has that name now (added since by an import or 'label --add-class', "
                          "which are not undone); earlier actions can no longer be undone. Nothing was changed");
    // Classes that leave first, so names stay unique among live classes after every write.
    std::vector<std::pair<std::int64_t, const ClassState*>> changed;
    bool namesChanged = false;
    for (const auto& [key, s] : *replayed) {
        const auto old = before->all().find(key);
        if (old != before->all().end() && old->second == s)
            continue;
        changed.emplace_back(key, &s);
        namesChanged = namesChanged || old == before->all().end() || old->second.name != s.name || old->second.live != s.live;
    }
    std::ranges::stable_partition(changed, [](const auto& c) { return !c.second->live; });
    for (const auto& [key, s] : changed)
        LP_TRY(writeClassRow(*m_db, key, *s));
    return namesChanged;
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
    auto classesChanged = recomputeClasses(info, undoing);
    if (!classesChanged)
        return std::unexpected(classesChanged.error());
    LP_TRY(recomputeItems(items));
    if (*classesChanged) {
        // A class that goes away must take all its labels with it; one an import gave it since cannot.
        auto orphan = labelOfGoneClass(*m_db);
        if (!orphan)
            return std::unexpected(orphan.error());
        if (*orphan)
            return fail(m_path + ": cannot " + (undoing ? "undo '" : "redo '") + info.description + "' (action #"
                        + std::to_string(info.id) + "): " + **orphan
                        + " (labeled since by an import, which is not undone); earlier actions can no longer be "
                          "undone. Nothing was changed");
    }
    if (!items.empty() || *classesChanged)
        LP_TRY(bumpLabelVersion(*m_db));
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

// ---- history and checks --------------------------------------------------------------------

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
    auto classes = ClassTable::load(*m_db);
    if (!classes)
        return std::unexpected(classes.error());
    std::vector<ItemEvent> out;
    LP_TRY(st->forEachRow("reading the item's history", [&](const SqliteStatement& row) {
        ItemEvent e;
        e.actionId = row.integer(0);
        e.description = row.text(1);
        e.timeMs = row.integer(2);
        e.undone = row.integer(3) != 0;
        if (row.integer(8) == 0) {
            e.classId = row.isNull(4) ? -1 : classes->id(row.integer(4));
            if (!row.isNull(4))
                if (const auto c = classes->all().find(row.integer(4)); c != classes->all().end())
                    e.className = c->second.name;
            e.source = LabelSource(row.integer(5));
        } else {
            e.decision = ReviewDecision(row.integer(6));
        }
        out.push_back(std::move(e));
    }));
    return out;
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

    auto replayedClasses = replayClassEvents(*m_db);
    if (!replayedClasses)
        return std::unexpected(replayedClasses.error());
    auto storedClasses = ClassTable::load(*m_db);
    if (!storedClasses)
        return std::unexpected(storedClasses.error());
    for (const auto& [key, s] : storedClasses->all()) {
        const auto r = replayedClasses->find(key);
        if (r == replayedClasses->end())
            return fail(m_path + ": the class '" + s.name + "' has no history");
        if (r->second != s)
            return fail(m_path + ": the stored class '" + s.name + "' does not match its history (which gives '"
                        + r->second.name + "', " + r->second.colour + ", hotkey '" + r->second.hotkey + "', "
                        + (r->second.live ? "live" : "gone") + ")");
    }
    // (Every replayed class has a row: class_events.class_id references classes.id.)
    auto orphan = labelOfGoneClass(*m_db);
    if (!orphan)
        return std::unexpected(orphan.error());
    if (*orphan)
        return fail(m_path + ": " + **orphan);
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

} // namespace labelprop
