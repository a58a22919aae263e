// The LibTorch encoders end to end, as a user runs them: `labelprop-cli embed FOLDER --encoder
// vit:WEIGHTS` over real image files (colour and gray, alpha, JPEG, WebP, odd sizes, one corrupt)
// against PyTorch on the same files (tests/data/make_encoder_reference.py decodes and
// preprocesses them with Python's OpenCV as core/encoders/ModelInput.h says), from a real
// torch.save(model.state_dict()) file and from safetensors; a TorchScript module; projects that
// switch encoders; and the errors a user meets.

#include "core/encoders/Encoder.h"
#include "core/formats/NpyFile.h"
#include "core/project/ProjectEmbeddings.h"
#include "core/project/ProjectStore.h"
#include "core/sources/ImageSource.h"
#include "core/sources/SubsetSource.h"

#include "ProjectTestSupport.h"
#include "PythonSupport.h"
#include "TestSupport.h"

#include <QDir>
#include <QProcess>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

using namespace labelprop;
using namespace labelprop::test;

namespace {

constexpr double kTolerance = 1e-4; // max |difference| per feature (rows are L2-normalised)

// Rows of `emb` (with item paths from the CLI's items.csv) against the reference rows in the
// order of paths.txt; QString() when they agree.
QString compareByPath(const QString& dir, const QString& embedded, const QString& itemsCsv, const QString& reference,
                      int expectedRows)
{
    auto got = readNpyMatrix(embedded.toStdString());
    auto want = readNpyMatrix(reference.toStdString());
    if (!got || !want)
        return "cannot read " + embedded + " or " + reference;
    if (got->rows() != expectedRows || want->rows() != expectedRows || got->cols() != want->cols())
        return QString("shapes %1 x %2 and %3 x %4, expected %5 rows")
            .arg(got->rows()).arg(got->cols()).arg(want->rows()).arg(want->cols()).arg(expectedRows);
    const QStringList names = QString::fromUtf8(readFile(dir + "/paths.txt")).split('\n', Qt::SkipEmptyParts);
    std::map<QString, int> referenceRow;
    for (int r = 0; r < names.size(); ++r)
        referenceRow[names[r]] = r;
    const auto rows = readCsv(itemsCsv);
    if (rows.size() != expectedRows + 1)
        return QString("items.csv has %1 rows").arg(rows.size());
    for (int r = 1; r < rows.size(); ++r) {
        const QString name = QString::fromUtf8(rows[r][1]).section('/', -1);
        if (!referenceRow.contains(name))
            return "unexpected item " + name;
        double worst = 0;
        for (Eigen::Index c = 0; c < got->cols(); ++c)
            worst = std::max(worst, double(std::abs((*got)(r - 1, c) - (*want)(referenceRow[name], c))));
        if (worst > kTolerance)
            return QString("%1: max |difference| %2 > %3").arg(name).arg(worst).arg(kTolerance);
    }
    return {};
}

} // namespace

