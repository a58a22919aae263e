#include "core/results/ResultTable.h"

#include "core/base/AtomicFile.h"

#include <charconv>

namespace labelprop {
namespace {

void appendNumber(std::string& out, float value)
{
    char buffer[32];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, 6);
    out.append(buffer, ec == std::errc() ? end : buffer);
}

} // namespace

Expected<void> writeResultTable(const std::string& path, const PropagationResult& result,
                                const LabelQualityReport& quality, std::span<const int32_t> given,
                                const ClassIndex& classes, const ResultTableOptions& options)
{
    const int c = result.classes;
    std::string out;
    out.reserve(size_t(result.n) * (48 + (options.probabilities ? 10 * c : 0)));
    out += "index,given,predicted,confidence,margin,issue_score,flagged";
    if (options.probabilities)
        for (const auto& name : classes.names())
            out += "," + csvField(name);
    out += "\n";
    const auto className = [&](int32_t id) { return id >= 0 ? csvField(classes.name(id)) : std::string(); };
    const auto writeRow = [&](int64_t i) {
        int32_t predicted = result.predicted[size_t(i)];
        if (options.suggestedAsPredicted && quality.flagged[size_t(i)] && quality.suggested[size_t(i)] >= 0)
            predicted = quality.suggested[size_t(i)];
        out += std::to_string(i);
        out += ',';
        out += className(given[size_t(i)]);
        out += ',';
        out += className(predicted);
        out += ',';
        appendNumber(out, result.confidence[size_t(i)]);
        out += ',';
        appendNumber(out, result.margin[size_t(i)]);
        out += ',';
        appendNumber(out, quality.issueScore[size_t(i)]);
        out += quality.flagged[size_t(i)] ? ",1" : ",0";
        if (options.probabilities)
            for (int q = 0; q < c; ++q) {
                out += ',';
                appendNumber(out, result.probabilitiesOf(i)[q]);
            }
        out += '\n';
    };
    if (options.order.empty())
        for (int64_t i = 0; i < result.n; ++i)
            writeRow(i);
    else
        for (int32_t i : options.order)
            writeRow(i);
    return writeFileAtomically(path, out);
}

} // namespace labelprop
