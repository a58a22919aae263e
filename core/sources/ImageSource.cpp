#include "core/sources/ImageSource.h"

#include "core/formats/Csv.h"
#include "core/formats/IdxFile.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <system_error>

namespace fs = std::filesystem;

namespace labelprop {

namespace {

char asciiLower(char c)
{
    return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

std::string toLower(std::string_view s)
{
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), asciiLower);
    return r;
}

bool isHidden(const fs::path& p)
{
    const std::string name = p.filename().string();
    return !name.empty() && name.front() == '.';
}

std::string plural(std::size_t n, std::string_view word)
{
    return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

// `text` with every byte that is not part of valid UTF-8 written as \xNN, so that a warning about
// a badly named file is itself valid UTF-8.
std::string printable(std::string_view text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        const std::size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (i + len <= text.size() && isValidUtf8(text.substr(i, len))) {
            out += text.substr(i, len);
            i += len;
        } else {
            constexpr char kHex[] = "0123456789ABCDEF";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            ++i;
        }
    }
    return out;
}

// Why a path that is not a regular file cannot be read as an image, or empty if it is one.
std::string notRegularFileReason(const fs::path& p)
{
    std::error_code ec;
    const auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
        std::error_code lec;
        if (fs::is_symlink(fs::symlink_status(p, lec)))
            return "broken symbolic link (its target is missing)";
        return "file not found";
    }
    if (fs::is_regular_file(st))
        return {};
    if (fs::is_directory(st))
        return "is a folder, not an image file";
    if (fs::is_fifo(st))
        return "is a FIFO (named pipe), not an image file; it is not read";
    if (fs::is_socket(st))
        return "is a socket, not an image file";
    if (fs::is_block_file(st) || fs::is_character_file(st))
        return "is a device, not an image file";
    return "not a regular file";
}

// ---- folder scanning ----------------------------------------------------------------------------

struct ScanEntry {
    std::string relPath; // generic form, relative to the scan root
};

// Depth-first scan below `dir` (whose path relative to the scan root is `rel`). Follows directory
// symlinks, but each real directory (by canonical path) is entered once, so loops terminate.
void scanImages(const fs::path& dir, const fs::path& rel, std::set<std::string>& visited,
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

// ---- decoding -------------------------------------------------------------------------------------

Expected<std::vector<unsigned char>> readWholeFile(const std::string& path)
{
    // Checked before opening: opening a FIFO would block until a writer appears.
    if (const std::string reason = notRegularFileReason(path); !reason.empty())
        return fail(path + ": " + reason);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        return fail(path + ": cannot open (" + std::system_category().message(err) + ")");
    }
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    in.seekg(0, std::ios::beg);
    if (size < 0)
        return fail(path + ": cannot read the file size");
    if (size == 0)
        return fail(path + ": the file is empty (0 bytes)");
    if (size > kMaxImageFileBytes)
        return fail(path + ": the file has " + std::to_string(size) + " bytes, more than the limit of "
                    + std::to_string(kMaxImageFileBytes) + " for one image; convert it to a smaller image first");
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    if (!in.read(reinterpret_cast<char*>(bytes.data()), size))
        return fail(path + ": read error");
    return bytes;
}

// ---- file-based sources -------------------------------------------------------------------------

class FileListSource final : public ImageSource {
public:
    FileListSource(SourceKind kind, fs::path root, std::vector<Item> items, std::vector<std::string> warnings)
        : m_kind(kind)
        , m_root(std::move(root))
        , m_items(std::move(items))
    {
        m_warnings = std::move(warnings);
    }

    SourceKind kind() const override { return m_kind; }
    std::size_t size() const override { return m_items.size(); }
    const Item& item(std::size_t i) const override { return m_items.at(i); }

    Expected<cv::Mat> decode(std::size_t i) const override
    {
        if (i >= m_items.size())
            return fail(describe() + ": item " + std::to_string(i) + " does not exist (there are "
                        + std::to_string(m_items.size()) + ")");
        const fs::path p(m_items[i].path);
        return decodeImageFile((p.is_absolute() ? p : m_root / p).string());
    }

