#pragma once
// MNIST-style IDX files: an images file (*-images-idx3-ubyte[.gz], n x rows x cols bytes) with
// its labels file beside it (*-labels-idx1-ubyte[.gz]), or a folder of such pairs (train first,
// then t10k/test). All pixels are read into memory when the source opens (Fashion-MNIST: 70,000
// x 28 x 28 = 55 MB); an item's path is "<images file>#<index>", its label the digit in the
// labels file.
//
// Thread-safety: reentrant; the source returned is immutable.

#include "core/sources/ImageSource.h"

#include <memory>
#include <string>

namespace labelprop {

// True if a file name says it is an IDX images file (contains "idx3-ubyte").
[[nodiscard]] bool isIdxImagesName(const std::string& name);

// Opens `path`, an IDX images file or a folder holding them, as an Idx source. Every images file
// must hold images of the same size; a labels file must have as many entries as its images file.
// An images file without a labels file gives unlabeled items and a warning.
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openIdxSource(const std::string& path);

} // namespace labelprop
