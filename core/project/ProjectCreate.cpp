#include "core/project/ProjectCreate.h"

#include "core/encoders/Encoder.h"
#include "core/encoders/PcaEncoder.h"
#include "core/formats/Csv.h"

#include <filesystem>
#include <fstream>

namespace labelprop {

namespace fs = std::filesystem;

Expected<std::vector<std::string>> readClassNamesFile(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        return fail(path + ": cannot open the class names file");
    std::vector<std::string> names;
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty())
            continue;
        if (!isValidUtf8(line))
            return fail(path + ":" + std::to_string(number) + ": not valid UTF-8");
        names.push_back(line);
    }
    if (names.empty())
        return fail(path + ": no class names (one per line)");
    return names;
}

void removeProjectFiles(const std::string& project)
{
    // The project file goes last: whoever waits for it to vanish finds everything else gone too.
    std::error_code ec;
    fs::remove_all(project + "-cache", ec);
    for (const auto* suffix : {"-lock", "-wal", "-shm", ""})
        fs::remove(project + suffix, ec);
}

Expected<CreatedProject> createProjectFromSource(const ProjectCreateRequest& request)
{
    if (auto encoder = makeEncoder(request.encoder); !encoder)
        return std::unexpected(encoder.error());
    auto source = openImageSource(request.source, request.kind);
    if (!source)
        return std::unexpected(source.error());
    std::error_code ec;
    const fs::path where = fs::absolute(request.source, ec).lexically_normal();
    ProjectCreateOptions options;
    const bool isDir = fs::is_directory(where, ec);
    options.source.root = isDir ? where.string() : where.parent_path().string();
    options.source.location = isDir ? "." : where.filename().string();
    options.source.kind = std::string(sourceKindName((*source)->kind()));
    options.settings.encoder = request.encoder;
    options.holder = request.holder;
    auto store = ProjectStore::create(request.project, options);
    if (!store)
        return std::unexpected(store.error());
    CreatedProject created;
    created.sourceDescription = (*source)->describe();
    ImportOptions importOptions;
    importOptions.classNames = request.classNames;
    importOptions.importLabels = request.importLabels;
    importOptions.threads = request.threads;
    importOptions.progress = request.progress;
    auto report = importSource(**store, **source, importOptions);
    if (!report) {
        // Nothing a person did is in a project that never finished its import: remove it.
        store->reset();
        removeProjectFiles(request.project);
        return std::unexpected(report.error());
    }
    created.encoder = request.encoder;
    if (auto counts = (*store)->counts()) {
        const auto images = std::size_t(std::max<std::int64_t>(0, counts->items - counts->missing - counts->unreadable));
        if (auto fitting = encoderSpecFittingImages(request.encoder, images); fitting != request.encoder) {
            auto settings = (*store)->settings();
            if (settings) {
                settings->encoder = fitting;
                if (auto saved = (*store)->saveSettings(*settings); !saved)
                    return std::unexpected(saved.error());
            }
            created.encoder = fitting;
            created.encoderNote = request.encoder + " needs more than " + std::to_string(images)
                                  + " images to fit; this project uses " + fitting;
        }
    }
    created.report = std::move(*report);
    created.store = std::move(*store);
    return created;
}

} // namespace labelprop
