#pragma once
// The `project` subcommands, one function each; ProjectCommand.cpp dispatches to them.

#include <string>
#include <vector>

namespace labelprop::cli {

int runProjectLabel(const std::vector<std::string>& args);
int runProjectUndoRedo(const std::vector<std::string>& args, bool undo);
int runProjectReview(const std::vector<std::string>& args);
int runProjectClasses(const std::vector<std::string>& args);
int runProjectStatus(const std::vector<std::string>& args);
int runProjectHistory(const std::vector<std::string>& args);
int runProjectPropagate(const std::vector<std::string>& args);
int runProjectAudit(const std::vector<std::string>& args);
int runProjectSuggest(const std::vector<std::string>& args);
int runProjectExport(const std::vector<std::string>& args);

} // namespace labelprop::cli
