// `labelprop-cli project ...`: the command line over a project file (the same store the desktop
// app uses). This file: dispatch, create, import, relink, label, undo, redo, review, status.
// ProjectEngineCommands.cpp: propagate, audit, suggest, export.

#include "Commands.h"
#include "ProjectCommands.h"
#include "ProjectSupport.h"

#include "core/Csv.h"
#include "core/ImageSource.h"
#include "core/ProjectEmbeddings.h"
#include "core/ProjectExport.h"
#include "core/ProjectImport.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <set>

namespace labelprop::cli {

namespace {

namespace fs = std::filesystem;

void printImportReport(const ImportReport& r)
{
    std::printf("items: %lld added, %lld unchanged, %lld changed, %lld moved, %lld missing, %lld unreadable\n",
                (long long)r.added, (long long)r.unchanged, (long long)r.changed, (long long)r.moved,
                (long long)r.missing, (long long)r.unreadable);
    std::printf("labels: %lld imported", (long long)r.labelsImported);
    if (r.labelsKept > 0)
        std::printf(", %lld kept as a person set them (the source says otherwise)", (long long)r.labelsKept);
    std::printf("\n");
    const std::size_t shown = std::min<std::size_t>(r.warnings.size(), 10);
    for (std::size_t i = 0; i < shown; ++i)
        std::fprintf(stderr, "warning: %s\n", r.warnings[i].c_str());
    if (r.warnings.size() > shown)
        std::fprintf(stderr, "warning: ... and %zu more\n", r.warnings.size() - shown);
}

Expected<std::vector<std::string>> readClassNames(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        return fail(path + ": cannot open the class names file");
    std::vector<std::string> names;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty())
            continue;
        if (!isValidUtf8(line))
            return fail(path + ":" + std::to_string(number) + ": not valid UTF-8");
        names.push_back(line);
    }
    if (names.empty())
        return fail(path + ": no class names (one per line)");
    return names;
}

// Embeds the project's items and prints what it did.
int embedAndReport(ProjectStore& store, const std::string& encoder)
{
    Stopwatch clock;
    auto embedded = loadProjectEmbeddings(store, encoder);
    if (!embedded)
        return reportError(embedded.error());
    std::printf("embeddings: %lld items x %lld dims with %s (%lld encoded, %lld from the cache) in %.2f s\n",
                (long long)embedded->x.rows(), (long long)embedded->x.cols(), embedded->encoderId.c_str(),
                (long long)embedded->encodedNow, (long long)embedded->fromCache, clock.seconds());
    for (const auto& w : embedded->warnings)
        std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (!embedded->skipped.empty())
        std::fprintf(stderr, "warning: %zu items could not be encoded; first: %s\n", embedded->skipped.size(),
                     embedded->skipped.front().c_str());
    return 0;
}

