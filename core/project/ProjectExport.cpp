#include "core/project/ProjectExport.h"

#include "core/base/AtomicFile.h"
#include "core/formats/Csv.h"
#include "core/sources/ImageSource.h"
#include "core/base/StringHash.h"
#include "core/project/ProjectImport.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <set>
#include <unistd.h>

namespace labelprop {

namespace fs = std::filesystem;

namespace {

constexpr const char* kExportMarker = ".labelprop-export";
constexpr const char* kUnreadableList = "unreadable.txt"; // imagefolder, UnreadablePolicy::Mark

struct ExportRow {
    std::int64_t itemId;
    std::string path;
    std::string label;
    std::string source;
    std::optional<float> confidence;
    bool flagged = false;
    bool unreadable = false; // ItemStatus::Unreadable, kept with UnreadablePolicy::Mark
};

std::string formatConfidence(std::optional<float> c)
{
    if (!c)
        return {};
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.4f", double(*c));
    return buffer;
}

std::string folderName(std::string name)
{
    for (char& c : name)
        if (c == '/' || c == '\0')
            c = '_';
    if (name == "." || name == "..")
        name = "_" + name;
    return name;
}

// A stored run indexed by item id, with the project's class ids mapped to its columns.
class IndexedRun {
public:
    IndexedRun(const StoredPropagation* run, const std::vector<ProjectClass>& classes)
        : run(run)
        , m_column(classes.size(), -1)
    {
        if (!run)
            return;
        for (std::size_t r = 0; r < run->itemIds.size(); ++r)
            m_row.emplace(run->itemIds[r], r);
        for (std::size_t c = 0; c < classes.size(); ++c)
            for (std::size_t j = 0; j < run->classes.size(); ++j)
                if (run->classes[j] == classes[c].name)
                    m_column[c] = int(j);
    }

    // The propagated probability of project class `cls` for the item.
    [[nodiscard]] std::optional<float> probability(std::int64_t itemId, int cls) const
    {
        const auto r = row(itemId);
        if (!r || cls < 0 || std::size_t(cls) >= m_column.size() || m_column[std::size_t(cls)] < 0)
            return std::nullopt;
        const std::size_t nc = run->classes.size();
        double sum = 0;
        for (std::size_t j = 0; j < nc; ++j)
            sum += run->scores[*r * nc + j];
        if (!(sum > 0))
            return std::nullopt;
        return float(run->scores[*r * nc + std::size_t(m_column[std::size_t(cls)])] / sum);
    }
    // True when the run flagged the item while it carried project class `cls`.
    [[nodiscard]] bool flagged(std::int64_t itemId, int cls) const
    {
        const auto r = row(itemId);
        if (!r || !run->flagged[*r] || cls < 0 || std::size_t(cls) >= m_column.size())
            return false;
        return run->given[*r] >= 0 && run->given[*r] == m_column[std::size_t(cls)];
    }
    // (class name, confidence) of the run's prediction for the item.
    [[nodiscard]] std::optional<std::pair<std::string, float>> prediction(std::int64_t itemId) const
    {
        const auto r = row(itemId);
        if (!r || run->predicted[*r] < 0)
            return std::nullopt;
        return std::pair(run->classes[std::size_t(run->predicted[*r])], run->confidence[*r]);
    }

    const StoredPropagation* run;

private:
    [[nodiscard]] std::optional<std::size_t> row(std::int64_t itemId) const
    {
        if (!run)
            return std::nullopt;
        const auto it = m_row.find(itemId);
        return it == m_row.end() ? std::nullopt : std::optional<std::size_t>(it->second);
    }

