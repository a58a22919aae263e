#pragma once
// What the `project` subcommands share: opening the store with a clear holder name, finding items
// by path or index, classes by name, and the engine settings merged from the options and the
// project's saved settings.

#include "ArgumentParser.h"
#include "CommandSupport.h"

#include "core/project/ProjectStore.h"

#include <memory>
#include <string>
#include <vector>

namespace labelprop::cli {

// Opens the project named by the first positional argument.
[[nodiscard]] Expected<std::unique_ptr<ProjectStore>> openProject(const ArgumentParser& parser,
                                                                  ProjectStore::Access access,
                                                                  const std::string& subcommand);

// Resolves "PATH_OR_INDEX": an item's stored path, or else a 0-based index.
[[nodiscard]] Expected<std::int64_t> resolveItem(const ProjectStore& store, const std::string& text);

// The class id of `name`; with `allowNew`, a new class is added, otherwise the error lists the
// project's classes.
[[nodiscard]] Expected<int> resolveClass(ProjectStore& store, const std::string& name, bool allowNew);

// --k, --temperature, --knn, --threads without defaults: a missing option takes the project's
// saved setting, a given one replaces it (and is saved by the caller; core's checkEngineSettings
// checks the result). Returns --threads (0 = all cores) and sets OpenBLAS's thread count.
void addProjectGraphOptions(ArgumentParser& parser);
[[nodiscard]] Expected<int> mergeGraphSettings(const ArgumentParser& parser, ProjectSettings& settings);

} // namespace labelprop::cli
