// `labelprop-cli project status|history`: read-only views of a project, safe while another
// program has it open.

#include "ProjectCommands.h"
#include "ProjectSupport.h"

#include "core/project/ProjectExport.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <limits>

namespace labelprop::cli {

namespace {

std::string formatTime(std::int64_t ms)
{
    const std::time_t t = std::time_t(ms / 1000);
    std::tm local{};
    localtime_r(&t, &local);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &local);
    return buffer;
}

} // namespace

int runProjectStatus(const std::vector<std::string>& args)
{
    ArgumentParser parser("project status",
                          "Counts by class and by source, flagged and reviewed items, undo depth and the last "
                          "propagation. Read-only: works while another program has the project open.");
    parser.addPositional("PROJECT", "the project file");
    parser.addFlag("json", "print the figures as JSON");
    parser.addFlag("check", "also check the file's pages (SQLite quick_check) and replay the whole history against "
                            "the stored current labels");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadOnly, "status");
    if (!store)
        return reportError(store.error());
    auto counts = (*store)->counts();
    auto classes = (*store)->classes();
    auto info = (*store)->sourceInfo();
    auto settings = (*store)->settings();
    auto propagation = (*store)->latestPropagation();
    auto version = (*store)->labelVersion();
    for (const Error* e : {counts ? nullptr : &counts.error(), classes ? nullptr : &classes.error(),
                           info ? nullptr : &info.error(), settings ? nullptr : &settings.error(),
                           propagation ? nullptr : &propagation.error(), version ? nullptr : &version.error()})
        if (e)
            return reportError(*e);
    if (parser.flag("check")) {
        if (auto ok = (*store)->checkFileIntegrity(); !ok)
            return reportError(ok.error());
        if (auto ok = (*store)->verifyDerivedState(); !ok)
            return reportError(ok.error());
    }

    auto flaggedNow = itemsFlaggedNow(**store, *propagation);
    if (!flaggedNow)
        return reportError(flaggedNow.error());
    const auto flagged = std::int64_t(flaggedNow->size());

    const auto& c = *counts;
    if (parser.flag("json")) {
        nlohmann::json doc;
        doc["items"] = {{"total", c.items}, {"present", c.present}, {"missing", c.missing}, {"changed", c.changed},
                        {"unreadable", c.unreadable}};
        doc["labeled"] = c.labeled;
        nlohmann::json byClass = nlohmann::json::object();
        for (std::size_t i = 0; i < classes->size(); ++i)
            byClass[(*classes)[i].name] = c.byClass[i];
        doc["by_class"] = byClass;
        nlohmann::json bySource = nlohmann::json::object();
        for (int s = 0; s < 4; ++s)
            bySource[std::string(labelSourceName(LabelSource(s)))] = c.bySource[std::size_t(s)];
        doc["by_source"] = bySource;
        doc["reviewed"] = c.reviewed;
        nlohmann::json byDecision = nlohmann::json::object();
        for (int d = 0; d < 3; ++d)
            byDecision[std::string(reviewDecisionName(ReviewDecision(d)))] = c.byDecision[std::size_t(d)];
        doc["by_decision"] = byDecision;
        doc["flagged"] = flagged;
        doc["undo"] = c.undoable;
        doc["redo"] = c.redoable;
        doc["label_version"] = *version;
        doc["root"] = info->root;
        if (*propagation)
            doc["last_propagation"] = {{"kind", (*propagation)->kind},
                                       {"time_ms", (*propagation)->timeMs},
                                       {"seconds", (*propagation)->seconds},
                                       {"items", (*propagation)->itemIds.size()},
                                       {"stale", (*propagation)->labelVersion != *version}};
        std::printf("%s\n", doc.dump(2).c_str());
        return 0;
    }
    std::printf("project %s\n", (*store)->path().c_str());
    std::printf("source: %s %s%s%s\n", info->kind.c_str(), info->root.c_str(), info->location == "." ? "" : "/",
                info->location == "." ? "" : info->location.c_str());
    std::printf("items: %lld (%lld present, %lld missing, %lld changed, %lld unreadable)\n", (long long)c.items,
                (long long)c.present, (long long)c.missing, (long long)c.changed, (long long)c.unreadable);
    std::printf("labeled: %lld (human %lld, bulk %lld, imported %lld, accepted fixes %lld)\n", (long long)c.labeled,
                (long long)c.bySource[0], (long long)c.bySource[3], (long long)c.bySource[1], (long long)c.bySource[2]);
    for (std::size_t i = 0; i < classes->size(); ++i)
        std::printf("  %-3s %-24s %lld\n", (*classes)[i].hotkey.c_str(), (*classes)[i].name.c_str(),
                    (long long)c.byClass[i]);
    std::printf("flagged and not reviewed: %lld; reviewed: %lld (kept %lld, relabeled %lld, skipped %lld)\n",
                (long long)flagged, (long long)c.reviewed, (long long)c.byDecision[0], (long long)c.byDecision[1],
                (long long)c.byDecision[2]);
    std::printf("undo: %lld actions; redo: %lld\n", (long long)c.undoable, (long long)c.redoable);
    if (*propagation) {
        const auto& p = **propagation;
        std::printf("last %s: %s, %zu items, %.2f s, %s\n", p.kind.c_str(), formatTime(p.timeMs).c_str(),
                    p.itemIds.size(), p.seconds,
                    p.labelVersion == *version ? "up to date" : "labels changed since (run it again)");
    } else {
        std::printf("no propagation yet (run 'labelprop-cli project propagate %s')\n", (*store)->path().c_str());
    }
    std::printf("settings: encoder %s, k %d, temperature %s, knn %s, steps %d, clamp %s, strategy %s\n",
                settings->encoder.c_str(), settings->k, settings->temperature.c_str(), settings->knn.c_str(),
                settings->steps, settings->clamp.c_str(), settings->strategy.c_str());
    return 0;
}