int runCreate(const std::vector<std::string>& args)
{
    ArgumentParser parser("project create",
                          "Create a project file from an image source: a folder, an ImageFolder tree, a CSV of "
                          "paths or IDX files. Labels the source carries are imported (source = imported).");
    parser.addPositional("PROJECT", "the new project file, e.g. pets.labelprop");
    parser.addOption("source", "SOURCE", "images: a folder, a .csv file (path,label) or IDX files");
    parser.addOption("kind", "KIND", "auto, folder, imagefolder, csv or idx", "auto");
    parser.addOption("encoder", "SPEC", "embedding encoder, e.g. pca:64 or pca:64,whiten,rgb", "pca:64");
    parser.addOption("classes", "FILE", "class names, one per line; integer labels i become line i (IDX data)");
    parser.addFlag("no-labels", "do not import the labels the source carries");
    parser.addFlag("no-embed", "do not compute embeddings now (the first propagate does)");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    const auto project = *parser.positional(0);
    auto sourceArg = parser.required("source");
    if (!sourceArg)
        return reportError(sourceArg.error());
    const auto kind = parseSourceKind(*parser.value("kind"));
    if (!kind)
        return reportError(Error{"--kind must be auto, folder, imagefolder, csv or idx"});
    auto threads = parser.integer("threads", 0, 1024);
    if (!threads)
        return reportError(threads.error());
    if (auto encoder = makeEncoder(*parser.value("encoder")); !encoder)
        return reportError(encoder.error());
    ImportOptions importOptions;
    importOptions.importLabels = !parser.flag("no-labels");
    importOptions.threads = int(*threads);
    if (auto classesFile = parser.value("classes")) {
        auto names = readClassNames(*classesFile);
        if (!names)
            return reportError(names.error());
        importOptions.classNames = std::move(*names);
    }

    Stopwatch total;
    auto source = openImageSource(*sourceArg, *kind);
    if (!source)
        return reportError(source.error());
    std::error_code ec;
    const fs::path where = fs::absolute(*sourceArg, ec).lexically_normal();
    ProjectCreateOptions options;
    const bool isDir = fs::is_directory(where, ec);
    options.source.root = isDir ? where.string() : where.parent_path().string();
    options.source.location = isDir ? "." : where.filename().string();
    options.source.kind = std::string(sourceKindName((*source)->kind()));
    options.settings.encoder = *parser.value("encoder");
    options.holder = "labelprop-cli project create";
    auto store = ProjectStore::create(project, options);
    if (!store)
        return reportError(store.error());
    std::printf("%s\n", (*source)->describe().c_str());
    Stopwatch clock;
    auto report = importSource(**store, **source, importOptions);
    if (!report)
        return reportError(report.error());
    printImportReport(*report);
    std::printf("import: %.2f s\n", clock.seconds());
    source->reset(); // the embedding step opens the project's source itself: do not hold two copies
    if (!parser.flag("no-embed"))
        if (int rc = embedAndReport(**store, options.settings.encoder); rc != 0)
            return rc;
    std::printf("created %s in %.2f s\n", project.c_str(), total.seconds());
    return 0;
}

int runImport(const std::vector<std::string>& args)
{
    ArgumentParser parser("project import",
                          "Re-scan the project's source: add new files, notice changed and missing ones by content "
                          "hash, follow moved ones. Never drops a person's label. With --labels, apply a labels file "
                          "(CSV path,label[,...] or the JSON 'project export' writes) to items matched by path.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("labels", "FILE", "a labels file to import instead of re-scanning");
    parser.addFlag("no-labels", "do not import the labels the source carries");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, "import");
    if (!store)
        return reportError(store.error());
    if (auto file = parser.value("labels")) {
        auto report = importLabelFile(**store, *file);
        if (!report)
            return reportError(report.error());
        std::printf("%s: %lld rows matched project items, %lld labels applied, %lld kept as a person set them, "
                    "%lld paths not in the project\n",
                    file->c_str(), (long long)report->matched, (long long)report->applied,
                    (long long)report->keptHuman, (long long)report->unknownPaths);
        return 0;
    }
    auto info = (*store)->sourceInfo();
    if (!info)
        return reportError(info.error());
    auto source = openProjectSource(*info);
    if (!source)
        return reportError(source.error());
    ImportOptions options;
    options.importLabels = !parser.flag("no-labels");
    auto threads = parser.integer("threads", 0, 1024);
    if (!threads)
        return reportError(threads.error());
    options.threads = int(*threads);
    Stopwatch clock;
    auto report = importSource(**store, **source, options);
    if (!report)
        return reportError(report.error());
    printImportReport(*report);
    std::printf("import: %.2f s\n", clock.seconds());
    return 0;
}

