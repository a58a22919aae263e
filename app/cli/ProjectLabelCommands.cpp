// `labelprop-cli project label|undo|redo|review|classes`: the commands that change labels and
// the label set. Each labeling call and each class edit is one action of the store (one
// transaction, one undo step).

#include "ProjectCommands.h"
#include "ProjectSupport.h"

#include "core/formats/Csv.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>

namespace labelprop::cli {

namespace {

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

} // namespace

int runProjectLabel(const std::vector<std::string>& args)
{
    ArgumentParser parser(
        "project label",
        "Label items. Each call is one action (one undo step), saved to disk before the command says so. "
        "--batch FILE (or - for standard input) applies 'item,label' lines as one bulk action, all or nothing. "
        "--stream reads 'item,label' lines from standard input and saves each as its own action, printing "
        "'ok N' after line N is on disk (for scripts and tools that drive a labeling session).");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("item", "PATH_OR_INDEX", kItemHelp);
    parser.addOption("label", "NAME", "the class name");
    parser.addFlag("remove", "remove the item's label instead");
    parser.addOption("batch", "FILE|-",
                     "apply 'item,label' lines (optional header 'item,label') as one action; an item is given as "
                     "--item takes it, a file's relative path starting from FILE's folder (from the current folder "
                     "for -)");
    parser.addFlag("stream", "read 'item,label' lines from standard input; one saved action per line");
    parser.addFlag("add-class", "allow class names the project does not have yet (otherwise a typo is an error)");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    const int modes = (parser.value("item") ? 1 : 0) + (parser.value("batch") ? 1 : 0) + (parser.flag("stream") ? 1 : 0);
    if (modes != 1) {
        std::fprintf(stderr, "labelprop-cli project label: give exactly one of --item, --batch and --stream\n");
        return kExitUsage;
    }
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
        // Relative file paths start from the batch file's folder, as in a CSV source and in the CSV
        // 'project export' writes, so a file keeps working wherever it is used from.
        std::error_code ec;
        const std::filesystem::path base =
            *batch == "-" ? std::filesystem::path() : std::filesystem::absolute(*batch, ec).parent_path();
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
            auto item = resolveItem(**store, rec.fields[0], base);
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

int runProjectUndoRedo(const std::vector<std::string>& args, bool undo)
{
    ArgumentParser parser(undo ? "project undo" : "project redo",
                          undo ? "Undo the latest labeling, review or class action (imports are not undone)."
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
    if ((*action)->kind == ActionKind::Class && (*action)->events == 0) // a class edit that moved no labels
        std::printf("%s: %s\n", undo ? "undone" : "redone", (*action)->description.c_str());
    else
        std::printf("%s: %s (%lld items)\n", undo ? "undone" : "redone", (*action)->description.c_str(),
                    (long long)(*action)->events);
    return 0;
}

int runProjectReview(const std::vector<std::string>& args)
{
    ArgumentParser parser("project review",
                          "Record a review decision on a (flagged) item: kept (the label is right), relabeled "
                          "(with --label, source = accepted) or skipped. One undoable action.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("item", "PATH_OR_INDEX", kItemHelp);
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


namespace {

Expected<std::pair<std::string, std::string>> splitAssignment(const std::string& text, const std::string& option)
{
    const auto eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0)
        return fail("--" + option + " expects NAME=VALUE, got '" + text + "'");
    return std::pair(text.substr(0, eq), text.substr(eq + 1));
}

} // namespace

int runProjectClasses(const std::vector<std::string>& args)
{
    ArgumentParser parser("project classes",
                          "List the classes with their hotkey, colour and count, or change them: add one, rename "
                          "one (its labels follow), merge one into another (its labels move there, keeping their "
                          "sources, and it goes away), set a colour or a hotkey. Each change is one action, saved "
                          "before the command returns; 'project undo' reverts it.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("add", "NAME", "add a class");
    parser.addOption("rename", "OLD=NEW", "rename a class");
    parser.addOption("merge", "NAME", "merge this class into the one --into names: its labels move there");
    parser.addOption("into", "NAME", "the class that --merge merges into");
    parser.addOption("colour", "NAME=#RRGGBB", "set a class's colour");
    parser.addOption("hotkey", "NAME=KEY", "set a class's hotkey (one character; empty for none)");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    if (parser.value("merge").has_value() != parser.value("into").has_value()) {
        std::fprintf(stderr, "labelprop-cli project classes: give --merge and --into together\n");
        return kExitUsage;
    }
    const bool changing = parser.value("add") || parser.value("rename") || parser.value("merge")
        || parser.value("colour") || parser.value("hotkey");
    auto store = openProject(parser, changing ? ProjectStore::Access::ReadWrite : ProjectStore::Access::ReadOnly,
                             "classes");
    if (!store)
        return reportError(store.error());
    // Each change re-reads the classes (a merge renumbers them), so one call can combine changes.
    const auto find = [&](const std::string& name) -> Expected<ProjectClass> {
        auto classes = (*store)->classes();
        if (!classes)
            return std::unexpected(classes.error());
        for (const auto& c : *classes)
            if (c.name == name)
                return c;
        return fail((*store)->path() + ": no class named '" + name + "'");
    };
    const auto done = [](const Expected<ActionInfo>& action) {
        if (!action)
            return reportError(action.error());
        std::printf("%s\n", action->description.c_str());
        return 0;
    };
    if (auto name = parser.value("add")) {
        auto added = (*store)->addClass(*name);
        if (!added)
            return reportError(added.error());
        if (int rc = done(added->action); rc != 0)
            return rc;
    }
    if (auto text = parser.value("rename")) {
        auto a = splitAssignment(*text, "rename");
        if (!a)
            return reportError(a.error());
        auto c = find(a->first);
        if (!c)
            return reportError(c.error());
        if (int rc = done((*store)->renameClass(c->id, a->second)); rc != 0)
            return rc;
    }
    if (auto from = parser.value("merge")) {
        auto c = find(*from);
        if (!c)
            return reportError(c.error());
        auto into = find(*parser.value("into"));
        if (!into)
            return reportError(into.error());
        auto action = (*store)->mergeClass(c->id, into->id);
        if (!action)
            return reportError(action.error());
        std::printf("%s (%lld labels moved)\n", action->description.c_str(), (long long)action->events);
    }
    if (auto text = parser.value("colour")) {
        auto a = splitAssignment(*text, "colour");
        if (!a)
            return reportError(a.error());
        auto c = find(a->first);
        if (!c)
            return reportError(c.error());
        if (c->colour != a->second) // asking for the colour it has is not an error
            if (int rc = done((*store)->setClassColour(c->id, a->second)); rc != 0)
                return rc;
    }
    if (auto text = parser.value("hotkey")) {
        auto a = splitAssignment(*text, "hotkey");
        if (!a)
            return reportError(a.error());
        auto c = find(a->first);
        if (!c)
            return reportError(c.error());
        if (c->hotkey != a->second)
            if (int rc = done((*store)->setClassHotkey(c->id, a->second)); rc != 0)
                return rc;
    }
    auto classes = (*store)->classes();
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

} // namespace labelprop::cli