int runProjectHistory(const std::vector<std::string>& args)
{
    ArgumentParser parser("project history",
                          "What was done, newest first: every action with its time and size, undone ones marked. "
                          "With --item, every event that touched one item (labels, sources, review decisions), "
                          "oldest first: the provenance of its current label. Read-only.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("item", "PATH_OR_INDEX", std::string("one item's events; ") + kItemHelp);
    parser.addOption("limit", "N", "actions to list", "20");
    parser.addFlag("all", "include undone actions");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadOnly, "history");
    if (!store)
        return reportError(store.error());
    if (auto itemText = parser.value("item")) {
        auto item = resolveItem(**store, *itemText);
        if (!item)
            return reportError(item.error());
        auto events = (*store)->itemHistory(*item);
        if (!events)
            return reportError(events.error());
        if (events->empty())
            std::printf("item %lld has never been labeled or reviewed\n", (long long)(*item - 1));
        for (const auto& e : *events) {
            const std::string what = e.decision ? "review: " + std::string(reviewDecisionName(*e.decision))
                                                : (e.className.empty() ? std::string("(removed)") : e.className) + " ("
                                                      + std::string(labelSourceName(e.source)) + ")";
            std::printf("%s  %-32s %s%s\n", formatTime(e.timeMs).c_str(), what.c_str(), e.description.c_str(),
                        e.undone ? "  [undone]" : "");
        }
        return 0;
    }
    auto limit = parser.integer("limit", 1, std::numeric_limits<int>::max());
    if (!limit)
        return reportError(limit.error());
    auto actions = (*store)->history(*limit, parser.flag("all"));
    if (!actions)
        return reportError(actions.error());
    for (const auto& a : *actions)
        std::printf("%s  #%lld %s (%lld labels)%s\n", formatTime(a.timeMs).c_str(), (long long)a.id,
                    a.description.c_str(), (long long)a.events, a.undone ? "  [undone]" : "");
    return 0;
}

// "NAME=VALUE" (the name may itself contain '='; the value is after the last one).
} // namespace labelprop::cli
