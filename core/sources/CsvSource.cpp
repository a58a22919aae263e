#include "core/sources/CsvSource.h"

#include "core/formats/Csv.h"
#include "core/sources/FileListSource.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace labelprop {

Expected<std::unique_ptr<ImageSource>> openCsvSource(const std::string& path)
{
    auto records = readCsvFile(path);
    if (!records)
        return std::unexpected(records.error());
    if (records->empty())
        return fail(path + ": the file is empty; expected the header line 'path,label' (or 'path') and "
                           "one row per image");
    const CsvRecord& header = records->front();
    const bool withLabels = header.fields == std::vector<std::string>{"path", "label"};
    if (!withLabels && header.fields != std::vector<std::string>{"path"}) {
        std::string found;
        for (const auto& f : header.fields)
            found += (found.empty() ? "" : ",") + f;
        return fail(path + ":" + std::to_string(header.line) + ": the header is '" + found
                    + "'; expected 'path,label' or 'path'");
    }
    const std::size_t columns = withLabels ? 2 : 1;
    std::vector<Item> items;
    items.reserve(records->size() - 1);
    for (std::size_t r = 1; r < records->size(); ++r) {
        const CsvRecord& rec = (*records)[r];
        const std::string at = path + ":" + std::to_string(rec.line) + ": ";
        if (rec.fields.size() != columns)
            return fail(at + "expected " + std::to_string(columns) + " field" + (columns == 1 ? "" : "s")
                        + ", found " + std::to_string(rec.fields.size())
                        + "; put paths or labels that contain commas in quotes");
        if (rec.fields[0].empty())
            return fail(at + "empty path");
        items.push_back(Item{rec.fields[0], withLabels ? rec.fields[1] : std::string()});
    }
    if (items.empty())
        return fail(path + ": no images listed; add one row per image after the header");
    fs::path root = fs::path(path).parent_path();
    if (root.empty())
        root = ".";
    return std::make_unique<sources::FileListSource>(SourceKind::Csv, std::move(root), std::move(items),
                                                     std::vector<std::string>{});
}

} // namespace labelprop
