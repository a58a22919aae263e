// The source factory: kind names, the image extensions, auto detection and openImageSource().
// Each kind of source lives in its own file (FolderSource, ImageFolderSource, CsvSource,
// IdxSource); decoding is in ImageDecode.

#include "core/sources/ImageSource.h"

#include "core/sources/CsvSource.h"
#include "core/sources/FolderSource.h"
#include "core/sources/IdxSource.h"
#include "core/sources/ImageFolderSource.h"
#include "core/sources/SourceSupport.h"

#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace labelprop {

using sources::isHidden;
using sources::toLower;

namespace {

SourceKind detectFolderKind(const fs::path& dir)
{
    std::error_code ec;
    bool hasSubdir = false;
    bool hasTopImage = false;
    bool hasIdx = false;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (isHidden(it->path()))
            continue;
        const std::string name = it->path().filename().string();
        std::error_code sec;
        const auto st = fs::status(it->path(), sec);
        if (sec)
            continue;
        if (fs::is_directory(st))
            hasSubdir = true;
        else if (fs::is_regular_file(st)) {
            if (isIdxImagesName(name))
                hasIdx = true;
            else if (hasImageExtension(name))
                hasTopImage = true;
        }
    }
    if (hasIdx)
        return SourceKind::Idx;
    if (!hasTopImage && hasSubdir)
        return SourceKind::ImageFolder;
    return SourceKind::Folder;
}

} // namespace

std::optional<SourceKind> parseSourceKind(std::string_view name)
{
    const std::string n = toLower(name);
    if (n == "auto")
        return SourceKind::Auto;
    if (n == "folder")
        return SourceKind::Folder;
    if (n == "imagefolder")
        return SourceKind::ImageFolder;
    if (n == "csv")
        return SourceKind::Csv;
    if (n == "idx")
        return SourceKind::Idx;
    return std::nullopt;
}

std::string_view sourceKindName(SourceKind kind)
{
    switch (kind) {
    case SourceKind::Auto:
        return "auto";
    case SourceKind::Folder:
        return "folder";
    case SourceKind::ImageFolder:
        return "imagefolder";
    case SourceKind::Csv:
        return "csv";
    case SourceKind::Idx:
        return "idx";
    }
    return "unknown";
}

const std::vector<std::string>& imageFileExtensions()
{
    static const std::vector<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"};
    return kExtensions;
}

bool hasImageExtension(std::string_view fileName)
{
    const std::string lower = toLower(fileName);
    for (const auto& ext : imageFileExtensions()) {
        if (lower.size() > ext.size() && lower.ends_with(ext))
            return true;
    }
    return false;
}

Expected<std::unique_ptr<ImageSource>> openImageSource(const std::string& path, SourceKind kind)
{
    if (path.empty())
        return fail("no image source given; pass a folder, a .csv file or an IDX file or folder");
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (ec || !fs::exists(st))
        return fail(path + ": no such file or folder");
    const bool isDir = fs::is_directory(st);
    const bool isFile = fs::is_regular_file(st);
    if (kind == SourceKind::Auto) {
        if (isDir) {
            kind = detectFolderKind(path);
        } else if (isFile) {
            const std::string name = fs::path(path).filename().string();
            if (toLower(name).ends_with(".csv"))
                kind = SourceKind::Csv;
            else if (isIdxImagesName(name))
                kind = SourceKind::Idx;
            else
                return fail(path + ": cannot tell what kind of image source this file is; pass a folder, a .csv "
                                   "file or an IDX images file (*-images-idx3-ubyte[.gz])");
        } else {
            return fail(path + ": neither a file nor a folder");
        }
    }
    try {
        switch (kind) {
        case SourceKind::Folder:
        case SourceKind::ImageFolder:
            if (!isDir)
                return fail(path + ": not a folder; a '" + std::string(sourceKindName(kind)) + "' source is a folder");
            return kind == SourceKind::Folder ? openFolderSource(path) : openImageFolderSource(path);
        case SourceKind::Csv:
            if (!isFile)
                return fail(path + ": not a file; a 'csv' source is a .csv file with the header 'path,label'");
            return openCsvSource(path);
        case SourceKind::Idx:
            return openIdxSource(path);
        case SourceKind::Auto:
            break;
        }
    } catch (const std::exception& e) { // filesystem_error, bad_alloc
        return fail(path + ": cannot open the image source (" + e.what() + ")");
    }
    return fail(path + ": unknown source kind");
}

} // namespace labelprop
