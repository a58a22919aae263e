#include "core/project/ProjectImageSource.h"

#include "core/project/ProjectImport.h"

#include <unordered_map>

namespace labelprop {

Expected<std::unique_ptr<ProjectImageSource>> ProjectImageSource::open(const ProjectSourceInfo& info,
                                                                        const std::vector<ProjectItem>& items)
{
    const auto kind = parseSourceKind(info.kind);
    if (!kind)
        return fail("the project's source kind '" + info.kind + "' is unknown to this build");
    std::unique_ptr<ProjectImageSource> s(new ProjectImageSource);
    s->m_kind = *kind;
    s->m_info = info;
    s->m_items.resize(items.size());
    s->m_missing.assign(items.size(), 0);
    for (const auto& it : items) {
        if (it.id <= 0 || std::size_t(it.id) > items.size())
            return fail("project item id " + std::to_string(it.id) + " is out of range; run 'project status --check'");
        s->m_items[std::size_t(it.id - 1)].path = it.path;
        s->m_missing[std::size_t(it.id - 1)] = it.status == ItemStatus::Missing;
    }
    if (*kind == SourceKind::Idx) {
        auto idx = openProjectSource(info);
        if (!idx)
            return std::unexpected(idx.error());
        std::unordered_map<std::string_view, std::size_t> byPath;
        for (std::size_t i = 0; i < (*idx)->size(); ++i)
            byPath.emplace((*idx)->item(i).path, i);
        s->m_idxIndex.assign(items.size(), -1);
        for (std::size_t i = 0; i < s->m_items.size(); ++i)
            if (auto found = byPath.find(s->m_items[i].path); found != byPath.end())
                s->m_idxIndex[i] = std::int64_t(found->second);
        s->m_idx = std::move(*idx);
    }
    return s;
}

Expected<cv::Mat> ProjectImageSource::decodeForSize(std::size_t i, int minSide) const
{
    if (i >= m_items.size())
        return fail(describe() + ": item " + std::to_string(i) + " does not exist");
    if (m_idx) {
        if (m_idxIndex[i] < 0)
            return fail(m_items[i].path + ": not in the project's IDX files any more");
        return m_idx->decode(std::size_t(m_idxIndex[i]));
    }
    if (m_missing[i])
        return fail(m_items[i].path + ": the file was missing at the last import; re-import or relink the project");
    return decodeImageFile(itemFilePath(m_info, m_items[i].path), kMaxImagePixels, minSide);
}

std::string ProjectImageSource::describe() const
{
    return m_info.kind + " " + m_info.root + ": " + std::to_string(m_items.size()) + " items";
}

} // namespace labelprop
