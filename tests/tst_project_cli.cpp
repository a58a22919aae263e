// `labelprop-cli project ...` as a user runs it, and the crash loop: a real labeling process is
// killed (SIGKILL) at random moments many times; every label it acknowledged must be in the
// project afterwards.

#include "ProjectTestSupport.h"
#include "TestSupport.h"

#include "core/formats/Csv.h"
#include "core/project/ProjectStore.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QtTest>

#include <filesystem>
#include <map>
#include <thread>

using namespace labelprop;
using namespace labelprop::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kClasses = {"cat", "dog", "fox"};

QJsonObject statusJson(const QString& project)
{
    const auto r = runCli({"project", "status", project, "--json", "--check"});
    if (r.exitCode != 0)
        qFatal("status failed: %s", qPrintable(r.err));
    return QJsonDocument::fromJson(r.out.toUtf8()).object();
}

// Current labels as index -> class name, read through the store (read-only).
std::map<int, std::string> storedLabels(const std::string& project)
{
    auto store = ProjectStore::open(project, ProjectStore::Access::ReadOnly);
    if (!store)
        qFatal("open: %s", store.error().message.c_str());
    if (auto ok = (*store)->verifyDerivedState(); !ok)
        qFatal("derived state: %s", ok.error().message.c_str());
    auto classes = (*store)->classes();
    auto labels = (*store)->currentLabels();
    std::map<int, std::string> out;
    for (const auto& l : *labels)
        out[int(l.itemId - 1)] = (*classes)[std::size_t(l.classId)].name;
    return out;
}

} // namespace

