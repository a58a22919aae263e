// libFuzzer target: JSON input through nlohmann::json::parse, on both of its error paths:
// exceptions on (caught as nlohmann::json::exception at the boundary) and exceptions off
// (is_discarded(), what parseLabelsJson in core/ProjectExport.cpp uses).
// Oracles: the two paths agree on what is valid; dump() of a parsed document parses back to a
// document with the same dump() (compared as text: a number past the double range parses as
// infinity, which dump() writes as null).
//
// And the project's labels-JSON reader (core/LabelsJson, `project import --labels FILE.json`):
// it must never throw, and it accepts a document only when nlohmann accepts it.

#include "core/formats/LabelsJson.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void fuzzLabelsJsonReader(std::string_view text, bool valid)
{
    const auto rows = labelprop::parseLabelsJson(text, "fuzz.json");
    if (rows && !valid)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto quiet = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    bool valid = false;
    try {
        const auto doc = nlohmann::json::parse(text);
        valid = true;
        const std::string once = doc.dump();
        if (nlohmann::json::parse(once).dump() != once)
            std::abort();
    } catch (const nlohmann::json::exception&) {
        // Expected for malformed input: the message is what a reader would report.
    }
    if (valid == quiet.is_discarded())
        std::abort();
    fuzzLabelsJsonReader(text, valid);
    return 0;
}
