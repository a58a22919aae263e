#pragma once
// Parses one subcommand's arguments: `--name value`, `--name=value`, `-o value`, flags and
// positionals. Every error names the option and says what is expected; --help prints usage.

#include "core/base/Error.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace labelprop::cli {

class ArgumentParser final {
public:
    ArgumentParser(std::string command, std::string summary);

    // `name` without dashes ("k", "output"); `shortName` like 'o' or 0.
    void addOption(std::string name, std::string valueName, std::string help, std::optional<std::string> defaultValue = {},
                   char shortName = 0);
    void addFlag(std::string name, std::string help);
    void addPositional(std::string name, std::string help, bool required = true);

    [[nodiscard]] Expected<void> parse(const std::vector<std::string>& args);
    [[nodiscard]] bool helpRequested() const { return m_help; }
    [[nodiscard]] std::string usage() const;

    [[nodiscard]] std::optional<std::string> value(const std::string& name) const;
    [[nodiscard]] bool flag(const std::string& name) const;
    [[nodiscard]] std::optional<std::string> positional(size_t index) const;
    // The value of a required option, or an error "labelprop-cli X: --name is required".
    [[nodiscard]] Expected<std::string> required(const std::string& name) const;
    [[nodiscard]] Expected<long long> integer(const std::string& name, long long min, long long max) const;
    [[nodiscard]] Expected<double> number(const std::string& name, double minExclusive, double maxInclusive) const;

private:
    struct Option {
        std::string name, valueName, help;
        std::optional<std::string> defaultValue;
        char shortName = 0;
        bool isFlag = false;
    };
    struct Positional {
        std::string name, help;
        bool required = true;
    };
    const Option* find(const std::string& name) const;

    std::string m_command, m_summary;
    std::vector<Option> m_options;
    std::vector<Positional> m_positionals;
    std::map<std::string, std::string> m_values;
    std::vector<std::string> m_positionalValues;
    bool m_help = false;
};

} // namespace labelprop::cli
