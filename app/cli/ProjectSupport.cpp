#include "ProjectSupport.h"

#include "core/base/Parallel.h"

#include <cblas.h>

#include <charconv>

namespace labelprop::cli {

Expected<std::unique_ptr<ProjectStore>> openProject(const ArgumentParser& parser, ProjectStore::Access access,
                                                    const std::string& subcommand)
{
    const auto path = parser.positional(0);
    if (!path || path->empty())
        return fail("labelprop-cli project " + subcommand + ": the project file is required (PROJECT.labelprop)");
    return ProjectStore::open(*path, access, "labelprop-cli project " + subcommand);
}

Expected<std::int64_t> resolveItem(const ProjectStore& store, const std::string& text)
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
    return fail(store.path() + ": no item with the path '" + text
                + "' (paths are relative to the project's root, as 'project export' lists them; or give a 0-based index)");
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