class TestProjectCli : public QObject {
    Q_OBJECT

private slots:
    void workflowAsAUserRunsIt()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        const auto paths = writeImageFolder(root, kClasses, 12);
        const QString project = tmp.path() + "/pets.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--no-labels",
                         "--encoder", "pca:8"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("items: 36 added"));
        QVERIFY(r.out.contains("36 encoded"));
        auto status = statusJson(project);
        QCOMPARE(status["labeled"].toInt(), 0);
        QCOMPARE(status["items"].toObject()["total"].toInt(), 36);

        // A typo is not a new class; --add-class makes one.
        r = runCli({"project", "label", project, "--item", "0", "--label", "cta"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("no class named 'cta'") && r.err.contains("--add-class"), qPrintable(r.err));
        for (std::size_t c = 0; c < kClasses.size(); ++c) {
            r = runCli({"project", "label", project, "--item", QString::fromStdString(paths[c * 12]), "--label",
                        QString::fromStdString(kClasses[c]), "--add-class"});
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        }
        r = runCli({"project", "label", project, "--item", "999", "--label", "cat"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("item index 999 is out of range (the project has 36 items"), qPrintable(r.err));
        r = runCli({"project", "label", project, "--item", "no/such.png", "--label", "cat"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("no item with the path 'no/such.png'"), qPrintable(r.err));

        // Classes: rename (labels follow), colour, hotkey (moves from the class that had it).
        r = runCli({"project", "classes", project, "--rename", "fox=vixen"});
        QVERIFY2(r.exitCode == 0 && r.out.contains("vixen"), qPrintable(r.err + r.out));
        QCOMPARE(statusJson(project)["by_class"].toObject()["vixen"].toInt(), 1);
        QCOMPARE(runCli({"project", "classes", project, "--rename", "vixen=fox"}).exitCode, 0);
        r = runCli({"project", "classes", project, "--hotkey", "fox=1", "--colour", "fox=#123456"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("1   #123456  fox") && r.out.contains("-   #4e79a7  cat"), qPrintable(r.out));
        QCOMPARE(runCli({"project", "classes", project, "--colour", "fox=red"}).exitCode, 1);
        QCOMPARE(runCli({"project", "classes", project, "--rename", "fox=dog"}).exitCode, 1);

        // A batch is one action: one undo reverts all of it.
        writeFile(tmp.path() + "/batch.csv", "item,label\n1,cat\n13,dog\n25,fox\n");
        r = runCli({"project", "label", project, "--batch", tmp.path() + "/batch.csv"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(statusJson(project)["labeled"].toInt(), 6);
        QCOMPARE(statusJson(project)["by_source"].toObject()["bulk"].toInt(), 3);
        r = runCli({"project", "undo", project});
        QVERIFY(r.out.contains("undone: label 3 items"));
        QCOMPARE(statusJson(project)["labeled"].toInt(), 3);
        r = runCli({"project", "redo", project});
        QVERIFY(r.out.contains("redone"));
        QCOMPARE(statusJson(project)["labeled"].toInt(), 6);
        // A bad batch line changes nothing and names its line.
        writeFile(tmp.path() + "/bad.csv", "item,label\n2,cat\n3,zebra\n");
        r = runCli({"project", "label", project, "--batch", tmp.path() + "/bad.csv"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("bad.csv:3:") && r.err.contains("zebra"), qPrintable(r.err));
        QCOMPARE(statusJson(project)["labeled"].toInt(), 6);

        r = runCli({"project", "propagate", project, "-o", tmp.path() + "/result.csv"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("36 items x 8 dims (0 encoded now, 36 from the cache)"));
        const auto rows = readCsv(tmp.path() + "/result.csv");
        QCOMPARE(rows.size(), 37);
        QCOMPARE(rows[0].join(','), QByteArray("path,given,predicted,confidence,margin,issue_score,flagged"));
        int right = 0;
        for (int i = 1; i < rows.size(); ++i)
            right += rows[i][0].startsWith(rows[i][2]) ? 1 : 0; // folder name = class
        QVERIFY2(right >= 33, qPrintable(QString::number(right)));
        status = statusJson(project);
        QCOMPARE(status["last_propagation"].toObject()["stale"].toBool(), false);

        r = runCli({"project", "export", project, "--include", "pseudo:0.5", "--format", "json", "-o",
                    tmp.path() + "/all.json"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const auto doc = QJsonDocument::fromJson(readFile(tmp.path() + "/all.json")).object();
        QCOMPARE(doc["format"].toString(), QString("labelprop-labels"));
        QVERIFY(doc["items"].toArray().size() > 20);

        r = runCli({"project", "suggest", project, "--budget", "5", "-o", tmp.path() + "/next.csv"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(readCsv(tmp.path() + "/next.csv").size(), 6);

        // The audit judges a fully labeled set: label everything by its folder, one wrong.
        QByteArray all = "item,label\n";
        for (std::size_t i = 0; i < paths.size(); ++i)
            all += QByteArray::fromStdString(paths[i]) + "," + (i == 20 ? "fox" : paths[i].substr(0, 3).c_str()) + "\n";
        writeFile(tmp.path() + "/all.csv", all);
        r = runCli({"project", "label", project, "--batch", tmp.path() + "/all.csv"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runCli({"project", "audit", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(QString::fromStdString("20 " + paths[20] + ": labeled fox, suggested dog")), qPrintable(r.out));
        QVERIFY(statusJson(project)["flagged"].toInt() >= 1);
        r = runCli({"project", "export", project, "-o", tmp.path() + "/marked.csv"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        // The CSV sits beside the data folder: its paths lead from there ("pets/...").
        bool marked = false;
        for (const auto& row : readCsv(tmp.path() + "/marked.csv"))
            marked = marked || (row[0] == QByteArray::fromStdString("pets/" + paths[20]) && row[4] == "1");
        QVERIFY(marked);
        r = runCli({"project", "export", project, "--flagged", "drop", "-o", tmp.path() + "/dropped.csv"});
        QVERIFY(r.out.contains("left out"));
        QVERIFY(!readFile(tmp.path() + "/dropped.csv").contains(QByteArray::fromStdString(paths[20])));
        // Reviewed: relabeled (an accepted fix), no longer flagged.
        r = runCli({"project", "review", project, "--item", "20", "--decision", "relabeled", "--label", "dog"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        status = statusJson(project);
        QCOMPARE(status["by_decision"].toObject()["relabeled"].toInt(), 1);
        QCOMPARE(status["by_source"].toObject()["accepted"].toInt(), 1);
        QCOMPARE(status["flagged"].toInt(), 0);
        r = runCli({"project", "history", project, "--item", "20"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("fox (bulk)") && r.out.contains("review: relabeled") && r.out.contains("dog (accepted)"),
                 qPrintable(r.out));
        r = runCli({"project", "export", project, "--include", "human", "-o", tmp.path() + "/human.csv"});
        QCOMPARE(readCsv(tmp.path() + "/human.csv").size(), 1 + 35); // the fix is not a human label
        r = runCli({"project", "export", project, "--include", "fixed", "-o", tmp.path() + "/fixed.csv"});
        QVERIFY(readFile(tmp.path() + "/fixed.csv").contains(QByteArray::fromStdString(paths[20]) + ",dog,accepted"));

        // Usage errors exit 2; unknown subcommands list the commands.
        QCOMPARE(runCli({"project"}).exitCode, 2);
        QCOMPARE(runCli({"project", "label", project, "--item", "0", "--batch", tmp.path() + "/batch.csv"}).exitCode, 2);
        QCOMPARE(runCli({"project", "label", project}).exitCode, 2);
        r = runCli({"project", "frobnicate", project});
        QCOMPARE(r.exitCode, 2);
        QVERIFY(r.err.contains("unknown command 'frobnicate'"));
        QCOMPARE(runCli({"project", "export", project, "--include", "pseudo:2", "-o", tmp.path() + "/x.csv"}).exitCode, 1);
    }

    // A re-scan embeds what it found, as create does: new images with the project's encoder, or
    // with --encoder (saved as the project's); --no-embed leaves it to the next propagate.
    void importEmbedsNewImages()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        writeImageFolder(root, kClasses, 12);
        const QString project = tmp.path() + "/pets.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--encoder",
                         "pca:8"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const auto more = writeImageFolder(fs::path(tmp.path().toStdString()) / "more", {"cat"}, 3, 99);
        const auto addImage = [&](int i) {
            fs::copy_file(fs::path(tmp.path().toStdString()) / "more" / more[std::size_t(i)],
                          root / "cat" / ("new_" + std::to_string(i) + ".png"));
        };
        addImage(0);
        addImage(1);
        r = runCli({"project", "import", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("items: 2 added") && r.out.contains("(2 encoded, 36 from the cache)"), qPrintable(r.out));
        addImage(2);
        r = runCli({"project", "import", project, "--no-embed"});
        QVERIFY2(r.exitCode == 0 && r.out.contains("items: 1 added") && !r.out.contains("embeddings:"), qPrintable(r.out));
        // A bad encoder is refused before the scan: nothing imported, nothing saved.
        r = runCli({"project", "import", project, "--encoder", "pca:0"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(!r.out.contains("items:"), qPrintable(r.out));
        r = runCli({"project", "import", project, "--encoder", "pca:4"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("39 items x 4 dims") && r.out.contains("(39 encoded"), qPrintable(r.out));
        // The project now embeds with pca:4: propagate finds every vector in the cache.
        r = runCli({"project", "propagate", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("39 items x 4 dims (0 encoded now"), qPrintable(r.out));
    }

    // Our own CSV export is a source: a project made from it gets every exported label back (as
    // imported labels), and the columns a source does not read are named once. embed reads it too.
    void exportedCsvIsASource()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        auto paths = writeImageFolder(root, kClasses, 6);
        fs::copy_file(root / paths[0], root / "fox/odd, name.png"); // a quoted path in the CSV
        const QString first = tmp.path() + "/first.labelprop";
        auto r = runCli({"project", "create", first, "--source", QString::fromStdString(root.string()), "--no-labels",
                         "--no-embed"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        // Two of every three items by their folder, and one under a class whose name has a comma.
        QByteArray batch = "item,label\n";
        for (std::size_t i = 0; i < paths.size(); ++i)
            if (i % 3 != 2)
                batch += QByteArray::fromStdString(csvLine({paths[i], paths[i].substr(0, paths[i].find('/'))}));
        batch += QByteArray::fromStdString(csvLine({"fox/odd, name.png", "dog, small"}));
        writeFile(tmp.path() + "/batch.csv", batch);
        r = runCli({"project", "label", first, "--batch", tmp.path() + "/batch.csv", "--add-class"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));

        // path -> label, read through the store.
        const auto labelsByPath = [](const QString& project) {
            auto store = ProjectStore::open(project.toStdString(), ProjectStore::Access::ReadOnly);
            if (!store)
                qFatal("open: %s", store.error().message.c_str());
            const auto items = (*store)->items();
            const auto classes = (*store)->classes();
            const auto labels = (*store)->currentLabels();
            if (!items || !classes || !labels)
                qFatal("cannot read %s", qPrintable(project));
            std::map<std::string, std::string> out;
            for (const auto& l : *labels)
                out[(*items)[std::size_t(l.itemId - 1)].path] = (*classes)[std::size_t(l.classId)].name;
            return out;
        };
        const auto given = labelsByPath(first);
        QCOMPARE(given.size(), std::size_t(12 + 1));
        QCOMPARE(given.at("fox/odd, name.png"), std::string("dog, small"));

        // Written where its paths start from (the project's source folder), as a person does it.
        const QString clean = QString::fromStdString((root / "clean.csv").string());
        r = runCli({"project", "export", first, "--format", "csv", "-o", clean});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(readFile(clean).startsWith("path,label,source,confidence,flagged\n"));
        const QString ignored = "warning: " + clean
            + ": ignored the columns 'source', 'confidence', 'flagged'; a CSV source reads only 'path' and 'label'\n";

        const QString second = tmp.path() + "/second.labelprop";
        r = runCli({"project", "create", second, "--source", clean, "--no-embed"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(r.err.count(ignored), 1);
        QVERIFY2(r.out.contains("items: 13 added") && r.out.contains("labels: 13 imported"), qPrintable(r.out));
        QCOMPARE(labelsByPath(second), given);
        const auto status = statusJson(second);
        QCOMPARE(status["by_source"].toObject()["imported"].toInt(), 13);
        QCOMPARE(status["items"].toObject()["unreadable"].toInt(), 0);

        r = runCli({"embed", clean, "--encoder", "pca:4", "-o", tmp.path() + "/emb.npy"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(r.err.count(ignored), 1);
        QCOMPARE(readCsv(tmp.path() + "/items.csv").size(), 1 + 13);

        // Saved away from the images, the export's relative paths resolve to nothing: said up front.
        const QString away = tmp.path() + "/away.csv";
        QVERIFY(fs::copy_file(clean.toStdString(), away.toStdString()));
        r = runCli({"project", "create", tmp.path() + "/third.labelprop", "--source", away, "--no-embed"});
        QVERIFY2(r.err.contains("warning: " + away + ": none of the 13 relative paths exists under " + tmp.path())
                     && r.err.contains("put the CSV in the folder the paths start from"),
                 qPrintable(r.err));
    }

    // Class edits from the command line: each is one action that 'project undo' and 'project redo'
    // revert and repeat like labels; a merge moves the labels with their sources; the history and
    // 'status --check' (which replays it) see them.
    void classEditsUndoFromTheCommandLine()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        const auto paths = writeImageFolder(root, kClasses, 4); // 0-3 cat, 4-7 dog, 8-11 fox
        const QString project = tmp.path() + "/pets.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--no-embed"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runCli({"project", "label", project, "--item", "9", "--label", "dog"}); // a person's label, then merged
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const auto before = storedLabels(project.toStdString());

        r = runCli({"project", "classes", project, "--merge", "fox", "--into", "dog"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("merge class 'fox' into 'dog' (3 labels moved)"), qPrintable(r.out));
        QVERIFY2(!r.out.section('\n', 1).contains("fox"), qPrintable(r.out)); // the listing after the action line
        QVERIFY2(r.out.contains(QRegularExpression("dog +8 labeled")), qPrintable(r.out));
        auto status = statusJson(project); // --check replays the history
        QCOMPARE(status["by_class"].toObject(), (QJsonObject{{"cat", 4}, {"dog", 8}}));
        QCOMPARE(status["by_source"].toObject()["imported"].toInt(), 11);
        QCOMPARE(status["by_source"].toObject()["human"].toInt(), 1);
        QCOMPARE(status["undo"].toInt(), 2);
        r = runCli({"project", "history", project});
        QVERIFY2(r.out.contains("merge class 'fox' into 'dog' (3 labels)"), qPrintable(r.out));
        r = runCli({"project", "history", project, "--item", "8"});
        QVERIFY2(r.out.contains("fox (imported)") && r.out.contains("dog (imported)")
                     && r.out.contains("merge class 'fox' into 'dog'"),
                 qPrintable(r.out));

        r = runCli({"project", "undo", project});
        QVERIFY2(r.exitCode == 0 && r.out.contains("undone: merge class 'fox' into 'dog' (3 items)"),
                 qPrintable(r.err + r.out));
        QCOMPARE(storedLabels(project.toStdString()), before);
        QCOMPARE(statusJson(project)["by_class"].toObject(), (QJsonObject{{"cat", 4}, {"dog", 5}, {"fox", 3}}));
        r = runCli({"project", "history", project, "--item", "8"});
        QVERIFY2(r.out.contains("[undone]"), qPrintable(r.out));
        r = runCli({"project", "redo", project});
        QVERIFY2(r.exitCode == 0 && r.out.contains("redone: merge class 'fox' into 'dog'"), qPrintable(r.err + r.out));
        QCOMPARE(statusJson(project)["by_class"].toObject(), (QJsonObject{{"cat", 4}, {"dog", 8}}));
        QCOMPARE(runCli({"project", "undo", project}).exitCode, 0);

        // Rename, colour, hotkey and add: one action each, undone in the reverse order.
        r = runCli({"project", "classes", project, "--add", "owl", "--rename", "cat=kitty", "--colour", "dog=#123456",
                    "--hotkey", "fox=1"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("add class 'owl'\nrename class 'cat' to 'kitty'\nset the colour of class 'dog' to "
                                "#123456\nset the hotkey of class 'fox' to 1\n"),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains(QRegularExpression("-   #4e79a7  kitty +4 labeled"))
                     && r.out.contains(QRegularExpression("2   #123456  dog")) && r.out.contains("1   #e15759  fox")
                     && r.out.contains("4   #76b7b2  owl"),
                 qPrintable(r.out));
        QCOMPARE(statusJson(project)["undo"].toInt(), 5);
        for (const char* undone : {"undone: set the hotkey of class 'fox' to 1\n", "undone: set the colour of class 'dog' to #123456\n",
                                   "undone: rename class 'cat' to 'kitty'\n", "undone: add class 'owl'\n"}) {
            r = runCli({"project", "undo", project});
            QVERIFY2(r.exitCode == 0 && r.out == undone, qPrintable(r.err + r.out));
        }
        r = runCli({"project", "classes", project});
        QCOMPARE(r.out, QString("1   #4e79a7  cat                      4 labeled\n"
                                "2   #f28e2b  dog                      5 labeled\n"
                                "3   #e15759  fox                      3 labeled\n"));
        QCOMPARE(storedLabels(project.toStdString()), before);

        // Mistakes exit 1 (2 for usage) with the reason, and change nothing.
        const struct {
            QStringList args;
            int exitCode;
            const char* message;
        } mistakes[] = {
            {{"--merge", "fox"}, 2, "give --merge and --into together"},
            {{"--into", "dog"}, 2, "give --merge and --into together"},
            {{"--merge", "fox", "--into", "fox"}, 1, "cannot merge the class 'fox' into itself"},
            {{"--merge", "zebra", "--into", "dog"}, 1, "no class named 'zebra'"},
            {{"--merge", "fox", "--into", "zebra"}, 1, "no class named 'zebra'"},
            {{"--add", "dog"}, 1, "the class 'dog' exists already"},
            {{"--hotkey", "fox=12"}, 1, "'12' is not a hotkey"},
        };
        for (const auto& m : mistakes) {
            r = runCli(QStringList{"project", "classes", project} + m.args);
            QVERIFY2(r.exitCode == m.exitCode && r.err.contains(m.message), qPrintable(m.args.join(' ') + ": " + r.err));
        }
        QCOMPARE(statusJson(project)["undo"].toInt(), 1);
        QCOMPARE(statusJson(project)["redo"].toInt(), 4); // the merge's redo went with the first new action
    }

    void badImagesDoNotStopAProject()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "mixed";
        writeImageFolder(root, {"good"}, 10);
        const auto good = readFile(QString::fromStdString((root / "good/img_0.png").string()));
        writeFile(QString::fromStdString((root / "empty.png").string()), "");
        writeFile(QString::fromStdString((root / "junk.png").string()), QByteArray(3000, '\x5a'));
        writeFile(QString::fromStdString((root / "truncated.png").string()), good.left(good.size() / 2));
        writeFile(QString::fromStdString((root / "café_猫.png").string()), readFile(QString::fromStdString((root / "good/img_1.png").string())));
        writeFile(QString::fromStdString((root / "duplicate.png").string()), good);
        fs::create_directory_symlink(root, root / "good/loop");
        const QString project = tmp.path() + "/mixed.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--kind",
                         "folder", "--encoder", "pca:4"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("could not be encoded"), qPrintable(r.err));
        auto status = statusJson(project);
        QCOMPARE(status["items"].toObject()["total"].toInt(), 15);
        QCOMPARE(status["items"].toObject()["unreadable"].toInt(), 3);
        r = runCli({"project", "label", project, "--item", "café_猫.png", "--label", "cat", "--add-class"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(runCli({"project", "label", project, "--item", "duplicate.png", "--label", "dog", "--add-class"}).exitCode, 0);
        r = runCli({"project", "propagate", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("12 items x 4 dims"), qPrintable(r.out));
        r = runCli({"project", "export", project, "--format", "json", "-o", tmp.path() + "/labels.json"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(QString::fromUtf8(readFile(tmp.path() + "/labels.json")).contains(QStringLiteral("café_猫.png")));
    }

    // --item takes the stored path, an index, or a file's path: absolute or relative to the current
    // folder, also where the root or the current folder is reached through a symbolic link; a batch
    // file's relative paths start from its own folder. A file outside the root, or one the project
    // does not have, is refused with a message that names it, the root and what to do.
    void itemsByFilePath()
    {
        QTemporaryDir tmp;
        const fs::path base = fs::path(tmp.path().toStdString());
        const auto paths = writeImageFolder(base / "data/pets", kClasses, 4);
        fs::create_directory_symlink(base / "data", base / "link"); // the project is made through the link
        const fs::path root = base / "link/pets";
        const fs::path real = base / "data/pets";
        const QString project = tmp.path() + "/pets.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--no-labels",
                         "--no-embed"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const auto q = [](const fs::path& p) { return QString::fromStdString(p.string()); };
        // paths[0..3] are cat/img_0..3.png, paths[4..7] dog/..., paths[8..11] fox/...
        const struct {
            QString item;
            QString workingDirectory;
            int index;
        } ways[] = {
            {q(root / paths[0]), {}, 0},                            // absolute, as the project knows the root
            {q(real / paths[1]), {}, 1},                            // absolute, through the link's target
            {q(root / "cat/../cat/./img_2.png"), {}, 2},            // not normalised
            {"img_3.png", q(root / "cat"), 3},                      // relative; the folder is reached through the link
            {"pets/dog/img_0.png", q(base / "data"), 4},            // relative, from above the root
            {"../dog/img_1.png", q(real / "fox"), 5},               // relative, from a sibling folder
        };
        for (const auto& way : ways) {
            r = runCli({"project", "label", project, "--item", way.item, "--label", "cat", "--add-class"}, 600000,
                       way.workingDirectory);
            QVERIFY2(r.exitCode == 0, qPrintable(way.item + ": " + r.err));
            QVERIFY2(r.out.contains("label item " + QString::number(way.index) + " as 'cat'"),
                     qPrintable(way.item + ": " + r.out));
        }
        r = runCli({"project", "review", project, "--item", q(real / paths[0]), "--decision", "kept"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runCli({"project", "history", project, "--item", "img_0.png"}, 600000, q(root / "cat"));
        QVERIFY2(r.exitCode == 0 && r.out.contains("label item 0 as 'cat'") && r.out.contains("review: kept"),
                 qPrintable(r.err + r.out));
        // A batch file's relative paths start from its folder; absolute ones and stored ones work too.
        fs::create_directories(base / "lists");
        writeFile(tmp.path() + "/lists/fixes.csv", QByteArray("item,label\n../link/pets/dog/img_2.png,dog\n")
                                                        + QByteArray::fromStdString((real / paths[7]).string())
                                                        + ",dog\n" + QByteArray::fromStdString(paths[8]) + ",fox\n");
        r = runCli({"project", "label", project, "--batch", tmp.path() + "/lists/fixes.csv", "--add-class"});
        QVERIFY2(r.exitCode == 0 && r.out.contains("labeled 3 items"), qPrintable(r.err + r.out));
        const auto labels = storedLabels(project.toStdString());
        QCOMPARE(labels.at(6), std::string("dog"));
        QCOMPARE(labels.at(7), std::string("dog"));
        QCOMPARE(labels.at(8), std::string("fox"));
        // --stream: relative to the current folder.
        QProcess stream;
        stream.setWorkingDirectory(q(real / "fox"));
        stream.start(QStringLiteral(LABELPROP_CLI), {"project", "label", project, "--stream"});
        QVERIFY(stream.waitForStarted());
        stream.write("img_1.png,fox\n");
        stream.closeWriteChannel();
        QVERIFY(stream.waitForFinished());
        QVERIFY2(stream.exitCode() == 0, stream.readAllStandardError().constData());
        QCOMPARE(storedLabels(project.toStdString()).at(9), std::string("fox"));

        // Refused, naming the path, the root and what to give instead; nothing changes.
        const auto before = storedLabels(project.toStdString());
        writeFile(tmp.path() + "/elsewhere.png", readFile(q(real / paths[0])));
        writeFile(q(real / "cat/new.png"), readFile(q(real / paths[0])));
        const struct {
            QString item;
            QStringList message;
        } refused[] = {
            {tmp.path() + "/elsewhere.png",
             {"no item with the path '" + tmp.path() + "/elsewhere.png'", "is outside the project's root " + q(root),
              "its path relative to the root", "0-based index"}},
            {"../../elsewhere.png", // from the current folder, tmp/data/pets
             {"the file " + tmp.path() + "/elsewhere.png is outside the project's root " + q(root)}},
            {q(real / "cat/new.png"),
             {"the file is 'cat/new.png' under the project's root " + q(root), "project import " + project}},
            {"cat/img_9.png", {"the file is 'cat/img_9.png' under the project's root", "project import"}},
        };
        for (const auto& bad : refused) {
            for (const QString command : {"label", "review", "history"}) {
                QStringList args{"project", command, project, "--item", bad.item};
                if (command == "label")
                    args << "--label" << "dog";
                else if (command == "review")
                    args << "--decision" << "kept";
                r = runCli(args, 600000, q(real));
                QCOMPARE(r.exitCode, 1);
                for (const auto& part : bad.message)
                    QVERIFY2(r.err.contains(part), qPrintable(command + " " + bad.item + ": " + r.err));
                QCOMPARE(r.err.count('\n'), 1);
            }
        }
        writeFile(tmp.path() + "/lists/bad.csv", "item,label\n../elsewhere.png,dog\n");
        r = runCli({"project", "label", project, "--batch", tmp.path() + "/lists/bad.csv"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(tmp.path() + "/lists/bad.csv:2: ") && r.err.contains("outside the project's root"),
                 qPrintable(r.err));
        QCOMPARE(storedLabels(project.toStdString()), before);
        r = runCli({"project", "label", "--help"});
        QVERIFY2(r.out.contains("absolute or relative to the current folder"), qPrintable(r.out));
    }

    // Files that cannot be decoded (a truncated PNG, a text file named .jpg, junk named .png) are
    // kept as unreadable items: create counts them in its summary as status does, libpng prints
    // nothing, a re-scan keeps them unreadable, and exports leave them out unless asked to mark them.
    void unreadableImagesAreCountedAndLeftOut()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        writeImageFolder(root, {"cat", "dog"}, 8);
        const auto good = readFile(QString::fromStdString((root / "cat/img_0.png").string()));
        const auto at = [&](const char* name) { return QString::fromStdString((root / name).string()); };
        writeFile(at("cat/truncated.png"), good.left(good.size() / 2));
        writeFile(at("dog/notes.jpg"), "not a picture, just notes\n");
        writeFile(at("dog/junk.png"), QByteArray(3000, '\x5a'));
        const QStringList broken = {"cat/truncated.png", "dog/junk.png", "dog/notes.jpg"};
        const QString project = tmp.path() + "/pets.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--encoder",
                         "pca:4"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("items: 19 added") && r.out.contains("; 3 unreadable"), qPrintable(r.out));
        QVERIFY2(r.out.contains("16 items x 4 dims"), qPrintable(r.out));
        QVERIFY2(!r.err.contains("libpng"), qPrintable(r.err));
        QVERIFY2(r.err.contains("3 items could not be encoded (3 files cannot be decoded: marked unreadable")
                     && r.err.contains("cat/truncated.png: cannot decode the PNG image"),
                 qPrintable(r.err));
        auto status = statusJson(project);
        QCOMPARE(status["items"].toObject()["total"].toInt(), 19);
        QCOMPARE(status["items"].toObject()["unreadable"].toInt(), 3);
        QCOMPARE(status["labeled"].toInt(), 19); // the folders' labels, kept on the placeholders
        r = runCli({"project", "status", project});
        QVERIFY2(r.out.contains("items: 19 (16 present, 0 missing, 0 changed, 3 unreadable)"), qPrintable(r.out));
        // A re-scan finds the same bytes and keeps them unreadable, with or without embedding.
        for (const QStringList& extra : {QStringList{}, QStringList{"--no-embed"}}) {
            r = runCli(QStringList{"project", "import", project} + extra);
            QVERIFY2(r.exitCode == 0 && r.out.contains("16 unchanged") && r.out.contains("; 3 unreadable"),
                     qPrintable(r.out + r.err));
            QVERIFY2(!r.err.contains("libpng"), qPrintable(r.err));
            QCOMPARE(statusJson(project)["items"].toObject()["unreadable"].toInt(), 3);
        }
        r = runCli({"project", "propagate", project});
        QVERIFY2(r.exitCode == 0 && !r.err.contains("libpng"), qPrintable(r.err));

        // Left out by default, in every format, and said so.
        const auto mentions = [&](const QByteArray& text) {
            int n = 0;
            for (const auto& b : broken)
                n += text.contains(b.toUtf8()) ? 1 : 0;
            return n;
        };
        r = runCli({"project", "export", project, "-o", tmp.path() + "/clean.csv"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains(": 16 items") && r.out.contains("unreadable: 3 left out"), qPrintable(r.out));
        QCOMPARE(readCsv(tmp.path() + "/clean.csv").size(), 1 + 16);
        QVERIFY(readFile(tmp.path() + "/clean.csv").startsWith("path,label,source,confidence,flagged\n"));
        QCOMPARE(mentions(readFile(tmp.path() + "/clean.csv")), 0);
        r = runCli({"project", "export", project, "--format", "json", "-o", tmp.path() + "/clean.json"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        auto json = QJsonDocument::fromJson(readFile(tmp.path() + "/clean.json")).object();
        QCOMPARE(json["items"].toArray().size(), 16);
        QCOMPARE(mentions(readFile(tmp.path() + "/clean.json")), 0);
        r = runCli({"project", "export", project, "--format", "imagefolder", "-o", tmp.path() + "/tree"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(fs::exists(tmp.path().toStdString() + "/tree/cat/cat/img_0.png"));
        QVERIFY(!fs::exists(tmp.path().toStdString() + "/tree/cat/cat/truncated.png"));
        QVERIFY(!fs::exists(tmp.path().toStdString() + "/tree/unreadable.txt"));

        // --unreadable mark keeps them, marked: a CSV column, a JSON field, a list beside the tree.
        r = runCli({"project", "export", project, "--unreadable", "mark", "-o", tmp.path() + "/all.csv"});
        QVERIFY2(r.exitCode == 0 && r.out.contains(": 19 items") && r.out.contains("unreadable: 3 marked"),
                 qPrintable(r.out + r.err));
        const auto rows = readCsv(tmp.path() + "/all.csv");
        QCOMPARE(rows.size(), 1 + 19);
        QCOMPARE(rows[0].join(','), QByteArray("path,label,source,confidence,flagged,unreadable"));
        for (const auto& row : rows.mid(1)) {
            const bool isBroken = broken.contains(QString::fromUtf8(row[0]).section('/', -2));
            QCOMPARE(row[5], QByteArray(isBroken ? "1" : "0"));
        }
        r = runCli({"project", "export", project, "--format", "json", "--unreadable", "mark", "-o",
                    tmp.path() + "/all.json"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        json = QJsonDocument::fromJson(readFile(tmp.path() + "/all.json")).object();
        QCOMPARE(json["items"].toArray().size(), 19);
        int markedItems = 0;
        for (const auto& item : json["items"].toArray()) {
            const bool isBroken = broken.contains(item.toObject()["path"].toString());
            QCOMPARE(item.toObject()["unreadable"].toBool(), isBroken);
            markedItems += isBroken ? 1 : 0;
        }
        QCOMPARE(markedItems, 3);
        r = runCli({"project", "export", project, "--format", "imagefolder", "--unreadable", "mark", "-o",
                    tmp.path() + "/tree"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(fs::exists(tmp.path().toStdString() + "/tree/cat/cat/truncated.png"));
        QCOMPARE(readFile(tmp.path() + "/tree/unreadable.txt"),
                 QByteArray("cat/cat/truncated.png\ndog/dog/junk.png\ndog/dog/notes.jpg\n"));
        // The labels file a marked export wrote reads back (the extra field and column are ignored).
        r = runCli({"project", "import", project, "--labels", tmp.path() + "/all.json"});
        QVERIFY2(r.exitCode == 0 && r.out.contains("19 rows matched"), qPrintable(r.out + r.err));

        r = runCli({"project", "export", project, "--unreadable", "keep", "-o", tmp.path() + "/x.csv"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("--unreadable") && r.err.contains("drop") && r.err.contains("mark"), qPrintable(r.err));
        r = runCli({"project", "export", "--help"});
        QVERIFY2(r.out.contains("--unreadable drop|mark"), qPrintable(r.out));
    }

    void damagedOrForeignFilesGiveOneClearLine_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("message");
        QTest::newRow("text") << QByteArray("hello, world\n").repeated(500) << "not a Labelprop project";
        QTest::newRow("empty") << QByteArray() << "not a Labelprop project";
    }
    void damagedOrForeignFilesGiveOneClearLine()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        const QString project = tmp.path() + "/p.labelprop";
        writeFile(project, bytes);
        for (const QStringList& args : {QStringList{"project", "status", project},
                                        QStringList{"project", "label", project, "--item", "0", "--label", "x"},
                                        QStringList{"project", "export", project, "-o", tmp.path() + "/o.csv"}}) {
            const auto r = runCli(args);
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(r.err.contains(message) && r.err.count('\n') == 1, qPrintable(r.err));
        }
        QCOMPARE(readFile(project), bytes);
        const auto r = runCli({"project", "status", tmp.path() + "/missing.labelprop"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("no such project file (it was moved or deleted); create one with"), qPrintable(r.err));
    }

    void secondProcessIsRefusedWhileReadersWork()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        writeImageFolder(root, kClasses, 3);
        const QString project = tmp.path() + "/p.labelprop";
        QCOMPARE(runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--no-embed"})
                     .exitCode,
                 0);
        QProcess holder;
        holder.start(QStringLiteral(LABELPROP_CLI), {"project", "label", project, "--stream"});
        QVERIFY(holder.waitForStarted());
        holder.write("0,dog\n");
        QVERIFY(holder.waitForReadyRead(10000));
        QCOMPARE(holder.readLine().trimmed(), QByteArray("ok 1"));
        auto r = runCli({"project", "label", project, "--item", "1", "--label", "dog"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("open in another program (pid " + QString::number(holder.processId())
                                + ", labelprop-cli project label since"),
                 qPrintable(r.err));
        r = runCli({"project", "status", project});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        holder.closeWriteChannel();
        QVERIFY(holder.waitForFinished(10000));
        QCOMPARE(holder.exitCode(), 0);
        QCOMPARE(runCli({"project", "label", project, "--item", "1", "--label", "dog"}).exitCode, 0);
    }

    void crashLoopLosesNothingAcknowledged()
    {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "pets";
        writeImageFolder(root, kClasses, 20);
        const QString project = tmp.path() + "/p.labelprop";
        auto r = runCli({"project", "create", project, "--source", QString::fromStdString(root.string()), "--no-labels",
                         "--no-embed"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(runCli({"project", "label", project, "--item", "0", "--label", "cat", "--add-class"}).exitCode, 0);
        QCOMPARE(runCli({"project", "label", project, "--item", "1", "--label", "dog", "--add-class"}).exitCode, 0);
        QCOMPARE(runCli({"project", "label", project, "--item", "2", "--label", "fox", "--add-class"}).exitCode, 0);

        const int kills = qEnvironmentVariableIntValue("LABELPROP_CRASH_KILLS") > 0
            ? qEnvironmentVariableIntValue("LABELPROP_CRASH_KILLS")
            : 200;
        auto* rng = QRandomGenerator::global();
        std::map<int, std::string> model = storedLabels(project.toStdString()); // what must be there
        int acknowledged = 0, lateAcks = 0, inFlightKills = 0, lost = 0;
        for (int kill = 0; kill < kills; ++kill) {
            QProcess p;
            p.start(QStringLiteral(LABELPROP_CLI), {"project", "label", project, "--stream"});
            QVERIFY(p.waitForStarted());
            const int lines = int(rng->bounded(1, 12));
            std::optional<std::pair<int, std::string>> inFlight;
            for (int n = 1; n <= lines; ++n) {
                const int item = int(rng->bounded(60));
                const std::string label = kClasses[rng->bounded(3u)];
                p.write(QByteArray::number(item) + "," + QByteArray::fromStdString(label) + "\n");
                if (n == lines) {
                    // The last line is in flight when the kill comes: right away or a moment later.
                    inFlight = {item, label};
                    QVERIFY(p.waitForBytesWritten(10000)); // QProcess buffers: hand the line to the pipe now
                    // A line takes well under 1 ms here: kills land before, inside and after its commit.
                    const auto delayUs = rng->bounded(2) ? rng->bounded(300) : rng->bounded(2500);
                    if (delayUs > 0)
                        std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
                    break;
                }
                QByteArray ack;
                while (!ack.endsWith('\n')) {
                    QVERIFY2(p.waitForReadyRead(10000), qPrintable(p.readAllStandardError()));
                    ack += p.readLine();
                }
                QCOMPARE(ack.trimmed(), "ok " + QByteArray::number(n));
                model[item] = label;
                ++acknowledged;
            }
            p.kill(); // SIGKILL
            QVERIFY(p.waitForFinished(10000));
            // Acknowledged output may have arrived after the last read: count it too.
            if (p.readAllStandardOutput().contains("ok " + QByteArray::number(lines))) {
                model[inFlight->first] = inFlight->second;
                ++acknowledged;
                ++lateAcks;
            }
            const auto stored = storedLabels(project.toStdString());
            // The in-flight line may or may not have landed; everything else must match exactly.
            if (stored.contains(inFlight->first) && stored.at(inFlight->first) == inFlight->second
                && model[inFlight->first] != inFlight->second) {
                model[inFlight->first] = inFlight->second;
                ++inFlightKills;
            }
            for (const auto& [item, label] : model)
                if (!stored.contains(item) || stored.at(item) != label)
                    ++lost;
            for (const auto& [item, label] : stored)
                if (!model.contains(item))
                    ++lost; // a label nobody sent
            if (lost > 0)
                break;
        }
        qInfo("crash loop: %d kills, %d labels acknowledged (%d just before the kill), %d unacknowledged labels "
              "landed, %d lost",
              kills, acknowledged, lateAcks, inFlightKills, lost);
        QCOMPARE(lost, 0);
    }
};

QTEST_GUILESS_MAIN(TestProjectCli)
#include "tst_project_cli.moc"
