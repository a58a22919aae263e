// The command line as a user drives it: an end-to-end run on a Fashion-MNIST subset, and every
// kind of bad input giving one clear line and a non-zero exit.

#include "TestSupport.h"

#include <QtTest>

#include <cmath>
#include <cstdlib>

using namespace labelprop::test;

namespace {

// A .npy v1.0 header for a C-order 2-D array of the given dtype.
QByteArray npyHeader(const char* descr, int rows, int cols)
{
    QByteArray dict = QByteArray("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + QByteArray::number(rows)
                      + ", " + QByteArray::number(cols) + "), }";
    while ((10 + dict.size() + 1) % 64 != 0)
        dict += ' ';
    dict += '\n';
    QByteArray out("\x93NUMPY\x01\x00", 8);
    out += char(dict.size() & 0xff);
    out += char(dict.size() >> 8);
    return out + dict;
}

QByteArray floatRows(const std::vector<std::vector<float>>& rows)
{
    QByteArray out = npyHeader("<f4", int(rows.size()), int(rows[0].size()));
    for (const auto& r : rows)
        out.append(reinterpret_cast<const char*>(r.data()), qsizetype(r.size() * sizeof(float)));
    return out;
}

// Three tight clusters of 20 points in 4-d.
QByteArray clusteredNpy()
{
    std::vector<std::vector<float>> rows;
    for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 20; ++p) {
            std::vector<float> r(4);
            for (int j = 0; j < 4; ++j)
                r[size_t(j)] = 0.05f * std::sin(float(p * 4 + j + 13 * c)); // distinct small offsets
            r[size_t(c)] = 1.0f;
            rows.push_back(r);
        }
    return floatRows(rows);
}

// An 8 x 8 24-bit BMP whose pixels depend on `seed` (no image library needed in the test).
QByteArray bmp8x8(int seed)
{
    const int w = 8, h = 8, rowBytes = w * 3, size = 54 + rowBytes * h;
    QByteArray b(size, '\0');
    const auto put32 = [&](int at, int v) {
        for (int q = 0; q < 4; ++q)
            b[at + q] = char((v >> (8 * q)) & 0xff);
    };
    b[0] = 'B';
    b[1] = 'M';
    put32(2, size);
    put32(10, 54);
    put32(14, 40);
    put32(18, w);
    put32(22, h);
    b[26] = 1;
    b[28] = 24;
    put32(34, rowBytes * h);
    for (int p = 0; p < w * h * 3; ++p)
        b[54 + p] = char((p * (seed + 3) * 37 + seed * 11) & 0xff);
    return b;
}

} // namespace

class CliTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString path(const QString& name) const { return m_dir.filePath(name); }

