#pragma once
// What the `project` subcommands share: opening the store with a clear holder name, finding items
// by path or index, classes by name, and the engine settings merged from the options and the
// project's saved settings.

#include "ArgumentParser.h"
#include "CommandSupport.h"

#include "core/project/ProjectStore.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace labelprop::cli {

// Opens the project named by the first positional argument.
[[nodiscard]] Expected<std::unique_ptr<ProjectStore>> openProject(const ArgumentParser& parser,
                                                                  ProjectStore::Access access,
                                                                  const std::string& subcommand);

// Resolves "PATH_OR_INDEX" to an item id. Tried in this order: an item's stored path (relative to
// the project's root, as 'project export' lists them); a 0-based index; a file's path, absolute or
// relative to `base` (empty: the current folder), that leads to an item under the root. A file's
// path is compared lexically normalised first (a symbolic link under the root keeps its own name),
// then with the links in its folder and in the root resolved (a root or a current folder reached
// through a link). The error names the path, the project's root and what to give instead.
[[nodiscard]] Expected<std::int64_t> resolveItem(const ProjectStore& store, const std::string& text,
                                                 const std::filesystem::path& base = {});
// The --item option's help, the same for every subcommand that takes it.
inline constexpr const char* kItemHelp =
    "the item: its path in the project (relative to the root, as 'project export' lists them), the file's path "
    "(absolute or relative to the current folder) or its 0-based index";

// The class id of `name`; with `allowNew`, a new class is added, otherwise the error lists the
// project's classes.
[[nodiscard]] Expected<int> resolveClass(ProjectStore& store, const std::string& name, bool allowNew);

// --k, --temperature, --knn, --threads without defaults: a missing option takes the project's
// saved setting, a given one replaces it (and is saved by the caller; core's checkEngineSettings
// checks the result). Returns --threads (0 = all cores) and sets OpenBLAS's thread count.
void addProjectGraphOptions(ArgumentParser& parser);
[[nodiscard]] Expected<int> mergeGraphSettings(const ArgumentParser& parser, ProjectSettings& settings);

} // namespace labelprop::cli