int runRelink(const std::vector<std::string>& args)
{
    ArgumentParser parser("project relink",
                          "The data set moved: point the project at its new folder. A sample of items is checked "
                          "there by content hash first; nothing changes if they do not match.");
    parser.addPositional("PROJECT", "the project file");
    parser.addPositional("FOLDER", "the data set's new root folder");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, "relink");
    if (!store)
        return reportError(store.error());
    auto checked = relinkProject(**store, *parser.positional(1));
    if (!checked)
        return reportError(checked.error());
    auto info = (*store)->sourceInfo();
    std::printf("relinked to %s (%lld items checked by content hash); run 'project import' to pick up other changes\n",
                info ? info->root.c_str() : "?", (long long)*checked);
    return 0;
}

// One "item,label" line of a batch or stream: returns the change, or an error naming the line.
Expected<LabelChange> parseLabelLine(ProjectStore& store, const std::string& line, const std::string& where,
                                     bool allowNew)
{
    auto records = parseCsv(line, where);
    if (!records)
        return std::unexpected(records.error());
    if (records->size() != 1 || records->front().fields.size() != 2)
        return fail(where + ": expected 'item,label' (an empty label removes the item's label)");
    const auto& f = records->front().fields;
    auto item = resolveItem(store, f[0]);
    if (!item)
        return fail(where + ": " + item.error().message);
    if (f[1].empty())
        return LabelChange{*item, -1};
    auto cls = resolveClass(store, f[1], allowNew);
    if (!cls)
        return fail(where + ": " + cls.error().message);
    return LabelChange{*item, *cls};
}

int runLabel(const std::vector<std::string>& args)
{
    ArgumentParser parser(
        "project label",
        "Label items. Each call is one action (one undo step), saved to disk before the command says so. "
        "--batch FILE (or - for standard input) applies 'item,label' lines as one bulk action, all or nothing. "
        "--stream reads 'item,label' lines from standard input and saves each as its own action, printing "
        "'ok N' after line N is on disk (for scripts and tools that drive a labeling session).");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("item", "PATH_OR_INDEX", "the item: its path in the project, or its 0-based index");
    parser.addOption("label", "NAME", "the class name");
    parser.addFlag("remove", "remove the item's label instead");
    parser.addOption("batch", "FILE|-", "apply 'item,label' lines (optional header 'item,label') as one action");
    parser.addFlag("stream", "read 'item,label' lines from standard input; one saved action per line");
    parser.addFlag("add-class", "allow class names the project does not have yet (otherwise a typo is an error)");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, "label");
    if (!store)
        return reportError(store.error());
    const bool allowNew = parser.flag("add-class");

    if (parser.flag("stream")) {
        std::string line;
        long long number = 0;
        while (std::getline(std::cin, line)) {
            ++number;
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            if (line.empty() || (number == 1 && line == "item,label"))
                continue;
            auto change = parseLabelLine(**store, line, "<stdin>:" + std::to_string(number), allowNew);
            if (!change)
                return reportError(change.error());
            auto action = (*store)->applyLabels(std::span(&*change, 1), LabelSource::Human,
                                                "label item " + std::to_string(change->itemId - 1));
            if (!action)
                return reportError(action.error());
            std::printf("ok %lld\n", number);
            std::fflush(stdout);
        }
        return 0;
    }

    if (auto batch = parser.value("batch")) {
        std::string text;
        if (*batch == "-") {
            text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        } else {
            std::ifstream in(*batch, std::ios::binary);
            if (!in)
                return reportError(Error{*batch + ": cannot open"});
            text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        const std::string name = *batch == "-" ? "<stdin>" : *batch;
        auto records = parseCsv(text, name);
        if (!records)
            return reportError(records.error());
        std::vector<LabelChange> changes;
        std::set<std::int64_t> seen;
        for (std::size_t r = 0; r < records->size(); ++r) {
            const auto& rec = (*records)[r];
            const std::string where = name + ":" + std::to_string(rec.line);
            if (r == 0 && rec.fields == std::vector<std::string>{"item", "label"})
                continue;
            if (rec.fields.size() != 2)
                return reportError(Error{where + ": expected 'item,label'"});
            auto item = resolveItem(**store, rec.fields[0]);
            if (!item)
                return reportError(Error{where + ": " + item.error().message});
            if (!seen.insert(*item).second)
                return reportError(Error{where + ": item '" + rec.fields[0] + "' appears twice"});
            int cls = -1;
            if (!rec.fields[1].empty()) {
                auto c = resolveClass(**store, rec.fields[1], allowNew);
                if (!c)
                    return reportError(Error{where + ": " + c.error().message});
                cls = *c;
            }
            changes.push_back(LabelChange{*item, cls});
        }
        if (changes.empty())
            return reportError(Error{name + ": no 'item,label' lines"});
        auto action = (*store)->applyLabels(changes, LabelSource::Bulk,
                                            "label " + std::to_string(changes.size()) + " items from " + name);
        if (!action)
            return reportError(action.error());
        std::printf("labeled %zu items (one action; 'project undo' reverts it)\n", changes.size());
        return 0;
    }

    auto itemText = parser.required("item");
    if (!itemText)
        return reportError(itemText.error());
    auto item = resolveItem(**store, *itemText);
    if (!item)
        return reportError(item.error());
    int cls = -1;
    if (!parser.flag("remove")) {
        auto label = parser.required("label");
        if (!label)
            return reportError(Error{label.error().message + " (or --remove)"});
        auto c = resolveClass(**store, *label, allowNew);
        if (!c)
            return reportError(c.error());
        cls = *c;
    }
    const LabelChange change{*item, cls};
    auto action = (*store)->applyLabels(std::span(&change, 1), LabelSource::Human,
                                        cls < 0 ? "remove the label of item " + std::to_string(*item - 1)
                                                : "label item " + std::to_string(*item - 1) + " as '"
                                                      + *parser.value("label") + "'");
    if (!action)
        return reportError(action.error());
    std::printf("%s\n", action->description.c_str());
    return 0;
}