    std::string describe() const override
    {
        std::string s = std::string(sourceKindName(m_kind)) + " " + m_root.string() + ": "
            + plural(m_items.size(), "image");
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

private:
    SourceKind m_kind;
    fs::path m_root;
    std::vector<Item> m_items;
};

std::string noImagesMessage(const std::string& path)
{
    std::string exts;
    for (const auto& e : imageFileExtensions())
        exts += (exts.empty() ? "" : " ") + e;
    return path + ": no images found (looked for " + exts + ", hidden files skipped)";
}

Expected<std::unique_ptr<ImageSource>> openFolder(const std::string& path)
{
    std::vector<std::string> rel, warnings;
    std::set<std::string> visited;
    scanImages(fs::path(path), fs::path(), visited, rel, warnings);
    if (rel.empty())
        return fail(noImagesMessage(path));
    std::sort(rel.begin(), rel.end());
    std::vector<Item> items;
    items.reserve(rel.size());
    for (auto& r : rel)
        items.push_back(Item{std::move(r), {}});
    return std::make_unique<FileListSource>(SourceKind::Folder, fs::path(path), std::move(items),
                                            std::move(warnings));
}

Expected<std::unique_ptr<ImageSource>> openImageFolder(const std::string& path)
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
        scanImages(fs::path(path) / cls, fs::path(cls), visited, rel, warnings);
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
    return std::make_unique<FileListSource>(SourceKind::ImageFolder, fs::path(path), std::move(items),
                                            std::move(warnings));
}

Expected<std::unique_ptr<ImageSource>> openCsvSource(const std::string& path)
{
    auto records = readCsvFile(path);
    if (!records)
        return std::unexpected(records.error());
    if (records->empty())
        return fail(path + ": the file is empty; expected the header line 'path,label' (or 'path') and "
                           "one row per image");
    const CsvRecord& header = records->front();
    const bool withLabels = header.fields == std::vector<std::string>{"path", "label"};
    if (!withLabels && header.fields != std::vector<std::string>{"path"}) {
        std::string found;
        for (const auto& f : header.fields)
            found += (found.empty() ? "" : ",") + f;
        return fail(path + ":" + std::to_string(header.line) + ": the header is '" + found
                    + "'; expected 'path,label' or 'path'");
    }
    const std::size_t columns = withLabels ? 2 : 1;
    std::vector<Item> items;
    items.reserve(records->size() - 1);
    for (std::size_t r = 1; r < records->size(); ++r) {
        const CsvRecord& rec = (*records)[r];
        const std::string at = path + ":" + std::to_string(rec.line) + ": ";
        if (rec.fields.size() != columns)
            return fail(at + "expected " + std::to_string(columns) + " field" + (columns == 1 ? "" : "s")
                        + ", found " + std::to_string(rec.fields.size())
                        + "; put paths or labels that contain commas in quotes");
        if (rec.fields[0].empty())
            return fail(at + "empty path");
        items.push_back(Item{rec.fields[0], withLabels ? rec.fields[1] : std::string()});
    }
    if (items.empty())
        return fail(path + ": no images listed; add one row per image after the header");
    fs::path root = fs::path(path).parent_path();
    if (root.empty())
        root = ".";
    return std::make_unique<FileListSource>(SourceKind::Csv, std::move(root), std::move(items),
                                            std::vector<std::string>{});
}

// ---- IDX -----------------------------------------------------------------------------------------

class IdxSource final : public ImageSource {
public:
    struct Part {
        std::string imagesFile; // file name only
        std::string labelsFile; // file name only; empty if none
        std::size_t count = 0;
    };

    IdxSource(std::string path, int rows, int cols, std::vector<std::uint8_t> pixels, std::vector<Item> items,
              std::vector<Part> parts, std::vector<std::string> warnings)
        : m_path(std::move(path))
        , m_rows(rows)
        , m_cols(cols)
        , m_pixels(std::move(pixels))
        , m_items(std::move(items))
        , m_parts(std::move(parts))
    {
        m_warnings = std::move(warnings);
    }

