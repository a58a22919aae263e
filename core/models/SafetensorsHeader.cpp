#include "core/models/SafetensorsHeader.h"

#include "core/models/ModelError.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace labelprop::models {

namespace {

constexpr const char* kRedownload = "the file is damaged or not a safetensors file: download or export it again";

struct DtypeInfo {
    const char* name;
    SafetensorsDtype dtype;
    std::size_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", SafetensorsDtype::Bool, 1}, {"U8", SafetensorsDtype::U8, 1},     {"I8", SafetensorsDtype::I8, 1},
    {"I16", SafetensorsDtype::I16, 2},   {"I32", SafetensorsDtype::I32, 4},   {"I64", SafetensorsDtype::I64, 8},
    {"F16", SafetensorsDtype::F16, 2},   {"BF16", SafetensorsDtype::BF16, 2}, {"F32", SafetensorsDtype::F32, 4},
    {"F64", SafetensorsDtype::F64, 8},
};

// Types of the format that LibTorch 1.13 has no dtype for.
constexpr const char* kUnsupportedDtypes[] = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};

// A JSON value as the strict reader below builds it. Numbers keep their literal text: the header
// only needs non-negative integers, which are converted (with an overflow check) where used.
struct Json {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    std::string text;                                    // String: the value (UTF-8); Number: the literal
    std::vector<Json> items;                             // Array; Object: the values
    std::vector<std::string> keys;                       // Object: keys[i] names items[i]; unique, in header order
    std::size_t offset = 0;                              // header byte where the value starts
};

const char* typeName(Json::Type t)
{
    switch (t) {
    case Json::Type::Null: return "null";
    case Json::Type::Bool: return "a boolean";
    case Json::Type::Number: return "a number";
    case Json::Type::String: return "a string";
    case Json::Type::Array: return "an array";
    case Json::Type::Object: return "an object";
    }
    return "?";
}

// RFC 8259 JSON, nothing more: no comments, no trailing commas, no NaN, no single quotes, valid
// UTF-8 only, no control characters in strings, duplicate object keys refused. Nesting is capped
// (the header needs 3 levels) so a hostile header cannot exhaust the stack.
class JsonReader {
public:
    JsonReader(std::string_view text, const std::string& path)
        : m_text(text), m_path(path)
    {
    }

    Json parseDocument()
    {
        skipSpace();
        Json v = parseValue(0);
        skipSpace();
        if (m_pos != m_text.size())
            fail(m_pos, "unexpected " + describeHere() + " after the end of the JSON object");
        return v;
    }

private:
    static constexpr int kMaxDepth = 32;

    [[noreturn]] void fail(std::size_t at, const std::string& what) const
    {
        throw ModelError(m_path + ": safetensors header byte " + std::to_string(at) + ": " + what +
                         " (the header is not valid JSON); " + kRedownload);
    }

    std::string describeHere() const
    {
        if (m_pos >= m_text.size())
            return "end of the header";
        const unsigned char c = static_cast<unsigned char>(m_text[m_pos]);
        if (c >= 0x20 && c < 0x7f)
            return std::string("'") + char(c) + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
        return buf;
    }

