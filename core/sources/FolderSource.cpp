#include "core/sources/FolderSource.h"

#include "core/formats/Csv.h"
#include "core/sources/FileListSource.h"
#include "core/sources/SourceSupport.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace fs = std::filesystem;

namespace labelprop {

using sources::isHidden;
using sources::notRegularFileReason;
using sources::printable;

void scanImageFiles(const fs::path& dir, const fs::path& rel, std::set<std::string>& visited,
                    std::vector<std::string>& out, std::vector<std::string>& warnings)
{
    std::vector<std::pair<fs::path, fs::path>> stack{{dir, rel}};
    while (!stack.empty()) {
        auto [current, currentRel] = std::move(stack.back());
        stack.pop_back();
        std::error_code ec;
        const fs::path canon = fs::canonical(current, ec);
        if (ec) {
            warnings.push_back(current.string() + ": cannot resolve the folder (" + ec.message() + "); skipped");
            continue;
        }
        if (!visited.insert(canon.string()).second) {
            warnings.push_back(current.string() + ": already scanned as " + canon.string()
                               + " (symlink loop or duplicate link); skipped");
            continue;
        }
        fs::directory_iterator it(current, fs::directory_options::none, ec);
        if (ec) {
            warnings.push_back(current.string() + ": cannot list the folder (" + ec.message() + "); skipped");
            continue;
        }
        std::vector<std::pair<fs::path, fs::path>> subdirs;
        for (const fs::directory_iterator end; it != end; it.increment(ec)) {
            if (ec)
                break;
            const fs::path& p = it->path();
            if (isHidden(p))
                continue;
            const std::string name = p.filename().string();
            std::error_code sec;
            const auto st = fs::status(p, sec); // follows symlinks
            if (!sec && fs::is_directory(st)) {
                if (!isValidUtf8(name))
                    warnings.push_back(printable(p.string()) + ": folder name is not valid UTF-8; skipped (rename it)");
                else
                    subdirs.emplace_back(p, currentRel / p.filename());
                continue;
            }
            if (!hasImageExtension(name))
                continue;
            if (sec || !fs::is_regular_file(st))
                warnings.push_back(printable(p.string()) + ": " + notRegularFileReason(p) + "; skipped");
            else if (!isValidUtf8(name))
                warnings.push_back(printable(p.string()) + ": file name is not valid UTF-8; skipped (rename it)");
            else
                out.push_back((currentRel / p.filename()).generic_string());
        }
        if (ec)
            warnings.push_back(current.string() + ": listing stopped early (" + ec.message() + ")");
        // Push in reverse so that the stack pops them in name order (sorting happens later anyway).
        std::sort(subdirs.rbegin(), subdirs.rend());
        for (auto& s : subdirs)
            stack.push_back(std::move(s));
    }
}

std::string noImagesMessage(const std::string& path)
{
    std::string exts;
    for (const auto& e : imageFileExtensions())
        exts += (exts.empty() ? "" : " ") + e;
    return path + ": no images found (looked for " + exts + ", hidden files skipped)";
}

Expected<std::unique_ptr<ImageSource>> openFolderSource(const std::string& path)
{
    std::vector<std::string> rel, warnings;
    std::set<std::string> visited;
    scanImageFiles(fs::path(path), fs::path(), visited, rel, warnings);
    if (rel.empty())
        return fail(noImagesMessage(path));
    std::sort(rel.begin(), rel.end());
    std::vector<Item> items;
    items.reserve(rel.size());
    for (auto& r : rel)
        items.push_back(Item{std::move(r), {}});
    return std::make_unique<sources::FileListSource>(SourceKind::Folder, fs::path(path), std::move(items),
                                                     std::move(warnings));
}

} // namespace labelprop
