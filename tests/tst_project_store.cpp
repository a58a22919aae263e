// The project store (core/ProjectStore and friends): history, undo/redo, derived labels, class
// edits (undoable, merges), import and re-import, relink, the embedding cache, export round trips,
// locks, schema versions and migration, damaged and foreign files, and a full disk.

#include "ProjectTestSupport.h"
#include "TestSupport.h"

#include "core/sources/ImageSource.h"
#include "core/project/EmbeddingCache.h"
#include "core/project/ProjectEmbeddings.h"
#include "core/project/ProjectExport.h"
#include "core/project/ProjectImport.h"
#include "core/project/ProjectLock.h"
#include "core/project/ProjectSchema.h"
#include "core/project/ProjectStore.h"
#include "core/project/SqliteDatabase.h"

#include <QtTest>

#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
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

// Everything a class edit can change, comparable with QCOMPARE: the classes (id, name, colour,
// hotkey), the labels by class id, and the labels by class name.
using ClassRow = std::tuple<int, std::string, std::string, std::string>;
struct ClassSnapshot {
    std::vector<ClassRow> classes;
    std::map<std::int64_t, std::pair<int, LabelSource>> labels;
    std::map<std::int64_t, std::pair<std::string, LabelSource>> named;
    bool operator==(const ClassSnapshot&) const = default;
};

ClassSnapshot snapshotOf(const ProjectStore& store)
{
    ClassSnapshot s;
    auto classes = store.classes();
    if (!classes)
        qFatal("classes: %s", classes.error().message.c_str());
    for (const auto& c : *classes) {
        if (c.id != int(s.classes.size()))
            qFatal("class ids are not dense: %d at %zu", c.id, s.classes.size());
        s.classes.emplace_back(c.id, c.name, c.colour, c.hotkey);
    }
    s.labels = labelsOf(store);
    for (const auto& [item, l] : s.labels)
        s.named[item] = {(*classes)[std::size_t(l.first)].name, l.second};
    return s;
}

std::vector<std::string> classNames(const ProjectStore& store)
{
    const auto classes = store.classes();
    if (!classes)
        qFatal("classes: %s", classes.error().message.c_str());
    std::vector<std::string> out;
    for (const auto& c : *classes)
        out.push_back(c.name);
    return out;
}