    void skipSpace()
    {
        while (m_pos < m_text.size() &&
               (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' || m_text[m_pos] == '\n' || m_text[m_pos] == '\r'))
            ++m_pos;
    }

    bool consumeWord(const char* word)
    {
        const std::size_t n = std::strlen(word);
        if (m_text.compare(m_pos, n, word) != 0)
            return false;
        m_pos += n;
        return true;
    }

    Json parseValue(int depth)
    {
        if (depth > kMaxDepth)
            fail(m_pos, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        Json v;
        v.offset = m_pos;
        if (m_pos >= m_text.size())
            fail(m_pos, "expected a value, found the end of the header");
        const char c = m_text[m_pos];
        if (c == '{') {
            v.type = Json::Type::Object;
            parseObject(v, depth);
        } else if (c == '[') {
            v.type = Json::Type::Array;
            parseArray(v, depth);
        } else if (c == '"') {
            v.type = Json::Type::String;
            v.text = parseString();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            v.type = Json::Type::Number;
            v.text = parseNumber();
        } else if (consumeWord("true")) {
            v.type = Json::Type::Bool;
            v.boolean = true;
        } else if (consumeWord("false")) {
            v.type = Json::Type::Bool;
        } else if (!consumeWord("null")) {
            fail(m_pos, "expected a value, found " + describeHere());
        }
        return v;
    }

    // A '{'/'[' list up to `close`: items separated by ',', each read by `item`.
    template <class Item>
    void parseList(char close, const char* what, Item item)
    {
        ++m_pos;  // '{' or '['
        skipSpace();
        if (m_pos < m_text.size() && m_text[m_pos] == close) {
            ++m_pos;
            return;
        }
        for (;;) {
            skipSpace();
            item();
            skipSpace();
            if (m_pos < m_text.size() && m_text[m_pos] == ',') {
                ++m_pos;
                continue;
            }
            if (m_pos < m_text.size() && m_text[m_pos] == close) {
                ++m_pos;
                return;
            }
            fail(m_pos, std::string("expected ',' or '") + close + "' in " + what + ", found " + describeHere());
        }
    }

    void parseObject(Json& v, int depth)
    {
        parseList('}', "an object", [&] {
            if (m_pos >= m_text.size() || m_text[m_pos] != '"')
                fail(m_pos, "expected a quoted key, found " + describeHere());
            const std::size_t keyAt = m_pos;
            std::string key = parseString();
            for (const auto& k : v.keys)
                if (k == key)
                    fail(keyAt, "the key \"" + key + "\" appears twice in one object");
            skipSpace();
            if (m_pos >= m_text.size() || m_text[m_pos] != ':')
                fail(m_pos, "expected ':' after the key \"" + key + "\", found " + describeHere());
            ++m_pos;
            skipSpace();
            Json value = parseValue(depth + 1);
            v.keys.push_back(std::move(key));
            v.items.push_back(std::move(value));
        });
    }

    void parseArray(Json& v, int depth)
    {
        parseList(']', "an array", [&] { v.items.push_back(parseValue(depth + 1)); });
    }

    std::string parseNumber()
    {
        const std::size_t start = m_pos;
        auto digits = [&] {
            const std::size_t from = m_pos;
            while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9')
                ++m_pos;
            return m_pos - from;
        };
        if (m_text[m_pos] == '-')
            ++m_pos;
        if (m_pos < m_text.size() && m_text[m_pos] == '0') {
            ++m_pos;
        } else if (digits() == 0) {
            fail(m_pos, "expected a digit in a number, found " + describeHere());
        }
        if (m_pos < m_text.size() && m_text[m_pos] == '.') {
            ++m_pos;
            if (digits() == 0)
                fail(m_pos, "expected a digit after '.' in a number, found " + describeHere());
        }
        if (m_pos < m_text.size() && (m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
            ++m_pos;
            if (m_pos < m_text.size() && (m_text[m_pos] == '+' || m_text[m_pos] == '-'))
                ++m_pos;
            if (digits() == 0)
                fail(m_pos, "expected a digit in a number's exponent, found " + describeHere());
        }
        return std::string(m_text.substr(start, m_pos - start));
    }

    unsigned hex4()
    {
        if (m_text.size() - m_pos < 4)
            fail(m_pos, "a \\u escape needs 4 hex digits");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = m_text[m_pos++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= unsigned(c - 'A' + 10);
            else
                fail(m_pos - 1, "a \\u escape needs 4 hex digits");
        }
        return v;
    }

    static void appendUtf8(std::string& out, unsigned cp)
    {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xc0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += char(0xe0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
        } else {
            out += char(0xf0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3f));
            out += char(0x80 | ((cp >> 6) & 0x3f));
            out += char(0x80 | (cp & 0x3f));
        }
    }

    // The length of the valid UTF-8 sequence at m_pos (lead byte >= 0x80), or 0 (RFC 3629: no
    // overlong forms, no surrogates, nothing above U+10FFFF).
    std::size_t utf8Length() const
    {
        const auto at = [&](std::size_t k) { return static_cast<unsigned char>(m_text[m_pos + k]); };
        const unsigned char c = at(0);
        std::size_t n = 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0)
                lo = 0xa0;
            if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;
        } else
            return 0;
        if (m_text.size() - m_pos < n)
            return 0;
        if (at(1) < lo || at(1) > hi)
            return 0;
        for (std::size_t k = 2; k < n; ++k)
            if (at(k) < 0x80 || at(k) > 0xbf)
                return 0;
        return n;
    }

    std::string parseString()
    {
        ++m_pos;  // '"'
        std::string out;
        for (;;) {
            if (m_pos >= m_text.size())
                fail(m_pos, "a string is not closed before the end of the header");
            const unsigned char c = static_cast<unsigned char>(m_text[m_pos]);
            if (c == '"') {
                ++m_pos;
                return out;
            }
            if (c < 0x20)
                fail(m_pos, "a control character (" + describeHere() + ") inside a string");
            if (c >= 0x80) {
                const std::size_t n = utf8Length();
                if (n == 0)
                    fail(m_pos, "invalid UTF-8 (" + describeHere() + ") inside a string");
                out.append(m_text.substr(m_pos, n));
                m_pos += n;
                continue;
            }
            if (c != '\\') {
                out += char(c);
                ++m_pos;
                continue;
            }
            const std::size_t escapeAt = m_pos;
            ++m_pos;
            if (m_pos >= m_text.size())
                fail(escapeAt, "a string ends inside an escape");
            const char e = m_text[m_pos++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    fail(escapeAt, "a lone low surrogate in a \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (!consumeWord("\\u"))
                        fail(escapeAt, "a high surrogate \\u escape not followed by a low one");
                    const unsigned lo = hex4();
                    if (lo < 0xdc00 || lo > 0xdfff)
                        fail(escapeAt, "a high surrogate \\u escape not followed by a low one");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                appendUtf8(out, cp);
                break;
            }
            default:
                fail(escapeAt, std::string("an unknown escape '\\") + e + "' in a string");
            }
        }
    }

    std::string_view m_text;
    const std::string& m_path;
    std::size_t m_pos = 0;
};

// Header-level checks, each naming the tensor.
class HeaderChecker {
public:
    explicit HeaderChecker(const std::string& path)
        : m_path(path)
    {
    }

