#pragma once
// A CSV list of images: the header 'path,label' or 'path', then one row per image. Relative paths
// are relative to the CSV's folder; an empty label means unlabeled.
//
// Thread-safety: reentrant; the source returned is immutable.

#include "core/sources/ImageSource.h"

#include <memory>
#include <string>

namespace labelprop {

// Reads `path` and opens it as a Csv source (items decode from the CSV's folder).
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openCsvSource(const std::string& path);

} // namespace labelprop
