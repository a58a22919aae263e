#pragma once
// CSV input/output (RFC 4180): the labels file, the items table, and the helpers behind them.
//
// Reading: quoted fields, "" escapes, quoted line breaks, CRLF or LF line ends and a leading UTF-8
// byte-order mark are accepted; every field must be valid UTF-8. Blank lines are skipped. Errors
// name the file and the 1-based line, e.g. "labels.csv:7: index 3 appears again (first on line 4)".
// Writing: LF line ends, fields quoted only when they need it.
//
// Thread-safety: all free functions are reentrant. ClassIndex is immutable after construction,
// so concurrent const calls are safe.

#include "core/base/AtomicFile.h"
#include "core/base/Error.h"
#include "core/base/Item.h"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

// One CSV record: its fields and the line it starts on (1-based; a quoted field may span lines).
struct CsvRecord {
    std::vector<std::string> fields;
    int line = 0;
};

// Parses CSV text. `source` names the file in error messages.
[[nodiscard]] Expected<std::vector<CsvRecord>> parseCsv(std::string_view text, const std::string& source);
// Reads and parses a CSV file. A folder, a FIFO or another non-regular file is an error naming
// `path` (it is never opened, so a FIFO cannot block the read).
[[nodiscard]] Expected<std::vector<CsvRecord>> readCsvFile(const std::string& path);

// Returns `field` quoted if it contains a comma, a quote, CR, LF or leading/trailing spaces.
[[nodiscard]] std::string csvField(std::string_view field);
// Joins the fields with commas (each through csvField) and appends "\n".
[[nodiscard]] std::string csvLine(std::span<const std::string> fields);
[[nodiscard]] std::string csvLine(std::initializer_list<std::string_view> fields);

// Checks that `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
[[nodiscard]] bool isValidUtf8(std::string_view text);

// ---- labels file -----------------------------------------------------------------------------

// A row of a labels CSV: item index, its label, and the line it was on.
struct LabelEntry {
    std::int64_t index = 0;
    std::string label;
    int line = 0;
};

// Reads a labels CSV: header exactly "index,label", then one row per labeled item with an
// integer index in [0, itemCount) and a non-empty label. A duplicate index, an extra column,
// invalid UTF-8 or a file with no label rows is an error naming the line. Rows come back in file
// order.
[[nodiscard]] Expected<std::vector<LabelEntry>> readLabelsCsv(const std::string& path, std::int64_t itemCount);
// The same from text already in memory; `source` names the file in error messages.
[[nodiscard]] Expected<std::vector<LabelEntry>> parseLabelsCsv(std::string_view text, const std::string& source,
                                                               std::int64_t itemCount);

// ---- classes ---------------------------------------------------------------------------------

// The set of class names and their dense ids 0..size()-1.
class ClassIndex final {
public:
    ClassIndex() = default;

    // Deduplicates `names` (empty strings are dropped: they mean "unlabeled") and orders them
    // deterministically: numerically if every name is a decimal integer ("2" < "10"), else by
    // byte-wise lexicographic order.
    [[nodiscard]] static ClassIndex fromNames(std::vector<std::string> names);
    // Keeps the given order (e.g. from a classes file); later duplicates and empty names are dropped.
    [[nodiscard]] static ClassIndex fromOrderedNames(std::vector<std::string> names);

    // The class id of `name`, or -1 if it is not a class.
    [[nodiscard]] int id(std::string_view name) const;
    // The name of class `id`; throws std::out_of_range if 0 <= id < size() does not hold.
    [[nodiscard]] const std::string& name(int id) const;
    [[nodiscard]] int size() const { return int(m_names.size()); }
    [[nodiscard]] const std::vector<std::string>& names() const { return m_names; }

private:
    explicit ClassIndex(std::vector<std::string> orderedUniqueNames);

    std::vector<std::string> m_names;
    std::map<std::string, int, std::less<>> m_ids;
};

// ---- items table -----------------------------------------------------------------------------

// Writes "index,path,label" then one row per item (index = position), atomically.
[[nodiscard]] Expected<void> writeItemsCsv(const std::string& path, const std::vector<Item>& items);
// Reads a table written by writeItemsCsv(). The header must be "index,path,label", indices must
// run 0, 1, 2, ... in order, and paths must be non-empty; labels may be empty (unlabeled).
[[nodiscard]] Expected<std::vector<Item>> readItemsCsv(const std::string& path);
// The same from text already in memory; `source` names the file in error messages.
[[nodiscard]] Expected<std::vector<Item>> parseItemsCsv(std::string_view text, const std::string& source);

} // namespace labelprop