    [[noreturn]] void fail(const std::string& what) const
    {
        throw ModelError(m_path + ": " + what + "; " + kRedownload);
    }

    std::uint64_t unsignedInteger(const Json& v, const std::string& what) const
    {
        const bool digitsOnly = v.type == Json::Type::Number && !v.text.empty() &&
                                std::all_of(v.text.begin(), v.text.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digitsOnly)
            fail(what + " is " + (v.type == Json::Type::Number ? v.text : std::string(typeName(v.type))) +
                 ", not a non-negative integer (header byte " + std::to_string(v.offset) + ")");
        std::uint64_t x = 0;
        for (const char c : v.text) {
            const unsigned d = unsigned(c - '0');
            if (x > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
                fail(what + " " + v.text + " does not fit 64 bits (header byte " + std::to_string(v.offset) + ")");
            x = x * 10 + d;
        }
        return x;
    }

    const Json& member(const Json& object, const char* key, Json::Type type, const std::string& tensor) const
    {
        for (std::size_t k = 0; k < object.keys.size(); ++k)
            if (object.keys[k] == key) {
                const Json& v = object.items[k];
                if (v.type != type)
                    fail("tensor \"" + tensor + "\": \"" + key + "\" is " + typeName(v.type) + ", not " +
                         typeName(type) + " (header byte " + std::to_string(v.offset) + ")");
                return v;
            }
        fail("tensor \"" + tensor + "\" has no \"" + key + "\" (header byte " + std::to_string(object.offset) + ")");
    }

    SafetensorsDtype dtype(const Json& v, const std::string& tensor) const
    {
        for (const auto& d : kDtypes)
            if (v.text == d.name)
                return d.dtype;
        for (const char* name : kUnsupportedDtypes)
            if (v.text == name)
                throw ModelError(m_path + ": tensor \"" + tensor + "\" has dtype " + v.text +
                                 ", which LibTorch 1.13 has no type for; convert the file to F32, F16 or BF16");
        fail("tensor \"" + tensor + "\" has an unknown dtype \"" + v.text + "\" (header byte " +
             std::to_string(v.offset) + ")");
    }

    SafetensorsEntry entry(const std::string& name, const Json& info) const
    {
        if (info.type != Json::Type::Object)
            fail("tensor \"" + name + "\" is described by " + typeName(info.type) + ", not an object (header byte " +
                 std::to_string(info.offset) + ")");
        SafetensorsEntry e;
        e.name = name;
        e.dtype = dtype(member(info, "dtype", Json::Type::String, name), name);
        // The byte count, saturating at 2^64 - 1 so a wrapped product can never pass the size check.
        std::uint64_t bytes = safetensorsDtypeBytes(e.dtype);
        const Json& shape = member(info, "shape", Json::Type::Array, name);
        for (std::size_t k = 0; k < shape.items.size(); ++k) {
            const std::uint64_t d = unsignedInteger(shape.items[k], "tensor \"" + name + "\": shape[" + std::to_string(k) + "]");
            if (d > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
                fail("tensor \"" + name + "\": shape[" + std::to_string(k) + "] = " + std::to_string(d) + " is too large");
            e.shape.push_back(std::int64_t(d));
            bytes = (d != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / d) ? std::numeric_limits<std::uint64_t>::max()
                                                                                      : bytes * d;
        }
        const Json& offsets = member(info, "data_offsets", Json::Type::Array, name);
        if (offsets.items.size() != 2)
            fail("tensor \"" + name + "\": data_offsets has " + std::to_string(offsets.items.size()) +
                 " numbers, not 2 (header byte " + std::to_string(offsets.offset) + ")");
        e.begin = unsignedInteger(offsets.items[0], "tensor \"" + name + "\": data_offsets[0]");
        e.end = unsignedInteger(offsets.items[1], "tensor \"" + name + "\": data_offsets[1]");
        if (e.end < e.begin)
            fail("tensor \"" + name + "\": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] end before they begin");
        if (e.end - e.begin != bytes)
            fail("tensor \"" + name + "\": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] hold " + std::to_string(e.end - e.begin) + " bytes, but " + safetensorsDtypeName(e.dtype) + " x " +
                 shapeText(e.shape) + " needs " + std::to_string(bytes));
        return e;
    }

    static std::string shapeText(const std::vector<std::int64_t>& shape)
    {
        std::string s = "[";
        for (std::size_t k = 0; k < shape.size(); ++k)
            s += (k ? ", " : "") + std::to_string(shape[k]);
        return s + "]";
    }

private:
    const std::string& m_path;
};

std::string range(const SafetensorsEntry& e)
{
    return "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
}

} // namespace

const char* safetensorsDtypeName(SafetensorsDtype dtype)
{
    for (const auto& d : kDtypes)
        if (d.dtype == dtype)
            return d.name;
    return "?";
}

std::size_t safetensorsDtypeBytes(SafetensorsDtype dtype)
{
    for (const auto& d : kDtypes)
        if (d.dtype == dtype)
            return d.bytes;
    return 0;
}

std::uint64_t safetensorsHeaderLength(std::string_view first8, std::uint64_t fileSize, const std::string& path)
{
    if (first8.size() < 8 || fileSize < 8)
        throw ModelError(path + ": " + std::to_string(fileSize) +
                         " bytes, too short for a safetensors file (8-byte header length, then the header); " +
                         kRedownload);
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k)
        n = (n << 8) | static_cast<unsigned char>(first8[std::size_t(k)]);
    if (n > fileSize - 8)
        throw ModelError(path + ": the header length (the first 8 bytes) says " + std::to_string(n) +
                         " bytes of header, but the file has only " + std::to_string(fileSize - 8) +
                         " bytes after it; the file is truncated, or damaged, or not a safetensors file: download "
                         "or export it again");
    if (n > kMaxSafetensorsHeaderBytes)
        throw ModelError(path + ": the header length (the first 8 bytes) says " + std::to_string(n) +
                         " bytes, more than the format's limit of " + std::to_string(kMaxSafetensorsHeaderBytes) +
                         "; " + kRedownload);
    if (n < 2)
        throw ModelError(path + ": the header length (the first 8 bytes) is " + std::to_string(n) +
                         ", too short for a JSON object; " + kRedownload);
    return n;
}

SafetensorsHeader parseSafetensorsHeader(std::string_view json, std::uint64_t fileSize, const std::string& path)
{
    const HeaderChecker check(path);
    if (json.empty() || json.front() != '{')
        check.fail("the header does not start with '{'");
    const Json root = JsonReader(json, path).parseDocument();

    SafetensorsHeader header;
    header.dataStart = 8 + json.size();
    if (header.dataStart > fileSize)
        check.fail("the header ends at byte " + std::to_string(header.dataStart) + ", after the end of the file (" +
                   std::to_string(fileSize) + " bytes)");
    const std::uint64_t dataSize = fileSize - header.dataStart;

    for (std::size_t k = 0; k < root.keys.size(); ++k) {
        const std::string& name = root.keys[k];
        const Json& value = root.items[k];
        if (name == "__metadata__") {
            if (value.type != Json::Type::Object)
                check.fail("\"__metadata__\" is " + std::string(typeName(value.type)) + ", not an object of strings");
            for (std::size_t m = 0; m < value.keys.size(); ++m) {
                const std::string& key = value.keys[m];
                const Json& text = value.items[m];
                if (text.type != Json::Type::String)
                    check.fail("\"__metadata__\": \"" + key + "\" is " + typeName(text.type) + ", not a string (header byte " +
                               std::to_string(text.offset) + ")");
                header.metadata.emplace_back(key, text.text);
            }
            continue;
        }
        header.tensors.push_back(check.entry(name, value));
    }

    // The tensors must tile [0, dataSize) exactly, as the reference reader demands: a gap or an
    // overlap means the header and the data disagree.
    std::stable_sort(header.tensors.begin(), header.tensors.end(),
                     [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
                         return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                     });
    std::uint64_t expected = 0;
    for (std::size_t k = 0; k < header.tensors.size(); ++k) {
        const SafetensorsEntry& e = header.tensors[k];
        if (e.begin < expected)
            check.fail("tensor \"" + e.name + "\" (data bytes " + range(e) + ") overlaps tensor \"" +
                       header.tensors[k - 1].name + "\" (data bytes " + range(header.tensors[k - 1]) + ")");
        if (e.begin > expected)
            check.fail("data bytes [" + std::to_string(expected) + ", " + std::to_string(e.begin) +
                       ") belong to no tensor (a gap before tensor \"" + e.name + "\")");
        if (e.end > dataSize)
            throw ModelError(path + ": tensor \"" + e.name + "\" (data bytes " + range(e) + ") ends after the data, which has " +
                             std::to_string(dataSize) + " bytes (file " + std::to_string(fileSize) +
                             " bytes, data from byte " + std::to_string(header.dataStart) +
                             "); the file is truncated: download or export it again");
        expected = e.end;
    }
    if (expected != dataSize)
        check.fail("the data has " + std::to_string(dataSize - expected) + " bytes after the last tensor" +
                   (header.tensors.empty() ? std::string() : " (\"" + header.tensors.back().name + "\" ends at data byte " +
                                                                std::to_string(expected) + ")") +
                   " that belong to no tensor");
    return header;
}

} // namespace labelprop::models
