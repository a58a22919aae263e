#pragma once
// The project subcommands that run the engine (ProjectEngineCommands.cpp).

#include <string>
#include <vector>

namespace labelprop::cli {

int runProjectPropagate(const std::vector<std::string>& args);
int runProjectAudit(const std::vector<std::string>& args);
int runProjectSuggest(const std::vector<std::string>& args);
int runProjectExport(const std::vector<std::string>& args);

} // namespace labelprop::cli