    SourceKind kind() const override { return SourceKind::Idx; }
    std::size_t size() const override { return m_items.size(); }
    const Item& item(std::size_t i) const override { return m_items.at(i); }
    std::optional<cv::Size> fixedImageSize() const override { return cv::Size(m_cols, m_rows); }

    Expected<cv::Mat> decode(std::size_t i) const override
    {
        if (i >= m_items.size())
            return fail(m_path + ": item " + std::to_string(i) + " does not exist (there are "
                        + std::to_string(m_items.size()) + ")");
        const std::size_t px = std::size_t(m_rows) * std::size_t(m_cols);
        // The Mat header points into the (immutable) buffer; clone() gives the caller its own copy.
        const cv::Mat view(m_rows, m_cols, CV_8UC1, const_cast<std::uint8_t*>(m_pixels.data() + i * px));
        return view.clone();
    }

    std::string describe() const override
    {
        std::string s = "idx " + m_path + ": " + plural(m_items.size(), "image") + " of "
            + std::to_string(m_cols) + "x" + std::to_string(m_rows) + " (";
        for (std::size_t k = 0; k < m_parts.size(); ++k)
            s += (k ? ", " : "") + m_parts[k].imagesFile + " " + std::to_string(m_parts[k].count);
        s += ")";
        std::set<std::string_view> labels;
        for (const auto& it : m_items)
            if (!it.label.empty())
                labels.insert(it.label);
        if (!labels.empty())
            s += ", " + plural(labels.size(), "label");
        return s;
    }

private:
    std::string m_path;
    int m_rows;
    int m_cols;
    std::vector<std::uint8_t> m_pixels;
    std::vector<Item> m_items;
    std::vector<Part> m_parts;
};

std::string replaceFirst(std::string s, std::string_view from, std::string_view to)
{
    const auto pos = s.find(from);
    if (pos != std::string::npos)
        s.replace(pos, from.size(), to);
    return s;
}

std::string stripGz(const std::string& name)
{
    return name.ends_with(".gz") ? name.substr(0, name.size() - 3) : name;
}

// Finds the labels file for an images file: "images" -> "labels", "idx3" -> "idx1", with or
// without ".gz". Empty if none exists.
std::string findLabelsFile(const fs::path& imagesPath)
{
    const std::string base = stripGz(imagesPath.filename().string());
    const std::string labelsBase = replaceFirst(replaceFirst(base, "images", "labels"), "idx3", "idx1");
    if (labelsBase == base)
        return {};
    for (const std::string& candidate : {labelsBase, labelsBase + ".gz"}) {
        std::error_code ec;
        if (fs::is_regular_file(imagesPath.parent_path() / candidate, ec))
            return candidate;
    }
    return {};
}

bool isIdxImagesName(const std::string& name)
{
    return name.find("idx3-ubyte") != std::string::npos;
}

// The IDX images files in a folder: train first, then t10k/test, then the rest, each by name.
// When both "x" and "x.gz" exist, the plain file is used.
std::vector<fs::path> findIdxImageFiles(const fs::path& dir)
{
    std::map<std::string, fs::path> byBase;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        std::error_code sec;
        if (isHidden(it->path()) || !isIdxImagesName(name) || !fs::is_regular_file(it->path(), sec))
            continue;
        const std::string base = stripGz(name);
        auto [pos, inserted] = byBase.emplace(base, it->path());
        if (!inserted && !name.ends_with(".gz"))
            pos->second = it->path();
    }
    std::vector<fs::path> files;
    for (auto& [base, p] : byBase)
        files.push_back(p);
    auto rank = [](const fs::path& p) {
        const std::string n = toLower(p.filename().string());
        if (n.find("train") != std::string::npos)
            return 0;
        if (n.find("t10k") != std::string::npos || n.find("test") != std::string::npos)
            return 1;
        return 2;
    };
    std::stable_sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
        return std::pair(rank(a), a.filename().string()) < std::pair(rank(b), b.filename().string());
    });
    return files;
}

