#pragma once
// The weight files users bring, read into named CPU tensors: safetensors files and PyTorch
// checkpoints (.pt/.pth/.bin, the zip format torch.save writes since PyTorch 1.6), as they are:
// nobody has to re-save a file for Labelprop.
//
// Errors: ModelError, naming the file, the tensor, record or byte at fault and what to do.
// Thread-safety: reentrant; concurrent calls (on the same or different files) are safe.

#include "core/models/StateDict.h"

#include <cstdint>
#include <string>

namespace labelprop::models {

// Reads `path` with the reader its content calls for (its name does not matter): "PK\3\4" (a
// zip archive) -> readTorchCheckpoint; an 8-byte length followed by '{' -> readSafetensors.
// Anything else is refused with what the file looks like: empty, a text or HTML file, a Git LFS
// pointer, the legacy (pre-1.6) torch.save format, another pickle, NumPy, HDF5 or gzip data.
[[nodiscard]] StateDict readWeights(const std::string& path);

// Every tensor of a safetensors file, ordered by where its data lies in the file, in the file's
// dtype (BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64), contiguous, owning its memory. The
// file is read once, each tensor's bytes straight into its buffer (peak memory = the tensors).
// The header's "__metadata__" is checked and dropped.
[[nodiscard]] StateDict readSafetensors(const std::string& path);

// The state dict of a torch.save checkpoint: the dict of tensors at the top level, or under
// "state_dict", "model_state_dict", "model", "model_ema", "module" or "teacher" (the first found;
// kStateDictKeys in TorchPickle.h says why these), names flattened with '.', a leading
// "module." (DataParallel) removed, in the dict's order. Tensors are in the file's dtype,
// contiguous and own their memory (views of a shared storage are copied out); the rest of the
// checkpoint (optimizer state, "args", ...) is parsed but not loaded. A TorchScript archive is
// refused with a pointer to the TorchScript encoder.
[[nodiscard]] StateDict readTorchCheckpoint(const std::string& path);

namespace detail {
// The size in bytes of the regular file `path`; throws ModelError when it is missing, a folder,
// a FIFO or a device (which would block a read), or unreadable. Shared by the readers above.
[[nodiscard]] std::uint64_t weightsFileSize(const std::string& path);
} // namespace detail

} // namespace labelprop::models
