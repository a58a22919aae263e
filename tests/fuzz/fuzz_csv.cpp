// libFuzzer target: the CSV parser and the tables built on it (labels, items, a CSV image source's list).
// Oracle: every record that parses is written back with csvLine() and must parse to the same
// fields (the writer and the reader agree on quoting).

#include "core/formats/Csv.h"
#include "core/sources/CsvSource.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace labelprop;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto records = parseCsv(text, "fuzz.csv");
    if (records) {
        std::string written;
        std::vector<std::vector<std::string>> kept;
        for (const auto& r : *records) {
            if (r.fields.size() == 1 && r.fields[0].empty())
                continue; // a lone empty field is written as a blank line, which the reader skips
            if (kept.empty() && !r.fields.empty() && r.fields[0].starts_with("\xEF\xBB\xBF"))
                continue; // a second byte-order mark would be stripped on re-reading
            written += csvLine(r.fields);
            kept.push_back(r.fields);
        }
        const auto again = parseCsv(written, "rewritten.csv");
        if (!again || again->size() != kept.size())
            std::abort();
        for (std::size_t i = 0; i < kept.size(); ++i)
            if ((*again)[i].fields != kept[i])
                std::abort();
        // The header names the columns; every listed item must have come from a non-empty path field.
        if (const auto list = csvSourceItems(*records, "list.csv"))
            for (const auto& item : list->items)
                if (item.path.empty())
                    std::abort();
    }
    (void)parseLabelsCsv(text, "labels.csv", 1000);
    (void)parseItemsCsv(text, "items.csv");
    return 0;
}
