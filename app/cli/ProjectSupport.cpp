#include "ProjectSupport.h"

#include "core/base/Parallel.h"

#include <cblas.h>

#include <charconv>
#include <optional>

namespace labelprop::cli {

Expected<std::unique_ptr<ProjectStore>> openProject(const ArgumentParser& parser, ProjectStore::Access access,
                                                    const std::string& subcommand)
{
    const auto path = parser.positional(0);
    if (!path || path->empty())
        return fail("labelprop-cli project " + subcommand + ": the project file is required (PROJECT.labelprop)");
    return ProjectStore::open(*path, access, "labelprop-cli project " + subcommand);
}

namespace {

namespace fs = std::filesystem;

// The item whose file `text` names (absolute, or relative to `base`), or an error that says where
// the file is and where the project's root is.
Expected<std::int64_t> resolveItemFile(const ProjectStore& store, const std::string& text, const fs::path& base)
{
    auto info = store.sourceInfo();
    if (!info)
        return std::unexpected(info.error());
    const std::string asStored = store.path() + ": no item with the path '" + text
        + "' (paths are relative to the project's root, as 'project export' lists them; or give a 0-based index)";
    if (info->kind == "idx" || text.empty()) // IDX items ('file#i') are images inside a file, not files
        return fail(asStored);
    std::error_code ec;
    const fs::path from = base.empty() ? fs::current_path(ec) : fs::absolute(base, ec);
    if (ec)
        return fail(asStored);
    const fs::path file = (fs::path(text).is_absolute() ? fs::path(text) : from / text).lexically_normal();
    const fs::path root = fs::path(info->root).lexically_normal();
    std::optional<fs::path> underRoot; // the file's path relative to the root, when it is under it
    for (const bool resolveLinks : {false, true}) {
        fs::path f = file, r = root;
        if (resolveLinks) {
            // The file's own name is kept: a link to an image is an item of its own.
            f = fs::weakly_canonical(file.parent_path(), ec) / file.filename();
            r = fs::weakly_canonical(root, ec);
            if (ec || (f == file && r == root))
                break;
        }
        // A CSV source may list absolute paths, stored as they are.
        for (const fs::path& candidate : {f, f.lexically_relative(r)}) {
            if (candidate.empty() || candidate == "." || *candidate.begin() == "..")
                continue;
            if (candidate.is_relative() && !underRoot)
                underRoot = candidate;
            auto found = store.findItem(candidate.generic_string());
            if (!found)
                return std::unexpected(found.error());
            if (*found)
                return (*found)->id;
        }
    }
    if (underRoot)
        return fail(store.path() + ": no item with the path '" + text + "': the file is '"
                    + underRoot->generic_string() + "' under the project's root " + root.string()
                    + ", and the project has no item there; if the file is new, run 'labelprop-cli project import "
                    + store.path() + "' to add it");
    const bool rootGone = !fs::exists(root, ec);
    return fail(store.path() + ": no item with the path '" + text + "': the file " + file.string()
                + " is outside the project's root " + root.string()
                + "; give a file under the root (absolute, or relative to the current folder), its path relative to "
                  "the root (as 'project export' lists them) or its 0-based index"
                + (rootGone ? "; the root is not there any more: if the data set moved, run 'labelprop-cli project "
                              "relink " + store.path() + " NEW_FOLDER'"
                            : std::string()));
}

} // namespace

Expected<std::int64_t> resolveItem(const ProjectStore& store, const std::string& text,
                                   const std::filesystem::path& base)
{
    auto byPath = store.findItem(text);
    if (!byPath)
        return std::unexpected(byPath.error());
    if (*byPath)
        return (*byPath)->id;
    std::int64_t index = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
    auto count = store.itemCount();
    if (!count)
        return std::unexpected(count.error());
    if (ec == std::errc() && end == text.data() + text.size()) {
        if (index < 0 || index >= *count)
            return fail(store.path() + ": item index " + text + " is out of range (the project has "
                        + std::to_string(*count) + " items, 0.." + std::to_string(*count - 1) + ")");
        return index + 1;
    }
    return resolveItemFile(store, text, base);
}

Expected<int> resolveClass(ProjectStore& store, const std::string& name, bool allowNew)
{
    auto classes = store.classes();
    if (!classes)
        return std::unexpected(classes.error());
    for (const auto& c : *classes)
        if (c.name == name)
            return c.id;
    if (!allowNew) {
        std::string known;
        for (const auto& c : *classes)
            known += (known.empty() ? "" : ", ") + c.name;
        return fail(store.path() + ": no class named '" + name + "' ("
                    + (known.empty() ? std::string("the project has no classes yet") : "classes: " + known)
                    + "); add it with --add-class");
    }
    return store.ensureClass(name);
}

void addProjectGraphOptions(ArgumentParser& parser)
{
    parser.addOption("k", "K", "neighbours per item in the kNN graph (default: the project's setting, first 10)");
    parser.addOption("temperature", "T|auto", "edge weights exp((s-1)/T); auto = median of 1-s over the kNN edges");
    parser.addOption("knn", "exact|approximate", "kNN search (default: the project's setting, first exact)");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
}

Expected<int> mergeGraphSettings(const ArgumentParser& parser, ProjectSettings& settings)
{
    if (parser.value("k")) {
        auto k = parser.integer("k", 1, 10000);
        if (!k)
            return std::unexpected(k.error());
        settings.k = int(*k);
    }
    if (auto t = parser.value("temperature")) {
        if (*t != "auto") {
            auto number = parser.number("temperature", 0.0, 100.0);
            if (!number)
                return std::unexpected(number.error());
        }
        settings.temperature = *t;
    }
    if (auto knn = parser.value("knn")) {
        if (*knn != "exact" && *knn != "approximate")
            return fail("labelprop-cli: --knn must be exact or approximate (got '" + *knn + "')");
        settings.knn = *knn;
    }
    auto threads = parser.integer("threads", 0, 1024);
    if (!threads)
        return std::unexpected(threads.error());
    openblas_set_num_threads(resolveThreadCount(int(*threads)));
    return int(*threads);
}

} // namespace labelprop::cli
