#pragma once
// The images of a project's items, in item-id order: index i is item id i + 1. The desktop app's
// thumbnails and previews decode through it. Files are decoded from the project's root (so a
// folder of 1M images is never scanned again just to show a grid); IDX items come from the IDX
// files, opened once.
//
// Thread-safety: immutable after open(); decode() may run on several threads at once.

#include "core/project/ProjectStore.h"
#include "core/sources/ImageSource.h"

#include <memory>
#include <string>
#include <vector>

namespace labelprop {

class ProjectImageSource final : public ImageSource {
public:
    // items: the project's items (store.items()), ids dense from 1.
    [[nodiscard]] static Expected<std::unique_ptr<ProjectImageSource>> open(const ProjectSourceInfo& info,
                                                                            const std::vector<ProjectItem>& items);

    [[nodiscard]] SourceKind kind() const override { return m_kind; }
    [[nodiscard]] std::size_t size() const override { return m_items.size(); }
    [[nodiscard]] const Item& item(std::size_t i) const override { return m_items.at(i); }
    // Errors name the item's file, or say that the item is missing from the data set.
    [[nodiscard]] Expected<cv::Mat> decode(std::size_t i) const override { return decodeForSize(i, 0); }
    [[nodiscard]] Expected<cv::Mat> decodeForSize(std::size_t i, int minSide) const override;
    [[nodiscard]] std::string describe() const override;

private:
    ProjectImageSource() = default;

    SourceKind m_kind = SourceKind::Folder;
    ProjectSourceInfo m_info;
    std::vector<Item> m_items;            // path as stored, label empty
    std::vector<std::uint8_t> m_missing;  // 1: the item's file was missing at the last import
    std::unique_ptr<ImageSource> m_idx;   // IDX projects only
    std::vector<std::int64_t> m_idxIndex; // item -> index into m_idx, or -1
};

} // namespace labelprop
