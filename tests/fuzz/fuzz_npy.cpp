// libFuzzer target: the .npy matrix reader (parseNpyMatrix, the in-memory half of readNpyMatrix).
// Oracle: a matrix that loads never claims more floats than the input has bytes for.

#include "core/formats/NpyFile.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

using namespace labelprop;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto m = parseNpyMatrix(std::as_bytes(std::span(data, size)), "fuzz.npy");
    if (m && std::size_t(m->size()) * 2 > size)
        std::abort();
    return 0;
}
