// libFuzzer target: the safetensors header reader (safetensorsHeaderLength + parseSafetensorsHeader,
// the LibTorch-free half of readSafetensors), on the input taken as a whole file.
// Oracle: a header that passes tiles the data exactly: sorted, no gap, no overlap, each tensor's
// byte count is its dtype's size times its shape's product, the last one ends at the file's end.

#include "core/models/ModelError.h"
#include "core/models/SafetensorsHeader.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace labelprop::models;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    try {
        const std::uint64_t n = safetensorsHeaderLength(file.substr(0, 8), size, "fuzz.safetensors");
        const SafetensorsHeader h = parseSafetensorsHeader(file.substr(8, std::size_t(n)), size, "fuzz.safetensors");
        std::uint64_t at = 0;
        for (const SafetensorsEntry& e : h.tensors) {
            std::uint64_t bytes = safetensorsDtypeBytes(e.dtype);
            for (const std::int64_t d : e.shape)
                if (d < 0 || __builtin_mul_overflow(bytes, std::uint64_t(d), &bytes))
                    std::abort();
            if (e.begin != at || e.end - e.begin != bytes)
                std::abort();
            at = e.end;
        }
        if (h.dataStart != 8 + n || h.dataStart + at != size)
            std::abort();
    } catch (const ModelError&) {
    }
    return 0;
}
