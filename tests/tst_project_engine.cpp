// The project pipeline in core (ProjectEngine): checked settings, the kNN graph cache, and runs
// that give the same numbers whether the graph was searched or read back.

#include "ProjectTestSupport.h"

#include "core/project/GraphCache.h"
#include "core/project/ItemView.h"
#include "core/project/LivePropagation.h"
#include "core/project/ProjectEngine.h"
#include "core/project/ProjectImport.h"
#include "core/sources/ImageSource.h"

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <random>

using namespace labelprop;
using namespace labelprop::test;
namespace fs = std::filesystem;

namespace {

std::string makeProject(const QTemporaryDir& tmp)
{
    const auto root = fs::path(tmp.path().toStdString()) / "data";
    writeImageFolder(root, {"cat", "dog", "fox"}, 10);
    const auto project = (fs::path(tmp.path().toStdString()) / "p.labelprop").string();
    ProjectCreateOptions options;
    options.source = {root.string(), "imagefolder", "."};
    options.settings.encoder = "pca:8";
    options.settings.k = 5;
    auto store = ProjectStore::create(project, options);
    if (!store)
        qFatal("create: %s", store.error().message.c_str());
    auto source = openImageSource(root.string(), SourceKind::ImageFolder);
    if (!source)
        qFatal("source: %s", source.error().message.c_str());
    if (auto report = importSource(**store, **source, ImportOptions{}); !report)
        qFatal("import: %s", report.error().message.c_str());
    return project;
}

ProjectRun loadOrDie(ProjectStore& store)
{
    auto settings = store.settings();
    if (!settings)
        qFatal("settings: %s", settings.error().message.c_str());
    auto run = loadProjectRun(store, *settings);
    if (!run)
        qFatal("run: %s", run.error().message.c_str());
    return std::move(*run);
}

std::vector<fs::path> graphFiles(const std::string& project)
{
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(project + "-cache") / "graphs", ec))
        files.push_back(e.path());
    return files;
}

} // namespace