class TestVitEncoder : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString path(const char* name) const { return m_dir.filePath(QString::fromUtf8(name)); }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        const auto r = runDataScript(QStringLiteral("make_encoder_reference.py"), {m_dir.path()});
        if (r.exitCode == 3)
            QSKIP(qPrintable("no reference (install python3-torch, python3-torchvision, python3-opencv): " + r.err.trimmed()));
        LABELPROP_VERIFY_PYTHON(r);
    }

    // LibTorch is a module loaded when a vit: or torchscript: encoder is first asked for: PCA
    // projects, the store and the CLI never pay its start-up (TorchModule.h).
    // (First of the tests: the later ones load it in this process.)
    void libTorchLoadsOnFirstUse()
    {
        const auto torchLoaded = [] { return readFile(QStringLiteral("/proc/self/maps")).contains("libtorch_cpu"); };
        QVERIFY(makeEncoder("pca:8"));
        QVERIFY2(!torchLoaded(), "a PCA encoder loaded LibTorch");
        auto vit = makeEncoder("vit:" + path("vit.pth").toStdString());
        QVERIFY2(vit, vit ? "" : vit.error().message.c_str());
        QVERIFY(torchLoaded());
    }

    void embedMatchesPyTorch_data()
    {
        QTest::addColumn<QString>("weights");
        QTest::newRow("torch.save(state_dict()) .pth") << "vit.pth";
        QTest::newRow("safetensors") << "vit.safetensors";
    }
    void embedMatchesPyTorch()
    {
        QFETCH(QString, weights);
        const QString out = m_dir.filePath("emb-" + weights + ".npy"), items = m_dir.filePath("items-" + weights + ".csv");
        const auto r = runCli({"embed", path("images"), "--encoder", "vit:" + m_dir.filePath(weights) + ",threads=2",
                               "-o", out, "--items", items});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        // The corrupt file is skipped with its name and the reason; the other seven are embedded (h_large.jpg at 1/2 scale for 224 px, 1/8 for 32).
        QVERIFY2(r.err.contains("g_corrupt.png"), qPrintable(r.err));
        QVERIFY2(r.out.contains("7 items x 192 dims"), qPrintable(r.out));
        const QString diff = compareByPath(m_dir.path(), out, items, path("vit_ref.npy"), 7);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    // decode=full reads every JPEG whole, as Python's cv2.imread does; only the large JPEG's row
    // differs from decode=fast's.
    void fullDecodeMatchesWholeImages()
    {
        const QString out = path("emb-full.npy"), items = path("items-full.csv");
        const auto r = runCli({"embed", path("images"), "--encoder", "vit:" + path("vit.pth") + ",decode=full", "-o",
                               out, "--items", items});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QString diff = compareByPath(m_dir.path(), out, items, path("vit_ref_full.npy"), 7);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
        const QString againstFast = compareByPath(m_dir.path(), out, items, path("vit_ref.npy"), 7);
        QVERIFY2(againstFast.startsWith("h_large.jpg: max |difference|"), qPrintable(againstFast));
    }

    void torchScriptMatchesPyTorch()
    {
        const QString out = path("emb-cnn.npy"), items = path("items-cnn.csv");
        const auto r = runCli({"embed", path("images"), "--encoder", "torchscript:" + path("cnn.pt") + ",size=32,crop=1",
                               "-o", out, "--items", items});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("7 items x 16 dims"), qPrintable(r.out));
        const QString diff = compareByPath(m_dir.path(), out, items, path("cnn_ref.npy"), 7);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    // A project made with PCA, switched to the ViT: the vectors of two encoders never meet in
    // one graph, each is cached apart, and switching back encodes nothing again.
    void projectSwitchesEncoders()
    {
        const QString project = path("switch.labelprop");
        auto r = runCli({"project", "create", project, "--source", path("images"), "--encoder", "pca:4"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runCli({"project", "label", project, "--item", "0", "--label", "a", "--add-class"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runCli({"project", "propagate", project, "--k", "3", "--encoder", "vit:" + path("vit.pth")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("192 dims") && r.out.contains("(7 encoded"), qPrintable(r.out));
        r = runCli({"project", "propagate", project, "--k", "3", "--encoder", "pca:4"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("4 dims") && r.out.contains("(0 encoded"), qPrintable(r.out));
        // The same weights under another name: the same encoder (keyed by content), nothing encoded.
        QVERIFY(QFile::copy(path("vit.pth"), path("renamed.pth")));
        r = runCli({"project", "propagate", project, "--k", "3", "--encoder", "vit:" + path("renamed.pth")});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("192 dims") && r.out.contains("(0 encoded"), qPrintable(r.out));
    }

    // A long encode cancelled part way keeps the chunks it finished: the next run encodes only the
    // rest, and the vectors are those a run without the cancel gives.
    void cancelledEncodeKeepsFinishedChunks()
    {
        const QString project = path("fm.labelprop");
        const std::string spec = "vit:" + path("vit.pth").toStdString() + ",size=32,crop=1";
        auto r = runCli({"project", "create", project, "--source", QStringLiteral(LABELPROP_FASHION_MNIST), "--no-labels",
                         "--no-embed", "--encoder", QString::fromStdString(spec)});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        std::size_t seen = 0, totalSeen = 0;
        {
            auto store = ProjectStore::open(project.toStdString(), ProjectStore::Access::ReadWrite);
            QVERIFY(store);
            auto cancelled = loadProjectEmbeddings(**store, spec, [&](std::size_t done, std::size_t total) {
                totalSeen = total;
                seen = std::max(seen, done);
                return done < 10000; // stops inside the third chunk
            });
            QCOMPARE(totalSeen, std::size_t(70000));
            QVERIFY(!cancelled);
            QVERIFY2(QString::fromStdString(cancelled.error().message).contains("cancelled"),
                     cancelled.error().message.c_str());
        }
        QVERIFY(seen >= 10000 && seen < 70000);
        auto store = ProjectStore::open(project.toStdString(), ProjectStore::Access::ReadWrite);
        QVERIFY(store);
        auto resumed = loadProjectEmbeddings(**store, spec);
        QVERIFY2(resumed, resumed ? "" : resumed.error().message.c_str());
        QCOMPARE(resumed->x.rows(), Eigen::Index(70000));
        QVERIFY2(resumed->fromCache >= 8192 && resumed->fromCache < 70000, qPrintable(QString::number(resumed->fromCache)));
        QCOMPARE(resumed->encodedNow + resumed->fromCache, std::int64_t(70000));
        // The same vectors as one uninterrupted encode of the same images.
        auto whole = labelprop::makeEncoder(spec);
        QVERIFY(whole);
        auto images = openImageSource(LABELPROP_FASHION_MNIST, SourceKind::Auto);
        QVERIFY(images);
        std::vector<std::size_t> firstRows(64);
        std::iota(firstRows.begin(), firstRows.end(), std::size_t(0));
        SubsetSource first(**images, firstRows);
        auto direct = (*whole)->encode(first);
        QVERIFY(direct);
        QVERIFY(((direct->embeddings - resumed->x.topRows(64)).cwiseAbs().maxCoeff()) < 1e-5f);
    }

    // A program without its module next to it says what is missing and where it looked.
    void missingModuleIsNamed()
    {
        QVERIFY(QDir().mkpath(path("lonely")));
        const QString cli = path("lonely/labelprop-cli");
        QVERIFY(QFile::copy(QStringLiteral(LABELPROP_CLI), cli));
        QProcess p;
        p.start(cli, {"embed", path("images"), "--encoder", "vit:" + path("vit.pth"), "-o", path("lonely/e.npy")});
        QVERIFY(p.waitForFinished(60000));
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitCode(), 1);
        QVERIFY2(err.contains("liblabelprop-torch.so) are not installed; looked for " + path("lonely/liblabelprop-torch.so"))
                     && err.contains("set LABELPROP_TORCH_MODULE"),
                 qPrintable(err));
        // A file that is not a loadable module.
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("LABELPROP_TORCH_MODULE", path("paths.txt"));
        p.setProcessEnvironment(env);
        p.start(cli, {"embed", path("images"), "--encoder", "vit:" + path("vit.pth"), "-o", path("lonely/e.npy")});
        QVERIFY(p.waitForFinished(60000));
        const QString err2 = QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitCode(), 1);
        QVERIFY2(err2.contains(path("paths.txt") + " cannot be loaded ("), qPrintable(err2));
        // PCA needs no module at all.
        p.setProcessEnvironment(QProcessEnvironment::systemEnvironment());
        p.start(cli, {"embed", path("images"), "--encoder", "pca:2", "-o", path("lonely/e.npy")});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
    }

    void errorsNameTheFileAndTheFix_data()
    {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing file") << "vit:" + path("nope.pth") << "nope.pth";
        QTest::newRow("not weights") << "vit:" + path("paths.txt") << "paths.txt";
        QTest::newRow("not a ViT") << "vit:" + path("cnn.pt") << "cnn.pt";
        QTest::newRow("torchscript without size") << "torchscript:" + path("cnn.pt") << "size=S";
        QTest::newRow("torchscript not a module") << "torchscript:" + path("vit.pth") + ",size=32" << "TorchScript";
        QTest::newRow("unknown option") << "vit:" + path("vit.pth") + ",sizes=3" << "unknown option 'sizes'";
        QTest::newRow("bad size") << "vit:" + path("vit.pth") + ",size=7" << "size=7";
        QTest::newRow("half on the cpu") << "vit:" + path("vit.pth") + ",device=cpu,dtype=bf16" << "dtype=fp32";
    }
    void errorsNameTheFileAndTheFix()
    {
        QFETCH(QString, spec);
        QFETCH(QString, expected);
        const auto r = runCli({"embed", path("images"), "--encoder", spec, "-o", path("bad.npy"), "--items", path("bad.csv")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(expected), qPrintable(r.err));
        QVERIFY(!QFile::exists(path("bad.npy")));
    }
};

QTEST_MAIN(TestVitEncoder)
#include "tst_vit_encoder.moc"
