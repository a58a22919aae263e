#include "core/sources/CsvSource.h"

#include "core/sources/FileListSource.h"
#include "core/sources/IdxSource.h"
#include "core/sources/SourceSupport.h"

#include <filesystem>
#include <optional>
#include <system_error>

namespace fs = std::filesystem;

namespace labelprop {

namespace {

constexpr const char* kExpectedHeader =
    "expected a header line naming the columns: 'path' (the image file, relative to the CSV's folder) and "
    "optionally 'label', in any order, e.g. 'path,label'";

// A header name as compared: ASCII case and surrounding spaces do not count ("Path " is 'path').
std::string columnKey(std::string_view name)
{
    const auto b = name.find_first_not_of(' ');
    if (b == std::string_view::npos)
        return {};
    return sources::toLower(name.substr(b, name.find_last_not_of(' ') - b + 1));
}

std::string joined(const std::vector<std::string>& fields)
{
    std::string s;
    for (const auto& f : fields)
        s += (s.empty() ? "" : ",") + f;
    return s;
}

// Where the path and label columns are (0-based), and the names of the columns read past.
struct CsvColumns {
    std::size_t path = 0;
    std::optional<std::size_t> label;
    std::vector<std::string> ignored; // "'source'", or "column 4 (no name)"
};

Expected<CsvColumns> findColumns(const CsvRecord& header, const std::string& path)
{
    const std::string at = path + ":" + std::to_string(header.line) + ": ";
    std::optional<std::size_t> pathColumn, labelColumn;
    CsvColumns columns;
    for (std::size_t c = 0; c < header.fields.size(); ++c) {
        const std::string key = columnKey(header.fields[c]);
        std::optional<std::size_t>* slot = key == "path" ? &pathColumn : key == "label" ? &labelColumn : nullptr;
        if (!slot) {
            columns.ignored.push_back(key.empty() ? "column " + std::to_string(c + 1) + " (no name)"
                                                  : "'" + header.fields[c] + "'");
            continue;
        }
        if (*slot)
            return fail(at + "the header '" + joined(header.fields) + "' names the column '" + key + "' twice (columns "
                        + std::to_string(**slot + 1) + " and " + std::to_string(c + 1) + "); keep one of them");
        *slot = c;
    }
    if (!pathColumn) {
        // A list written without a header starts with an image path: say so.
        const bool looksLikeData = !header.fields.empty() && hasImageExtension(columnKey(header.fields[0]));
        return fail(at + "the header is '" + joined(header.fields) + "', which has no 'path' column; " + kExpectedHeader
                    + (looksLikeData ? "; this line looks like an image row, so add the header line above it" : ""));
    }
    columns.path = *pathColumn;
    columns.label = labelColumn;
    return columns;
}

// Relative paths resolve against the CSV's folder. A list written for another folder (e.g. a
// `project export` CSV saved away from the data) resolves to nothing: probing the first rows says
// so at open, instead of one "file not found" per item later. Returns the warning, or "".
std::string unresolvedPathsWarning(const std::vector<Item>& items, const fs::path& root, const std::string& path)
{
    constexpr std::size_t kProbe = 64; // stat calls at most, whatever the list's length
    std::error_code ec;
    fs::path folder = fs::absolute(root, ec).lexically_normal();
    if (ec)
        folder = root;
    if (!folder.has_filename() && folder.has_relative_path())
        folder = folder.parent_path(); // "/data/" -> "/data"
    std::size_t probed = 0;
    std::string example;
    bool idxItems = true;
    for (const auto& item : items) {
        const fs::path p(item.path);
        if (p.is_absolute())
            continue;
        if (fs::exists(folder / p, ec))
            return {};
        if (example.empty())
            example = (folder / p).string();
        const auto hash = item.path.rfind('#');
        idxItems = idxItems && hash != std::string::npos && isIdxImagesName(item.path.substr(0, hash));
        if (++probed == kProbe)
            break;
    }
    if (probed == 0)
        return {};
    const std::string none = path + ": " + (probed == items.size() ? "none of the " : "none of the first ")
        + std::to_string(probed) + " relative paths exists under " + folder.string() + " (e.g. "
        + sources::printable(example) + ")";
    if (idxItems)
        return none + "; these are IDX images (<images file>#<index>), which a CSV source cannot open: apply the "
                      "labels with 'labelprop-cli project import PROJECT --labels " + path + "' to a project made from "
                      "the IDX files";
    return none + "; relative paths are relative to the CSV's folder (those in a 'project export' CSV to the "
                  "project's source folder): put the CSV in the folder the paths start from, or write absolute paths";
}

} // namespace

Expected<CsvSourceList> csvSourceItems(const std::vector<CsvRecord>& records, const std::string& path)
{
    if (records.empty())
        return fail(path + ": the file is empty; " + kExpectedHeader + ", then one row per image");
    const CsvRecord& header = records.front();
    auto columns = findColumns(header, path);
    if (!columns)
        return std::unexpected(columns.error());
    CsvSourceList list;
    if (!columns->ignored.empty()) {
        std::string names;
        for (const auto& n : columns->ignored)
            names += (names.empty() ? "" : ", ") + n;
        list.warnings.push_back(path + ": ignored " + (columns->ignored.size() == 1 ? "the column " : "the columns ")
                                + names + "; a CSV source reads only 'path' and 'label'");
    }
    const std::size_t width = header.fields.size();
    list.items.reserve(records.size() - 1);
    for (std::size_t r = 1; r < records.size(); ++r) {
        const CsvRecord& rec = records[r];
        const std::string at = path + ":" + std::to_string(rec.line) + ": ";
        if (rec.fields.size() != width)
            return fail(at + "expected " + std::to_string(width) + " field" + (width == 1 ? "" : "s") + ", found "
                        + std::to_string(rec.fields.size()) + " (the header '" + joined(header.fields) + "' has "
                        + std::to_string(width) + "); put paths or labels that contain commas in quotes");
        if (rec.fields[columns->path].empty())
            return fail(at + "empty path");
        list.items.push_back(Item{rec.fields[columns->path], columns->label ? rec.fields[*columns->label] : std::string()});
    }
    if (list.items.empty())
        return fail(path + ": no images listed; add one row per image after the header");
    return list;
}

Expected<std::unique_ptr<ImageSource>> openCsvSource(const std::string& path)
{
    auto records = readCsvFile(path);
    if (!records)
        return std::unexpected(records.error());
    auto list = csvSourceItems(*records, path);
    if (!list)
        return std::unexpected(list.error());
    fs::path root = fs::path(path).parent_path();
    if (root.empty())
        root = ".";
    if (std::string w = unresolvedPathsWarning(list->items, root, path); !w.empty())
        list->warnings.push_back(std::move(w));
    return std::make_unique<sources::FileListSource>(SourceKind::Csv, std::move(root), std::move(list->items),
                                                     std::move(list->warnings));
}

} // namespace labelprop
