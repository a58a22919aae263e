// The project store (core/ProjectStore and friends): history, undo/redo, derived labels, import
// and re-import, relink, the embedding cache, export round trips, locks, schema versions, damaged
// and foreign files, and a full disk.

#include "ProjectTestSupport.h"
#include "TestSupport.h"

#include "core/sources/ImageSource.h"
#include "core/project/ProjectEmbeddings.h"
#include "core/project/ProjectExport.h"
#include "core/project/ProjectImport.h"
#include "core/project/ProjectLock.h"
#include "core/project/ProjectSchema.h"
#include "core/project/ProjectStore.h"
#include "core/project/SqliteDatabase.h"

#include <QtTest>

#include <filesystem>
#include <map>
#include <sys/mount.h>

using namespace labelprop;
using namespace labelprop::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kClasses = {"cat", "dog", "fox"};

// A project over an ImageFolder tree (labels imported), created in `dir`.
struct Fixture {
    fs::path root;
    std::string project;
    std::vector<std::string> paths;
};

Fixture makeFixture(const QTemporaryDir& tmp, int perClass = 8, bool withLabels = true)
{
    Fixture f;
    f.root = fs::path(tmp.path().toStdString()) / "data";
    f.paths = writeImageFolder(f.root, kClasses, perClass);
    f.project = (fs::path(tmp.path().toStdString()) / "p.labelprop").string();
    ProjectCreateOptions options;
    options.source = {f.root.string(), "imagefolder", "."};
    options.settings.encoder = "pca:8";
    auto store = ProjectStore::create(f.project, options);
    if (!store)
        qFatal("create: %s", store.error().message.c_str());
    auto source = openImageSource(f.root.string(), SourceKind::ImageFolder);
    if (!source)
        qFatal("source: %s", source.error().message.c_str());
    ImportOptions io;
    io.importLabels = withLabels;
    auto report = importSource(**store, **source, io);
    if (!report)
        qFatal("import: %s", report.error().message.c_str());
    return f;
}

std::unique_ptr<ProjectStore> openOrDie(const std::string& path,
                                        ProjectStore::Access access = ProjectStore::Access::ReadWrite)
{
    auto store = ProjectStore::open(path, access);
    if (!store)
        qFatal("open: %s", store.error().message.c_str());
    return std::move(*store);
}

// item id -> (class id, source)
std::map<std::int64_t, std::pair<int, LabelSource>> labelsOf(const ProjectStore& store)
{
    std::map<std::int64_t, std::pair<int, LabelSource>> out;
    auto labels = store.currentLabels();
    if (!labels)
        qFatal("labels: %s", labels.error().message.c_str());
    for (const auto& l : *labels)
        out[l.itemId] = {l.classId, l.source};
    return out;
}

QByteArray fileBytes(const std::string& path)
{
    return readFile(QString::fromStdString(path));
}

} // namespace

