#pragma once
// A folder of images, scanned recursively: every image below the folder is an unlabeled item.
// The scan rules (symlinks, hidden entries, names that are not UTF-8, FIFOs) are described at
// openImageSource() in ImageSource.h; ImageFolderSource uses the same scan for each class folder.
//
// Thread-safety: all functions are reentrant; the source returned is immutable.

#include "core/sources/ImageSource.h"

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace labelprop {

// Opens `path` (a folder) as a Folder source: items sorted by relative path, no labels. A folder
// with no images is an error naming it and the extensions looked for.
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openFolderSource(const std::string& path);

// Depth-first scan below `dir`, whose path relative to the scan root is `rel`. Appends the
// relative paths (generic form, '/' separated) of the image files found to `out`, unsorted, and
// one line per skipped entry to `warnings`. Follows directory symlinks, but enters each real
// folder (by canonical path, recorded in `visited`) once, so symlink loops terminate.
void scanImageFiles(const std::filesystem::path& dir, const std::filesystem::path& rel, std::set<std::string>& visited,
                    std::vector<std::string>& out, std::vector<std::string>& warnings);

// "<path>: no images found (looked for .jpg .jpeg ..., hidden files skipped)".
[[nodiscard]] std::string noImagesMessage(const std::string& path);

} // namespace labelprop
