// libFuzzer target: the IDX reader (parseIdx, the in-memory half of readIdxFile), as images
// (3 dimensions) and as labels (1 dimension), chosen by the first input byte.
// Oracle: the product of the dims fits 64 bits and the decoded array holds exactly that many bytes
// (a product that wraps around once let a header claim 2^30 images with no data behind them).

#include "core/formats/IdxFile.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

using namespace labelprop;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    const int ndims = (data[0] & 1) ? 3 : 1;
    std::vector<std::string> warnings;
    const auto a = parseIdx(std::span(data + 1, size - 1), ndims, "fuzz-idx3-ubyte", warnings);
    if (a) {
        std::uint64_t total = 1;
        for (const auto d : a->dims)
            if (__builtin_mul_overflow(total, std::uint64_t(d), &total))
                std::abort();
        if (a->dims.size() != std::size_t(ndims) || total != a->data.size() || a->data.size() > size)
            std::abort();
    }
    return 0;
}