int runUndoRedo(const std::vector<std::string>& args, bool undo)
{
    ArgumentParser parser(undo ? "project undo" : "project redo",
                          undo ? "Undo the latest labeling or review action (imports are not undone)."
                               : "Redo the most recently undone action.");
    parser.addPositional("PROJECT", "the project file");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, undo ? "undo" : "redo");
    if (!store)
        return reportError(store.error());
    auto action = undo ? (*store)->undo() : (*store)->redo();
    if (!action)
        return reportError(action.error());
    if (!*action) {
        std::printf("nothing to %s\n", undo ? "undo" : "redo");
        return 0;
    }
    std::printf("%s: %s (%lld items)\n", undo ? "undone" : "redone", (*action)->description.c_str(),
                (long long)(*action)->events);
    return 0;
}

int runReview(const std::vector<std::string>& args)
{
    ArgumentParser parser("project review",
                          "Record a review decision on a (flagged) item: kept (the label is right), relabeled "
                          "(with --label, source = accepted) or skipped. One undoable action.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("item", "PATH_OR_INDEX", "the item");
    parser.addOption("decision", "DECISION", "kept, relabeled or skipped");
    parser.addOption("label", "NAME", "the new label (relabeled only)");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, "review");
    if (!store)
        return reportError(store.error());
    auto itemText = parser.required("item");
    auto decisionText = parser.required("decision");
    if (!itemText)
        return reportError(itemText.error());
    if (!decisionText)
        return reportError(decisionText.error());
    const auto decision = parseReviewDecision(*decisionText);
    if (!decision)
        return reportError(Error{"--decision must be kept, relabeled or skipped (got '" + *decisionText + "')"});
    auto item = resolveItem(**store, *itemText);
    if (!item)
        return reportError(item.error());
    std::optional<int> cls;
    if (*decision == ReviewDecision::Relabeled) {
        auto label = parser.required("label");
        if (!label)
            return reportError(Error{label.error().message + " (a relabeled item needs its new label)"});
        auto c = resolveClass(**store, *label, false);
        if (!c)
            return reportError(c.error());
        cls = *c;
    }
    auto action = (*store)->review(*item, *decision, cls);
    if (!action)
        return reportError(action.error());
    std::printf("%s\n", action->description.c_str());
    return 0;
}

