// libFuzzer target: JSON input. The product reads no JSON file of its own yet (it writes
// stats.json), so this fuzzes nlohmann::json::parse on the path we would use: exceptions on, each
// caught as nlohmann::json::exception at the boundary. Oracle: dump() of a parsed document parses
// back to a document with the same dump() (compared as text: a number past the double range
// parses as infinity, which dump() writes as null).
//
// When a labels-JSON reader lands in core/, call it from fuzzLabelsJsonReader() below so this
// target covers it without a new fuzzer (and add its seed files to corpus/json/).

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// Hook for the project's own JSON readers; none exists yet.
void fuzzLabelsJsonReader(std::string_view /*text*/) { }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto doc = nlohmann::json::parse(text);
        const std::string text1 = doc.dump();
        if (nlohmann::json::parse(text1).dump() != text1)
            std::abort();
    } catch (const nlohmann::json::exception&) {
        // Expected for malformed input: the message is what a reader would report.
    }
    fuzzLabelsJsonReader(text);
    return 0;
}
