#include "core/sources/IdxSource.h"

#include "core/formats/IdxFile.h"
#include "core/sources/SourceSupport.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace labelprop {

namespace {

using sources::isHidden;
using sources::plural;
using sources::toLower;

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

} // namespace

bool isIdxImagesName(const std::string& name)
{
    return name.find("idx3-ubyte") != std::string::npos;
}

Expected<std::unique_ptr<ImageSource>> openIdxSource(const std::string& path)
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

} // namespace labelprop