class TestProjectEngine : public QObject {
    Q_OBJECT

private slots:
    void badStoredSettingsNameTheSetting_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");
        QTest::newRow("temperature text") << "temperature" << "warm";
        QTest::newRow("temperature zero") << "temperature" << "0";
        QTest::newRow("temperature trailing") << "temperature" << "0.05x";
        QTest::newRow("k zero") << "k" << "0";
        QTest::newRow("knn") << "knn" << "fast";
        QTest::newRow("clamp") << "clamp" << "soft:2";
        QTest::newRow("steps") << "steps" << "0";
        QTest::newRow("strategy") << "strategy" << "best";
        QTest::newRow("encoder") << "encoder" << "resnet";
    }
    void badStoredSettingsNameTheSetting()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        ProjectSettings s;
        const auto v = value.toStdString();
        if (key == "temperature")
            s.temperature = v;
        else if (key == "k")
            s.k = std::stoi(v);
        else if (key == "knn")
            s.knn = v;
        else if (key == "clamp")
            s.clamp = v;
        else if (key == "steps")
            s.steps = std::stoi(v);
        else if (key == "strategy")
            s.strategy = v;
        else
            s.encoder = v;
        auto checked = checkEngineSettings(s, "/data/p.labelprop");
        QVERIFY(!checked);
        const auto& m = checked.error().message;
        QVERIFY2(m.find("/data/p.labelprop") != std::string::npos, m.c_str());
        QVERIFY2(m.find(key.toStdString() + " = '" + v + "'") != std::string::npos, m.c_str());
        QVERIFY2(m.find("pass --") != std::string::npos, m.c_str()); // says what to do
    }

    void defaultSettingsAreAccepted()
    {
        auto checked = checkEngineSettings(ProjectSettings{}, "p.labelprop");
        QVERIFY2(checked, checked ? "" : checked.error().message.c_str());
        QCOMPARE(checked->graph.k, 10);
        QVERIFY(!checked->graph.temperature); // auto
        QCOMPARE(checked->steps, 20);
        ProjectSettings fixed;
        fixed.temperature = "0.05";
        QCOMPARE(*checkEngineSettings(fixed, "p")->graph.temperature, 0.05f);
    }

    // Reopening reads the graph back instead of searching; the numbers are the same either way.
    void reopenUsesTheCachedGraph()
    {
        QTemporaryDir tmp;
        const auto project = makeProject(tmp);
        auto store = ProjectStore::open(project, ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        const auto first = loadOrDie(**store);
        QVERIFY(!first.graphFromCache);
        QCOMPARE(graphFiles(project).size(), std::size_t(2)); // the kNN graph and S
        const auto second = loadOrDie(**store);
        QVERIFY(second.graphFromCache);
        QCOMPARE(second.graph->knn.neighbours, first.graph->knn.neighbours);
        QCOMPARE(second.graph->knn.similarities, first.graph->knn.similarities);
        QCOMPARE(second.graph->temperature, first.graph->temperature);
        auto a = propagateProject(first);
        auto b = propagateProject(second);
        QVERIFY(a && b);
        QCOMPARE(a->result.probabilities, b->result.probabilities);
        QCOMPARE(a->quality.flagged, b->quality.flagged);
        const auto stored = storedPropagation(second, *b);
        QCOMPARE(stored.itemIds, second.embeddings.itemIds);
        QCOMPARE(stored.classes.size(), std::size_t(3));
        QCOMPARE(stored.given, second.seeds);
    }

    // S is kept beside the kNN graph, per temperature; read back it is the same matrix, and a damaged
    // file is reported and built again.
    void affinityIsCachedPerTemperature()
    {
        QTemporaryDir tmp;
        const auto project = makeProject(tmp);
        auto store = ProjectStore::open(project, ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        const auto built = loadOrDie(**store);
        const auto again = loadOrDie(**store);
        const auto& a = built.graph->affinity;
        const auto& b = again.graph->affinity;
        QCOMPARE(b.rowStart, a.rowStart);
        QCOMPARE(b.columns, a.columns);
        QCOMPARE(b.weights, a.weights);
        QCOMPARE(b.localOrder, a.localOrder);
        QCOMPARE(b.localPosition, a.localPosition);
        QCOMPARE(b.local.columns, a.local.columns);
        QCOMPARE(b.local.weights, a.local.weights);
        QCOMPARE(again.graph->temperature, built.graph->temperature);
        QCOMPARE(propagateProject(again)->result.probabilities, propagateProject(built)->result.probabilities);
        fs::path aff;
        for (const auto& f : graphFiles(project))
            if (f.extension() == ".aff")
                aff = f;
        QVERIFY(!aff.empty());
        fs::resize_file(aff, fs::file_size(aff) - 3);
        const auto rebuilt = loadOrDie(**store);
        QVERIFY(!rebuilt.warnings.empty());
        QVERIFY2(rebuilt.warnings.back().find(aff.string()) != std::string::npos, rebuilt.warnings.back().c_str());
        QCOMPARE(rebuilt.graph->affinity.weights, a.weights);
    }

    // Another k is another graph (another file); the temperature is not part of the key.
    void keyFollowsTheSettingsThatDecideTheNeighbours()
    {
        QTemporaryDir tmp;
        const auto project = makeProject(tmp);
        auto store = ProjectStore::open(project, ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        auto settings = *(*store)->settings();
        QVERIFY(loadProjectRun(**store, settings));
        settings.temperature = "0.1";
        auto sameGraph = loadProjectRun(**store, settings);
        QVERIFY(sameGraph);
        QVERIFY(sameGraph->graphFromCache);
        QCOMPARE(sameGraph->graph->temperature, 0.1f);
        settings.k = 7;
        auto otherK = loadProjectRun(**store, settings);
        QVERIFY(otherK);
        QVERIFY(!otherK->graphFromCache);
        QCOMPARE(otherK->graph->knn.k, 7);
        QCOMPARE(graphFiles(project).size(), std::size_t(5)); // two kNN graphs; S at three (k, T)
    }

    // A damaged cache file is reported, searched again, and rewritten.
    void damagedCacheFileIsRebuilt_data()
    {
        QTest::addColumn<int>("damage");
        QTest::newRow("truncated") << 0;
        QTest::newRow("garbage") << 1;
        QTest::newRow("neighbour out of range") << 2;
    }
    void damagedCacheFileIsRebuilt()
    {
        QFETCH(int, damage);
        QTemporaryDir tmp;
        const auto project = makeProject(tmp);
        auto store = ProjectStore::open(project, ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        const auto first = loadOrDie(**store);
        fs::path file;
        for (const auto& f : graphFiles(project))
            if (f.extension() == ".knn")
                file = f;
        const auto size = fs::file_size(file);
        if (damage == 0) {
            fs::resize_file(file, size - 7);
        } else if (damage == 1) {
            std::ofstream(file, std::ios::binary) << "not a graph at all";
        } else {
            // The first neighbour sits right after the header.
            const auto key = graphCacheKey(first.embeddings.version, first.engine.graph.knnKey());
            std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
            f.seekp(std::streamoff(8 + 4 + key.size() + 8 + 4));
            const std::int32_t bad = 1 << 30;
            f.write(reinterpret_cast<const char*>(&bad), 4);
        }
        const auto second = loadOrDie(**store);
        QVERIFY(!second.graphFromCache);
        QVERIFY(!second.warnings.empty());
        QVERIFY2(second.warnings.back().find(file.string()) != std::string::npos, second.warnings.back().c_str());
        QCOMPARE(second.graph->knn.neighbours, first.graph->knn.neighbours);
        QCOMPARE(fs::file_size(file), size);
        QVERIFY(loadOrDie(**store).graphFromCache);
    }

    // LivePropagation after random label changes (adds, changes, removals, batches) shows the same
    // numbers as a from-scratch propagation of the same labels, and reports exactly the rows that changed.
    void liveEqualsFromScratch()
    {
        QTemporaryDir tmp;
        const auto project = makeProject(tmp);
        auto store = ProjectStore::open(project, ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        auto run = loadOrDie(**store);
        std::vector<LabelChange> none;
        for (const auto id : run.embeddings.itemIds)
            none.push_back(LabelChange{id, -1}); // start from no labels at all
        auto live = LivePropagation::start(run);
        QVERIFY(live);
        auto first = (*live)->apply(none, run.classes);
        QVERIFY(first);
        std::mt19937 rng(5);
        const auto rows = run.embeddings.itemIds.size();
        for (int step = 0; step < 60; ++step) {
            std::vector<LabelChange> batch;
            const int size = step % 7 == 0 ? 8 : 1;
            for (int b = 0; b < size; ++b)
                batch.push_back(LabelChange{run.embeddings.itemIds[rng() % rows], int(rng() % 4) - 1});
            const auto before = std::vector<ShownRow>((*live)->shown().begin(), (*live)->shown().end());
            auto update = (*live)->apply(batch, run.classes);
            QVERIFY2(update, update ? "" : update.error().message.c_str());
            // The reported rows are exactly the changed ones.
            std::vector<std::int32_t> changed;
            for (std::size_t r = 0; r < rows; ++r)
                if (!(before[r] == (*live)->shown()[r]))
                    changed.push_back(std::int32_t(r));
            auto reported = update->rows;
            std::sort(reported.begin(), reported.end());
            QCOMPARE(reported, changed);
            // From scratch with the same seeds.
            ProjectRun scratch = run;
            scratch.seeds.assign((*live)->seeds().begin(), (*live)->seeds().end());
            scratch.labeled = std::count_if(scratch.seeds.begin(), scratch.seeds.end(), [](int s) { return s >= 0; });
            if (scratch.labeled == 0)
                continue;
            auto full = propagateProject(scratch);
            QVERIFY(full);
            const auto current = (*live)->current();
            const auto& shown = current.result.probabilities;
            QCOMPARE(shown.size(), full->result.probabilities.size());
            for (std::size_t k = 0; k < shown.size(); ++k)
                QVERIFY2(std::abs(shown[k] - full->result.probabilities[k]) <= 1e-4f, qPrintable(QString::number(k)));
            for (std::size_t r = 0; r < rows; ++r)
                QCOMPARE(int((*live)->shown()[r].flagged), int(full->quality.flagged[r]));
        }
    }

    void orderItemsSortsAndFilters()
    {
        // Six items: 0 labeled cat by a person, 1 imported dog (flagged), 2 propagated cat 0.9,
        // 3 propagated dog 0.4, 4 unreached, 5 propagated cat 0.6 and reviewed.
        ItemColumns c;
        c.paths = std::make_shared<const std::vector<std::string>>(
            std::vector<std::string>{"b/Cat1.png", "a/dog2.png", "c/x.png", "d/y.png", "e/z.png", "f/w.png"});
        c.label = {0, 1, -1, -1, -1, -1};
        c.source = {std::uint8_t(LabelSource::Human), std::uint8_t(LabelSource::Imported), 0, 0, 0, 0};
        c.reviewed = {0, 0, 0, 0, 0, 1};
        c.status.assign(6, 0);
        c.shown = {ShownRow{0, 1.0f, 0.1f, 0, -1}, ShownRow{1, 1.0f, 0.8f, 1, 0}, ShownRow{0, 0.9f, 0, 0, -1},
                   ShownRow{1, 0.4f, 0, 0, -1},     ShownRow{},                    ShownRow{0, 0.6f, 0, 0, -1}};
        const auto order = [&](ItemQuery q) { return orderItems(c, q); };
        using V = std::vector<std::int32_t>;
        QCOMPARE(order({}), (V{4, 3, 5, 2, 1, 0})); // unreached, then least confident; labels last, least agreed first
        QCOMPARE(order({ItemSort::ConfidenceDescending}), (V{2, 5, 3, 4, 0, 1}));
        QCOMPARE(order({ItemSort::IssueScore}), (V{1, 0, 2, 3, 4, 5}));
        QCOMPARE(order({ItemSort::Path}), (V{1, 0, 2, 3, 4, 5}));
        QCOMPARE(order({ItemSort::Class}), (V{0, 2, 5, 1, 3, 4}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::Unlabeled}), (V{2, 3, 4, 5}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::LabeledByPerson}), (V{0}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::Imported}), (V{1}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::Propagated}), (V{2, 3, 5}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::Flagged}), (V{1}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::Reviewed}), (V{5}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::All, 0}), (V{0, 2, 5}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::All, -1, 0.5f, 1.0f}), (V{2, 5}));
        QCOMPARE(order({ItemSort::Path, ItemFilter::All, -1, 0.0f, 1.0f, "CAT"}), (V{0}));
        c.suggestionRank = {-1, -1, 1, -1, 0, -1};
        QCOMPARE(order({ItemSort::SuggestionRank}), (V{4, 2, 3, 5, 1, 0}));
        for (const auto sort : {ItemSort::ConfidenceAscending, ItemSort::ConfidenceDescending, ItemSort::IssueScore,
                                ItemSort::SuggestionRank, ItemSort::Class, ItemSort::Path})
            QCOMPARE(parseItemSort(itemSortName(sort)), std::optional<ItemSort>(sort));

        const auto counts = countItems(c, 2, 0.5f);
        QCOMPARE(counts.byPeople, 1);
        QCOMPARE(counts.imported, 1);
        QCOMPARE(counts.propagated, 3);
        QCOMPARE(counts.confident, 2);
        QCOMPARE(counts.flagged, 1);
        QCOMPARE(counts.reviewed, 1);
        QCOMPARE(counts.classByPeople, (std::vector<std::int64_t>{1, 1}));
        QCOMPARE(counts.classPropagated, (std::vector<std::int64_t>{2, 1}));
    }

    void warmStartOnlyFromAMatchingResult()
    {
        QTemporaryDir tmp;
        const auto project = makeProject(tmp);
        auto store = ProjectStore::open(project, ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        const auto run = loadOrDie(**store);
        auto p = propagateProject(run);
        QVERIFY(p);
        auto stored = storedPropagation(run, *p);
        QCOMPARE(warmStartScores(run, stored), p->result.scores);
        stored.embeddingVersion = "other";
        QVERIFY(warmStartScores(run, stored).empty());
    }
};

QTEST_GUILESS_MAIN(TestProjectEngine)
#include "tst_project_engine.moc"
