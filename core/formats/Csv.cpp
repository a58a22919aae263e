#include "core/formats/Csv.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <unordered_map>

namespace labelprop {

namespace {

std::string joinForMessage(const std::vector<std::string>& fields)
{
    std::string s;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i)
            s += ',';
        s += fields[i];
    }
    if (s.size() > 80)
        s = s.substr(0, 77) + "...";
    return s;
}

std::string_view trimAsciiSpace(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::optional<std::int64_t> parseInt64(std::string_view s)
{
    std::int64_t v = 0;
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (s.empty())
        return std::nullopt;
    const auto [ptr, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || ptr != last)
        return std::nullopt;
    return v;
}

std::string where(const std::string& path, int line)
{
    return path + ":" + std::to_string(line) + ": ";
}

} // namespace

bool isValidUtf8(std::string_view text)
{
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int len;
        std::uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p < len)
            return false;
        for (int k = 1; k < len; ++k) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
            return false; // overlong
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += len;
    }
    return true;
}

Expected<std::vector<CsvRecord>> parseCsv(std::string_view text, const std::string& source)
{
    std::vector<CsvRecord> records;
    if (text.starts_with("\xEF\xBB\xBF"))
        text.remove_prefix(3);
    std::size_t pos = 0;
    int line = 1;
    const std::size_t n = text.size();
    while (pos < n) {
        CsvRecord rec;
        rec.line = line;
        bool anyQuoted = false;
        for (;;) { // one field per iteration
            std::string field;
            if (pos < n && text[pos] == '"') {
                anyQuoted = true;
                const int quoteLine = line;
                ++pos;
                for (;;) {
                    if (pos >= n)
                        return fail(where(source, quoteLine) + "a quoted field is never closed; add the "
                                    "closing '\"' (a quote inside a quoted field is written \"\")");
                    const char c = text[pos];
                    if (c == '"') {
                        if (pos + 1 < n && text[pos + 1] == '"') {
                            field += '"';
                            pos += 2;
                            continue;
                        }
                        ++pos;
                        break;
                    }
                    if (c == '\n')
                        ++line;
                    field += c;
                    ++pos;
                }
                if (pos < n && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
                    return fail(where(source, line) + "unexpected text after a closing quote; inside a "
                                "quoted field write a quote as \"\"");
            } else {
                const std::size_t start = pos;
                while (pos < n && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
                    if (text[pos] == '"')
                        return fail(where(source, line) + "a quote inside an unquoted field; put the whole "
                                    "field in quotes and write the quote as \"\"");
                    ++pos;
                }
                field.assign(text.substr(start, pos - start));
            }
            rec.fields.push_back(std::move(field));
            if (pos < n && text[pos] == ',') {
                ++pos;
                continue;
            }
            // End of record: CRLF, LF, CR or end of text.
            if (pos < n && text[pos] == '\r')
                ++pos;
            if (pos < n && text[pos] == '\n')
                ++pos;
            ++line;
            break;
        }
        if (rec.fields.size() == 1 && rec.fields[0].empty() && !anyQuoted)
            continue; // blank line
        for (const auto& f : rec.fields) {
            if (!isValidUtf8(f))
                return fail(where(source, rec.line) + "text is not valid UTF-8; save the file as UTF-8");
        }
        records.push_back(std::move(rec));
    }
    return records;
}

namespace {

// The whole file as bytes. Only regular files are opened: a FIFO would block the read.
Expected<std::string> readTextFile(const std::string& path)
{
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (std::filesystem::is_directory(st))
        return fail(path + ": is a folder, not a CSV file; pass the file itself");
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
        return fail(path + ": not a regular file (a FIFO, socket or device); pass a CSV file");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return fail(path + ": cannot open (" + std::system_category().message(err) + "); check the path");
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        return fail(path + ": read error; the file is unreadable");
    return std::move(ss).str();
}

} // namespace

Expected<std::vector<CsvRecord>> readCsvFile(const std::string& path)
{
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parseCsv(*text, path);
}

std::string csvField(std::string_view field)
{
    const bool needsQuotes = field.find_first_of(",\"\r\n") != std::string_view::npos
        || (!field.empty() && (field.front() == ' ' || field.back() == ' '));
    if (!needsQuotes)
        return std::string(field);
    std::string s = "\"";
    for (const char c : field) {
        if (c == '"')
            s += '"';
        s += c;
    }
    s += '"';
    return s;
}

std::string csvLine(std::span<const std::string> fields)
{
    std::string s;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i)
            s += ',';
        s += csvField(fields[i]);
    }
    s += '\n';
    return s;
}

std::string csvLine(std::initializer_list<std::string_view> fields)
{
    std::string s;
    bool first = true;
    for (const auto f : fields) {
        if (!first)
            s += ',';
        first = false;
        s += csvField(f);
    }
    s += '\n';
    return s;
}

Expected<std::vector<LabelEntry>> readLabelsCsv(const std::string& path, std::int64_t itemCount)
{
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parseLabelsCsv(*text, path, itemCount);
}

