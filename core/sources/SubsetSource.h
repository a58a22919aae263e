#pragma once
// A view of some items of another ImageSource, e.g. the ten images a project has not embedded yet.
// Index i of the view is item indices[i] of the base source.
//
// Thread-safety: immutable, like every ImageSource; the base must outlive the view.

#include "core/sources/ImageSource.h"

#include <string>
#include <vector>

namespace labelprop {

class SubsetSource final : public ImageSource {
public:
    SubsetSource(const ImageSource& base, std::vector<std::size_t> indices)
        : m_base(base)
        , m_indices(std::move(indices))
    {
    }

    [[nodiscard]] SourceKind kind() const override { return m_base.kind(); }
    [[nodiscard]] std::size_t size() const override { return m_indices.size(); }
    [[nodiscard]] const Item& item(std::size_t i) const override { return m_base.item(m_indices.at(i)); }
    [[nodiscard]] Expected<cv::Mat> decode(std::size_t i) const override
    {
        if (i >= m_indices.size())
            return fail(describe() + ": item " + std::to_string(i) + " does not exist");
        return m_base.decode(m_indices[i]);
    }
    [[nodiscard]] Expected<cv::Mat> decodeForSize(std::size_t i, int minSide) const override
    {
        if (i >= m_indices.size())
            return fail(describe() + ": item " + std::to_string(i) + " does not exist");
        return m_base.decodeForSize(m_indices[i], minSide);
    }
    [[nodiscard]] std::optional<cv::Size> fixedImageSize() const override { return m_base.fixedImageSize(); }
    [[nodiscard]] std::string describe() const override
    {
        return m_base.describe() + " (" + std::to_string(m_indices.size()) + " of them)";
    }
    // Base-source index of view item i.
    [[nodiscard]] std::size_t baseIndex(std::size_t i) const { return m_indices.at(i); }

private:
    const ImageSource& m_base;
    std::vector<std::size_t> m_indices;
};

} // namespace labelprop