std::string formatTime(std::int64_t ms)
{
    const std::time_t t = std::time_t(ms / 1000);
    std::tm local{};
    localtime_r(&t, &local);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &local);
    return buffer;
}

int runStatus(const std::vector<std::string>& args)
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

    auto flaggedNow = itemsFlaggedNow(**store);
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

int runHistory(const std::vector<std::string>& args)
{
    ArgumentParser parser("project history",
                          "What was done, newest first: every action with its time and size, undone ones marked. "
                          "With --item, every event that touched one item (labels, sources, review decisions), "
                          "oldest first: the provenance of its current label. Read-only.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("item", "PATH_OR_INDEX", "one item's events");
    parser.addOption("limit", "N", "actions to list", "20");
    parser.addFlag("all", "include undone actions");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadOnly, "history");
    if (!store)
        return reportError(store.error());
    auto classes = (*store)->classes();
    if (!classes)
        return reportError(classes.error());
    const auto className = [&](int id) { return id < 0 ? std::string("(removed)") : (*classes)[std::size_t(id)].name; };
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
                                                : className(*e.classId) + " (" + std::string(labelSourceName(e.source)) + ")";
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
Expected<std::pair<std::string, std::string>> splitAssignment(const std::string& text, const std::string& option)
{
    const auto eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0)
        return fail("--" + option + " expects NAME=VALUE, got '" + text + "'");
    return std::pair(text.substr(0, eq), text.substr(eq + 1));
}