Expected<std::vector<LabelEntry>> parseLabelsCsv(std::string_view text, const std::string& path, std::int64_t itemCount)
{
    auto records = parseCsv(text, path);
    if (!records)
        return std::unexpected(records.error());
    if (records->empty())
        return fail(path + ": no labels: the file is empty; write the header line 'index,label' and "
                           "then one row per labeled item");
    const CsvRecord& header = records->front();
    if (header.fields != std::vector<std::string>{"index", "label"})
        return fail(where(path, header.line) + "the header is '" + joinForMessage(header.fields)
                    + "'; expected exactly 'index,label'");
    if (records->size() == 1)
        return fail(path + ": no labels: the file has only the header line; add one 'index,label' row "
                           "per labeled item");

    std::vector<LabelEntry> entries;
    entries.reserve(records->size() - 1);
    std::unordered_map<std::int64_t, int> firstLine;
    for (std::size_t r = 1; r < records->size(); ++r) {
        const CsvRecord& rec = (*records)[r];
        if (rec.fields.size() != 2)
            return fail(where(path, rec.line) + "expected 2 fields 'index,label', found "
                        + std::to_string(rec.fields.size())
                        + (rec.fields.size() > 2 ? "; put labels that contain commas in quotes" : ""));
        const auto index = parseInt64(trimAsciiSpace(rec.fields[0]));
        if (!index)
            return fail(where(path, rec.line) + "index '" + rec.fields[0] + "' is not an integer");
        if (*index < 0 || *index >= itemCount)
            return fail(where(path, rec.line) + "index " + std::to_string(*index) + " is out of range: there are "
                        + std::to_string(itemCount) + " items"
                        + (itemCount > 0 ? ", so valid indices are 0 to " + std::to_string(itemCount - 1) : ""));
        if (rec.fields[1].empty())
            return fail(where(path, rec.line) + "empty label for index " + std::to_string(*index)
                        + "; delete the row to leave the item unlabeled");
        const auto [it, inserted] = firstLine.emplace(*index, rec.line);
        if (!inserted)
            return fail(where(path, rec.line) + "index " + std::to_string(*index) + " appears again (first on line "
                        + std::to_string(it->second) + "); keep one label per item");
        entries.push_back(LabelEntry{*index, rec.fields[1], rec.line});
    }
    return entries;
}

ClassIndex::ClassIndex(std::vector<std::string> orderedUniqueNames)
    : m_names(std::move(orderedUniqueNames))
{
    for (int i = 0; i < int(m_names.size()); ++i)
        m_ids.emplace(m_names[std::size_t(i)], i);
}

ClassIndex ClassIndex::fromNames(std::vector<std::string> names)
{
    std::erase(names, std::string());
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<std::int64_t> values;
    values.reserve(names.size());
    bool allIntegers = !names.empty();
    for (const auto& n : names) {
        const auto v = parseInt64(n);
        if (!v) {
            allIntegers = false;
            break;
        }
        values.push_back(*v);
    }
    if (allIntegers) {
        std::vector<std::size_t> order(names.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            order[i] = i;
        // Names are already byte-sorted, so a stable sort breaks ties ("1" vs "01") by bytes.
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
        std::vector<std::string> sorted;
        sorted.reserve(names.size());
        for (const auto i : order)
            sorted.push_back(std::move(names[i]));
        names = std::move(sorted);
    }
    return ClassIndex(std::move(names));
}

ClassIndex ClassIndex::fromOrderedNames(std::vector<std::string> names)
{
    std::vector<std::string> unique;
    std::map<std::string, int, std::less<>> seen;
    for (auto& n : names) {
        if (n.empty() || !seen.emplace(n, 0).second)
            continue;
        unique.push_back(std::move(n));
    }
    return ClassIndex(std::move(unique));
}

int ClassIndex::id(std::string_view name) const
{
    const auto it = m_ids.find(name);
    return it == m_ids.end() ? -1 : it->second;
}

const std::string& ClassIndex::name(int id) const
{
    if (id < 0 || id >= size())
        throw std::out_of_range("ClassIndex::name: id " + std::to_string(id) + " is not in [0, "
                                + std::to_string(size()) + ")");
    return m_names[std::size_t(id)];
}

Expected<void> writeItemsCsv(const std::string& path, const std::vector<Item>& items)
{
    std::string text = "index,path,label\n";
    text.reserve(items.size() * 48 + text.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        text += std::to_string(i);
        text += ',';
        text += csvField(items[i].path);
        text += ',';
        text += csvField(items[i].label);
        text += '\n';
    }
    return writeFileAtomically(path, text);
}

Expected<std::vector<Item>> readItemsCsv(const std::string& path)
{
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parseItemsCsv(*text, path);
}

Expected<std::vector<Item>> parseItemsCsv(std::string_view text, const std::string& path)
{
    auto records = parseCsv(text, path);
    if (!records)
        return std::unexpected(records.error());
    if (records->empty())
        return fail(path + ": the file is empty; expected the header line 'index,path,label'");
    const CsvRecord& header = records->front();
    if (header.fields != std::vector<std::string>{"index", "path", "label"})
        return fail(where(path, header.line) + "the header is '" + joinForMessage(header.fields)
                    + "'; expected exactly 'index,path,label'");
    std::vector<Item> items;
    items.reserve(records->size() - 1);
    for (std::size_t r = 1; r < records->size(); ++r) {
        const CsvRecord& rec = (*records)[r];
        if (rec.fields.size() != 3)
            return fail(where(path, rec.line) + "expected 3 fields 'index,path,label', found "
                        + std::to_string(rec.fields.size()));
        const auto expected = std::int64_t(items.size());
        const auto index = parseInt64(trimAsciiSpace(rec.fields[0]));
        if (!index || *index != expected)
            return fail(where(path, rec.line) + "index '" + rec.fields[0] + "' should be "
                        + std::to_string(expected) + " (rows are numbered 0, 1, 2, ... in order)");
        if (rec.fields[1].empty())
            return fail(where(path, rec.line) + "empty path for item " + std::to_string(expected));
        items.push_back(Item{rec.fields[1], rec.fields[2]});
    }
    return items;
}

} // namespace labelprop