Expected<std::unique_ptr<ImageSource>> openIdx(const std::string& path)
{
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(path, ec)) {
        files = findIdxImageFiles(path);
        if (files.empty())
            return fail(path + ": no IDX images file found (looked for *-images-idx3-ubyte or *-images-idx3-ubyte.gz)");
    } else {
        files.push_back(fs::path(path));
    }

    std::vector<std::string> warnings;
    std::vector<std::uint8_t> pixels;
    std::vector<Item> items;
    std::vector<IdxSource::Part> parts;
    int rows = 0, cols = 0;
    for (const auto& file : files) {
        auto images = readIdxFile(file.string(), 3, warnings);
        if (!images)
            return std::unexpected(images.error());
        const auto n = images->dims[0];
        const int r = int(images->dims[1]), c = int(images->dims[2]);
        if (parts.empty()) {
            rows = r;
            cols = c;
        } else if (r != rows || c != cols) {
            return fail(file.string() + ": images are " + std::to_string(c) + "x" + std::to_string(r) + " but "
                        + parts.front().imagesFile + " has " + std::to_string(cols) + "x" + std::to_string(rows)
                        + "; open the files separately");
        }
        IdxSource::Part part{file.filename().string(), findLabelsFile(file), n};
        std::vector<std::uint8_t> labels;
        if (part.labelsFile.empty()) {
            warnings.push_back(file.string() + ": no labels file found next to it; its items are unlabeled");
        } else {
            const std::string labelsPath = (file.parent_path() / part.labelsFile).string();
            auto l = readIdxFile(labelsPath, 1, warnings);
            if (!l)
                return std::unexpected(l.error());
            if (l->dims[0] != n)
                return fail(labelsPath + ": has " + std::to_string(l->dims[0]) + " labels but "
                            + file.filename().string() + " has " + std::to_string(n)
                            + " images; the two files must match");
            labels = std::move(l->data);
        }
        const std::string prefix = part.imagesFile + "#";
        for (std::uint32_t i = 0; i < n; ++i)
            items.push_back(Item{prefix + std::to_string(i), labels.empty() ? std::string() : std::to_string(labels[i])});
        if (pixels.empty())
            pixels = std::move(images->data);
        else
            pixels.insert(pixels.end(), images->data.begin(), images->data.end());
        parts.push_back(std::move(part));
    }
    if (items.empty())
        return fail(path + ": the IDX files hold no images");
    return std::make_unique<IdxSource>(path, rows, cols, std::move(pixels), std::move(items), std::move(parts),
                                       std::move(warnings));
}

// ---- auto detection ------------------------------------------------------------------------------

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

Expected<cv::Mat> toEightBit(const cv::Mat& image, const std::string& path)
{
    if (image.empty())
        return fail(path + ": the decoded image is empty");
    cv::Mat m = image;
    switch (m.depth()) {
    case CV_8U:
        break;
    case CV_8S:
        m.convertTo(m, CV_8U, 1.0, 128.0);
        break;
    case CV_16U:
        m.convertTo(m, CV_8U, 1.0 / 257.0);
        break;
    case CV_16S:
        m.convertTo(m, CV_8U, 1.0 / 257.0, 32768.0 / 257.0);
        break;
    case CV_32F:
    case CV_64F:
        m.convertTo(m, CV_8U, 255.0); // saturates outside [0, 1]; NaN becomes 0
        break;
    default: { // CV_32S and anything else: stretch the value range
        double lo = 0, hi = 0;
        cv::minMaxLoc(m.reshape(1), &lo, &hi);
        const double scale = hi > lo ? 255.0 / (hi - lo) : 0.0;
        m.convertTo(m, CV_8U, scale, -lo * scale);
        break;
    }
    }
    switch (m.channels()) {
    case 1:
    case 3:
        break;
    case 2: {
        cv::Mat gray;
        cv::extractChannel(m, gray, 0);
        m = gray;
        break;
    }
    case 4: {
        cv::Mat bgr;
        cv::cvtColor(m, bgr, cv::COLOR_BGRA2BGR);
        m = bgr;
        break;
    }
    default:
        return fail(path + ": images with " + std::to_string(m.channels())
                    + " channels are not supported; save it as gray, RGB or RGBA");
    }
    if (m.data == image.data)
        m = m.clone(); // never hand out a view of the caller's buffer
    return m;
}

