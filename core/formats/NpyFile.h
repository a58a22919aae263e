#pragma once
// Reading and writing embedding matrices as NumPy .npy files.
//
// Thread-safety: both functions are reentrant; concurrent calls on different paths are safe.

#include "core/base/Embeddings.h"
#include "core/base/Error.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace labelprop {

// Reads a 2-D float matrix (n items x d dims) from a .npy file, format version 1, 2 or 3.
// Accepted dtypes: '<f4' (float32) and '<f2' (float16, converted exactly to float32, including
// subnormals, infinities and NaN). The array must be C-ordered (fortran_order False).
// Errors name the file and say what to do, e.g. "emb.npy: dtype '<f8' is not supported; convert
// with x.astype('float32')". Values are not checked for finiteness: callers run
// validateAndNormaliseRows() on the result.
// Sizes in the header are checked against the file's length before anything is allocated.
// A folder, FIFO or device is refused without being opened.
[[nodiscard]] Expected<EmbeddingMatrix> readNpyMatrix(const std::string& path);

// The same from the bytes of a whole .npy file already in memory; `name` stands for the file in
// error messages. The result owns its data (nothing points into `bytes`).
[[nodiscard]] Expected<EmbeddingMatrix> parseNpyMatrix(std::span<const std::byte> bytes, const std::string& name);

// Writes `x` as a float32 ('<f4'), C-ordered, version 1.0 .npy file whose header is padded to 64
// bytes. The write is atomic (path + ".tmp", then rename); the error names the path and the
// system's reason when the folder is missing or unwritable or the disk is full.
[[nodiscard]] Expected<void> writeNpyMatrix(const std::string& path, const EmbeddingMatrix& x);

// Converts one IEEE 754 half-precision value (bit pattern) to float; exact for every input.
[[nodiscard]] float halfToFloat(std::uint16_t bits);

} // namespace labelprop