    std::unordered_map<std::int64_t, std::size_t> m_row;
    std::vector<int> m_column;
};

Expected<void> writeImageFolder(const ProjectStore& store, const std::vector<ExportRow>& rows, const std::string& out,
                                LinkMode link, ExportReport& report)
{
    auto info = store.sourceInfo();
    if (!info)
        return std::unexpected(info.error());
    std::error_code ec;
    const fs::path target = fs::absolute(out, ec);
    if (fs::exists(target, ec) && !fs::exists(target / kExportMarker, ec))
        return fail(out + ": exists and is not an earlier Labelprop export; choose an empty or new folder");
    const fs::path staging = target.string() + ".tmp-" + std::to_string(::getpid());
    fs::remove_all(staging, ec);
    fs::create_directories(staging, ec);
    if (ec)
        return fail(staging.string() + ": cannot create (" + ec.message() + ")");
    auto cleanup = [&] {
        std::error_code ignored;
        fs::remove_all(staging, ignored);
    };
    std::unique_ptr<ImageSource> idx;
    StringMap<std::size_t> idxIndex;
    if (info->kind == "idx") {
        auto src = openProjectSource(*info);
        if (!src) {
            cleanup();
            return std::unexpected(src.error());
        }
        idx = std::move(*src);
        for (std::size_t i = 0; i < idx->size(); ++i)
            idxIndex.emplace(idx->item(i).path, i);
    }
    std::string unreadableList; // paths in OUT, one a line
    for (const auto& row : rows) {
        const fs::path dir = staging / folderName(row.label);
        const auto listIfUnreadable = [&](const fs::path& written) {
            if (row.unreadable)
                unreadableList += written.lexically_relative(staging).generic_string() + "\n";
        };
        if (idx) {
            const auto found = idxIndex.find(row.path);
            if (found == idxIndex.end()) {
                ++report.missingSkipped;
                continue;
            }
            auto img = idx->decode(found->second);
            std::string name = row.path;
            std::replace(name.begin(), name.end(), '#', '_');
            const fs::path file = dir / (name + ".png");
            fs::create_directories(dir, ec);
            if (!img || !cv::imwrite(file.string(), *img)) {
                cleanup();
                return fail(file.string() + ": cannot write the image; check free space");
            }
            listIfUnreadable(file);
            continue;
        }
        const fs::path from = itemFilePath(*info, row.path);
        if (!fs::exists(from, ec)) {
            ++report.missingSkipped;
            continue;
        }
        const fs::path to = dir / fs::path(row.path).relative_path();
        fs::create_directories(to.parent_path(), ec);
        if (!ec) {
            if (link == LinkMode::Copy)
                fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
            else if (link == LinkMode::HardLink)
                fs::create_hard_link(from, to, ec);
            else
                fs::create_symlink(fs::absolute(from), to, ec);
        }
        if (ec) {
            cleanup();
            return fail(to.string() + ": cannot " + std::string(link == LinkMode::Copy ? "copy" : "link") + " ("
                        + ec.message() + ")"
                        + (link == LinkMode::HardLink ? "; hard links need the same file system, try --link copy" : ""));
        }
        listIfUnreadable(to);
    }
    if (auto r = writeFileAtomically((staging / kExportMarker).string(), "written by labelprop project export\n"); !r) {
        cleanup();
        return r;
    }
    if (!unreadableList.empty())
        if (auto r = writeFileAtomically((staging / kUnreadableList).string(), unreadableList); !r) {
            cleanup();
            return r;
        }
    // Swap into place: the old export (if any) moves aside first, so OUT is never half-written.
    const fs::path old = target.string() + ".old-" + std::to_string(::getpid());
    const bool hadOld = fs::exists(target, ec);
    if (hadOld)
        fs::rename(target, old, ec);
    if (!ec)
        fs::rename(staging, target, ec);
    if (ec) {
        cleanup();
        if (hadOld)
            fs::rename(old, target, ec);
        return fail(out + ": cannot move the new export into place (" + ec.message() + ")");
    }
    if (hadOld)
        fs::remove_all(old, ec);
    return {};
}

} // namespace

Expected<std::vector<std::int64_t>> itemsFlaggedNow(const ProjectStore& store,
                                                    const std::optional<StoredPropagation>& latest)
{
    std::vector<std::int64_t> out;
    if (!latest)
        return out;
    auto classes = store.classes();
    auto labels = store.currentLabels();
    auto reviews = store.currentReviews();
    for (const Error* e : {classes ? nullptr : &classes.error(), labels ? nullptr : &labels.error(),
                           reviews ? nullptr : &reviews.error()})
        if (e)
            return std::unexpected(*e);
    const IndexedRun run(&*latest, *classes);
    std::set<std::int64_t> reviewed;
    for (const auto& r : *reviews)
        reviewed.insert(r.first);
    for (const auto& l : *labels)
        if (run.flagged(l.itemId, l.classId) && !reviewed.contains(l.itemId))
            out.push_back(l.itemId);
    return out;
}

Expected<void> parseExportLevel(std::string_view text, ExportOptions& options)
{
    if (text == "human") {
        options.level = ExportLevel::Human;
        return {};
    }
    if (text == "fixed") {
        options.level = ExportLevel::Fixed;
        return {};
    }
    if (text.starts_with("pseudo:")) {
        const std::string value(text.substr(7));
        char* end = nullptr;
        const double t = std::strtod(value.c_str(), &end);
        if (value.empty() || end != value.c_str() + value.size() || !(t >= 0.0 && t <= 1.0))
            return fail("--include " + std::string(text) + ": the threshold must be a number in [0, 1], e.g. pseudo:0.9");
        options.level = ExportLevel::Pseudo;
        options.pseudoThreshold = float(t);
        return {};
    }
    return fail("--include " + std::string(text) + ": expected human, fixed or pseudo:THRESHOLD");
}

namespace {

// What an export writes, before it is written: the rows and the report's counts.
struct PlannedExport {
    std::vector<ExportRow> rows;
    ExportReport report;
    ProjectSourceInfo info;
    std::vector<ProjectClass> classes;
};

Expected<PlannedExport> planExport(const ProjectStore& store, const ExportOptions& options)
{
    auto items = store.items();
    auto classes = store.classes();
    auto labels = store.currentLabels();
    auto reviews = store.currentReviews();
    auto propagated = store.latestPropagation("propagate"); // pseudo-labels and confidences
    auto audited = store.latestPropagation("audit");        // flags come from the newer of the two
    auto version = store.labelVersion();
    auto info = store.sourceInfo();
    for (const Error* e : {items ? nullptr : &items.error(), classes ? nullptr : &classes.error(),
                           labels ? nullptr : &labels.error(), reviews ? nullptr : &reviews.error(),
                           audited ? nullptr : &audited.error(), version ? nullptr : &version.error(),
                           propagated ? nullptr : &propagated.error(),
                           info ? nullptr : &info.error()})
        if (e)
            return std::unexpected(*e);
    if (options.level == ExportLevel::Pseudo && !*propagated)
        return failWithCliAdvice(store.path() + ": propagated labels cannot be exported before the labels were propagated",
                                 "run 'labelprop-cli project propagate " + store.path() + "' first");

    ExportReport report;
    const StoredPropagation* propagatedRun = propagated->has_value() ? &**propagated : nullptr;
    const StoredPropagation* auditRun = audited->has_value() ? &**audited : nullptr;
    const IndexedRun pseudo(propagatedRun, *classes);
    // The audit wins a tie, as in latestPropagation().
    const bool auditIsNewer = auditRun && (!propagatedRun || auditRun->timeMs >= propagatedRun->timeMs);
    const IndexedRun flags(auditIsNewer ? auditRun : propagatedRun, *classes);
    if ((flags.run && flags.run->labelVersion != *version) || (pseudo.run && pseudo.run->labelVersion != *version))
        report.stalePropagation = true;
    std::unordered_map<std::int64_t, CurrentLabel> labelOf;
    for (const auto& l : *labels)
        labelOf.emplace(l.itemId, l);
    std::unordered_map<std::int64_t, ReviewDecision> reviewOf(reviews->begin(), reviews->end());

    std::vector<ExportRow> rows;
    for (const auto& item : *items) {
        ExportRow row{item.id, item.path, {}, {}, std::nullopt, false, false};
        std::int64_t* tally = nullptr; // the report's count for the row's source, once it is written
        const auto l = labelOf.find(item.id);
        if (l != labelOf.end()) {
            const auto src = l->second.source;
            if (src == LabelSource::Imported && !options.includeImported)
                continue;
            if (src == LabelSource::Accepted && options.level == ExportLevel::Human)
                continue;
            row.label = (*classes)[std::size_t(l->second.classId)].name;
            row.source = std::string(labelSourceName(src));
            row.confidence = pseudo.probability(item.id, l->second.classId);
            // Flagged: the newest run judged this very label wrong, and nobody reviewed it since.
            row.flagged = flags.flagged(item.id, l->second.classId) && !reviewOf.contains(item.id);
            tally = src == LabelSource::Human || src == LabelSource::Bulk ? &report.human
                  : src == LabelSource::Imported                         ? &report.imported
                                                                         : &report.fixed;
        } else {
            if (options.level != ExportLevel::Pseudo)
                continue;
            const auto guess = pseudo.prediction(item.id);
            if (!guess || guess->second < options.pseudoThreshold)
                continue;
            row.label = guess->first;
            row.source = "pseudo";
            row.confidence = guess->second;
            tally = &report.pseudo;
        }
        // An unreadable file keeps its folder's label, but it is no training data.
        if (item.status == ItemStatus::Unreadable) {
            if (options.unreadable == UnreadablePolicy::Drop) {
                ++report.unreadableDropped;
                continue;
            }
            row.unreadable = true;
            ++report.unreadableMarked;
        }
        if (row.flagged) {
            if (options.flagged == FlaggedPolicy::Drop) {
                ++report.flaggedDropped;
                continue;
            }
            if (options.flagged == FlaggedPolicy::Keep)
                row.flagged = false;
            else
                ++report.flaggedMarked;
        }
        ++*tally;
        rows.push_back(std::move(row));
    }
    report.written = std::int64_t(rows.size());
    return PlannedExport{std::move(rows), report, std::move(*info), std::move(*classes)};
}

} // namespace

Expected<ExportPreview> previewExport(const ProjectStore& store, const ExportOptions& options)
{
    auto planned = planExport(store, options);
    if (!planned)
        return std::unexpected(planned.error());
    ExportPreview preview;
    preview.report = planned->report;
    std::unordered_map<std::string, std::size_t> column;
    for (const auto& c : planned->classes) {
        column.emplace(c.name, preview.classes.size());
        preview.classes.push_back(ExportPreview::ClassCount{c.name, 0, 0});
    }
    for (const auto& r : planned->rows) {
        const auto it = column.find(r.label);
        if (it == column.end())
            continue;
        auto& count = preview.classes[it->second];
        ++(r.source == "pseudo" ? count.propagated : count.given);
    }
    return preview;
}

Expected<ExportReport> exportLabels(const ProjectStore& store, const std::string& out, const ExportOptions& options)
{
    auto planned = planExport(store, options);
    if (!planned)
        return std::unexpected(planned.error());
    auto& rows = planned->rows;
    auto& report = planned->report;
    const auto* info = &planned->info;
    const auto* classes = &planned->classes;

    switch (options.format) {
    case ExportFormat::Csv: {
        // Paths relative to the CSV's own folder, as a CSV source reads them, so the file can be
        // fed back in (`project create --source clean.csv`) wherever it was written: written in
        // the data's root they are the stored root-relative paths.
        std::error_code ec;
        const fs::path base = fs::absolute(fs::path(out), ec).parent_path();
        const auto csvPath = [&](const std::string& stored) {
            if (info->kind == "idx" || ec)
                return stored; // 'file#i' names an image inside an IDX file, not a file
            const fs::path relative = fs::path(itemFilePath(*info, stored)).lexically_relative(base);
            return relative.empty() ? stored : relative.string();
        };
        const bool markUnreadable = options.unreadable == UnreadablePolicy::Mark;
        std::string text = markUnreadable ? "path,label,source,confidence,flagged,unreadable\n"
                                          : "path,label,source,confidence,flagged\n";
        for (const auto& r : rows) {
            std::vector<std::string> fields{csvPath(r.path), r.label, r.source, formatConfidence(r.confidence),
                                            r.flagged ? "1" : "0"};
            if (markUnreadable)
                fields.push_back(r.unreadable ? "1" : "0");
            text += csvLine(fields);
        }
        if (auto w = writeFileAtomically(out, text); !w)
            return std::unexpected(w.error());
        break;
    }
    case ExportFormat::Json: {
        nlohmann::ordered_json doc; // keys in this order, for people reading the file
        doc["format"] = "labelprop-labels";
        doc["version"] = 1;
        doc["root"] = info->root;
        nlohmann::ordered_json names = nlohmann::ordered_json::array();
        for (const auto& c : *classes)
            names.push_back(c.name);
        doc["classes"] = names;
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& r : rows) {
            nlohmann::ordered_json it{{"path", r.path}, {"label", r.label}, {"source", r.source}};
            it["confidence"] = r.confidence ? nlohmann::ordered_json(std::round(double(*r.confidence) * 1e4) / 1e4)
                                            : nlohmann::ordered_json(nullptr);
            it["flagged"] = r.flagged;
            if (options.unreadable == UnreadablePolicy::Mark)
                it["unreadable"] = r.unreadable;
            list.push_back(std::move(it));
        }
        doc["items"] = std::move(list);
        std::string text;
        try {
            text = doc.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::strict) + "\n";
        } catch (const nlohmann::json::exception& e) {
            return fail(out + ": cannot write JSON (" + e.what() + "); a path or class name is not valid UTF-8");
        }
        if (auto w = writeFileAtomically(out, text); !w)
            return std::unexpected(w.error());
        break;
    }
    case ExportFormat::ImageFolder:
        if (auto w = writeImageFolder(store, rows, out, options.link, report); !w)
            return std::unexpected(w.error());
        report.written -= report.missingSkipped;
        break;
    }
    return report;
}

} // namespace labelprop
