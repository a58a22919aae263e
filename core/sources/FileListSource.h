#pragma once
// The source behind Folder, ImageFolder and Csv: a fixed list of image files under a root folder.
// Internal to core/sources; openImageSource() and the per-source open functions hand it out as an
// ImageSource.
//
// Thread-safety: immutable once built; every const member may run concurrently.

#include "core/sources/ImageSource.h"

#include <filesystem>
#include <string>
#include <vector>

namespace labelprop::sources {

class FileListSource final : public ImageSource {
public:
    // items: paths relative to `root` (or absolute), with their given labels (empty: unlabeled).
    // warnings: remarks made while listing them, handed out by warnings().
    FileListSource(SourceKind kind, std::filesystem::path root, std::vector<Item> items,
                   std::vector<std::string> warnings);

    [[nodiscard]] SourceKind kind() const override { return m_kind; }
    [[nodiscard]] std::size_t size() const override { return m_items.size(); }
    [[nodiscard]] const Item& item(std::size_t i) const override { return m_items.at(i); }
    // decodeImageFile() of the item's path, resolved against the root when relative.
    [[nodiscard]] Expected<cv::Mat> decode(std::size_t i) const override { return decodeForSize(i, 0); }
    [[nodiscard]] Expected<cv::Mat> decodeForSize(std::size_t i, int minSide) const override;
    // e.g. "imagefolder /data/pets: 1200 images in 3 classes", "csv /data: 10 images, 4 labeled with 2 labels".
    [[nodiscard]] std::string describe() const override;

private:
    SourceKind m_kind;
    std::filesystem::path m_root;
    std::vector<Item> m_items;
};

} // namespace labelprop::sources
