#include "core/project/ProjectImport.h"

#include "core/formats/Csv.h"
#include "core/sources/ImageSource.h"
#include "core/base/StringHash.h"
#include "core/base/Parallel.h"
#include "core/formats/LabelsJson.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_map>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace labelprop {

namespace fs = std::filesystem;

Expected<std::unique_ptr<ImageSource>> openProjectSource(const ProjectSourceInfo& info)
{
    const auto kind = parseSourceKind(info.kind);
    if (!kind)
        return fail("the project's source kind '" + info.kind + "' is unknown to this build");
    const fs::path where = info.location.empty() || info.location == "." ? fs::path(info.root)
                                                                         : fs::path(info.root) / info.location;
    std::error_code ec;
    if (!fs::exists(where, ec))
        return failWithCliAdvice(where.string() + ": the project's images are not there any more (moved or deleted)",
                                 "if the data set moved, run 'labelprop-cli project relink PROJECT NEW_FOLDER'");
    return openImageSource(where.string(), *kind);
}

std::string itemFilePath(const ProjectSourceInfo& info, const std::string& path)
{
    if (info.kind == "idx")
        return {};
    const fs::path p(path);
    return p.is_absolute() ? path : (fs::path(info.root) / p).string();
}

namespace {

struct Hashed {
    HashedFile file;
    std::string error;       // empty: hashed
    std::string decodeError; // see hashItem()
};

// Hashes one source item: the file's bytes, or an IDX image's pixels. `known` (may be null) is
// the project's record of the same path: when size and mtime match, its hash is reused.
Hashed hashItemBytes(const ImageSource& source, std::size_t i, const ProjectSourceInfo& info, const ProjectItem* known)
{
    Hashed out;
    if (source.kind() == SourceKind::Idx) {
        auto img = source.decode(i);
        if (!img) {
            out.error = img.error().message;
            return out;
        }
        cv::Mat m = img->isContinuous() ? *img : img->clone();
        out.file.hash = hashBytes(std::span(m.data, m.total() * m.elemSize()));
        out.file.size = std::int64_t(m.total() * m.elemSize());
        return out;
    }
    const std::string file = itemFilePath(info, source.item(i).path);
    if (known && !known->hash.isZero()) {
        struct stat st{};
        if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == known->size
            && std::int64_t(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec == known->mtimeNs) {
            out.file = HashedFile{known->hash, known->size, known->mtimeNs};
            return out;
        }
    }
    auto h = hashFile(file);
    if (!h)
        out.error = h.error().message;
    else
        out.file = *h;
    return out;
}

// hashItemBytes(), and for an item the project holds as unreadable (its file could not be decoded)
// that still has the same bytes, a new try at decoding it (`decodeError` says why it failed): a
// re-scan then keeps it unreadable, or finds it readable (after an upgrade, say), whether or not
// the import embeds afterwards. Only those few items are decoded.
Hashed hashItem(const ImageSource& source, std::size_t i, const ProjectSourceInfo& info, const ProjectItem* known)
{
    Hashed out = hashItemBytes(source, i, info, known);
    if (out.error.empty() && known && known->status == ItemStatus::Unreadable && known->hash == out.file.hash)
        if (auto img = source.decode(i); !img)
            out.decodeError = img.error().message;
    return out;
}

// "3" -> classNames[3] when the label is a small non-negative integer and a name exists.
std::string className(const std::string& label, const std::vector<std::string>& classNames)
{
    if (classNames.empty() || label.empty() || label.size() > 6
        || !std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return label;
    const auto i = std::size_t(std::stoul(label));
    return i < classNames.size() ? classNames[i] : label;
}

} // namespace

Expected<ImportReport> importSource(ProjectStore& store, const ImageSource& source, const ImportOptions& options)
{
    auto info = store.sourceInfo();
    if (!info)
        return std::unexpected(info.error());
    auto existing = store.items();
    if (!existing)
        return std::unexpected(existing.error());
    StringMap<std::size_t> byPath;
    for (std::size_t k = 0; k < existing->size(); ++k)
        byPath.emplace((*existing)[k].path, k);

    ImportReport report;
    report.warnings = source.warnings();
    const std::size_t n = source.size();
    std::vector<Hashed> hashed(n);
    constexpr std::size_t kChunk = 4096;
    for (std::size_t b = 0; b < n; b += kChunk) {
        const std::size_t e = std::min(n, b + kChunk);
        parallelFor(std::int64_t(b), std::int64_t(e), options.threads, [&](std::int64_t lo, std::int64_t hi) {
            for (auto i = std::size_t(lo); i < std::size_t(hi); ++i) {
                const auto it = byPath.find(source.item(i).path);
                hashed[i] = hashItem(source, i, *info, it == byPath.end() ? nullptr : &(*existing)[it->second]);
            }
        });
        if (options.progress && !options.progress(e, n))
            return fail(source.describe() + ": import cancelled; nothing was changed");
    }

    // Reconcile. Paths the source has:
    std::vector<char> seen(existing->size(), 0);
    std::vector<ProjectItem> updates;
    std::vector<ProjectItem> additions;
    for (std::size_t i = 0; i < n; ++i) {
        const auto& path = source.item(i).path;
        const auto it = byPath.find(path);
        if (it == byPath.end())
            continue;
        seen[it->second] = 1;
        ProjectItem item = (*existing)[it->second];
        const ProjectItem before = item;
        if (!hashed[i].error.empty()) {
            item.status = ItemStatus::Unreadable;
            ++report.unreadable;
            report.warnings.push_back(hashed[i].error);
        } else if (!hashed[i].decodeError.empty()) {
            item.status = ItemStatus::Unreadable;
            item.size = hashed[i].file.size;
            item.mtimeNs = hashed[i].file.mtimeNs;
            ++report.unreadable;
            report.warnings.push_back(hashed[i].decodeError);
        } else if (!item.hash.isZero() && item.hash != hashed[i].file.hash) {
            item.status = ItemStatus::Changed;
            item.hash = hashed[i].file.hash;
            item.size = hashed[i].file.size;
            item.mtimeNs = hashed[i].file.mtimeNs;
            ++report.changed;
        } else {
            // Same bytes: a changed item stays marked until a person looks at it; a missing or
            // unreadable one is back.
            if (item.status != ItemStatus::Changed)
                item.status = ItemStatus::Present;
            item.hash = hashed[i].file.hash;
            item.size = hashed[i].file.size;
            item.mtimeNs = hashed[i].file.mtimeNs;
            ++report.unchanged;
        }
        if (item.status != before.status || item.hash != before.hash || item.size != before.size
            || item.mtimeNs != before.mtimeNs)
            updates.push_back(item);
    }
    // Project items the source no longer has: candidates for a move, else missing.
    std::unordered_multimap<ContentHash, std::size_t, ContentHashHasher> goneByHash;
    for (std::size_t k = 0; k < existing->size(); ++k)
        if (!seen[k] && !(*existing)[k].hash.isZero())
            goneByHash.emplace((*existing)[k].hash, k);
    std::vector<char> movedAway(existing->size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& it = source.item(i);
        if (byPath.contains(it.path))
            continue;
        if (!hashed[i].error.empty()) {
            ++report.unreadable;
            report.warnings.push_back(hashed[i].error + " (not added)");
            continue;
        }
        // Equal bytes under several gone items: the oldest item moves (deterministic).
        auto [first, last] = goneByHash.equal_range(hashed[i].file.hash);
        auto g = first;
        for (auto it2 = first; it2 != last; ++it2)
            if (it2->second < g->second)
                g = it2;
        if (g != last) {
            ProjectItem item = (*existing)[g->second];
            item.path = it.path;
            item.status = item.status == ItemStatus::Changed ? ItemStatus::Changed : ItemStatus::Present;
            item.size = hashed[i].file.size;
            item.mtimeNs = hashed[i].file.mtimeNs;
            movedAway[g->second] = 1;
            goneByHash.erase(g);
            updates.push_back(item);
            ++report.moved;
            continue;
        }
        ProjectItem item;
        item.path = it.path;
        item.hash = hashed[i].file.hash;
        item.size = hashed[i].file.size;
        item.mtimeNs = hashed[i].file.mtimeNs;
        additions.push_back(std::move(item));
    }
    for (std::size_t k = 0; k < existing->size(); ++k) {
        if (seen[k] || movedAway[k])
            continue;
        ++report.missing;
        if ((*existing)[k].status != ItemStatus::Missing) {
            ProjectItem item = (*existing)[k];
            item.status = ItemStatus::Missing;
            updates.push_back(item);
        }
    }
    report.added = std::int64_t(additions.size());

    // Write: updates first (a move frees nothing, paths stay unique), then additions, then labels.
    if (!updates.empty())
        if (auto r = store.updateItems(updates); !r)
            return std::unexpected(r.error());
    std::vector<std::int64_t> newIds;
    if (!additions.empty()) {
        auto ids = store.addItems(additions);
        if (!ids)
            return std::unexpected(ids.error());
        newIds = std::move(*ids);
    }
    // Named classes exist (in their order) even when no label is imported: they are the label set.
    for (const auto& name : options.classNames)
        if (auto r = store.ensureClass(name); !r)
            return std::unexpected(r.error());
    if (!options.importLabels)
        return report;

    std::vector<std::string> names;
    for (std::size_t i = 0; i < n; ++i)
        if (!source.item(i).label.empty())
            names.push_back(className(source.item(i).label, options.classNames));
    const ClassIndex order = ClassIndex::fromNames(names);
    StringMap<int> classIds;
    for (const auto& name : order.names()) {
        auto id = store.ensureClass(name);
        if (!id)
            return std::unexpected(id.error());
        classIds.emplace(name, *id);
    }
    // Item id of every source path: existing, moved (updates carry the new path), or added.
    StringMap<std::int64_t> idByPath;
    for (const auto& it : *existing)
        idByPath.emplace(it.path, it.id);
    for (const auto& it : updates)
        idByPath.insert_or_assign(it.path, it.id);
    for (std::size_t k = 0; k < additions.size(); ++k)
        idByPath.emplace(additions[k].path, newIds[k]);
    std::vector<LabelChange> changes;
    for (std::size_t i = 0; i < n; ++i) {
        const auto& it = source.item(i);
        if (it.label.empty() || !hashed[i].error.empty())
            continue;
        const auto id = idByPath.find(it.path);
        if (id == idByPath.end())
            continue;
        changes.push_back(LabelChange{id->second, classIds.at(className(it.label, options.classNames))});
    }
    auto applied = store.importLabels(changes, "import " + source.describe());
    if (!applied)
        return std::unexpected(applied.error());
    report.labelsImported = applied->applied;
    report.labelsKept = applied->keptPerson;
    return report;
}

Expected<std::int64_t> relinkProject(ProjectStore& store, const std::string& newRoot)
{
    std::error_code ec;
    const fs::path root = fs::absolute(newRoot, ec);
    if (ec || !fs::is_directory(root, ec))
        return fail(newRoot + ": not a folder");
    auto info = store.sourceInfo();
    if (!info)
        return std::unexpected(info.error());
    auto items = store.items();
    if (!items)
        return std::unexpected(items.error());
    ProjectSourceInfo moved = *info;
    moved.root = root.lexically_normal().string();
    std::vector<const ProjectItem*> candidates;
    for (const auto& it : *items)
        if (it.status != ItemStatus::Missing && !it.hash.isZero())
            candidates.push_back(&it);
    if (candidates.empty())
        return fail(store.path() + ": no item has a known hash to check the new folder against");
    constexpr std::size_t kSample = 64;
    const std::size_t step = std::max<std::size_t>(1, candidates.size() / kSample);
    std::unique_ptr<ImageSource> idx;
    StringMap<std::size_t> idxIndex;
    if (info->kind == "idx") {
        auto src = openProjectSource(moved);
        if (!src)
            return std::unexpected(src.error());
        idx = std::move(*src);
        for (std::size_t i = 0; i < idx->size(); ++i)
            idxIndex.emplace(idx->item(i).path, i);
    }
    std::int64_t checked = 0;
    for (std::size_t k = 0; k < candidates.size(); k += step) {
        const ProjectItem& it = *candidates[k];
        ContentHash h;
        if (idx) {
            const auto found = idxIndex.find(it.path);
            if (found == idxIndex.end())
                return fail(moved.root + ": does not hold the project's item '" + it.path + "'; nothing was changed");
            auto hashed = hashItem(*idx, found->second, moved, nullptr);
            if (!hashed.error.empty())
                return fail(hashed.error + "; nothing was changed");
            h = hashed.file.hash;
        } else {
            auto hashed = hashFile(itemFilePath(moved, it.path));
            if (!hashed)
                return fail(moved.root + ": does not hold the project's files (" + hashed.error().message
                            + "); nothing was changed");
            h = hashed->hash;
        }
        if (h != it.hash)
            return fail(itemFilePath(moved, it.path) + ": has other bytes than the project's '" + it.path
                        + "'; is this the right folder? Nothing was changed");
        ++checked;
    }
    if (auto r = store.setRoot(moved.root); !r)
        return std::unexpected(r.error());
    return checked;
}

Expected<LabelFileReport> importLabelFile(ProjectStore& store, const std::string& file)
{
    auto info = store.sourceInfo();
    if (!info)
        return std::unexpected(info.error());
    std::vector<std::pair<std::string, std::string>> rows; // (path, label)
    const bool json = file.size() >= 5 && file.substr(file.size() - 5) == ".json";
    if (json) {
        std::ifstream in(file, std::ios::binary);
        if (!in)
            return fail(file + ": cannot open");
        std::stringstream buffer;
        buffer << in.rdbuf();
        auto parsed = parseLabelsJson(buffer.str(), file);
        if (!parsed)
            return std::unexpected(parsed.error());
        rows = std::move(*parsed);
    } else {
        auto records = readCsvFile(file);
        if (!records)
            return std::unexpected(records.error());
        if (records->empty())
            return fail(file + ": empty; expected a header with 'path' and 'label' columns");
        const auto& header = records->front().fields;
        const auto col = [&](std::string_view name) {
            const auto it = std::find(header.begin(), header.end(), name);
            return it == header.end() ? -1 : int(it - header.begin());
        };
        const int pathCol = col("path"), labelCol = col("label");
        if (pathCol < 0 || labelCol < 0)
            return fail(file + ":1: the header needs 'path' and 'label' columns");
        for (std::size_t r = 1; r < records->size(); ++r) {
            const auto& rec = (*records)[r];
            if (rec.fields.size() != header.size())
                return fail(file + ":" + std::to_string(rec.line) + ": " + std::to_string(rec.fields.size())
                            + " fields, the header has " + std::to_string(header.size()));
            rows.emplace_back(rec.fields[std::size_t(pathCol)], rec.fields[std::size_t(labelCol)]);
        }
    }
    auto items = store.items();
    if (!items)
        return std::unexpected(items.error());
    StringMap<std::int64_t> idByPath;
    for (const auto& it : *items)
        idByPath.emplace(it.path, it.id);
    const std::string rootPrefix = (fs::path(info->root) / "").string();
    // A CSV names files relative to its own folder (our export writes them so); JSON relative to
    // the root it records. A path that is not an item's as it stands is tried that way.
    std::error_code ec;
    const fs::path fileFolder = fs::absolute(fs::path(file), ec).parent_path();
    const auto resolve = [&](std::string_view path) {
        auto it = idByPath.find(path);
        if (it != idByPath.end() || json || ec || fs::path(path).is_absolute())
            return it;
        const std::string resolved = (fileFolder / fs::path(path)).lexically_normal().string();
        return resolved.starts_with(rootPrefix) ? idByPath.find(std::string_view(resolved).substr(rootPrefix.size()))
                                                : idByPath.end();
    };
    LabelFileReport report;
    std::vector<LabelChange> changes;
    std::set<std::int64_t> seen;
    for (const auto& [rawPath, label] : rows) {
        if (label.empty())
            continue;
        std::string_view path = rawPath;
        if (path.starts_with(rootPrefix))
            path.remove_prefix(rootPrefix.size());
        const auto it = resolve(path);
        if (it == idByPath.end()) {
            ++report.unknownPaths;
            continue;
        }
        if (!seen.insert(it->second).second)
            return fail(file + ": '" + rawPath + "' is labeled twice");
        auto cls = store.ensureClass(label);
        if (!cls)
            return std::unexpected(cls.error());
        ++report.matched;
        changes.push_back(LabelChange{it->second, *cls});
    }
    auto applied = store.importLabels(changes, "import labels from " + fs::path(file).filename().string());
    if (!applied)
        return std::unexpected(applied.error());
    report.applied = applied->applied;
    report.keptHuman = applied->keptPerson;
    return report;
}

} // namespace labelprop
