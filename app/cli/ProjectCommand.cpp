// `labelprop-cli project ...`: the command line over a project file (the same store the desktop
// app uses). This file: dispatch, create, import, relink. ProjectLabelCommands.cpp: label, undo,
// redo, review, classes. ProjectInfoCommands.cpp: status, history. ProjectEngineCommands.cpp:
// propagate, audit, suggest, export.

#include "Commands.h"
#include "ProjectCommands.h"
#include "ProjectSupport.h"

#include "core/encoders/Encoder.h"
#include "core/formats/Csv.h"
#include "core/sources/ImageSource.h"
#include "core/project/ProjectCreate.h"
#include "core/project/ProjectEmbeddings.h"
#include "core/project/ProjectImport.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

namespace labelprop::cli {

namespace {

namespace fs = std::filesystem;

// The embedding step of create and import. It runs before their summary is printed, so that the
// summary's unreadable count includes the images it could not decode (the import only hashes
// files; an embedding decodes them), the same count 'project status' shows.
struct EmbedStep {
    Expected<ProjectEmbeddings> embedded;
    double seconds = 0.0;
};

EmbedStep embedProject(ProjectStore& store, const std::string& encoder)
{
    Stopwatch clock;
    auto embedded = loadProjectEmbeddings(store, encoder);
    return EmbedStep{std::move(embedded), clock.seconds()};
}

void printImportReport(const ImportReport& r, const std::optional<EmbedStep>& embed)
{
    const std::int64_t unreadable =
        r.unreadable + (embed && embed->embedded ? embed->embedded->markedUnreadable : 0);
    std::printf("items: %lld added, %lld unchanged, %lld changed, %lld moved, %lld missing; %lld unreadable%s\n",
                (long long)r.added, (long long)r.unchanged, (long long)r.changed, (long long)r.moved,
                (long long)r.missing, (long long)unreadable,
                unreadable > 0 ? " (kept as items without embeddings; 'project export' leaves them out)" : "");
    std::printf("labels: %lld imported", (long long)r.labelsImported);
    if (r.labelsKept > 0)
        std::printf(", %lld kept as a person set them (the source says otherwise)", (long long)r.labelsKept);
    std::printf("\n");
    const std::size_t shown = std::min<std::size_t>(r.warnings.size(), 10);
    for (std::size_t i = 0; i < shown; ++i)
        std::fprintf(stderr, "warning: %s\n", r.warnings[i].c_str());
    if (r.warnings.size() > shown)
        std::fprintf(stderr, "warning: ... and %zu more\n", r.warnings.size() - shown);
}

// Prints what the embedding step did.
int printEmbedStep(const EmbedStep& step)
{
    if (!step.embedded)
        return reportError(step.embedded.error());
    const auto& e = *step.embedded;
    std::printf("embeddings: %lld items x %lld dims with %s (%lld encoded, %lld from the cache) in %.2f s\n",
                (long long)e.x.rows(), (long long)e.x.cols(), e.encoderId.c_str(), (long long)e.encodedNow,
                (long long)e.fromCache, step.seconds);
    for (const auto& w : e.warnings)
        std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (e.markedUnreadable > 0)
        std::fprintf(stderr,
                     "warning: %zu items could not be encoded (%lld files cannot be decoded: marked unreadable, kept "
                     "in the project without embeddings, left out of exports unless 'project export --unreadable "
                     "mark'); first: %s\n",
                     e.skipped.size(), (long long)e.markedUnreadable, e.skipped.front().c_str());
    else if (!e.skipped.empty())
        std::fprintf(stderr, "warning: %zu items could not be encoded; first: %s\n", e.skipped.size(),
                     e.skipped.front().c_str());
    return 0;
}

int runCreate(const std::vector<std::string>& args)
{
    ArgumentParser parser("project create",
                          "Create a project file from an image source: a folder, an ImageFolder tree, a CSV of "
                          "paths or IDX files. Labels the source carries are imported (source = imported).");
    parser.addPositional("PROJECT", "the new project file, e.g. pets.labelprop");
    parser.addOption("source", "SOURCE", "images: a folder, a .csv file (path,label) or IDX files");
    parser.addOption("kind", "KIND", "auto, folder, imagefolder, csv or idx", "auto");
    parser.addOption("encoder", "SPEC", "embedding encoder, e.g. pca:64, pca:64,whiten,rgb, vit:dino_vits16.pth or torchscript:model.pt,size=224 (see labelprop-cli embed --help)", "pca:64");
    parser.addOption("classes", "FILE", "class names, one per line; integer labels i become line i (IDX data)");
    parser.addFlag("no-labels", "do not import the labels the source carries");
    parser.addFlag("no-embed", "do not compute embeddings now (the first propagate does)");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    const auto project = *parser.positional(0);
    auto sourceArg = parser.required("source");
    if (!sourceArg)
        return reportError(sourceArg.error());
    const auto kind = parseSourceKind(*parser.value("kind"));
    if (!kind)
        return reportError(Error{"--kind must be auto, folder, imagefolder, csv or idx"});
    auto threads = parser.integer("threads", 0, 1024);
    if (!threads)
        return reportError(threads.error());
    ProjectCreateRequest request;
    request.project = project;
    request.source = *sourceArg;
    request.kind = *kind;
    request.encoder = *parser.value("encoder");
    request.importLabels = !parser.flag("no-labels");
    request.threads = int(*threads);
    request.holder = "labelprop-cli project create";
    if (auto classesFile = parser.value("classes")) {
        auto names = readClassNamesFile(*classesFile);
        if (!names)
            return reportError(names.error());
        request.classNames = std::move(*names);
    }

    Stopwatch total;
    auto created = createProjectFromSource(request);
    if (!created)
        return reportError(created.error());
    const double importSeconds = total.seconds();
    std::optional<EmbedStep> embed;
    if (!parser.flag("no-embed"))
        embed = embedProject(*created->store, created->encoder);
    std::printf("%s\n", created->sourceDescription.c_str());
    printImportReport(created->report, embed);
    if (!created->encoderNote.empty())
        std::printf("note: %s\n", created->encoderNote.c_str());
    std::printf("import: %.2f s\n", importSeconds);
    if (embed)
        if (int rc = printEmbedStep(*embed); rc != 0)
            return rc;
    std::printf("created %s in %.2f s\n", project.c_str(), total.seconds());
    return 0;
}

int runImport(const std::vector<std::string>& args)
{
    ArgumentParser parser("project import",
                          "Re-scan the project's source: add new files, notice changed and missing ones by content "
                          "hash, follow moved ones. Never drops a person's label. With --labels, apply a labels file "
                          "(CSV path,label[,...] or the JSON 'project export' writes) to items matched by path. "
                          "After a re-scan the new and changed images are embedded, as create does.");
    parser.addPositional("PROJECT", "the project file");
    parser.addOption("labels", "FILE", "a labels file to import instead of re-scanning");
    parser.addFlag("no-labels", "do not import the labels the source carries");
    parser.addOption("encoder", "SPEC", "embed with this encoder, saved as the project's (default: the project's setting)");
    parser.addFlag("no-embed", "do not embed the new images now (the next propagate or the app does)");
    parser.addOption("threads", "N", "worker threads; 0 = all cores", "0");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, "import");
    if (!store)
        return reportError(store.error());
    if (auto file = parser.value("labels")) {
        auto report = importLabelFile(**store, *file);
        if (!report)
            return reportError(report.error());
        std::printf("%s: %lld rows matched project items, %lld labels applied, %lld kept as a person set them, "
                    "%lld paths not in the project\n",
                    file->c_str(), (long long)report->matched, (long long)report->applied,
                    (long long)report->keptHuman, (long long)report->unknownPaths);
        return 0;
    }
    auto info = (*store)->sourceInfo();
    if (!info)
        return reportError(info.error());
    auto source = openProjectSource(*info);
    if (!source)
        return reportError(source.error());
    ImportOptions options;
    options.importLabels = !parser.flag("no-labels");
    auto threads = parser.integer("threads", 0, 1024);
    if (!threads)
        return reportError(threads.error());
    options.threads = int(*threads);
    // The encoder is checked before the scan, so that a typo does not cost a re-scan first.
    auto settings = (*store)->settings();
    if (!settings)
        return reportError(settings.error());
    if (auto encoder = parser.value("encoder")) {
        if (auto e = makeEncoder(*encoder); !e)
            return reportError(e.error());
        settings->encoder = *encoder;
        if (auto saved = (*store)->saveSettings(*settings); !saved)
            return reportError(saved.error());
    }
    Stopwatch clock;
    auto report = importSource(**store, **source, options);
    if (!report)
        return reportError(report.error());
    const double importSeconds = clock.seconds();
    std::optional<EmbedStep> embed;
    if (!parser.flag("no-embed"))
        embed = embedProject(**store, settings->encoder);
    printImportReport(*report, embed);
    std::printf("import: %.2f s\n", importSeconds);
    return embed ? printEmbedStep(*embed) : 0;
}

int runRelink(const std::vector<std::string>& args)
{
    ArgumentParser parser("project relink",
                          "The data set moved: point the project at its new folder. A sample of items is checked "
                          "there by content hash first; nothing changes if they do not match.");
    parser.addPositional("PROJECT", "the project file");
    parser.addPositional("FOLDER", "the data set's new root folder");
    if (auto exit = parseOrExit(parser, args))
        return *exit;
    auto store = openProject(parser, ProjectStore::Access::ReadWrite, "relink");
    if (!store)
        return reportError(store.error());
    auto checked = relinkProject(**store, *parser.positional(1));
    if (!checked)
        return reportError(checked.error());
    auto info = (*store)->sourceInfo();
    std::printf("relinked to %s (%lld items checked by content hash); run 'project import' to pick up other changes\n",
                info ? info->root.c_str() : "?", (long long)*checked);
    return 0;
}

// One "item,label" line of a batch or stream: returns the change, or an error naming the line.
struct ProjectSubcommand {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

const ProjectSubcommand kProjectSubcommands[] = {
    {"create", "create PROJECT.labelprop from a folder, ImageFolder tree, CSV or IDX files", runCreate},
    {"import", "re-scan the source (new, changed, missing, moved files) or apply a labels file", runImport},
    {"relink", "point the project at the data set's new folder", runRelink},
    {"classes", "list the classes; add, rename, set a colour or a hotkey", runProjectClasses},
    {"label", "label items (one, a batch as one action, or a stream of saved actions)", runProjectLabel},
    {"undo", "undo the latest labeling or review action",
     [](const std::vector<std::string>& a) { return runProjectUndoRedo(a, true); }},
    {"redo", "redo the most recently undone action",
     [](const std::vector<std::string>& a) { return runProjectUndoRedo(a, false); }},
    {"review", "record a review decision on a flagged item: kept, relabeled or skipped", runProjectReview},
    {"status", "counts by class and source, flagged, reviewed, undo depth, last propagation", runProjectStatus},
    {"history", "what was done and when; with --item, the provenance of one item's label", runProjectHistory},
    {"propagate", "spread the labels over the kNN graph; saves the result in the project", runProjectPropagate},
    {"audit", "judge every label (imported ones above all) and flag the likely wrong ones", runProjectAudit},
    {"suggest", "pick the items to label next", runProjectSuggest},
    {"export", "write the cleaned labels: csv, json or an ImageFolder tree", runProjectExport},
};

void printProjectUsage(std::FILE* out)
{
    std::fprintf(out, "usage: labelprop-cli project <command> PROJECT.labelprop [options]\n\ncommands:\n");
    for (const auto& s : kProjectSubcommands)
        std::fprintf(out, "  %-11s %s\n", s.name, s.summary);
    std::fprintf(out, "\nRun 'labelprop-cli project <command> --help' for a command's options.\n");
}

} // namespace

int runProject(const std::vector<std::string>& args)
{
    if (args.empty()) {
        printProjectUsage(stderr);
        return kExitUsage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        printProjectUsage(stdout);
        return 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& s : kProjectSubcommands)
        if (args[0] == s.name)
            return s.run(rest);
    std::fprintf(stderr, "labelprop-cli project: unknown command '%s'\n\n", args[0].c_str());
    printProjectUsage(stderr);
    return kExitUsage;
}

} // namespace labelprop::cli
