#include "ArgumentParser.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace labelprop::cli {

ArgumentParser::ArgumentParser(std::string command, std::string summary)
    : m_command(std::move(command)), m_summary(std::move(summary))
{
}

void ArgumentParser::addOption(std::string name, std::string valueName, std::string help,
                               std::optional<std::string> defaultValue, char shortName)
{
    m_options.push_back({std::move(name), std::move(valueName), std::move(help), std::move(defaultValue), shortName, false});
}

void ArgumentParser::addFlag(std::string name, std::string help)
{
    m_options.push_back({std::move(name), {}, std::move(help), {}, 0, true});
}

void ArgumentParser::addPositional(std::string name, std::string help, bool required)
{
    m_positionals.push_back({std::move(name), std::move(help), required});
}

const ArgumentParser::Option* ArgumentParser::find(const std::string& name) const
{
    for (const auto& o : m_options)
        if (o.name == name || (name.size() == 1 && o.shortName == name[0]))
            return &o;
    return nullptr;
}

Expected<void> ArgumentParser::parse(const std::vector<std::string>& args)
{
    const std::string prefix; // the caller prints "labelprop-cli: error: " before the message
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            m_help = true;
            return {};
        }
        if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && (std::isdigit(arg[1]) || arg[1] == '.'))) {
            std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
            std::optional<std::string> inlineValue;
            if (const auto eq = name.find('='); eq != std::string::npos) {
                inlineValue = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            const Option* option = find(name);
            if (!option)
                return fail(prefix + "unknown option '" + arg + "'; see labelprop-cli " + m_command + " --help");
            if (option->isFlag) {
                if (inlineValue)
                    return fail(prefix + "--" + option->name + " takes no value");
                m_values[option->name] = "1";
                continue;
            }
            if (inlineValue) {
                m_values[option->name] = *inlineValue;
            } else if (i + 1 < args.size()) {
                m_values[option->name] = args[++i];
            } else {
                return fail(prefix + "--" + option->name + " needs a value (" + option->valueName + ")");
            }
            continue;
        }
        if (m_positionalValues.size() >= m_positionals.size())
            return fail(prefix + "unexpected argument '" + arg + "'; see labelprop-cli " + m_command + " --help");
        m_positionalValues.push_back(arg);
    }
    for (size_t p = m_positionalValues.size(); p < m_positionals.size(); ++p)
        if (m_positionals[p].required)
            return fail(prefix + "missing " + m_positionals[p].name + "; see labelprop-cli " + m_command + " --help");
    return {};
}

std::string ArgumentParser::usage() const
{
    std::ostringstream out;
    out << "usage: labelprop-cli " << m_command;
    for (const auto& p : m_positionals)
        out << (p.required ? " " : " [") << p.name << (p.required ? "" : "]");
    out << " [options]\n\n" << m_summary << "\n";
    if (!m_positionals.empty()) {
        out << "\narguments:\n";
        for (const auto& p : m_positionals)
            out << "  " << p.name << "\n      " << p.help << "\n";
    }
    out << "\noptions:\n";
    for (const auto& o : m_options) {
        out << "  ";
        if (o.shortName)
            out << "-" << o.shortName << ", ";
        out << "--" << o.name;
        if (!o.isFlag)
            out << " " << o.valueName;
        out << "\n      " << o.help;
        if (o.defaultValue)
            out << " (default: " << *o.defaultValue << ")";
        out << "\n";
    }
    out << "  -h, --help\n      show this help\n";
    return out.str();
}

std::optional<std::string> ArgumentParser::value(const std::string& name) const
{
    if (const auto it = m_values.find(name); it != m_values.end())
        return it->second;
    if (const Option* o = find(name))
        return o->defaultValue;
    return std::nullopt;
}

bool ArgumentParser::flag(const std::string& name) const
{
    return m_values.contains(name);
}

std::optional<std::string> ArgumentParser::positional(size_t index) const
{
    if (index < m_positionalValues.size())
        return m_positionalValues[index];
    return std::nullopt;
}

Expected<std::string> ArgumentParser::required(const std::string& name) const
{
    if (auto v = value(name); v && !v->empty())
        return *v;
    return fail("--" + name + " is required; see labelprop-cli " + m_command + " --help");
}

Expected<long long> ArgumentParser::integer(const std::string& name, long long min, long long max) const
{
    auto text = required(name);
    if (!text)
        return std::unexpected(text.error());
    long long v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max)
        return fail("--" + name + " must be an integer from " + std::to_string(min)
                    + " to " + std::to_string(max) + " (got '" + *text + "')");
    return v;
}

Expected<double> ArgumentParser::number(const std::string& name, double minExclusive, double maxInclusive) const
{
    auto text = required(name);
    if (!text)
        return std::unexpected(text.error());
    double v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size() || !std::isfinite(v) || v <= minExclusive
        || v > maxInclusive) {
        std::ostringstream range;
        range << "a number above " << minExclusive << " and at most " << maxInclusive;
        return fail("--" + name + " must be " + range.str() + " (got '" + *text + "')");
    }
    return v;
}

} // namespace labelprop::cli