private slots:
    void helpAndUnknownCommand()
    {
        const auto help = runCli({"--help"});
        QCOMPARE(help.exitCode, 0);
        for (const char* c : {"embed", "propagate", "audit", "suggest", "simulate"})
            QVERIFY(help.out.contains(c));
        for (const char* c : {"embed", "propagate", "audit", "suggest", "simulate", "demo", "knn", "classify"}) {
            const auto sub = runCli({c, "--help"});
            QCOMPARE(sub.exitCode, 0);
            QVERIFY2(sub.out.contains("usage: labelprop-cli"), c);
        }
        QCOMPARE(runCli({"frobnicate"}).exitCode, 2);
        QCOMPARE(runCli({"propagate", "--bogus", "1"}).exitCode, 2);
    }

    void propagateAndAuditSmallClusters()
    {
        writeFile(path("emb.npy"), clusteredNpy());
        writeFile(path("labels.csv"), "index,label\n0,cat\n20,dog\n40,bird\n");
        const auto run = runCli({"propagate", "--embeddings", path("emb.npy"), "--labels", path("labels.csv"), "--k", "5",
                                 "-o", path("result.csv"), "--stats", path("stats.json"), "--probabilities"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const auto rows = readCsv(path("result.csv"));
        QCOMPARE(rows.size(), 61);
        QCOMPARE(rows[0].join(','), QByteArray("index,given,predicted,confidence,margin,issue_score,flagged,bird,cat,dog"));
        for (int i = 0; i < 60; ++i) {
            const QByteArray expected = i < 20 ? "cat" : i < 40 ? "dog" : "bird";
            QCOMPARE(rows[i + 1][2], expected);
            QCOMPARE(rows[i + 1][0].toInt(), i);
            const double bird = rows[i + 1][7].toDouble(), cat = rows[i + 1][8].toDouble(), dog = rows[i + 1][9].toDouble();
            QVERIFY(std::abs(bird + cat + dog - 1.0) < 1e-4);
        }
        QCOMPARE(rows[1][1], QByteArray("cat"));
        QCOMPARE(rows[2][1], QByteArray(""));
        const auto stats = QJsonDocument::fromJson(readFile(path("stats.json"))).object();
        QCOMPARE(stats["n"].toInt(), 60);
        QCOMPARE(stats["d"].toInt(), 4);
        QCOMPARE(stats["k"].toInt(), 5);
        QVERIFY(stats["nnz"].toInt() >= 60 * 5);
        for (const char* stage : {"load", "knn", "graph", "propagate"})
            QVERIFY(stats["seconds"].toObject()[stage].toDouble(-1) >= 0.0);

        // Audit: every item labelled, two of them wrongly.
        QByteArray all = "index,label\n";
        for (int i = 0; i < 60; ++i) {
            QByteArray label = i < 20 ? "cat" : i < 40 ? "dog" : "bird";
            if (i == 5)
                label = "dog";
            if (i == 45)
                label = "cat";
            all += QByteArray::number(i) + "," + label + "\n";
        }
        writeFile(path("all.csv"), all);
        const auto audit = runCli({"audit", "--embeddings", path("emb.npy"), "--labels", path("all.csv"), "--k", "5",
                                   "-o", path("issues.csv")});
        QVERIFY2(audit.exitCode == 0, qPrintable(audit.err));
        const auto issues = readCsv(path("issues.csv"));
        QCOMPARE(issues.size(), 61);
        // The two wrong labels rank first, are flagged, and the suggested fix is the right class.
        QSet<QByteArray> top{issues[1][0], issues[2][0]};
        QCOMPARE(top, (QSet<QByteArray>{"5", "45"}));
        for (int r : {1, 2}) {
            QCOMPARE(issues[r][6], QByteArray("1"));
            QCOMPARE(issues[r][2], issues[r][0] == "5" ? QByteArray("cat") : QByteArray("bird"));
        }
        int flagged = 0;
        for (int r = 1; r < issues.size(); ++r)
            flagged += issues[r][6] == "1";
        QCOMPARE(flagged, 2);

        const auto suggest = runCli({"suggest", "--embeddings", path("emb.npy"), "--labels", path("labels.csv"), "--k",
                                     "5", "--strategy", "margin", "--budget", "4", "-o", path("next.csv")});
        QVERIFY2(suggest.exitCode == 0, qPrintable(suggest.err));
        const auto next = readCsv(path("next.csv"));
        QCOMPARE(next.size(), 5);
        QCOMPARE(next[0].join(','), QByteArray("rank,index,score"));
        for (int r = 1; r < 5; ++r)
            QVERIFY(!QList<QByteArray>({"0", "20", "40"}).contains(next[r][1]));
        const auto zero = runCli({"suggest", "--embeddings", path("emb.npy"), "--k", "5", "--budget", "3", "-o",
                                  path("first.csv")});
        QVERIFY2(zero.exitCode == 0, qPrintable(zero.err));
        // From zero labels the default density strategy covers the three clusters.
        QSet<int> clusters;
        for (const auto& row : readCsv(path("first.csv")).mid(1))
            clusters.insert(row[1].toInt() / 20);
        QCOMPARE(clusters.size(), 3);
    }

    void badInput_data()
    {
        QTest::addColumn<QByteArray>("labels");  // labels.csv bytes, or @missing
        QTest::addColumn<QString>("embeddings"); // @good, or raw content written as emb.npy
        QTest::addColumn<QStringList>("extra");
        QTest::addColumn<QString>("mentions");   // the error line must contain this
        const QByteArray good = "index,label\n0,cat\n20,dog\n";
        QTest::newRow("bad header") << QByteArray("idx,lab\n0,cat\n") << "@good" << QStringList{} << "labels.csv";
        QTest::newRow("unknown index") << QByteArray("index,label\n0,cat\n99,dog\n") << "@good" << QStringList{} << ":3";
        QTest::newRow("duplicate index") << QByteArray("index,label\n0,cat\n0,dog\n") << "@good" << QStringList{} << ":3";
        QTest::newRow("non-UTF-8") << QByteArray("index,label\n0,c\xff\xfet\n") << "@good" << QStringList{} << ":2";
        QTest::newRow("empty labels file") << QByteArray("") << "@good" << QStringList{} << "labels.csv";
        QTest::newRow("missing labels file") << QByteArray("@missing") << "@good" << QStringList{} << "missing.csv";
        QTest::newRow("missing embeddings") << good << "@missing" << QStringList{} << "missing.npy";
        QTest::newRow("k >= n") << good << "@good" << QStringList{"--k", "60"} << "k = 60";
        QTest::newRow("T <= 0") << good << "@good" << QStringList{"--temperature", "0"} << "--temperature";
        QTest::newRow("T negative") << good << "@good" << QStringList{"--temperature", "-1"} << "--temperature";
        QTest::newRow("bad clamp") << good << "@good" << QStringList{"--clamp", "soft:2"} << "--clamp";
        QTest::newRow("bad iterations") << good << "@good" << QStringList{"--iterations", "x"} << "--iterations";
        QTest::newRow("float64 npy") << good << "@f8" << QStringList{} << "<f8";
        QTest::newRow("3-d npy") << good << "@3d" << QStringList{} << "emb.npy";
        QTest::newRow("truncated npy") << good << "@truncated" << QStringList{} << "emb.npy";
        QTest::newRow("garbage npy") << good << "not a numpy file" << QStringList{} << "emb.npy";
        QTest::newRow("NaN row") << good << "@nan" << QStringList{} << "row 7";
        QTest::newRow("Inf row") << good << "@inf" << QStringList{} << "row 7";
        QTest::newRow("all-zero row") << good << "@zero" << QStringList{} << "row 7";
    }
    void badInput()
    {
        QFETCH(QByteArray, labels);
        QFETCH(QString, embeddings);
        QFETCH(QStringList, extra);
        QFETCH(QString, mentions);
        QString labelsPath = path("labels.csv");
        if (labels == "@missing")
            labelsPath = path("missing.csv");
        else
            writeFile(labelsPath, labels);
        QString embPath = path("emb.npy");
        QByteArray good = clusteredNpy();
        const int dataStart = good.size() - 60 * 4 * 4;
        if (embeddings == "@missing") {
            embPath = path("missing.npy");
        } else if (embeddings == "@good") {
            writeFile(embPath, good);
        } else if (embeddings == "@f8") {
            QByteArray f8 = npyHeader("<f8", 60, 2) + QByteArray(60 * 2 * 8, '\0');
            writeFile(embPath, f8);
        } else if (embeddings == "@3d") {
            QByteArray h = npyHeader("<f4", 60, 4);
            h.replace("(60, 4)", "(6,10,4)");
            writeFile(embPath, h + good.mid(dataStart));
        } else if (embeddings == "@truncated") {
            writeFile(embPath, good.left(good.size() - 100));
        } else if (embeddings == "@nan" || embeddings == "@inf" || embeddings == "@zero") {
            float* data = reinterpret_cast<float*>(good.data() + dataStart);
            if (embeddings == "@zero")
                std::fill(data + 7 * 4, data + 8 * 4, 0.0f);
            else
                data[7 * 4 + 2] = embeddings == "@nan" ? std::nanf("") : INFINITY;
            writeFile(embPath, good);
        } else {
            writeFile(embPath, embeddings.toLatin1());
        }
        QStringList args{"propagate", "--embeddings", embPath, "--labels", labelsPath, "--k", "5", "-o", path("out.csv")};
        args += extra;
        QFile::remove(path("out.csv"));
        const auto run = runCli(args);
        QVERIFY2(run.exitCode == 1 || run.exitCode == 2, qPrintable(QString("exit %1: %2").arg(run.exitCode).arg(run.err)));
        const QStringList lines = run.err.trimmed().split('\n');
        QCOMPARE(lines.size(), 1);
        QVERIFY2(lines[0].contains(mentions), qPrintable(lines[0]));
        QVERIFY(!QFile::exists(path("out.csv")));
    }

    void classifyAgainstLabelsOrPropagatedResult()
    {
        writeFile(path("emb.npy"), clusteredNpy());
        writeFile(path("labels.csv"), "index,label\n0,cat\n1,cat\n20,dog\n21,dog\n40,bird\n41,bird\n");
        // Against three labelled pairs, with k = 2 the pair of each cluster wins its own queries.
        auto run = runCli({"classify", "--embeddings", path("emb.npy"), "--labels", path("labels.csv"), "--queries",
                           path("emb.npy"), "--k", "2", "-o", path("classes.csv")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        auto rows = readCsv(path("classes.csv"));
        QCOMPARE(rows.size(), 61);
        QCOMPARE(rows[0].join(','), QByteArray("index,predicted,confidence"));
        for (int i = 0; i < 60; ++i)
            QCOMPARE(rows[i + 1][1], QByteArray(i < 20 ? "cat" : i < 40 ? "dog" : "bird"));
        // Against a propagate result: its predicted column labels every base item.
        run = runCli({"propagate", "--embeddings", path("emb.npy"), "--labels", path("labels.csv"), "--k", "5", "-o",
                      path("result.csv")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        run = runCli({"classify", "--embeddings", path("emb.npy"), "--labels", path("result.csv"), "--queries",
                      path("emb.npy"), "-o", path("classes2.csv")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        rows = readCsv(path("classes2.csv"));
        for (int i = 0; i < 60; ++i) {
            QCOMPARE(rows[i + 1][1], QByteArray(i < 20 ? "cat" : i < 40 ? "dog" : "bird"));
            QVERIFY(rows[i + 1][2].toDouble() > 0.5);
        }
        // Queries of another dimension are refused with both file names.
        writeFile(path("other.npy"), floatRows({{1.0f, 0.0f}, {0.0f, 1.0f}}));
        run = runCli({"classify", "--embeddings", path("emb.npy"), "--labels", path("labels.csv"), "--queries",
                      path("other.npy"), "-o", path("x.csv")});
        QCOMPARE(run.exitCode, 1);
        QVERIFY(run.err.contains("other.npy") && run.err.contains("dimensions"));
    }

    void knnEdgeListExactAndApproximate()
    {
        writeFile(path("emb.npy"), clusteredNpy());
        const auto exact = runCli({"knn", "--embeddings", path("emb.npy"), "--k", "3", "-o", path("knn.csv")});
        QVERIFY2(exact.exitCode == 0, qPrintable(exact.err));
        const auto rows = readCsv(path("knn.csv"));
        QCOMPARE(rows.size(), 1 + 60 * 3);
        QCOMPARE(rows[0].join(','), QByteArray("index,neighbour,rank,similarity"));
        for (int r = 1; r < rows.size(); ++r) {
            const int i = rows[r][0].toInt(), j = rows[r][1].toInt();
            QVERIFY(i != j);
            QCOMPARE(i / 20, j / 20); // neighbours stay inside their cluster
            QCOMPARE(rows[r][2].toInt(), (r - 1) % 3 + 1);
        }
        const auto approximate = runCli({"knn", "--embeddings", path("emb.npy"), "--k", "3", "--knn", "approximate", "-o",
                                         path("knn-approx.csv")});
        QVERIFY2(approximate.exitCode == 0, qPrintable(approximate.err));
        QCOMPARE(readCsv(path("knn-approx.csv")).size(), 1 + 60 * 3);
        QCOMPARE(runCli({"knn", "--embeddings", path("emb.npy"), "--knn", "fast", "-o", path("x.csv")}).exitCode, 1);
    }

    void unknownStrategyAndBudget()
    {
        writeFile(path("emb.npy"), clusteredNpy());
        auto run = runCli({"suggest", "--embeddings", path("emb.npy"), "--strategy", "smart", "--budget", "3", "-o",
                           path("n.csv")});
        QCOMPARE(run.exitCode, 1);
        QVERIFY(run.err.contains("smart"));
        run = runCli({"suggest", "--embeddings", path("emb.npy"), "--budget", "0", "-o", path("n.csv")});
        QCOMPARE(run.exitCode, 1);
        QVERIFY(run.err.contains("--budget"));
    }

    void embedFolderSkipsCorruptImages()
    {
        QDir(m_dir.path()).mkpath("imgs/sub");
        for (int i = 0; i < 12; ++i)
            writeFile(path(QString("imgs/%1/img%2.bmp").arg(i % 2 ? "sub" : ".").arg(i)), bmp8x8(i));
        writeFile(path("imgs/broken.png"), "not a png");
        writeFile(path("imgs/sub/empty.jpg"), "");
        const auto run = runCli({"embed", path("imgs"), "--encoder", "pca:4", "-o", path("imgs.npy")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY2(run.err.contains("imgs/broken.png: cannot decode"), qPrintable(run.err));
        QVERIFY(run.err.contains("imgs/sub/empty.jpg: the file is empty"));
        const auto items = readCsv(path("items.csv"));
        QCOMPARE(items.size(), 13);
        QCOMPARE(items[1][1], QByteArray("img0.bmp"));
        // Nothing readable at all: a clear refusal naming the folder.
        QDir(m_dir.path()).mkpath("bad");
        writeFile(path("bad/broken.png"), "not a png");
        const auto none = runCli({"embed", path("bad"), "-o", path("bad.npy")});
        QCOMPARE(none.exitCode, 1);
        QVERIFY(none.err.contains("bad"));
        QCOMPARE(runCli({"embed", path("nowhere"), "-o", path("x.npy")}).exitCode, 1);
    }

    void endToEndOnFashionMnistSubset()
    {
        if (!QFile::exists(LABELPROP_FASHION_MNIST "/t10k-images-idx3-ubyte.gz"))
            QSKIP("dataset-fashion-mnist is not installed");
        // The 10,000 test images: embed, propagate from 2% labels, check accuracy.
        const auto embed = runCli({"embed", LABELPROP_FASHION_MNIST "/t10k-images-idx3-ubyte.gz", "--encoder", "pca:64",
                                   "-o", path("fm.npy"), "--items", path("fm-items.csv")});
        QVERIFY2(embed.exitCode == 0, qPrintable(embed.err));
        const auto items = readCsv(path("fm-items.csv"));
        QCOMPARE(items.size(), 10001);
        QCOMPARE(items[0].join(','), QByteArray("index,path,label"));
        QByteArray labels = "index,label\n";
        for (int i = 0; i < 10000; i += 50)
            labels += QByteArray::number(i) + "," + items[i + 1][2] + "\n";
        writeFile(path("fm-labels.csv"), labels);
        const auto run = runCli({"propagate", "--embeddings", path("fm.npy"), "--labels", path("fm-labels.csv"), "-o",
                                 path("fm-result.csv")});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const auto result = readCsv(path("fm-result.csv"));
        QCOMPARE(result.size(), 10001);
        int correct = 0, unlabelled = 0;
        for (int i = 0; i < 10000; ++i) {
            if (i % 50 == 0)
                continue;
            ++unlabelled;
            correct += result[i + 1][2] == items[i + 1][2];
        }
        const double accuracy = double(correct) / unlabelled;
        // 200 labels on 10k PCA features: about 0.75 measured; far above chance (0.1).
        QVERIFY2(accuracy > 0.70, qPrintable(QString::number(accuracy)));
    }
};

QTEST_GUILESS_MAIN(CliTest)
#include "tst_cli.moc"
