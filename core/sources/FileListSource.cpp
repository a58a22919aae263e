#include "core/sources/FileListSource.h"

#include "core/sources/ImageDecode.h"
#include "core/sources/SourceSupport.h"

#include <set>
#include <string_view>

namespace fs = std::filesystem;

namespace labelprop::sources {

FileListSource::FileListSource(SourceKind kind, fs::path root, std::vector<Item> items,
                               std::vector<std::string> warnings)
    : m_kind(kind)
    , m_root(std::move(root))
    , m_items(std::move(items))
{
    m_warnings = std::move(warnings);
}

Expected<cv::Mat> FileListSource::decodeForSize(std::size_t i, int minSide) const
{
    if (i >= m_items.size())
        return fail(describe() + ": item " + std::to_string(i) + " does not exist (there are "
                    + std::to_string(m_items.size()) + ")");
    const fs::path p(m_items[i].path);
    return decodeImageFile((p.is_absolute() ? p : m_root / p).string(), kMaxImagePixels, minSide);
}

std::string FileListSource::describe() const
{
    std::string s = std::string(sourceKindName(m_kind)) + " " + m_root.string() + ": " + plural(m_items.size(), "image");
    std::set<std::string_view> labels;
    std::size_t labeled = 0;
    for (const auto& it : m_items) {
        if (!it.label.empty()) {
            labels.insert(it.label);
            ++labeled;
        }
    }
    if (m_kind == SourceKind::ImageFolder)
        s += " in " + std::to_string(labels.size()) + (labels.size() == 1 ? " class" : " classes");
    else if (labeled > 0)
        s += ", " + std::to_string(labeled) + " labeled with " + plural(labels.size(), "label");
    return s;
}

} // namespace labelprop::sources