int runClasses(const std::vector<std::string>& args)
{
    ArgumentParser parser("project classes",
                          "List the classes with their hotkey, colour and count, or change them: add one, rename "
                          "one (its labels follow), set a colour or a hotkey.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("add", "NAME", "add a class");
    parser.addOption("rename", "OLD=NEW", "rename a class");
    parser.addOption("colour", "NAME=#RRGGBB", "set a class's colour");
    parser.addOption("hotkey", "NAME=KEY", "set a class's hotkey (one character; empty for none)");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    const bool changing = parser.value("add") || parser.value("rename") || parser.value("colour") || parser.value("hotkey");
    auto store = openProject(parser, changing ? ProjectStore::Access::ReadWrite : ProjectStore::Access::ReadOnly,
                             "classes");
    if (!store)
        return reportError(store.error());
    auto classes = (*store)->classes();
    if (!classes)
        return reportError(classes.error());
    // Each change re-reads the classes, so one call can combine changes to the same class.
    const auto find = [&](const std::string& name) -> Expected<ProjectClass> {
        classes = (*store)->classes();
        if (!classes)
            return std::unexpected(classes.error());
        for (const auto& c : *classes)
            if (c.name == name)
                return c;
        return fail((*store)->path() + ": no class named '" + name + "'");
    };
    if (auto name = parser.value("add")) {
        if (find(*name))
            return reportError(Error{(*store)->path() + ": the class '" + *name + "' exists already"});
        if (auto r = (*store)->ensureClass(*name); !r)
            return reportError(r.error());
    }
    if (auto text = parser.value("rename")) {
        auto a = splitAssignment(*text, "rename");
        if (!a)
            return reportError(a.error());
        auto c = find(a->first);
        if (!c)
            return reportError(c.error());
        if (a->second.empty() || find(a->second))
            return reportError(Error{(*store)->path() + ": cannot rename '" + a->first + "' to '" + a->second
                                     + "': the new name is empty or taken"});
        c->name = a->second;
        if (auto r = (*store)->updateClass(*c); !r)
            return reportError(r.error());
    }
    if (auto text = parser.value("colour")) {
        auto a = splitAssignment(*text, "colour");
        if (!a)
            return reportError(a.error());
        auto c = find(a->first);
        if (!c)
            return reportError(c.error());
        const auto& v = a->second;
        if (v.size() != 7 || v[0] != '#' || v.find_first_not_of("0123456789abcdefABCDEF", 1) != std::string::npos)
            return reportError(Error{"--colour: '" + v + "' is not a colour like #4e79a7"});
        c->colour = v;
        if (auto r = (*store)->updateClass(*c); !r)
            return reportError(r.error());
    }
    if (auto text = parser.value("hotkey")) {
        auto a = splitAssignment(*text, "hotkey");
        if (!a)
            return reportError(a.error());
        auto c = find(a->first);
        if (!c)
            return reportError(c.error());
        if (a->second.size() > 1)
            return reportError(Error{"--hotkey: a hotkey is one character, got '" + a->second + "'"});
        for (auto& other : *classes)
            if (!a->second.empty() && other.hotkey == a->second && other.id != c->id) {
                // The key moves: the class that had it loses it.
                other.hotkey.clear();
                if (auto r = (*store)->updateClass(other); !r)
                    return reportError(r.error());
            }
        c->hotkey = a->second;
        if (auto r = (*store)->updateClass(*c); !r)
            return reportError(r.error());
    }
    classes = (*store)->classes();
    auto counts = (*store)->counts();
    if (!classes)
        return reportError(classes.error());
    if (!counts)
        return reportError(counts.error());
    for (const auto& c : *classes)
        std::printf("%-3s %s  %-24s %lld labeled\n", c.hotkey.empty() ? "-" : c.hotkey.c_str(), c.colour.c_str(),
                    c.name.c_str(), (long long)counts->byClass[std::size_t(c.id)]);
    return 0;
}

struct ProjectSubcommand {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

const ProjectSubcommand kProjectSubcommands[] = {
    {"create", "create PROJECT.labelprop from a folder, ImageFolder tree, CSV or IDX files", runCreate},
    {"import", "re-scan the source (new, changed, missing, moved files) or apply a labels file", runImport},
    {"relink", "point the project at the data set's new folder", runRelink},
    {"classes", "list the classes; add, rename, set a colour or a hotkey", runClasses},
    {"label", "label items (one, a batch as one action, or a stream of saved actions)", runLabel},
    {"undo", "undo the latest labeling or review action", [](const std::vector<std::string>& a) { return runUndoRedo(a, true); }},
    {"redo", "redo the most recently undone action", [](const std::vector<std::string>& a) { return runUndoRedo(a, false); }},
    {"review", "record a review decision on a flagged item: kept, relabeled or skipped", runReview},
    {"status", "counts by class and source, flagged, reviewed, undo depth, last propagation", runStatus},
    {"history", "what was done and when; with --item, the provenance of one item's label", runHistory},
    {"propagate", "spread the labels over the kNN graph; saves the result in the project", runProjectPropagate},
    {"audit", "judge every label (imported ones above all) and flag the likely wrong ones", runProjectAudit},
    {"suggest", "pick the items to label next", runProjectSuggest},
    {"export", "write the cleaned labels: csv, json or an ImageFolder tree", runProjectExport},
};

void printProjectUsage(std::FILE* out)
{
    std::fprintf(out, "usage: labelprop-cli project <command> PROJECT.labelprop [options]\n\ncommands:\n");
    for (const auto& s : kProjectSubcommands)
        std::fprintf(out, "  %-11s %s\n", s.name, s.summary);
    std::fprintf(out, "\nRun 'labelprop-cli project <command> --help' for a command's options.\n");
}

} // namespace

int runProject(const std::vector<std::string>& args)
{
    if (args.empty()) {
        printProjectUsage(stderr);
        return kExitUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        printProjectUsage(stdout);
        return 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& s : kProjectSubcommands)
        if (args[0] == s.name)
            return s.run(rest);
    std::fprintf(stderr, "labelprop-cli project: unknown command '%s'\n\n", args[0].c_str());
    printProjectUsage(stderr);
    return kExitUsage;
}

} // namespace labelprop::cli
