#pragma once
// A CSV list of images. The first line is a header naming the columns: 'path' (required) and
// 'label' (optional), in any order, compared without case and surrounding spaces. Other columns
// (e.g. source,confidence,flagged in `labelprop-cli project export --format csv`) are ignored,
// with one warning naming them. Every row has as many fields as the header (RFC 4180 quoting:
// a path with a comma is written in quotes). Relative paths are relative to the CSV's folder; an
// empty label means unlabeled.
//
// Thread-safety: reentrant; the source returned is immutable.

#include "core/base/Item.h"
#include "core/formats/Csv.h"
#include "core/sources/ImageSource.h"

#include <memory>
#include <string>
#include <vector>

namespace labelprop {

// What a CSV source lists, in file order.
struct CsvSourceList {
    std::vector<Item> items;           // path as written, label ("" when the file has no label column)
    std::vector<std::string> warnings; // e.g. the ignored columns
};

// The items of a CSV source from its parsed records (records[0] is the header). `path` names the
// file in messages. Errors name the file and line: no header, a header without a 'path' column
// (or naming a column twice), a row with the wrong number of fields, an empty path, no rows.
[[nodiscard]] Expected<CsvSourceList> csvSourceItems(const std::vector<CsvRecord>& records, const std::string& path);

// Reads `path` and opens it as a Csv source (items decode from the CSV's folder).
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openCsvSource(const std::string& path);

} // namespace labelprop
