#pragma once
// An image folder (torchvision's ImageFolder layout): <root>/<class>/<image>, scanned below each
// class folder like a Folder source; an item's label is its first-level folder name.
//
// Thread-safety: reentrant; the source returned is immutable.

#include "core/sources/ImageSource.h"

#include <memory>
#include <string>

namespace labelprop {

// Opens `path` as an ImageFolder source: items sorted by relative path ("cat/001.png", label
// "cat"). Images directly in `path` are ignored with a warning, as is a class folder with no
// images; no images at all is an error naming `path`.
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openImageFolderSource(const std::string& path);

} // namespace labelprop
