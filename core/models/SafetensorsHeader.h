#pragma once
// The header of a safetensors file, parsed and checked without LibTorch (so the fuzz build can
// link it alone). The layout (github.com/huggingface/safetensors):
//
//   8 bytes      N, unsigned little-endian
//   N bytes      JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
//                       ..., "__metadata__": {"key": "value", ...}}, may end in spaces
//   the rest     the data buffer; begin/end are byte offsets into it, end exclusive
//
// The checks are those of the reference reader: the tensors tile the data buffer exactly (sorted
// by begin, each starts where the previous one ended, the last ends at the end of the file), and
// each one's byte count is its dtype's size times the product of its shape.
//
// Thread-safety: reentrant; no shared state.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labelprop::models {

// The element types Labelprop reads; the file's names are in safetensorsDtypeName().
enum class SafetensorsDtype { Bool, U8, I8, I16, I32, I64, F16, BF16, F32, F64 };

[[nodiscard]] const char* safetensorsDtypeName(SafetensorsDtype dtype);
[[nodiscard]] std::size_t safetensorsDtypeBytes(SafetensorsDtype dtype);

struct SafetensorsEntry {
    std::string name;
    SafetensorsDtype dtype = SafetensorsDtype::F32;
    std::vector<std::int64_t> shape;  // [] for a scalar; a 0 makes an empty tensor
    std::uint64_t begin = 0;          // bytes from the start of the data buffer
    std::uint64_t end = 0;            // exclusive; end - begin = bytes(dtype) x product(shape)
};

struct SafetensorsHeader {
    std::uint64_t dataStart = 0;                                     // 8 + N: where the data buffer starts in the file
    std::vector<SafetensorsEntry> tensors;                           // ordered by begin (their order in the file)
    std::vector<std::pair<std::string, std::string>> metadata;       // "__metadata__", in header order
};

// The reference reader's limit on N; a larger header is refused before it is read.
constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// N from the file's first 8 bytes (`first8` holds fewer when the file is shorter); throws
// ModelError naming `path` when the file cannot hold an 8-byte length and N bytes of header.
[[nodiscard]] std::uint64_t safetensorsHeaderLength(std::string_view first8, std::uint64_t fileSize,
                                                    const std::string& path);

// Parses and checks the N header bytes `json` of a file of `fileSize` bytes. Throws ModelError
// naming `path` and the header byte or the tensor at fault, and what to do.
[[nodiscard]] SafetensorsHeader parseSafetensorsHeader(std::string_view json, std::uint64_t fileSize,
                                                       const std::string& path);

} // namespace labelprop::models
