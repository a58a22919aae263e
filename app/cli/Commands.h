#pragma once
// One function per subcommand; each takes the arguments after the subcommand name and returns
// the process exit code.

#include <string>
#include <vector>

namespace labelprop::cli {

int runEmbed(const std::vector<std::string>& args);
int runPropagate(const std::vector<std::string>& args);
int runAudit(const std::vector<std::string>& args);
int runClassify(const std::vector<std::string>& args);
int runKnn(const std::vector<std::string>& args);
int runSuggest(const std::vector<std::string>& args);
int runSimulate(const std::vector<std::string>& args);
int runDemo(const std::vector<std::string>& args);
int runProject(const std::vector<std::string>& args);

} // namespace labelprop::cli