// A schema 1 project (before class edits were actions) as a build of that version wrote it:
// three items, classes cat/dog/fox, an import, a person's label and an undone one (on the redo
// stack). `brokenReference`: one label refers to a class that does not exist.
void writeSchemaOneProject(const std::string& path, const std::string& root, bool brokenReference = false)
{
    auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::Create);
    if (!db)
        qFatal("create: %s", db.error().message.c_str());
    if (auto r = migrateSchema(**db, 0, 1, projectMigrations()); !r)
        qFatal("schema 1: %s", r.error().message.c_str());
    const std::string dog = brokenReference ? "9" : "1";
    const std::string sql = "INSERT INTO meta VALUES('root', '" + root + "'), ('source_kind', 'folder'), "
        "('source_location', '.'), ('created_ms', '0'), ('label_version', '5');"
        "INSERT INTO settings VALUES('encoder', 'pca:8'), ('k', '7');"
        "INSERT INTO items(id, path, size, added_ms) VALUES(1, 'a.png', 10, 0), (2, 'b.png', 10, 0), (3, 'c.png', 10, 0);"
        "INSERT INTO classes VALUES(0, 'cat', '#4e79a7', '1'), (1, 'dog', '#f28e2b', '2'), (2, 'fox', '#e15759', '3');"
        "INSERT INTO actions VALUES(1, 1, 'import labels', 1, 0), (2, 0, 'label item 0 as ''dog''', 2, 0),"
        "  (3, 0, 'label item 2 as ''fox''', 3, 1);"
        "INSERT INTO label_events VALUES(1, 1, 1, 0, 1), (2, 1, 2, " + dog + ", 1), (3, 2, 1, 1, 0), (4, 3, 3, 2, 0);"
        "INSERT INTO current_labels VALUES(1, 1, 0, 3), (2, " + dog + ", 1, 2);";
    if (auto r = (*db)->exec(sql, "writing a schema 1 project"); !r)
        qFatal("%s", r.error().message.c_str());
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
            // What the undo changed, read without the other labels: item 1 back to cat, 2 unlabeled.
            {
                auto touched = store->labelsOfAction((*undone)->id);
                QVERIFY(touched);
                QCOMPARE(touched->size(), std::size_t(2));
                QCOMPARE((*touched)[0].itemId, std::int64_t(1));
                QCOMPARE((*touched)[0].classId, *cat);
                QCOMPARE((*touched)[0].source, LabelSource::Human);
                QCOMPARE((*touched)[1].itemId, std::int64_t(2));
                QCOMPARE((*touched)[1].classId, -1);
                auto depth = store->undoDepth();
                QVERIFY(depth);
                QCOMPARE(depth->undoable, std::int64_t(1));
                QCOMPARE(depth->redoable, std::int64_t(1));
            }
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

    // The cache file grows by appended segments: old rows are never rewritten, a save cut short
    // or a damaged segment loses only what follows it, the older one-block layout still loads,
    // and two sessions saving to one file keep each other's rows.
    void embeddingCacheAppendsSegments()
    {
        QTemporaryDir tmp;
        const std::string folder = tmp.path().toStdString();
        const std::string id = "test-encoder,size=4";
        const auto hashOf = [](int i) { return hashText("image " + std::to_string(i)); };
        const auto rowsFor = [](int first, int count) {
            EmbeddingMatrix m(count, 4);
            for (int r = 0; r < count; ++r)
                for (int c = 0; c < 4; ++c)
                    m(r, c) = float(first + r) + 0.25f * float(c);
            return m;
        };
        const auto addRows = [&](EmbeddingCache& cache, int first, int count) {
            std::vector<ContentHash> hashes;
            for (int i = first; i < first + count; ++i)
                hashes.push_back(hashOf(i));
            QVERIFY(cache.add(hashes, rowsFor(first, count)));
            QVERIFY(cache.save());
        };
        const auto holds = [&](const EmbeddingCache& cache, int count) {
            if (cache.size() != std::size_t(count))
                return false;
            for (int i = 0; i < count; ++i) {
                const auto row = cache.row(hashOf(i));
                if (row.size() != 4 || row[3] != float(i) + 0.75f)
                    return false;
            }
            return true;
        };
        const std::uint64_t header = 8 + 4 + id.size() + 4;
        const auto segment = [](std::uint64_t count) { return 8 + count * (16 + 4 * 4) + 32; };

        auto first = EmbeddingCache::load(folder, id);
        QVERIFY(first.loadWarning().empty());
        addRows(first, 0, 3);
        const std::string file = first.filePath();
        QCOMPARE(fs::file_size(file), header + segment(3));
        const QByteArray before = readFile(QString::fromStdString(file));

        // A second save appends only the new rows; the bytes already there stay as they were.
        auto second = EmbeddingCache::load(folder, id);
        QVERIFY(holds(second, 3));
        addRows(second, 3, 2);
        QCOMPARE(fs::file_size(file), header + segment(3) + segment(2));
        QVERIFY(readFile(QString::fromStdString(file)).startsWith(before));
        QVERIFY(second.save()); // nothing new: nothing written
        QCOMPARE(fs::file_size(file), header + segment(3) + segment(2));

        // A save cut short by a crash: its half segment is dropped, the rows before it load.
        {
            std::ofstream out(file, std::ios::binary | std::ios::app);
            const std::uint64_t count = 7;
            out.write(reinterpret_cast<const char*>(&count), 8);
            out << "half a segment";
        }
        auto third = EmbeddingCache::load(folder, id);
        QVERIFY(holds(third, 5));
        QVERIFY2(third.loadWarning().find("unfinished or damaged save") != std::string::npos, third.loadWarning().c_str());
        addRows(third, 5, 1); // cuts the tail off first
        QCOMPARE(fs::file_size(file), header + segment(3) + segment(2) + segment(1));
        auto fourth = EmbeddingCache::load(folder, id);
        QVERIFY(fourth.loadWarning().empty());
        QVERIFY(holds(fourth, 6));

        // One flipped bit in the second segment's rows: its check fails, it and all after it go.
        {
            std::fstream io(file, std::ios::binary | std::ios::in | std::ios::out);
            const auto at = std::streamoff(header + segment(3) + 8 + 2 * 16 + 5);
            io.seekg(at);
            char c = 0;
            io.read(&c, 1);
            c = char(c ^ 0x10);
            io.seekp(at);
            io.write(&c, 1);
        }
        auto damaged = EmbeddingCache::load(folder, id);
        QVERIFY(holds(damaged, 3));
        QVERIFY(!damaged.loadWarning().empty());

        // Two sessions on one file: each appends after the other's segment.
        fs::remove(file);
        auto a = EmbeddingCache::load(folder, id);
        addRows(a, 0, 2);
        auto b = EmbeddingCache::load(folder, id);
        addRows(a, 2, 2);
        addRows(b, 4, 1); // b never saw rows 2 and 3
        auto both = EmbeddingCache::load(folder, id);
        QVERIFY(both.loadWarning().empty());
        QVERIFY(holds(both, 5));
        // The file deleted under a session (the cache is disposable): its next save starts a new one.
        fs::remove(file);
        addRows(b, 5, 1);
        const auto restarted = EmbeddingCache::load(folder, id);
        QCOMPARE(restarted.size(), std::size_t(4)); // what b holds: rows 0 and 1 (loaded), 4 and 5
        QCOMPARE(restarted.row(hashOf(5)).size(), std::size_t(4));

        // The older layout (LPEMB01: count, all hashes, all rows) loads, and its next save rewrites it.
        {
            std::ofstream out(file, std::ios::binary | std::ios::trunc);
            const auto idLength = std::uint32_t(id.size()), dims = std::uint32_t(4);
            const std::uint64_t count = 2;
            out.write("LPEMB01\n", 8);
            out.write(reinterpret_cast<const char*>(&idLength), 4);
            out << id;
            out.write(reinterpret_cast<const char*>(&dims), 4);
            out.write(reinterpret_cast<const char*>(&count), 8);
            for (int i = 0; i < 2; ++i)
                out.write(reinterpret_cast<const char*>(hashOf(i).bytes.data()), 16);
            const EmbeddingMatrix rows = rowsFor(0, 2);
            out.write(reinterpret_cast<const char*>(rows.data()), 2 * 4 * 4);
        }
        auto old = EmbeddingCache::load(folder, id);
        QVERIFY2(old.loadWarning().empty(), old.loadWarning().c_str());
        QVERIFY(holds(old, 2));
        addRows(old, 2, 1);
        QVERIFY(readFile(QString::fromStdString(file)).startsWith("LPEMB02\n"));
        QVERIFY(holds(EmbeddingCache::load(folder, id), 3));
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

    // Each class edit is one action on the undo stack shared with labels: undo restores the
    // classes and labels exactly, redo repeats it, both survive a restart, and the history
    // replays. A merge renumbers the classes after the one that goes.
    void classEditsAreUndoableActions_data()
    {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<bool>("changesVersion"); // stored results name their classes
        QTest::newRow("add") << "add" << true;
        QTest::newRow("rename") << "rename" << true;
        QTest::newRow("recolour") << "recolour" << false;
        QTest::newRow("hotkey") << "hotkey" << false;
        QTest::newRow("hotkey taken") << "hotkey taken" << false;
        QTest::newRow("clear hotkey") << "clear hotkey" << false;
        QTest::newRow("merge") << "merge" << true;
    }
    void classEditsAreUndoableActions()
    {
        QFETCH(QString, edit);
        QFETCH(bool, changesVersion);
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 3); // items 1-3 cat, 4-6 dog, 7-9 fox (imported)
        auto store = openOrDie(f.project);
        const LabelChange fix[] = {{1, 1}}; // a person says the first cat is a dog
        QVERIFY(store->applyLabels(fix, LabelSource::Human, "fix"));
        const auto before = snapshotOf(*store);
        const auto version = *store->labelVersion();
        const auto undoable = store->counts()->undoable;

        Expected<ActionInfo> action = fail("no edit");
        if (edit == "add") {
            auto added = store->addClass("owl");
            QVERIFY2(added, added ? "" : added.error().message.c_str());
            QCOMPARE(added->classId, 3);
            action = added->action;
        } else if (edit == "rename") {
            action = store->renameClass(1, "wolf");
        } else if (edit == "recolour") {
            action = store->setClassColour(2, "#123456");
        } else if (edit == "hotkey") {
            action = store->setClassHotkey(0, "q");
        } else if (edit == "hotkey taken") {
            action = store->setClassHotkey(2, "1");
        } else if (edit == "clear hotkey") {
            action = store->setClassHotkey(1, "");
        } else {
            action = store->mergeClass(0, 2); // cat into fox
        }
        QVERIFY2(action, action ? "" : action.error().message.c_str());
        QCOMPARE(action->kind, ActionKind::Class);
        QVERIFY(store->verifyDerivedState());
        const auto after = snapshotOf(*store);
        QVERIFY(after != before);
        QCOMPARE(*store->labelVersion() != version, changesVersion);
        QCOMPARE(store->counts()->undoable, undoable + 1);
        auto history = store->history(1);
        QCOMPARE(history->front().id, action->id);
        QCOMPARE(history->front().description, action->description);

        // What each edit did; the labels keep their classes (by name) except in a merge.
        if (edit == "add") {
            QCOMPARE(after.classes.size(), std::size_t(4));
            QCOMPARE(after.classes[3], ClassRow(3, "owl", "#76b7b2", "4")); // the next palette colour and free key
            QCOMPARE(action->description, std::string("add class 'owl'"));
        } else if (edit == "rename") {
            QCOMPARE(std::get<1>(after.classes[1]), std::string("wolf"));
            QCOMPARE(after.labels, before.labels);
        } else if (edit == "recolour") {
            QCOMPARE(std::get<2>(after.classes[2]), std::string("#123456"));
        } else if (edit == "hotkey") {
            QCOMPARE(std::get<3>(after.classes[0]), std::string("q"));
        } else if (edit == "hotkey taken") {
            // One action moves the key: fox gets 1, cat loses it.
            QCOMPARE(std::get<3>(after.classes[2]), std::string("1"));
            QCOMPARE(std::get<3>(after.classes[0]), std::string(""));
            QCOMPARE(action->description, std::string("set the hotkey of class 'fox' to 1"));
        } else if (edit == "clear hotkey") {
            QCOMPARE(std::get<3>(after.classes[1]), std::string(""));
        } else {
            QCOMPARE(classNames(*store), (std::vector<std::string>{"dog", "fox"}));
            QCOMPARE(action->events, std::int64_t(2)); // the two cats left; the third is the person's dog
            for (const auto& [item, l] : before.named) {
                const std::string name = l.first == "cat" ? "fox" : l.first;
                QCOMPARE(after.named.at(item), std::pair(name, l.second)); // the source is kept
            }
            QCOMPARE(after.labels.at(1), std::pair(0, LabelSource::Human)); // dog moved from id 1 to 0
        }
        if (edit != "merge" && edit != "rename")
            QCOMPARE(after.named, before.named);

        auto undone = store->undo();
        QVERIFY2(undone && *undone, undone ? "" : undone.error().message.c_str());
        QCOMPARE((*undone)->id, action->id);
        QCOMPARE(snapshotOf(*store), before);
        QCOMPARE(*store->labelVersion() != version, changesVersion);
        QVERIFY(store->verifyDerivedState());
        auto redone = store->redo();
        QVERIFY(redone && *redone);
        QCOMPARE((*redone)->id, action->id);
        QCOMPARE(snapshotOf(*store), after);
        QVERIFY(store->verifyDerivedState());

        // A restart keeps the edit and its place on the stack.
        store.reset();
        store = openOrDie(f.project);
        QCOMPARE(snapshotOf(*store), after);
        QVERIFY(store->verifyDerivedState());
        QVERIFY(store->undo());
        QCOMPARE(snapshotOf(*store), before);
        store.reset();
        store = openOrDie(f.project);
        QCOMPARE(snapshotOf(*store), before);
        QCOMPARE(store->counts()->redoable, std::int64_t(1));
        // The stack is shared, in the order things happened: the next undo is the label.
        auto label = store->undo();
        QVERIFY(label && *label);
        QCOMPARE((*label)->description, std::string("fix"));
        QVERIFY(store->redo());
        QVERIFY(store->redo());
        QCOMPARE(snapshotOf(*store), after);
        // A new action clears the redo stack, class edits included.
        QVERIFY(store->undo());
        const LabelChange other[] = {{5, 0}};
        QVERIFY(store->applyLabels(other, LabelSource::Human, "other"));
        auto none = store->redo();
        QVERIFY(none && !*none);
        QVERIFY(store->verifyDerivedState());
        QCOMPARE(store->history(10, true)->at(1).id, action->id); // it stays in the history, undone
        QVERIFY(store->history(10, true)->at(1).undone);
    }

    // All labels of the merged class move, whatever their source, and keep it; undo brings back
    // exactly those labels; stored results are out of date; the item history tells it.
    void mergeKeepsSourcesAndUndoRestoresThem()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 4); // items 1-4 cat, 5-8 dog, 9-12 fox (imported)
        auto store = openOrDie(f.project);
        const LabelChange human[] = {{1, 1}};
        const LabelChange bulk[] = {{9, 1}, {10, 1}};
        const LabelChange removed[] = {{6, -1}};
        QVERIFY(store->applyLabels(human, LabelSource::Human, "human"));
        QVERIFY(store->applyLabels(bulk, LabelSource::Bulk, "bulk"));
        QVERIFY(store->applyLabels(removed, LabelSource::Human, "remove"));
        QVERIFY(store->review(2, ReviewDecision::Relabeled, 1)); // accepted
        QVERIFY(store->review(5, ReviewDecision::Kept));
        StoredPropagation result;
        result.classes = {"cat", "dog", "fox"};
        result.labelVersion = *store->labelVersion();
        QVERIFY(store->savePropagation(result));
        const auto before = snapshotOf(*store);
        const auto countsBefore = *store->counts();
        const auto reviews = *store->currentReviews();
        // dog (id 1) into fox (id 2): fox becomes id 1.
        auto merged = store->mergeClass(1, 2);
        QVERIFY2(merged, merged ? "" : merged.error().message.c_str());
        QCOMPARE(merged->description, std::string("merge class 'dog' into 'fox'"));
        QCOMPARE(merged->events, std::int64_t(7)); // 1 human, 2 accepted, 5 7 8 imported, 9 10 bulk
        QVERIFY(store->verifyDerivedState());
        QCOMPARE(classNames(*store), (std::vector<std::string>{"cat", "fox"}));
        const auto after = snapshotOf(*store);
        QCOMPARE(after.labels.size(), before.labels.size());
        for (const auto& [item, l] : before.named)
            QCOMPARE(after.named.at(item), std::pair(l.first == "dog" ? std::string("fox") : l.first, l.second));
        QCOMPARE(after.labels.at(2), std::pair(1, LabelSource::Accepted));
        QCOMPARE(after.labels.at(12), std::pair(1, LabelSource::Imported));
        QCOMPARE(*store->currentReviews(), reviews);
        auto counts = store->counts();
        QCOMPARE(counts->byClass, (std::vector<std::int64_t>{2, 9}));
        QCOMPARE(counts->bySource, countsBefore.bySource);
        QCOMPARE(counts->labeled, countsBefore.labeled);
        QVERIFY((*store->latestPropagation())->labelVersion != *store->labelVersion()); // out of date
        // The item's history tells the move; the class is gone, but its events still name it.
        auto events = store->itemHistory(9);
        QCOMPARE(events->size(), std::size_t(3)); // imported fox, bulk dog, the merge
        QCOMPARE(events->back().description, merged->description);
        QCOMPARE(events->back().className, std::string("fox"));
        QCOMPARE(events->back().source, LabelSource::Bulk);
        QCOMPARE(events->at(1).className, std::string("dog"));
        QCOMPARE(events->at(1).classId, std::optional<int>(-1));
        store.reset();
        store = openOrDie(f.project);
        QCOMPARE(snapshotOf(*store), after);
        QVERIFY(store->verifyDerivedState());

        // Work on after the merge, then undo it all: labels and ids come back exactly.
        const LabelChange later[] = {{3, 1}};
        QVERIFY(store->applyLabels(later, LabelSource::Human, "later"));
        QVERIFY(store->undo());
        auto undone = store->undo();
        QVERIFY2(undone && *undone, undone ? "" : undone.error().message.c_str());
        QCOMPARE((*undone)->description, merged->description);
        QCOMPARE((*undone)->events, std::int64_t(7));
        QCOMPARE(snapshotOf(*store), before);
        QCOMPARE(*store->currentReviews(), reviews);
        QVERIFY(store->verifyDerivedState());
        events = store->itemHistory(9);
        QCOMPARE(events->back().undone, true);
        QCOMPARE(events->at(1).classId, std::optional<int>(1)); // dog again
        QVERIFY(store->redo());
        QCOMPARE(snapshotOf(*store), after);
        QVERIFY(store->undo());
        store.reset();
        store = openOrDie(f.project);
        QCOMPARE(snapshotOf(*store), before);
        QVERIFY(store->verifyDerivedState());
    }

    // Bad class edits say what is wrong and change nothing.
    void classEditErrorsChangeNothing()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2);
        auto store = openOrDie(f.project);
        const auto before = snapshotOf(*store);
        const auto version = *store->labelVersion();
        const auto actions = store->history(100, true)->size();
        const auto message = [](const auto& r) { return r ? std::string("(no error)") : r.error().message; };
        const std::string catColour = std::get<2>(before.classes[0]);
        const std::pair<std::string, std::string> cases[] = {
            {message(store->addClass("cat")), "the class 'cat' exists already"},
            {message(store->addClass("")), "a class name cannot be empty"},
            {message(store->renameClass(0, "")), "cannot rename the class 'cat' to an empty name"},
            {message(store->renameClass(0, "dog")), "another class has that name (merge them instead)"},
            {message(store->renameClass(0, "cat")), "the class 'cat' has that name already"},
            {message(store->renameClass(7, "x")), "class id 7 does not exist (the project has 3 classes)"},
            {message(store->mergeClass(1, 1)), "cannot merge the class 'dog' into itself"},
            {message(store->mergeClass(0, 3)), "class id 3 does not exist"},
            {message(store->mergeClass(-1, 0)), "class id -1 does not exist"},
            {message(store->setClassColour(0, "red")), "'red' is not a colour like #4e79a7 (for the class 'cat')"},
            {message(store->setClassColour(0, "#12345g")), "'#12345g' is not a colour"},
            {message(store->setClassColour(0, catColour)), "the class 'cat' has that colour already"},
            {message(store->setClassHotkey(0, "12")), "'12' is not a hotkey"},
            {message(store->setClassHotkey(0, " ")), "' ' is not a hotkey"},
            {message(store->setClassHotkey(0, "1")), "the class 'cat' has that hotkey already"},
        };
        for (const auto& [got, expected] : cases) {
            QVERIFY2(got.find(expected) != std::string::npos, (got + " / expected: " + expected).c_str());
            QVERIFY2(got.starts_with(f.project + ": "), got.c_str()); // names the project
        }
        QCOMPARE(snapshotOf(*store), before);
        QCOMPARE(*store->labelVersion(), version);
        QCOMPARE(store->history(100, true)->size(), actions);
        QVERIFY(store->verifyDerivedState());
        store.reset();
        auto reader = openOrDie(f.project, ProjectStore::Access::ReadOnly);
        const std::string refused[] = {message(reader->addClass("owl")), message(reader->renameClass(0, "kitty")),
                                       message(reader->mergeClass(0, 1)), message(reader->setClassColour(0, "#000000")),
                                       message(reader->setClassHotkey(0, "")), message(reader->ensureClass("owl"))};
        for (const auto& r : refused)
            QVERIFY2(r.find("opened read-only") != std::string::npos, r.c_str());
        QCOMPARE(*reader->ensureClass("dog"), 1); // looking one up is fine
        QCOMPARE(snapshotOf(*reader), before);
    }

    // Imports are not undone. A class an import brings back after a merge is the merged class
    // itself, so the merge still undoes; a name or a label an import gave since blocks the undo,
    // which then says why and changes nothing.
    void importsAfterClassEdits_data()
    {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("undoError"); // empty: the undo works
        QTest::newRow("merge, then an import of the merged class") << "merge" << "";
        QTest::newRow("rename, then an import of the old name") << "rename" << "another class has that name now";
        QTest::newRow("add, then an import labels with it")
            << "add" << "item 0 is labeled with the class 'owl', which is gone";
    }
    void importsAfterClassEdits()
    {
        QFETCH(QString, edit);
        QFETCH(QString, undoError);
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2); // items 1-2 cat, 3-4 dog, 5-6 fox (imported)
        auto store = openOrDie(f.project);
        if (edit == "merge")
            QVERIFY(store->mergeClass(2, 1)); // fox into dog
        else if (edit == "rename")
            QVERIFY(store->renameClass(2, "vixen"));
        else
            QVERIFY(store->addClass("owl"));
        if (edit == "add") {
            const std::string csv = tmp.path().toStdString() + "/owl.csv";
            writeFile(QString::fromStdString(csv), QByteArray::fromStdString("path,label\n" + f.paths[0] + ",owl\n"));
            auto r = importLabelFile(*store, csv);
            QVERIFY2(r, r ? "" : r.error().message.c_str());
            QCOMPARE(r->applied, std::int64_t(1));
        } else {
            // A re-import: the fox folder's imported labels follow the source again.
            auto source = openImageSource(f.root.string(), SourceKind::ImageFolder);
            QVERIFY(importSource(*store, **source, {}));
        }
        QVERIFY(store->verifyDerivedState());
        const auto before = snapshotOf(*store);
        const auto version = *store->labelVersion();
        if (edit == "merge") {
            // fox is back (last), with the labels the import gave it.
            QCOMPARE(classNames(*store), (std::vector<std::string>{"cat", "dog", "fox"}));
            QCOMPARE(before.named.at(5).first, std::string("fox"));
        }
        auto undone = store->undo();
        if (undoError.isEmpty()) {
            QVERIFY2(undone && *undone, undone ? "" : undone.error().message.c_str());
            QCOMPARE(classNames(*store), (std::vector<std::string>{"cat", "dog", "fox"}));
            QCOMPARE(snapshotOf(*store).named.at(5), std::pair(std::string("fox"), LabelSource::Imported));
            QVERIFY(store->verifyDerivedState());
            QVERIFY(store->redo());
            QCOMPARE(snapshotOf(*store), before);
        } else {
            QVERIFY(!undone);
            QVERIFY2(undone.error().message.find(undoError.toStdString()) != std::string::npos,
                     undone.error().message.c_str());
            QVERIFY2(undone.error().message.find("Nothing was changed") != std::string::npos,
                     undone.error().message.c_str());
            QCOMPARE(snapshotOf(*store), before);
            QCOMPARE(*store->labelVersion(), version);
            QCOMPARE(store->counts()->undoable, std::int64_t(1));
        }
        QVERIFY(store->verifyDerivedState());
    }

    // A class a person merged away comes back when a label or an import names it again: as the
    // last class (so the ids callers hold stay valid), with its colour and hotkey where free.
    void aMergedClassComesBackLast()
    {
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2); // items 1-2 cat, 3-4 dog, 5-6 fox
        auto store = openOrDie(f.project);
        const auto dog = snapshotOf(*store).classes[1];
        QVERIFY(store->mergeClass(1, 0)); // dog into cat
        auto id = store->ensureClass("dog");
        QVERIFY(id);
        QCOMPARE(*id, 2);
        QCOMPARE(snapshotOf(*store).classes.back(), ClassRow(2, "dog", std::get<2>(dog), std::get<3>(dog)));
        QCOMPARE(snapshotOf(*store).named.at(3).first, std::string("cat"));
        QVERIFY(store->verifyDerivedState());
        // Undoing the merge gives dog its labels back; it keeps its new place.
        QVERIFY(store->undo());
        QCOMPARE(classNames(*store), (std::vector<std::string>{"cat", "fox", "dog"}));
        QCOMPARE(snapshotOf(*store).named.at(3), std::pair(std::string("dog"), LabelSource::Imported));
        QVERIFY(store->verifyDerivedState());
        auto added = store->addClass("owl");
        QVERIFY(added);
        QCOMPARE(added->classId, 3);
        QVERIFY(store->verifyDerivedState());
    }

    // A project from before class edits were actions (schema 1) opens for writing, moves to the
    // current schema with its classes, labels and undo stack as they were, and its classes can be
    // edited and undone from then on.
    void schemaOneProjectMigrates()
    {
        QTemporaryDir tmp;
        const std::string path = tmp.path().toStdString() + "/old.labelprop";
        writeSchemaOneProject(path, tmp.path().toStdString());
        auto reader = ProjectStore::open(path, ProjectStore::Access::ReadOnly);
        QVERIFY(!reader);
        QVERIFY2(reader.error().message.find("older Labelprop (project schema 1)") != std::string::npos,
                 reader.error().message.c_str());
        auto store = openOrDie(path);
        auto s = snapshotOf(*store);
        QCOMPARE(s.classes, (std::vector<ClassRow>{{0, "cat", "#4e79a7", "1"}, {1, "dog", "#f28e2b", "2"},
                                                   {2, "fox", "#e15759", "3"}}));
        QCOMPARE(s.labels, (std::map<std::int64_t, std::pair<int, LabelSource>>{{1, {1, LabelSource::Human}},
                                                                               {2, {1, LabelSource::Imported}}}));
        QCOMPARE(*store->labelVersion(), std::int64_t(5));
        QCOMPARE(store->settings()->k, 7);
        QCOMPARE(store->counts()->undoable, std::int64_t(1));
        QCOMPARE(store->counts()->redoable, std::int64_t(1));
        QVERIFY(store->verifyDerivedState());
        QVERIFY(store->checkFileIntegrity());
        // The old redo stack still works, then class edits join the same stack.
        QVERIFY(store->redo());
        QCOMPARE(labelsOf(*store).at(3), std::pair(2, LabelSource::Human));
        const auto before = snapshotOf(*store);
        auto merged = store->mergeClass(2, 0); // fox into cat
        QVERIFY2(merged, merged ? "" : merged.error().message.c_str());
        QCOMPARE(labelsOf(*store).at(3), std::pair(0, LabelSource::Human));
        QVERIFY(store->verifyDerivedState());
        store.reset();
        {
            auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::ReadOnly);
            QCOMPARE((*db)->queryInteger("PRAGMA user_version")->value_or(0), std::int64_t(ProjectStore::kSchemaVersion));
            std::int64_t dangling = 0;
            QVERIFY((*db)->forEachRow("PRAGMA foreign_key_check", "test", [&](const SqliteStatement&) { ++dangling; }));
            QCOMPARE(dangling, std::int64_t(0));
        }
        store = openOrDie(path);
        QVERIFY(store->undo());
        QCOMPARE(snapshotOf(*store), before);
        QVERIFY(store->verifyDerivedState());
        QCOMPARE(store->history(10)->front().description, std::string("label item 2 as 'fox'"));
    }

    // A schema 1 file whose labels refer to a class that does not exist cannot be upgraded: the
    // upgrade says so and leaves the file at schema 1.
    void brokenSchemaOneProjectIsNotUpgraded()
    {
        QTemporaryDir tmp;
        const std::string path = tmp.path().toStdString() + "/old.labelprop";
        writeSchemaOneProject(path, tmp.path().toStdString(), true);
        auto store = ProjectStore::open(path, ProjectStore::Access::ReadWrite);
        QVERIFY(!store);
        const auto& message = store.error().message;
        QVERIFY2(message.find("cannot upgrade the project to schema 2: ") != std::string::npos
                     && message.find("refers to a missing classes row") != std::string::npos,
                 message.c_str());
        auto db = SqliteDatabase::open(path, SqliteDatabase::Mode::ReadOnly);
        QCOMPARE((*db)->queryInteger("PRAGMA user_version")->value_or(0), std::int64_t(1));
        QCOMPARE((*db)->queryInteger("SELECT count(*) FROM classes")->value_or(0), std::int64_t(3));
        QVERIFY(!(*db)->queryInteger("SELECT count(*) FROM class_events")); // no such table: nothing was done
    }

    // verifyDerivedState() (status --check) replays the class history too: a class or label table
    // changed behind the history's back is found and named.
    void verifyFindsStateTheHistoryDoesNotGive_data()
    {
        QTest::addColumn<QString>("sql");
        QTest::addColumn<QString>("message");
        QTest::newRow("class renamed") << "UPDATE classes SET name = 'wolf' WHERE id = 1"
                                       << "the stored class 'wolf' does not match its history (which gives 'dog',";
        QTest::newRow("class gone") << "UPDATE classes SET live = 0 WHERE id = 2"
                                    << "the stored class 'fox' does not match its history";
        QTest::newRow("class without history")
            << "INSERT INTO classes(id, name, colour, hotkey, position, live) VALUES(7, 'owl', '#000000', '', 7, 1)"
            << "the class 'owl' has no history";
        QTest::newRow("label of a gone class")
            << "UPDATE classes SET live = 0 WHERE id = 2; INSERT INTO class_events(action_id, class_id, name, colour, "
               "hotkey, position, live) SELECT NULL, id, name, colour, hotkey, position, 0 FROM classes WHERE id = 2"
            << "item 4 is labeled with the class 'fox', which is gone";
        QTest::newRow("label changed") << "UPDATE current_labels SET class_id = 0 WHERE item_id = 4"
                                       << "item 3: the stored label does not match the history";
    }
    void verifyFindsStateTheHistoryDoesNotGive()
    {
        QFETCH(QString, sql);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        const auto f = makeFixture(tmp, 2); // items 1-2 cat, 3-4 dog, 5-6 fox
        {
            auto store = openOrDie(f.project);
            QVERIFY(store->renameClass(0, "kitty"));
            QVERIFY(store->verifyDerivedState());
        }
        {
            auto db = SqliteDatabase::open(f.project, SqliteDatabase::Mode::ReadWrite);
            QVERIFY((*db)->exec(sql.toStdString(), "test"));
        }
        auto store = openOrDie(f.project, ProjectStore::Access::ReadOnly);
        auto r = store->verifyDerivedState();
        QVERIFY(!r);
        QVERIFY2(r.error().message.find(message.toStdString()) != std::string::npos, r.error().message.c_str());
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
            if (format == "csv") {
                // Written outside the data's root, the CSV is also a source on its own: its paths
                // lead from its folder to the same files, with the same labels.
                auto asSource = openImageSource(out, SourceKind::Csv);
                QVERIFY2(asSource, asSource ? "" : asSource.error().message.c_str());
                QCOMPARE((*asSource)->size(), std::size_t(4));
                std::map<std::string, std::string> fromSource;
                for (std::size_t i = 0; i < (*asSource)->size(); ++i) {
                    const auto& it = (*asSource)->item(i);
                    QVERIFY2(it.path.starts_with("data/"), it.path.c_str());
                    QCOMPARE(fileBytes(tmp.path().toStdString() + "/" + it.path), fileBytes((f.root / it.path.substr(5)).string()));
                    fromSource[it.path.substr(5)] = it.label;
                }
                QCOMPARE(fromSource, expected);
            }
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
