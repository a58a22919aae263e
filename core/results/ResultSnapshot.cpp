#include "core/results/ResultSnapshot.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <string_view>

namespace labelprop {
namespace {

constexpr std::string_view kResultColumns[] = {"index",  "given",       "predicted", "confidence",
                                               "margin", "issue_score", "flagged"};
constexpr std::size_t kFixedColumns = std::size(kResultColumns);

std::string where(const std::string& path, int line)
{
    return path + ":" + std::to_string(line) + ": ";
}

std::string expectedHeader()
{
    std::string header;
    for (auto column : kResultColumns)
        header += (header.empty() ? "" : ",") + std::string(column);
    return header;
}

std::string_view trimmed(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::optional<int64_t> parseIndex(std::string_view text)
{
    text = trimmed(text);
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

std::optional<float> parseUnitNumber(std::string_view text)
{
    text = trimmed(text);
    float value = 0.0f;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0.0f
        || value > 1.0f)
        return std::nullopt;
    return value;
}

} // namespace

std::vector<int32_t> ResultSnapshot::order(ResultOrder by, bool flaggedOnly) const
{
    std::vector<int32_t> positions;
    positions.reserve(flaggedOnly ? flaggedCount : entries.size());
    for (std::size_t p = 0; p < entries.size(); ++p)
        if (!flaggedOnly || entries[p].flagged)
            positions.push_back(int32_t(p));
    // Entries are sorted by item index, so a stable sort keeps ties in index order.
    switch (by) {
    case ResultOrder::ByIndex:
        break;
    case ResultOrder::LeastConfidentFirst:
        std::stable_sort(positions.begin(), positions.end(), [this](int32_t a, int32_t b) {
            return entries[size_t(a)].confidence < entries[size_t(b)].confidence;
        });
        break;
    case ResultOrder::MostLikelyWrongFirst:
        std::stable_sort(positions.begin(), positions.end(), [this](int32_t a, int32_t b) {
            return entries[size_t(a)].issueScore > entries[size_t(b)].issueScore;
        });
        break;
    }
    return positions;
}

const std::string& ResultSnapshot::className(int32_t id) const
{
    static const std::string kNone;
    return id >= 0 && id < classes.size() ? classes.name(id) : kNone;
}

Expected<ResultSnapshot> loadResultSnapshot(const std::string& itemsCsvPath, const std::string& resultCsvPath)
{
    ResultSnapshot snapshot;
    snapshot.itemsPath = itemsCsvPath;
    snapshot.resultPath = resultCsvPath;
    auto items = readItemsCsv(itemsCsvPath);
    if (!items)
        return std::unexpected(items.error());
    snapshot.items = std::move(*items);
    const auto itemCount = int64_t(snapshot.items.size());

    auto records = readCsvFile(resultCsvPath);
    if (!records)
        return std::unexpected(records.error());
    if (records->empty())
        return fail(resultCsvPath + ": the file is empty; expected the header line '" + expectedHeader() + "'");
    const CsvRecord& header = records->front();
    const bool headerOk = header.fields.size() >= kFixedColumns
                          && std::equal(std::begin(kResultColumns), std::end(kResultColumns), header.fields.begin());
    if (!headerOk)
        return fail(where(resultCsvPath, header.line) + "the header does not start with '" + expectedHeader()
                    + "'; is this a file written by labelprop-cli propagate or audit?");
    const std::size_t columns = header.fields.size();

    // Class names get ids in order of first appearance here, then the ClassIndex order below.
    std::map<std::string, int32_t, std::less<>> firstIds;
    const auto classId = [&firstIds](const std::string& name) -> int32_t {
        if (name.empty())
            return -1;
        return firstIds.try_emplace(name, int32_t(firstIds.size())).first->second;
    };
    std::vector<int> lineOfItem(size_t(itemCount), 0);
    snapshot.entries.reserve(records->size() - 1);
    for (std::size_t r = 1; r < records->size(); ++r) {
        const CsvRecord& rec = (*records)[r];
        const auto& f = rec.fields;
        if (f.size() != columns)
            return fail(where(resultCsvPath, rec.line) + "expected " + std::to_string(columns)
                        + " fields like the header, found " + std::to_string(f.size()));
        const auto index = parseIndex(f[0]);
        if (!index)
            return fail(where(resultCsvPath, rec.line) + "index '" + f[0] + "' is not an integer");
        if (*index < 0 || *index >= itemCount)
            return fail(where(resultCsvPath, rec.line) + "index " + std::to_string(*index) + " is not an item ("
                        + itemsCsvPath + " lists " + std::to_string(itemCount)
                        + " items); are the two files from the same run?");
        if (int& first = lineOfItem[size_t(*index)]; first != 0)
            return fail(where(resultCsvPath, rec.line) + "index " + std::to_string(*index)
                        + " appears again (first on line " + std::to_string(first) + ")");
        else
            first = rec.line;
        ResultEntry entry;
        entry.item = int32_t(*index);
        entry.given = classId(f[1]);
        entry.predicted = classId(f[2]);
        float* const numbers[] = {&entry.confidence, &entry.margin, &entry.issueScore};
        for (std::size_t k = 0; k < 3; ++k) {
            const auto value = parseUnitNumber(f[3 + k]);
            if (!value)
                return fail(where(resultCsvPath, rec.line) + std::string(kResultColumns[3 + k]) + " '" + f[3 + k]
                            + "' is not a number in [0, 1]");
            *numbers[k] = *value;
        }
        const auto flagged = trimmed(f[6]);
        if (flagged != "0" && flagged != "1")
            return fail(where(resultCsvPath, rec.line) + "flagged '" + f[6] + "' should be 0 or 1");
        entry.flagged = flagged == "1";
        snapshot.flaggedCount += entry.flagged;
        snapshot.entries.push_back(entry);
    }

    std::vector<std::string> names(firstIds.size());
    for (const auto& [name, id] : firstIds)
        names[size_t(id)] = name;
    snapshot.classes = ClassIndex::fromNames(names);
    std::vector<int32_t> remap(names.size());
    for (std::size_t id = 0; id < names.size(); ++id)
        remap[id] = snapshot.classes.id(names[id]);
    for (auto& entry : snapshot.entries) {
        if (entry.given >= 0)
            entry.given = remap[size_t(entry.given)];
        if (entry.predicted >= 0)
            entry.predicted = remap[size_t(entry.predicted)];
    }
    std::sort(snapshot.entries.begin(), snapshot.entries.end(),
              [](const ResultEntry& a, const ResultEntry& b) { return a.item < b.item; });
    return snapshot;
}

Expected<ResultSnapshot> loadResultFolder(const std::string& path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path given(path);
    if (fs::is_directory(given, ec)) {
        const fs::path items = given / "items.csv";
        if (!fs::is_regular_file(items, ec))
            return fail(path + ": no items.csv in this folder (labelprop-cli embed writes it beside the embeddings)");
        // Both present (as after `labelprop-cli demo`): the one written last is the latest run.
        const fs::path result = given / "result.csv";
        const fs::path issues = given / "issues.csv";
        const bool haveResult = fs::is_regular_file(result, ec);
        const bool haveIssues = fs::is_regular_file(issues, ec);
        if (haveResult && haveIssues) {
            const auto resultTime = fs::last_write_time(result, ec);
            const auto issuesTime = fs::last_write_time(issues, ec);
            return loadResultSnapshot(items.string(), (!ec && issuesTime > resultTime ? issues : result).string());
        }
        if (haveResult || haveIssues)
            return loadResultSnapshot(items.string(), (haveResult ? result : issues).string());
        return fail(path
                    + ": no result.csv or issues.csv in this folder (labelprop-cli propagate or audit writes one)");
    }
    if (!fs::exists(given, ec))
        return fail(path + ": no such file or folder");
    const fs::path items = given.parent_path().empty() ? fs::path("items.csv") : given.parent_path() / "items.csv";
    if (!fs::is_regular_file(items, ec))
        return fail(path
                    + ": no items.csv beside this result table (labelprop-cli embed writes it beside the embeddings)");
    return loadResultSnapshot(items.string(), path);
}

Expected<void> checkSourceMatches(const ResultSnapshot& snapshot, const ImageSource& source)
{
    const std::string advice = "; open the source that labelprop-cli embed read for " + snapshot.itemsPath
                               + " (this one is " + source.describe() + ")";
    if (source.size() != snapshot.items.size())
        return fail("the image source has " + std::to_string(source.size()) + " items, but " + snapshot.itemsPath
                    + " lists " + std::to_string(snapshot.items.size()) + advice);
    for (std::size_t i = 0; i < snapshot.items.size(); ++i)
        if (source.item(i).path != snapshot.items[i].path)
            return fail("item " + std::to_string(i) + " of the image source is '" + source.item(i).path + "', but "
                        + snapshot.itemsPath + " says '" + snapshot.items[i].path + "'" + advice);
    return {};
}

} // namespace labelprop