namespace {

std::uint32_t bigEndian(std::span<const std::uint8_t> b, std::size_t at, int bytes)
{
    std::uint32_t v = 0;
    for (int k = 0; k < bytes; ++k)
        v = (v << 8) | b[at + std::size_t(k)];
    return v;
}

std::uint32_t littleEndian(std::span<const std::uint8_t> b, std::size_t at, int bytes)
{
    std::uint32_t v = 0;
    for (int k = bytes - 1; k >= 0; --k)
        v = (v << 8) | b[at + std::size_t(k)];
    return v;
}

std::optional<ImageDimensions> jpegDimensions(std::span<const std::uint8_t> b)
{
    std::size_t i = 2; // after FF D8
    while (i + 4 <= b.size()) {
        if (b[i] != 0xff)
            return std::nullopt;
        const std::uint8_t marker = b[i + 1];
        if (marker == 0xff) { // fill byte
            ++i;
            continue;
        }
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { // no length field
            i += 2;
            continue;
        }
        const std::size_t length = bigEndian(b, i + 2, 2);
        const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
        if (sof) {
            if (i + 9 > b.size())
                return std::nullopt;
            return ImageDimensions{std::int64_t(bigEndian(b, i + 7, 2)), std::int64_t(bigEndian(b, i + 5, 2)), true};
        }
        if (length < 2 || marker == 0xd9 || marker == 0xda) // end of image or start of scan before any SOF
            return std::nullopt;
        i += 2 + length;
    }
    return std::nullopt;
}

std::optional<ImageDimensions> tiffDimensions(std::span<const std::uint8_t> b)
{
    const bool little = b[0] == 'I';
    const auto get = [&](std::size_t at, int bytes) {
        return little ? littleEndian(b, at, bytes) : bigEndian(b, at, bytes);
    };
    const std::size_t ifd = get(4, 4);
    if (ifd + 2 > b.size() || ifd < 8)
        return std::nullopt;
    const std::size_t count = get(ifd, 2);
    std::int64_t width = -1, height = -1;
    for (std::size_t e = 0; e < count && ifd + 2 + 12 * (e + 1) <= b.size(); ++e) {
        const std::size_t at = ifd + 2 + 12 * e;
        const auto tag = get(at, 2), type = get(at + 2, 2);
        if (tag != 256 && tag != 257)
            continue;
        const std::int64_t v = type == 3 ? get(at + 8, 2) : type == 4 ? get(at + 8, 4) : -1;
        (tag == 256 ? width : height) = v;
    }
    if (width < 0 || height < 0)
        return std::nullopt;
    return ImageDimensions{width, height, false};
}

} // namespace