class TestProjectStore : public QObject {
    Q_OBJECT

private slots:
    void createImportsItemsClassesAndLabels()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 5);
        auto store = openOrDie(f.project);
        auto items = store->items();
        QVERIFY(items);
        QCOMPARE(items->size(), std::size_t(15));
        for (std::size_t i = 0; i < items->size(); ++i) {
            QCOMPARE((*items)[i].id, std::int64_t(i + 1));
            QCOMPARE((*items)[i].path, f.paths[i]);
            QVERIFY(!(*items)[i].hash.isZero());
            QCOMPARE((*items)[i].status, ItemStatus::Present);
        }
        auto classes = store->classes();
        QVERIFY(classes);
        QCOMPARE(classes->size(), std::size_t(3));
        QCOMPARE((*classes)[0].name, std::string("cat"));
        QCOMPARE((*classes)[0].hotkey, std::string("1"));
        QVERIFY((*classes)[0].colour.starts_with("#"));
        const auto labels = labelsOf(*store);
        QCOMPARE(labels.size(), std::size_t(15));
        for (const auto& [id, l] : labels) {
            QCOMPARE(l.second, LabelSource::Imported);
            QCOMPARE((*classes)[std::size_t(l.first)].name, f.paths[std::size_t(id - 1)].substr(0, 3));
        }
        // Creating over an existing file is refused and leaves it alone.
        const auto before = fileBytes(f.project);
        store.reset();
        ProjectCreateOptions options;
        options.source = {f.root.string(), "imagefolder", "."};
        auto again = ProjectStore::create(f.project, options);
        QVERIFY(!again);
        QVERIFY(again.error().message.find("already exists") != std::string::npos);
        QCOMPARE(fileBytes(f.project), before);
    }

    void csvSourceKeepsItsLabelsAndRelativePaths()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "set";
        const auto paths = writeImageFolder(root, kClasses, 3);
        QByteArray csv = "path,label\n";
        for (std::size_t i = 0; i < paths.size(); ++i)
            csv += QByteArray::fromStdString(paths[i]) + "," + (i % 2 ? QByteArray("odd") : QByteArray()) + "\n";
        writeFile(QString::fromStdString((root / "list.csv").string()), csv);
        ProjectCreateOptions options;
        options.source = {root.string(), "csv", "list.csv"};
        const std::string project = tmp.path().toStdString() + "/c.labelprop";
        auto store = ProjectStore::create(project, options);
        QVERIFY(store);
        auto source = openProjectSource(*(*store)->sourceInfo());
        QVERIFY2(source, source ? "" : source.error().message.c_str());
        auto report = importSource(**store, **source, {});
        QVERIFY(report);
        QCOMPARE(report->added, std::int64_t(9));
        QCOMPARE(report->labelsImported, std::int64_t(4));
        QCOMPARE((*store)->items()->at(0).path, paths[0]);
        auto embedded = loadProjectEmbeddings(**store, "pca:4");
        QVERIFY2(embedded, embedded ? "" : embedded.error().message.c_str());
        QCOMPARE(embedded->x.rows(), Eigen::Index(9));
    }

    void labelUndoRedoPersistAcrossReopen()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 4, false);
        {
            auto store = openOrDie(f.project);
            QVERIFY(labelsOf(*store).empty());
            auto cat = store->ensureClass("cat");
            auto dog = store->ensureClass("dog");
            QVERIFY(cat && dog);
            const LabelChange a[] = {{1, *cat}};
            const LabelChange b[] = {{1, *dog}, {2, *dog}};
            QVERIFY(store->applyLabels(a, LabelSource::Human, "a"));
            QVERIFY(store->applyLabels(b, LabelSource::Bulk, "b"));
            QCOMPARE(labelsOf(*store).at(1).first, *dog);
            auto undone = store->undo();
            QVERIFY(undone && *undone);
            QCOMPARE((*undone)->description, std::string("b"));
            QCOMPARE(labelsOf(*store).at(1).first, *cat); // back to the earlier label
            QVERIFY(!labelsOf(*store).contains(2));
            QVERIFY(store->verifyDerivedState());
            // The item's provenance keeps the undone event, marked.
            auto events = store->itemHistory(1);
            QVERIFY(events);
            QCOMPARE(events->size(), std::size_t(2));
            QCOMPARE((*events)[0].classId, std::optional<int>(*cat));
            QCOMPARE((*events)[0].undone, false);
            QCOMPARE((*events)[1].classId, std::optional<int>(*dog));
            QCOMPARE((*events)[1].source, LabelSource::Bulk);
            QCOMPARE((*events)[1].undone, true);
            QCOMPARE(store->history(10, true)->size(), std::size_t(2));
            QCOMPARE(store->history(10)->size(), std::size_t(1));
        }
        {
            // The undo survived a restart, and so does the redo stack.
            auto store = openOrDie(f.project);
            auto counts = store->counts();
            QVERIFY(counts);
            QCOMPARE(counts->undoable, std::int64_t(1));
            QCOMPARE(counts->redoable, std::int64_t(1));
            auto redone = store->redo();
            QVERIFY(redone && *redone);
            QCOMPARE(labelsOf(*store).at(2).second, LabelSource::Bulk);
            auto nothing = store->redo();
            QVERIFY(nothing && !*nothing);
            // A new action after an undo discards the redo stack.
            QVERIFY(store->undo());
            const LabelChange c[] = {{3, 0}};
            QVERIFY(store->applyLabels(c, LabelSource::Human, "c"));
            auto none = store->redo();
            QVERIFY(none && !*none);
            // Removing a label is an action too.
            const LabelChange remove[] = {{3, -1}};
            QVERIFY(store->applyLabels(remove, LabelSource::Human, "remove"));
            QVERIFY(!labelsOf(*store).contains(3));
            QVERIFY(store->undo());
            QCOMPARE(labelsOf(*store).at(3).first, 0);
            QVERIFY(store->verifyDerivedState());
            auto history = store->history(10);
            QVERIFY(history);
            QCOMPARE(history->front().description, std::string("c"));
        }
    }

    void badChangesChangeNothing()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2);
        auto store = openOrDie(f.project);
        const auto before = labelsOf(*store);
        auto version = store->labelVersion();
        const LabelChange unknownItem[] = {{1, 0}, {999, 0}};
        auto r = store->applyLabels(unknownItem, LabelSource::Bulk, "bad");
        QVERIFY(!r);
        QVERIFY(r.error().message.find("item 998 does not exist") != std::string::npos);
        const LabelChange unknownClass[] = {{1, 7}};
        QVERIFY(!store->applyLabels(unknownClass, LabelSource::Human, "bad"));
        const LabelChange twice[] = {{1, 0}, {1, 1}};
        QVERIFY(!store->applyLabels(twice, LabelSource::Bulk, "bad"));
        QVERIFY(!store->applyLabels({}, LabelSource::Human, "empty"));
        QCOMPARE(labelsOf(*store), before);
        QCOMPARE(*store->labelVersion(), *version);
    }

    void importNeverOverridesPeople()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 3);
        auto store = openOrDie(f.project);
        // A person relabels item 1 (a cat) as dog; a re-import keeps the person's label.
        const LabelChange fix[] = {{1, 1}};
        QVERIFY(store->applyLabels(fix, LabelSource::Human, "fix"));
        auto source = openImageSource(f.root.string(), SourceKind::ImageFolder);
        QVERIFY(source);
        auto report = importSource(*store, **source, {});
        QVERIFY2(report, report ? "" : report.error().message.c_str());
        QCOMPARE(report->labelsKept, std::int64_t(1));
        QCOMPARE(report->labelsImported, std::int64_t(0));
        QCOMPARE(report->unchanged, std::int64_t(9));
        QCOMPARE(labelsOf(*store).at(1), std::pair(1, LabelSource::Human));
        // Imported labels themselves follow the source: move a cat image into the fox folder.
        fs::rename(f.root / "cat/img_2.png", f.root / "fox/img_9.png");
        source = openImageSource(f.root.string(), SourceKind::ImageFolder);
        report = importSource(*store, **source, {});
        QVERIFY(report);
        QCOMPARE(report->moved, std::int64_t(1));
        auto item = store->findItem("fox/img_9.png");
        QVERIFY(item && *item);
        QCOMPARE((*item)->id, std::int64_t(3)); // the same item, moved
        QCOMPARE(labelsOf(*store).at(3), std::pair(2, LabelSource::Imported));
        QVERIFY(store->verifyDerivedState());
    }

    void reimportFindsChangedMissingAndNewFiles()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 3);
        auto store = openOrDie(f.project);
        const LabelChange human[] = {{4, 0}}; // dog/img_0 labeled cat by a person
        QVERIFY(store->applyLabels(human, LabelSource::Human, "h"));
        // Change one file's bytes, delete a labeled one, add two.
        writeImageFolder(tmp.path().toStdString() + "/other", {"x"}, 1, 99);
        fs::copy_file(tmp.path().toStdString() + "/other/x/img_0.png", f.root / "cat/img_1.png",
                      fs::copy_options::overwrite_existing);
        fs::remove(f.root / "dog/img_0.png");
        writeImageFolder(tmp.path().toStdString() + "/more", {"fox"}, 5, 1234);
        fs::copy_file(tmp.path().toStdString() + "/more/fox/img_3.png", f.root / "fox/new_a.png");
        fs::copy_file(tmp.path().toStdString() + "/more/fox/img_4.png", f.root / "fox/new_b.png");
        auto source = openImageSource(f.root.string(), SourceKind::ImageFolder);
        QVERIFY(source);
        auto report = importSource(*store, **source, {});
        QVERIFY2(report, report ? "" : report.error().message.c_str());
        QCOMPARE(report->added, std::int64_t(2));
        QCOMPARE(report->changed, std::int64_t(1));
        QCOMPARE(report->missing, std::int64_t(1));
        auto items = store->items();
        QVERIFY(items);
        QCOMPARE(items->size(), std::size_t(11)); // nothing is ever deleted
        QCOMPARE((*items)[1].status, ItemStatus::Changed);
        QCOMPARE((*items)[3].status, ItemStatus::Missing);
        // The missing item keeps its person's label.
        QCOMPARE(labelsOf(*store).at(4), std::pair(0, LabelSource::Human));
        // The file comes back: present again.
        fs::copy_file(tmp.path().toStdString() + "/more/fox/img_0.png", f.root / "dog/img_0.png");
        source = openImageSource(f.root.string(), SourceKind::ImageFolder);
        report = importSource(*store, **source, {});
        QVERIFY(report);
        // Other bytes than before under the old path: it is the same item, marked changed.
        items = store->items();
        QCOMPARE((*items)[3].status, ItemStatus::Changed);
        QCOMPARE(report->missing, std::int64_t(0));
    }

    void relinkChecksTheNewFolder()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 3);
        const fs::path moved = fs::path(tmp.path().toStdString()) / "moved-data";
        fs::rename(f.root, moved);
        auto store = openOrDie(f.project);
        auto info = store->sourceInfo();
        QVERIFY(!openProjectSource(*info)); // the old root is gone
        // A folder with other images is refused, and the root stays.
        writeImageFolder(fs::path(tmp.path().toStdString()) / "wrong", kClasses, 3, 555);
        auto wrong = relinkProject(*store, tmp.path().toStdString() + "/wrong");
        QVERIFY(!wrong);
        QVERIFY(wrong.error().message.find("other bytes") != std::string::npos);
        QCOMPARE(store->sourceInfo()->root, f.root.string());
        auto ok = relinkProject(*store, moved.string());
        QVERIFY2(ok, ok ? "" : ok.error().message.c_str());
        QCOMPARE(*ok, std::int64_t(9));
        QCOMPARE(store->sourceInfo()->root, moved.string());
        QCOMPARE(labelsOf(*store).size(), std::size_t(9));
        auto source = openProjectSource(*store->sourceInfo());
        QVERIFY(source);
        auto report = importSource(*store, **source, {});
        QVERIFY(report);
        QCOMPARE(report->unchanged, std::int64_t(9));
    }

    void embeddingCacheEncodesOnlyWhatIsNew()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 10);
        auto store = openOrDie(f.project);
        auto first = loadProjectEmbeddings(*store, "pca:8");
        QVERIFY2(first, first ? "" : first.error().message.c_str());
        QCOMPARE(first->encodedNow, std::int64_t(30));
        QCOMPARE(first->x.rows(), Eigen::Index(30));
        QVERIFY(first->encoderId.starts_with("pca:8,model="));
        auto second = loadProjectEmbeddings(*store, "pca:8");
        QVERIFY(second);
        QCOMPARE(second->encodedNow, std::int64_t(0));
        QCOMPARE(second->fromCache, std::int64_t(30));
        QCOMPARE(second->version, first->version);
        QVERIFY(second->x.isApprox(first->x));
        // All cached: no image is read, so it works even while the data set is away.
        fs::rename(f.root, f.root.string() + "-away");
        auto offline = loadProjectEmbeddings(*store, "pca:8");
        QVERIFY2(offline, offline ? "" : offline.error().message.c_str());
        QCOMPARE(offline->fromCache, std::int64_t(30));
        fs::rename(f.root.string() + "-away", f.root);
        // Three new images: only they are encoded, with the stored PCA basis.
        writeImageFolder(tmp.path().toStdString() + "/more", {"cat"}, 3, 4242);
        for (int i = 0; i < 3; ++i)
            fs::copy_file(tmp.path().toStdString() + "/more/cat/img_" + std::to_string(i) + ".png",
                          f.root / ("cat/extra_" + std::to_string(i) + ".png"));
        auto source = openImageSource(f.root.string(), SourceKind::ImageFolder);
        QVERIFY(importSource(*store, **source, {}));
        auto third = loadProjectEmbeddings(*store, "pca:8");
        QVERIFY(third);
        QCOMPARE(third->encodedNow, std::int64_t(3));
        QCOMPARE(third->x.rows(), Eigen::Index(33));
        QCOMPARE(third->encoderId, first->encoderId);
        QVERIFY(third->version != first->version);
        // The cache is disposable: deleted, it rebuilds to the same numbers (the basis is in the file).
        fs::remove_all(store->cacheFolder());
        auto rebuilt = loadProjectEmbeddings(*store, "pca:8");
        QVERIFY(rebuilt);
        QCOMPARE(rebuilt->encodedNow, std::int64_t(33));
        QCOMPARE(rebuilt->version, third->version);
        QVERIFY((rebuilt->x - third->x).cwiseAbs().maxCoeff() < 1e-5f);
        // A damaged cache file is ignored and rewritten, never trusted.
        const auto file = fs::directory_iterator(fs::path(store->cacheFolder()) / "embeddings")->path();
        fs::resize_file(file, 100);
        auto again = loadProjectEmbeddings(*store, "pca:8");
        QVERIFY(again);
        QCOMPARE(again->encodedNow, std::int64_t(33));
        QVERIFY(!again->warnings.empty());
    }

    void reviewDecisionsAreUndoable()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2);
        auto store = openOrDie(f.project);
        QVERIFY(store->review(1, ReviewDecision::Kept));
        QVERIFY(store->review(2, ReviewDecision::Relabeled, 2));
        auto events = store->itemHistory(2);
        QVERIFY(events);
        QCOMPARE(events->size(), std::size_t(3)); // imported label, the review decision, the accepted label
        QCOMPARE(events->at(1).decision, std::optional(ReviewDecision::Relabeled));
        QCOMPARE(events->at(2).source, LabelSource::Accepted);
        QVERIFY(store->checkFileIntegrity());
        QVERIFY(!store->review(3, ReviewDecision::Relabeled)); // needs the new label
        auto reviews = store->currentReviews();
        QCOMPARE(reviews->size(), std::size_t(2));
        QCOMPARE(labelsOf(*store).at(2), std::pair(2, LabelSource::Accepted));
        QVERIFY(store->undo());
        QCOMPARE(store->currentReviews()->size(), std::size_t(1));
        QCOMPARE(labelsOf(*store).at(2), std::pair(0, LabelSource::Imported));
        QVERIFY(store->verifyDerivedState());
    }

    void exportThenImportReproducesLabels_data()
    {
        QTest::addColumn<QString>("format");
        QTest::newRow("csv") << "csv";
        QTest::newRow("json") << "json";
        QTest::newRow("imagefolder") << "imagefolder";
        QTest::newRow("imagefolder-symlink") << "imagefolder-symlink";
        QTest::newRow("imagefolder-hardlink") << "imagefolder-hardlink";
    }
    void exportThenImportReproducesLabels()
    {
        QFETCH(QString, format);
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 4, false);
        auto store = openOrDie(f.project);
        for (const auto& name : kClasses)
            QVERIFY(store->ensureClass(name));
        // Labels with awkward names and sources: a comma and a quote, unicode.
        auto odd = store->ensureClass("grey, \"striped\" ñandú");
        QVERIFY(odd);
        const LabelChange a[] = {{1, 0}, {2, *odd}, {5, 1}};
        QVERIFY(store->applyLabels(a, LabelSource::Bulk, "a"));
        QVERIFY(store->review(9, ReviewDecision::Relabeled, 2));
        const std::string out = tmp.path().toStdString() + "/export." + format.toStdString();
        ExportOptions options;
        options.format = format == "csv" ? ExportFormat::Csv : format == "json" ? ExportFormat::Json
                                                                                 : ExportFormat::ImageFolder;
        options.link = format.endsWith("symlink") ? LinkMode::SymLink
            : format.endsWith("hardlink")         ? LinkMode::HardLink
                                                  : LinkMode::Copy;
        auto report = exportLabels(*store, out, options);
        QVERIFY2(report, report ? "" : report.error().message.c_str());
        QCOMPARE(report->written, std::int64_t(4));
        QCOMPARE(report->fixed, std::int64_t(1));
        // Human only leaves out the accepted fix.
        options.level = ExportLevel::Human;
        auto humanOnly = exportLabels(*store, tmp.path().toStdString() + "/human." + format.toStdString(), options);
        QVERIFY(humanOnly);
        QCOMPARE(humanOnly->written, std::int64_t(3));

        std::map<std::string, std::string> expected; // path -> label
        auto classes = store->classes();
        auto items = store->items();
        for (const auto& [id, l] : labelsOf(*store))
            expected[(*items)[std::size_t(id - 1)].path] = (*classes)[std::size_t(l.first)].name;

        std::map<std::string, std::string> got;
        if (format.startsWith("imagefolder")) {
            // Read back as an ImageFolder source and map files to items by content.
            auto src = openImageSource(out, SourceKind::ImageFolder);
            QVERIFY2(src, src ? "" : src.error().message.c_str());
            QCOMPARE((*src)->size(), std::size_t(4));
            for (std::size_t i = 0; i < (*src)->size(); ++i) {
                const auto& it = (*src)->item(i);
                const std::string rel = it.path.substr(it.path.find('/') + 1);
                QCOMPARE(fileBytes(out + "/" + it.path), fileBytes((f.root / rel).string()));
                QCOMPARE(fs::is_symlink(out + "/" + it.path), options.link == LinkMode::SymLink);
                if (options.link == LinkMode::HardLink)
                    QVERIFY(fs::equivalent(out + "/" + it.path, f.root / rel));
                got[rel] = it.label;
            }
            expected[(*items)[1].path] = "grey, \"striped\" ñandú"; // no '/' in it: unchanged
        } else {
            // Import into a fresh project of the same images.
            QTemporaryDir tmp2;
            const std::string project2 = tmp2.path().toStdString() + "/q.labelprop";
            ProjectCreateOptions co;
            co.source = {f.root.string(), "imagefolder", "."};
            auto store2 = ProjectStore::create(project2, co);
            QVERIFY(store2);
            auto source = openImageSource(f.root.string(), SourceKind::ImageFolder);
            ImportOptions io;
            io.importLabels = false;
            QVERIFY(importSource(**store2, **source, io));
            auto r = importLabelFile(**store2, out);
            QVERIFY2(r, r ? "" : r.error().message.c_str());
            QCOMPARE(r->applied, std::int64_t(4));
            auto classes2 = (*store2)->classes();
            auto items2 = (*store2)->items();
            for (const auto& [id, l] : labelsOf(**store2))
                got[(*items2)[std::size_t(id - 1)].path] = (*classes2)[std::size_t(l.first)].name;
        }
        QCOMPARE(got, expected);
    }

    void exportIsAtomic()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2);
        auto store = openOrDie(f.project, ProjectStore::Access::ReadOnly);
        ExportOptions options;
        auto r = exportLabels(*store, tmp.path().toStdString() + "/no/such/dir/out.csv", options);
        QVERIFY(!r);
        QVERIFY(!fs::exists(tmp.path().toStdString() + "/no"));
        // An ImageFolder export never replaces a folder it did not write.
        fs::create_directories(tmp.path().toStdString() + "/mine");
        writeFile(tmp.path() + "/mine/keep.txt", "mine");
        options.format = ExportFormat::ImageFolder;
        r = exportLabels(*store, tmp.path().toStdString() + "/mine", options);
        QVERIFY(!r);
        QVERIFY(r.error().message.find("not an earlier Labelprop export") != std::string::npos);
        QCOMPARE(readFile(tmp.path() + "/mine/keep.txt"), QByteArray("mine"));
        // An earlier export is replaced as a whole.
        const std::string out = tmp.path().toStdString() + "/tree";
        QVERIFY(exportLabels(*store, out, options));
        QVERIFY(exportLabels(*store, out, options));
        QVERIFY(fs::exists(out + "/cat/cat/img_0.png"));
        for (const auto& e : fs::directory_iterator(tmp.path().toStdString()))
            QVERIFY2(e.path().filename().string().find(".tmp-") == std::string::npos, e.path().c_str());
    }

    void secondWriterIsRefusedReadersAreNot()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2);
        auto writer = openOrDie(f.project);
        auto second = ProjectStore::open(f.project, ProjectStore::Access::ReadWrite, "test second");
        QVERIFY(!second);
        QVERIFY2(second.error().message.find("open in another program (pid") != std::string::npos,
                 second.error().message.c_str());
        auto reader = ProjectStore::open(f.project, ProjectStore::Access::ReadOnly);
        QVERIFY(reader);
        // The reader sees each commit of the writer.
        const LabelChange a[] = {{1, 2}};
        QVERIFY(writer->applyLabels(a, LabelSource::Human, "a"));
        QCOMPARE(labelsOf(**reader).at(1), std::pair(2, LabelSource::Human));
        QVERIFY(!(*reader)->applyLabels(a, LabelSource::Human, "a"));
        writer.reset();
        QVERIFY(ProjectStore::open(f.project, ProjectStore::Access::ReadWrite));
    }

    void newerSchemaIsRefusedUntouched()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 1);
        {
            auto db = SqliteDatabase::open(f.project, SqliteDatabase::Mode::ReadWrite);
            QVERIFY(db);
            QVERIFY((*db)->exec("PRAGMA user_version = 99", "test"));
        }
        const auto before = fileBytes(f.project);
        for (auto access : {ProjectStore::Access::ReadWrite, ProjectStore::Access::ReadOnly}) {
            auto store = ProjectStore::open(f.project, access);
            QVERIFY(!store);
            QVERIFY2(store.error().message.find("newer Labelprop (project schema 99") != std::string::npos,
                     store.error().message.c_str());
        }
        QCOMPARE(fileBytes(f.project), before);
    }

    void migrationsRunInOrderOrNotAtAll()
    {
        QTemporaryDir tmp;
        const std::string path = tmp.path().toStdString() + "/m.db";
        auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::Create);
        QVERIFY(db);
        const SchemaMigration steps[] = {{1, "CREATE TABLE a(x)"}, {2, "ALTER TABLE a ADD COLUMN y"},
                                         {3, "CREATE TABLE broken(("}};
        QVERIFY(migrateSchema(**db, 0, 2, steps));
        QCOMPARE((*db)->queryInteger("PRAGMA user_version")->value_or(-1), std::int64_t(2));
        QVERIFY((*db)->exec("INSERT INTO a(x, y) VALUES(1, 2)", "test"));
        auto failed = migrateSchema(**db, 2, 3, steps);
        QVERIFY(!failed);
        QCOMPARE((*db)->queryInteger("PRAGMA user_version")->value_or(-1), std::int64_t(2));
        QCOMPARE((*db)->queryInteger("SELECT count(*) FROM a")->value_or(-1), std::int64_t(1));
        // The real migrations produce the current version.
        const std::string path2 = tmp.path().toStdString() + "/n.db";
        auto fresh = SqliteDatabase::open(path2, SqliteDatabase::Mode::Create);
        QVERIFY(migrateSchema(**fresh, 0, ProjectStore::kSchemaVersion, projectMigrations()));
        QCOMPARE((*fresh)->queryInteger("PRAGMA application_id")->value_or(0), kProjectApplicationId);
    }

    void foreignAndDamagedFilesAreRefused_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("message");
        QTest::newRow("empty file") << "empty" << "not a Labelprop project";
        QTest::newRow("text file") << "text" << "not a Labelprop project";
        QTest::newRow("foreign sqlite") << "foreign" << "an SQLite database, but not a Labelprop project";
        QTest::newRow("truncated project") << "truncated" << "p.labelprop";
        QTest::newRow("scribbled pages") << "scribbled" << "p.labelprop";
    }
    void foreignAndDamagedFilesAreRefused()
    {
        QFETCH(QString, kind);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        std::string path = tmp.path().toStdString() + "/p.labelprop";
        if (kind == "empty") {
            writeFile(QString::fromStdString(path), "");
        } else if (kind == "text") {
            writeFile(QString::fromStdString(path), QByteArray("path,label\na.png,cat\n").repeated(300));
        } else if (kind == "foreign") {
            auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::Create);
            QVERIFY((*db)->exec("CREATE TABLE t(x); INSERT INTO t VALUES(1)", "test"));
        } else {
            const auto f = makeFixture(tmp, 20);
            {
                // Fold the WAL into the main file so the damage below hits the real pages.
                auto db = SqliteDatabase::open(f.project, SqliteDatabase::Mode::ReadWrite);
                QVERIFY((*db)->exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE", "test"));
            }
            fs::remove(f.project + "-wal");
            fs::remove(f.project + "-shm");
            QByteArray bytes = fileBytes(f.project);
            if (kind == "truncated")
                bytes.truncate(bytes.size() / 3);
            else
                for (qsizetype i = 4096; i < bytes.size(); i += 7)
                    bytes[i] = char(0xA5);
            writeFile(QString::fromStdString(f.project), bytes);
            path = f.project;
        }
        const auto before = fileBytes(path);
        for (auto access : {ProjectStore::Access::ReadWrite, ProjectStore::Access::ReadOnly}) {
            auto store = ProjectStore::open(path, access);
            if (store) {
                // Damage the open did not touch must still surface as an error, never a crash.
                auto items = (*store)->items();
                auto labels = (*store)->currentLabels();
                QVERIFY(!items || !labels || !(*store)->verifyDerivedState() || !(*store)->checkFileIntegrity());
                continue;
            }
            QVERIFY2(store.error().message.find(message.toStdString()) != std::string::npos,
                     store.error().message.c_str());
        }
        QCOMPARE(fileBytes(path), before);
        if (kind == "empty" || kind == "text" || kind == "foreign")
            QVERIFY(!fs::exists(path + "-lock")); // nothing created beside a file that is not a project
    }

    void fullDiskLosesNothingSaved()
    {
        QTemporaryDir tmp;
        const std::string mnt = tmp.path().toStdString() + "/small";
        fs::create_directories(mnt);
        if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0)
            QSKIP("cannot mount a small tmpfs here (needs root outside a container); the full-disk case is untested");
        struct Unmount {
            std::string path;
            ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
        } unmount{mnt};
        const fs::path root = fs::path(tmp.path().toStdString()) / "data";
        writeImageFolder(root, kClasses, 4);
        const std::string project = mnt + "/p.labelprop";
        int saved = 0; // bulk actions acknowledged before the disk refused
        {
            ProjectCreateOptions options;
            options.source = {root.string(), "imagefolder", "."};
            auto store = ProjectStore::create(project, options);
            QVERIFY(store);
            auto source = openImageSource(root.string(), SourceKind::ImageFolder);
            QVERIFY(importSource(**store, **source, {}));
            const LabelChange a[] = {{1, 1}};
            QVERIFY((*store)->applyLabels(a, LabelSource::Human, "before the disk filled"));
            // Fill the disk.
            {
                std::FILE* filler = std::fopen((mnt + "/filler").c_str(), "wb");
                QVERIFY(filler);
                std::vector<char> block(64 * 1024, 'x');
                while (std::fwrite(block.data(), 1, block.size(), filler) == block.size()) {
                }
                std::fclose(filler);
            }
            // Label until the disk refuses (the WAL may have a little room left).
            std::vector<LabelChange> many;
            for (std::int64_t id = 1; id <= 12; ++id)
                many.push_back({id, 2});
            bool refused = false;
            for (int attempt = 0; attempt < 200 && !refused; ++attempt) {
                auto r = (*store)->applyLabels(many, LabelSource::Bulk, "bulk " + std::to_string(attempt) + std::string(4000, 'x'));
                if (r)
                    ++saved;
                else {
                    refused = true;
                    QVERIFY2(r.error().message.find("disk is full") != std::string::npos, r.error().message.c_str());
                }
            }
            QVERIFY(refused);
            const std::string exportPath = mnt + "/out.csv";
            auto e = exportLabels(**store, exportPath, {});
            QVERIFY(!e);
            QVERIFY(!fs::exists(exportPath));
            QVERIFY(!fs::exists(exportPath + ".tmp"));
        }
        fs::remove(mnt + "/filler");
        auto store = openOrDie(project);
        QVERIFY(store->verifyDerivedState());
        // Every acknowledged action is there (plus the import), the refused one is not.
        auto history = store->history(1000);
        QVERIFY(history);
        QCOMPARE(history->size(), std::size_t(saved + 2));
        QCOMPARE((*history)[std::size_t(saved)].description, std::string("before the disk filled"));
        const auto labels = labelsOf(*store);
        QCOMPARE(labels.size(), std::size_t(12));
        QCOMPARE(labels.at(1).first, saved > 0 ? 2 : 1);
        // And the project works again once there is room.
        const LabelChange b[] = {{2, 0}};
        QVERIFY(store->applyLabels(b, LabelSource::Human, "after"));
    }
};

QTEST_GUILESS_MAIN(TestProjectStore)
#include "tst_project_store.moc"
