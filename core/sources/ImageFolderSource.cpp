#include "core/sources/ImageFolderSource.h"

#include "core/formats/Csv.h"
#include "core/sources/FileListSource.h"
#include "core/sources/FolderSource.h"
#include "core/sources/SourceSupport.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

namespace fs = std::filesystem;

namespace labelprop {

using sources::isHidden;
using sources::plural;
using sources::printable;

Expected<std::unique_ptr<ImageSource>> openImageFolderSource(const std::string& path)
{
    std::error_code ec;
    fs::directory_iterator it(path, fs::directory_options::none, ec);
    if (ec)
        return fail(path + ": cannot list the folder (" + ec.message() + ")");
    std::vector<std::string> classDirs, warnings;
    std::size_t topLevelImages = 0;
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
        if (ec)
            return fail(path + ": cannot list the folder (" + ec.message() + ")");
        if (isHidden(it->path()))
            continue;
        std::error_code sec;
        const auto st = fs::status(it->path(), sec);
        if (sec)
            continue;
        const std::string name = it->path().filename().string();
        if (fs::is_directory(st) && !isValidUtf8(name))
            warnings.push_back(printable(it->path().string())
                               + ": class folder name is not valid UTF-8; skipped (rename it)");
        else if (fs::is_directory(st))
            classDirs.push_back(name);
        else if (fs::is_regular_file(st) && hasImageExtension(name))
            ++topLevelImages;
    }
    std::sort(classDirs.begin(), classDirs.end());
    if (topLevelImages > 0)
        warnings.push_back(path + ": " + plural(topLevelImages, "image")
                           + " directly in the folder ignored; an image folder holds <class>/<image> files");

    std::vector<std::string> rel;
    std::set<std::string> visited;
    visited.insert(fs::canonical(path, ec).string()); // never re-enter the root through a link
    for (const auto& cls : classDirs) {
        const auto before = rel.size();
        scanImageFiles(fs::path(path) / cls, fs::path(cls), visited, rel, warnings);
        if (rel.size() == before)
            warnings.push_back(path + ": class folder '" + cls + "' has no images");
    }
    if (rel.empty())
        return fail(noImagesMessage(path) + "; an image folder holds <class>/<image> files");
    std::sort(rel.begin(), rel.end());
    std::vector<Item> items;
    items.reserve(rel.size());
    for (auto& r : rel) {
        std::string label = r.substr(0, r.find('/'));
        items.push_back(Item{std::move(r), std::move(label)});
    }
    return std::make_unique<sources::FileListSource>(SourceKind::ImageFolder, fs::path(path), std::move(items),
                                                     std::move(warnings));
}

} // namespace labelprop