std::optional<ImageDimensions> readImageDimensions(std::span<const std::uint8_t> b)
{
    const auto startsWith = [&](std::string_view magic, std::size_t at = 0) {
        return b.size() >= at + magic.size() && std::equal(magic.begin(), magic.end(), b.begin() + std::ptrdiff_t(at),
            [](char m, std::uint8_t c) { return std::uint8_t(m) == c; });
    };
    if (startsWith("\x89PNG\r\n\x1a\n") && startsWith("IHDR", 12) && b.size() >= 24)
        return ImageDimensions{std::int64_t(bigEndian(b, 16, 4)), std::int64_t(bigEndian(b, 20, 4)), false};
    if (startsWith("\xff\xd8"))
        return jpegDimensions(b);
    if (startsWith("BM") && b.size() >= 26) {
        if (littleEndian(b, 14, 4) == 12) // BITMAPCOREHEADER: 16-bit sizes
            return ImageDimensions{std::int64_t(littleEndian(b, 18, 2)), std::int64_t(littleEndian(b, 20, 2)), false};
        const auto w = std::int32_t(littleEndian(b, 18, 4)), h = std::int32_t(littleEndian(b, 22, 4));
        return ImageDimensions{std::abs(std::int64_t(w)), std::abs(std::int64_t(h)), false};
    }
    if (startsWith("RIFF") && startsWith("WEBP", 8) && b.size() >= 30) {
        if (startsWith("VP8 ", 12))
            return ImageDimensions{std::int64_t(littleEndian(b, 26, 2) & 0x3fff),
                                   std::int64_t(littleEndian(b, 28, 2) & 0x3fff), false};
        if (startsWith("VP8L", 12)) {
            const std::uint32_t bits = littleEndian(b, 21, 4);
            return ImageDimensions{std::int64_t(bits & 0x3fff) + 1, std::int64_t((bits >> 14) & 0x3fff) + 1, false};
        }
        if (startsWith("VP8X", 12))
            return ImageDimensions{std::int64_t(littleEndian(b, 24, 3)) + 1, std::int64_t(littleEndian(b, 27, 3)) + 1,
                                   false};
        return std::nullopt;
    }
    if ((startsWith("II*") && startsWith(std::string_view("\0", 1), 3)) || startsWith(std::string_view("MM\0*", 4)))
        return b.size() >= 8 ? tiffDimensions(b) : std::nullopt;
    return std::nullopt;
}

Expected<cv::Mat> decodeImageFile(const std::string& path, std::int64_t maxPixels)
{
    auto bytes = readWholeFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    int flags = cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR;
    if (const auto dims = readImageDimensions(*bytes)) {
        std::int64_t pixels = 0;
        if (__builtin_mul_overflow(dims->width, dims->height, &pixels))
            pixels = std::numeric_limits<std::int64_t>::max();
        int reduction = 1;
        if (dims->isJpeg) { // libjpeg decodes at 1/2, 1/4 or 1/8 scale for little more than the cost of the output
            while (reduction < 8 && pixels / (std::int64_t(reduction) * reduction) > maxPixels)
                reduction *= 2;
        }
        if (pixels / (std::int64_t(reduction) * reduction) > maxPixels)
            return fail(path + ": the image is " + std::to_string(dims->width) + " x " + std::to_string(dims->height)
                        + " pixels (" + std::to_string(pixels) + "), more than the limit of " + std::to_string(maxPixels)
                        + " pixels for one image; scale it down first (e.g. to 4096 pixels on the long side)");
        if (reduction > 1)
            flags = reduction == 2 ? cv::IMREAD_REDUCED_COLOR_2 : reduction == 4 ? cv::IMREAD_REDUCED_COLOR_4
                                                                                 : cv::IMREAD_REDUCED_COLOR_8;
    }
    cv::Mat decoded;
    try {
        decoded = cv::imdecode(*bytes, flags);
    } catch (const cv::Exception& e) {
        return fail(path + ": cannot decode the image (" + e.msg + ")");
    } catch (const std::bad_alloc&) {
        return fail(path + ": not enough memory to decode the image");
    }
    if (decoded.empty())
        return fail(path + ": cannot decode the image; the file is corrupt or not in a supported format");
    try {
        return toEightBit(decoded, path);
    } catch (const cv::Exception& e) {
        return fail(path + ": cannot convert the image to 8 bits (" + e.msg + ")");
    }
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
            return kind == SourceKind::Folder ? openFolder(path) : openImageFolder(path);
        case SourceKind::Csv:
            if (!isFile)
                return fail(path + ": not a file; a 'csv' source is a .csv file with the header 'path,label'");
            return openCsvSource(path);
        case SourceKind::Idx:
            return openIdx(path);
        case SourceKind::Auto:
            break;
        }
    } catch (const std::exception& e) { // filesystem_error, bad_alloc
        return fail(path + ": cannot open the image source (" + e.what() + ")");
    }
    return fail(path + ": unknown source kind");
}

} // namespace labelprop
