#pragma once
// Image collections: a folder of images, a folder of class subfolders, a CSV of paths, or
// MNIST-style IDX files. Each source is a fixed list of items (path + given label) and decodes any
// item to an 8-bit image on demand.
//
// Thread-safety: a source is immutable once opened. All const members, decode() included, may be
// called concurrently from any number of threads.

#include "core/base/Error.h"
#include "core/base/Item.h"
#include "core/sources/ImageDecode.h" // decodeImageFile() and its limits, part of this API

#include <opencv2/core.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

enum class SourceKind { Auto, Folder, ImageFolder, Csv, Idx };

// "auto", "folder", "imagefolder", "csv", "idx" (ASCII case-insensitive); nullopt otherwise.
[[nodiscard]] std::optional<SourceKind> parseSourceKind(std::string_view name);
// The lower-case name parseSourceKind() accepts.
[[nodiscard]] std::string_view sourceKindName(SourceKind kind);

// File extensions a folder scan picks up (lower case, with the dot).
[[nodiscard]] const std::vector<std::string>& imageFileExtensions();
// True if the file name ends in one of imageFileExtensions(), ignoring ASCII case.
[[nodiscard]] bool hasImageExtension(std::string_view fileName);

class ImageSource {
public:
    virtual ~ImageSource() = default;

    [[nodiscard]] virtual SourceKind kind() const = 0;
    // Number of items; indices run 0..size()-1 in a deterministic order.
    [[nodiscard]] virtual std::size_t size() const = 0;
    // Item i (i < size()); the reference stays valid for the source's lifetime.
    [[nodiscard]] virtual const Item& item(std::size_t i) const = 0;
    // Decodes item i to an 8-bit image with 1 (gray) or 3 (BGR) channels: 16-bit and float images
    // are scaled, transparent pixels are composited over white. An empty, missing, corrupt or unsupported file, or one over the
    // size limits (see decodeImageFile), gives an error naming its path; i >= size() is an error too.
    [[nodiscard]] virtual Expected<cv::Mat> decode(std::size_t i) const = 0;
    // decode(i) for a caller that shrinks the image to about `minSide` pixels on its shorter side
    // (an encoder, a thumbnail): a large JPEG may come back smaller, never under 2 x minSide on
    // its shorter side, decoded for a fraction of the cost (decodeImageFile's minSide).
    [[nodiscard]] virtual Expected<cv::Mat> decodeForSize(std::size_t i, int minSide) const
    {
        (void)minSide;
        return decode(i);
    }
    // The size every image has, when the source guarantees one (IDX: 28x28 for MNIST).
    [[nodiscard]] virtual std::optional<cv::Size> fixedImageSize() const { return std::nullopt; }
    // One line for logs and the UI, e.g. "imagefolder /data/pets: 1200 images in 3 classes".
    [[nodiscard]] virtual std::string describe() const = 0;
    // Non-fatal remarks made while opening (ignored files, skipped symlink loops, ...).
    [[nodiscard]] const std::vector<std::string>& warnings() const { return m_warnings; }

protected:
    std::vector<std::string> m_warnings;
};

// Opens `path` as `kind`. Auto picks:
//   - Idx if `path` is a file whose name contains "idx3-ubyte", or a folder holding such files;
//   - Csv if `path` is a file ending in ".csv" (a header naming a 'path' and optionally a 'label'
//     column, others ignored; relative paths are relative to the CSV's folder; see CsvSource.h);
//   - ImageFolder if `path` is a folder with no images at its top level and at least one
//     subfolder (label = first-level subfolder name);
//   - Folder otherwise (all images below `path`, unlabeled).
// Folder scans recurse, follow directory symlinks but visit each real folder once (so symlink
// loops are safe), skip hidden entries (names starting with '.'), and sort items by relative path.
// File names are bytes: any valid UTF-8 name (e.g. "café_猫.png") is an item whose path round-trips
// through items.csv. A file or folder whose name is not valid UTF-8 (e.g. "\xff\xfe.png") is skipped
// with a warning that shows the bad bytes as \xNN: items.csv is UTF-8 and could not hold its path.
// Entries with an image extension that are not regular files (a FIFO, socket or device, a broken
// symbolic link) are skipped with a warning giving the reason; they are never opened. Two files
// with the same bytes are two items. A source with no items is an error.
[[nodiscard]] Expected<std::unique_ptr<ImageSource>> openImageSource(const std::string& path,
                                                                     SourceKind kind = SourceKind::Auto);

} // namespace labelprop
