// The built-in PCA encoder: spec parsing, the fit against numpy (LABELPROP_TEST_PYTHON) on
// Fashion-MNIST, whitening, the randomized solver, determinism, skipped images, errors.

#include "core/encoders/Encoder.h"
#include "core/sources/ImageSource.h"
#include "core/formats/NpyFile.h"
#include "core/encoders/PcaEncoder.h"

#include "PythonSupport.h"
#include "TestSupport.h"

#include <QElapsedTimer>
#include <QTest>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <random>

using namespace labelprop;
using labelprop::test::runPython;
using labelprop::test::writeFile;
namespace fs = std::filesystem;

namespace {

// The first `count` items of another source (borrowed; it must outlive this one).
class PrefixSource final : public ImageSource {
public:
    PrefixSource(const ImageSource& parent, std::size_t count)
        : m_parent(parent)
        , m_count(std::min(count, parent.size()))
    {
    }
    SourceKind kind() const override { return m_parent.kind(); }
    std::size_t size() const override { return m_count; }
    const Item& item(std::size_t i) const override { return m_parent.item(i); }
    Expected<cv::Mat> decode(std::size_t i) const override
    {
        if (i >= m_count)
            return fail("prefix: no item " + std::to_string(i));
        return m_parent.decode(i);
    }
    std::optional<cv::Size> fixedImageSize() const override { return m_parent.fixedImageSize(); }
    std::string describe() const override { return "first " + std::to_string(m_count) + " of " + m_parent.describe(); }

private:
    const ImageSource& m_parent;
    std::size_t m_count;
};

const ImageSource* fashionMnist()
{
    static const std::unique_ptr<ImageSource> source = [] {
        auto s = openImageSource(LABELPROP_FASHION_MNIST, SourceKind::Idx);
        return s ? std::move(*s) : nullptr;
    }();
    return source.get();
}

// Gray pixel rows in [0, 1] of the first `count` items.
PixelMatrix pixelRows(const ImageSource& source, std::size_t count)
{
    const cv::Size size = *source.fixedImageSize();
    PixelMatrix x(Eigen::Index(count), size.area());
    for (std::size_t i = 0; i < count; ++i) {
        const cv::Mat img = *source.decode(i);
        for (int k = 0; k < size.area(); ++k)
            x(Eigen::Index(i), k) = float(img.data[k]) / 255.0f;
    }
    return x;
}

double absCosine(const Eigen::VectorXf& a, const Eigen::VectorXf& b)
{
    return std::abs(double(a.dot(b)) / (double(a.norm()) * double(b.norm())));
}

bool rowsUnitNorm(const EmbeddingMatrix& e)
{
    for (Eigen::Index i = 0; i < e.rows(); ++i)
        if (std::abs(e.row(i).norm() - 1.0f) > 1e-5f)
            return false;
    return true;
}

// A folder of `count` random-ish 12x12 gray images plus a corrupt and an empty file.
void makeNoisyFolder(const fs::path& root, int count)
{
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> px(0, 255);
    for (int k = 0; k < count; ++k) {
        cv::Mat m(12, 12, CV_8UC1);
        for (int i = 0; i < 144; ++i)
            m.data[i] = uchar((px(rng) + (i % 12) * (k % 5) * 10) % 256);
        char name[32];
        std::snprintf(name, sizeof name, "img%03d.png", k);
        cv::imwrite((root / name).string(), m);
    }
    writeFile(QString::fromStdString((root / "img_corrupt.png").string()), "\x89PNG but then garbage");
    writeFile(QString::fromStdString((root / "img_empty.jpg").string()), QByteArray());
}

} // namespace

class TestPcaEncoder : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void parseSpec_data();
    void parseSpec();
    void parseSpecErrors_data();
    void parseSpecErrors();
    void makeEncoderKinds();
    void matchesNumpy();
    void whiteningGivesUnitVariance();
    void randomizedMatchesExact();
    void deterministic();
    void skipsCorruptImages_data();
    void skipsCorruptImages();
    void rgbAndResize();
    void optionErrors();
    void progressAndCancel();
    void fullFashionMnist();
};

void TestPcaEncoder::initTestCase()
{
    if (!fashionMnist())
        QSKIP("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
}

void TestPcaEncoder::parseSpec_data()
{
    QTest::addColumn<QString>("spec");
    QTest::addColumn<int>("dims");
    QTest::addColumn<bool>("whiten");
    QTest::addColumn<bool>("rgb");
    QTest::addColumn<int>("size");
    QTest::addColumn<int>("sample");
    QTest::addColumn<QString>("canonical");
    QTest::newRow("bare") << "pca" << 64 << false << false << 0 << 20000 << "pca:64";
    QTest::newRow("dims") << "pca:32" << 32 << false << false << 0 << 20000 << "pca:32";
    QTest::newRow("everything") << "pca:16,whiten,rgb,size=24,sample=500" << 16 << true << true << 24 << 500
                                << "pca:16,whiten,rgb,size=24,sample=500";
    QTest::newRow("options in any order") << "PCA:8, sample=all ,whiten" << 8 << true << false << 0 << 0
                                          << "pca:8,whiten,sample=all";
    QTest::newRow("no dims") << "pca:whiten" << 64 << true << false << 0 << 20000 << "pca:64,whiten";
    QTest::newRow("gray") << "pca:10,rgb,gray" << 10 << false << false << 0 << 20000 << "pca:10";
}

void TestPcaEncoder::parseSpec()
{
    QFETCH(QString, spec);
    QFETCH(int, dims);
    QFETCH(bool, whiten);
    QFETCH(bool, rgb);
    QFETCH(int, size);
    QFETCH(int, sample);
    QFETCH(QString, canonical);
    const auto o = parsePcaSpec(spec.toStdString());
    QVERIFY2(o, o ? "" : o.error().message.c_str());
    QCOMPARE(o->dims, dims);
    QCOMPARE(o->whiten, whiten);
    QCOMPARE(o->rgb, rgb);
    QCOMPARE(o->size, size);
    QCOMPARE(o->sample, std::size_t(sample));
    QCOMPARE(QString::fromStdString(pcaSpec(*o)), canonical);
    const auto again = parsePcaSpec(pcaSpec(*o));
    QVERIFY(again);
    QCOMPARE(pcaSpec(*again), pcaSpec(*o));
}

void TestPcaEncoder::parseSpecErrors_data()
{
    QTest::addColumn<QString>("spec");
    QTest::addColumn<QString>("expected");
    QTest::newRow("zero dims") << "pca:0" << "DIMS must be between 1 and 4096";
    QTest::newRow("unknown option") << "pca:8,sharpen" << "unknown option 'sharpen'; expected pca[:DIMS]";
    QTest::newRow("dims twice") << "pca:8,9" << "unknown option '9'";
    QTest::newRow("bad size") << "pca:8,size=big" << "size must be an integer between 1 and 1024, got 'big'";
    QTest::newRow("sample of one") << "pca:8,sample=1" << "sample must be 'all' or an integer of at least 2";
    QTest::newRow("negative dims") << "pca:-3" << "unknown option '-3'";
}

void TestPcaEncoder::parseSpecErrors()
{
    QFETCH(QString, spec);
    QFETCH(QString, expected);
    const auto o = parsePcaSpec(spec.toStdString());
    QVERIFY(!o);
    QVERIFY2(QString::fromStdString(o.error().message).startsWith("encoder '" + spec + "': "), o.error().message.c_str());
    QVERIFY2(QString::fromStdString(o.error().message).contains(expected), o.error().message.c_str());
    QVERIFY(!makeEncoder(spec.toStdString()));
}

void TestPcaEncoder::makeEncoderKinds()
{
    const auto pca = makeEncoder("pca:12,whiten");
    QVERIFY2(pca, pca ? "" : pca.error().message.c_str());
    QCOMPARE((*pca)->id(), std::string("pca:12,whiten"));
    const auto vit = makeEncoder("vit-s16:model.pt");
    QVERIFY(!vit);
    QVERIFY2(vit.error().message.find("unknown encoder 'vit-s16'; available: pca") != std::string::npos,
             vit.error().message.c_str());
}

void TestPcaEncoder::matchesNumpy()
{
    constexpr int kItems = 2000;
    constexpr int kDims = 64;
    const PrefixSource subset(*fashionMnist(), kItems);
    PcaModel model;
    QElapsedTimer timer;
    timer.start();
    const auto encoded = PcaEncoder(PcaOptions{.dims = kDims}).encodeWithModel(subset, &model);
    qInfo("encoded %d items in %lld ms", kItems, qint64(timer.elapsed()));
    QVERIFY2(encoded, encoded ? "" : encoded.error().message.c_str());
    QCOMPARE(encoded->embeddings.rows(), Eigen::Index(kItems));
    QCOMPARE(encoded->embeddings.cols(), Eigen::Index(kDims));
    QVERIFY(encoded->skipped.empty());
    QVERIFY(rowsUnitNorm(encoded->embeddings));
    QCOMPARE(model.pixels(), 784);

    QTemporaryDir dir;
    const auto run = runPython(QStringLiteral(
                                   "import sys, gzip, numpy as np\n"
                                   "src, out, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n"
                                   "raw = gzip.open(src + '/train-images-idx3-ubyte.gz').read()\n"
                                   "x = np.frombuffer(raw, np.uint8, offset=16)[:n * 784].reshape(n, 784) / 255.0\n"
                                   "mu = x.mean(axis=0)\n"
                                   "c = np.cov(x, rowvar=False)\n"
                                   "w, v = np.linalg.eigh(c)\n"
                                   "w, v = w[::-1][:k], v[:, ::-1][:, :k]\n"
                                   "v = v * np.sign(v[np.abs(v).argmax(axis=0), np.arange(k)])\n"
                                   "f = (x - mu) @ v\n"
                                   "f /= np.linalg.norm(f, axis=1, keepdims=True)\n"
                                   "np.save(out + '/components.npy', v.astype(np.float32))\n"
                                   "np.save(out + '/variances.npy', w.reshape(1, k).astype(np.float32))\n"
                                   "np.save(out + '/features.npy', f.astype(np.float32))\n"
                                   "np.save(out + '/mean.npy', mu.reshape(1, -1).astype(np.float32))\n"),
                               {QStringLiteral(LABELPROP_FASHION_MNIST), dir.path(), QString::number(kItems),
                                QString::number(kDims)});
    LABELPROP_VERIFY_PYTHON(run);
    const auto components = readNpyMatrix(dir.filePath("components.npy").toStdString());
    const auto variances = readNpyMatrix(dir.filePath("variances.npy").toStdString());
    const auto features = readNpyMatrix(dir.filePath("features.npy").toStdString());
    const auto mean = readNpyMatrix(dir.filePath("mean.npy").toStdString());
    QVERIFY(components && variances && features && mean);

    QVERIFY((model.mean - mean->row(0).transpose()).cwiseAbs().maxCoeff() < 1e-5f);
    double worst = 1.0;
    for (int j = 0; j < 10; ++j) {
        const double c = absCosine(model.components.col(j), components->col(j));
        worst = std::min(worst, c);
        QVERIFY2(c > 0.999, qPrintable(QStringLiteral("component %1: |cos| = %2").arg(j).arg(c)));
        const double f = absCosine(encoded->embeddings.col(j), features->col(j));
        QVERIFY2(f > 0.999, qPrintable(QStringLiteral("feature %1: |cos| = %2").arg(j).arg(f)));
        const float relVar = std::abs(model.variances[j] - (*variances)(0, j)) / (*variances)(0, j);
        QVERIFY2(relVar < 1e-3f, qPrintable(QStringLiteral("variance %1: relative error %2").arg(j).arg(relVar)));
    }
    qInfo("worst |cos| over the top 10 components: 1 - %.2e", 1.0 - worst);
    // Same sign convention: the largest-magnitude entry of each component is positive.
    for (int j = 0; j < kDims; ++j) {
        Eigen::Index arg = 0;
        model.components.col(j).cwiseAbs().maxCoeff(&arg);
        QVERIFY(model.components(arg, j) > 0);
        QVERIFY(std::abs(model.components.col(j).norm() - 1.0f) < 1e-4f);
    }
    for (int j = 1; j < kDims; ++j)
        QVERIFY(model.variances[j] <= model.variances[j - 1]);
}

void TestPcaEncoder::whiteningGivesUnitVariance()
{
    PixelMatrix x = pixelRows(*fashionMnist(), 1500);
    const PixelMatrix raw = x;
    const auto model = fitPca(x, 32, true, "fashion");
    QVERIFY2(model, model ? "" : model.error().message.c_str());
    // fitPca centred x in place.
    QVERIFY((raw.rowwise() - model->mean.transpose() - x).cwiseAbs().maxCoeff() < 1e-6f);
    const PixelMatrix y = model->project(raw);
    QCOMPARE(y.cols(), Eigen::Index(32));
    const Eigen::RowVectorXf mu = y.colwise().mean();
    const PixelMatrix yc = y.rowwise() - mu;
    const Eigen::MatrixXf cov = (yc.transpose() * yc) / float(y.rows() - 1);
    for (int j = 0; j < 32; ++j) {
        QVERIFY2(std::abs(mu[j]) < 1e-3f, qPrintable(QStringLiteral("mean %1 = %2").arg(j).arg(mu[j])));
        QVERIFY2(std::abs(cov(j, j) - 1.0f) < 1e-3f, qPrintable(QStringLiteral("variance %1 = %2").arg(j).arg(cov(j, j))));
        for (int k = 0; k < j; ++k)
            QVERIFY2(std::abs(cov(j, k)) < 1e-3f, qPrintable(QStringLiteral("cov %1,%2 = %3").arg(j).arg(k).arg(cov(j, k))));
    }

    // Without whitening, the projection's variances are the eigenvalues.
    PixelMatrix x2 = raw;
    const auto plain = fitPca(x2, 8, false, "fashion");
    QVERIFY(plain);
    const PixelMatrix p = plain->project(raw);
    const PixelMatrix pc = p.rowwise() - p.colwise().mean();
    for (int j = 0; j < 8; ++j) {
        const float var = pc.col(j).squaredNorm() / float(p.rows() - 1);
        QVERIFY(std::abs(var - plain->variances[j]) < 1e-3f * plain->variances[j]);
    }

    // A rank-2 matrix cannot be whitened to 5 components.
    PixelMatrix low(50, 20);
    for (int i = 0; i < 50; ++i)
        for (int k = 0; k < 20; ++k)
            low(i, k) = float(i % 7) * float(k) + float(i % 3) * float(20 - k);
    const auto degenerate = fitPca(low, 5, true, "low-rank");
    QVERIFY(!degenerate);
    QVERIFY2(degenerate.error().message.starts_with("low-rank: cannot whiten: component 3 of 5 has (near) zero variance"),
             degenerate.error().message.c_str());
}

void TestPcaEncoder::randomizedMatchesExact()
{
    const PixelMatrix raw = pixelRows(*fashionMnist(), 1200);
    PixelMatrix a = raw, b = raw;
    const auto exact = fitPca(a, 24, false, "fashion", PcaSolver::Exact);
    const auto randomized = fitPca(b, 24, false, "fashion", PcaSolver::Randomized);
    QVERIFY(exact && randomized);
    for (int j = 0; j < 10; ++j) {
        const double c = absCosine(exact->components.col(j), randomized->components.col(j));
        QVERIFY2(c > 0.999, qPrintable(QStringLiteral("component %1: |cos| = %2").arg(j).arg(c)));
        QVERIFY(std::abs(exact->variances[j] - randomized->variances[j]) < 1e-3f * exact->variances[j]);
    }

    // 36x36 = 1296 pixels takes the randomized path inside the encoder.
    const PrefixSource subset(*fashionMnist(), 600);
    const auto encoded = PcaEncoder(PcaOptions{.dims = 16, .size = 36}).encode(subset);
    QVERIFY2(encoded, encoded ? "" : encoded.error().message.c_str());
    QCOMPARE(encoded->embeddings.cols(), Eigen::Index(16));
    QVERIFY(rowsUnitNorm(encoded->embeddings));
}

void TestPcaEncoder::deterministic()
{
    const PrefixSource subset(*fashionMnist(), 3000);
    const PcaOptions base{.dims = 20, .sample = 700, .threads = 2};
    const auto first = PcaEncoder(base).encode(subset);
    const auto second = PcaEncoder(base).encode(subset);
    PcaOptions moreThreads = base;
    moreThreads.threads = 5;
    const auto third = PcaEncoder(moreThreads).encode(subset);
    QVERIFY(first && second && third);
    QCOMPARE(first->embeddings.rows(), Eigen::Index(3000));
    QVERIFY(first->embeddings == second->embeddings);
    QVERIFY(first->embeddings == third->embeddings);
    QVERIFY(first->items == third->items);

    PcaOptions otherSample = base;
    otherSample.sample = 701;
    const auto fourth = PcaEncoder(otherSample).encode(subset);
    QVERIFY(fourth);
    QVERIFY(!(first->embeddings == fourth->embeddings));
}

void TestPcaEncoder::skipsCorruptImages_data()
{
    QTest::addColumn<QString>("spec");
    QTest::newRow("bad files inside the sample") << "pca:8,size=8";
    QTest::newRow("bad files outside the sample") << "pca:8,size=8,sample=12";
}

void TestPcaEncoder::skipsCorruptImages()
{
    QFETCH(QString, spec);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    makeNoisyFolder(root, 40);
    const auto source = openImageSource(root.string());
    QVERIFY(source);
    QCOMPARE((*source)->size(), std::size_t(42));
    const auto encoder = makeEncoder(spec.toStdString());
    QVERIFY(encoder);
    const auto encoded = (*encoder)->encode(**source);
    QVERIFY2(encoded, encoded ? "" : encoded.error().message.c_str());
    QCOMPARE(encoded->embeddings.rows(), Eigen::Index(40));
    QCOMPARE(encoded->items.size(), std::size_t(40));
    QCOMPARE(encoded->sourceIndices.size(), std::size_t(40));
    QCOMPARE(encoded->skipped.size(), std::size_t(2));
    QVERIFY2(encoded->skipped[0].starts_with((root / "img_corrupt.png").string() + ": cannot decode"), encoded->skipped[0].c_str());
    QCOMPARE(encoded->skipped[1], (root / "img_empty.jpg").string() + ": the file is empty (0 bytes)");
    for (std::size_t r = 0; r < 40; ++r) {
        QCOMPARE(encoded->items[r].path, (*source)->item(encoded->sourceIndices[r]).path);
        QVERIFY(encoded->items[r].path.starts_with("img0"));
    }
    QVERIFY(rowsUnitNorm(encoded->embeddings));
}

void TestPcaEncoder::rgbAndResize()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> px(0, 255);
    for (int k = 0; k < 30; ++k) {
        cv::Mat m(10 + k % 7, 14, CV_8UC3); // mixed sizes, resized to 6x6
        for (std::size_t i = 0; i < m.total() * 3; ++i)
            m.data[i] = uchar(px(rng));
        char name[32];
        std::snprintf(name, sizeof name, "c%02d.png", k);
        cv::imwrite((root / name).string(), m);
    }
    const auto source = openImageSource(root.string());
    QVERIFY(source);
    PcaModel model;
    const auto rgb = PcaEncoder(PcaOptions{.dims = 10, .rgb = true, .size = 6}).encodeWithModel(**source, &model);
    QVERIFY2(rgb, rgb ? "" : rgb.error().message.c_str());
    QCOMPARE(model.pixels(), 6 * 6 * 3);
    QCOMPARE(rgb->embeddings.rows(), Eigen::Index(30));
    QVERIFY(rowsUnitNorm(rgb->embeddings));
    const auto gray = PcaEncoder(PcaOptions{.dims = 10}).encodeWithModel(**source, &model);
    QVERIFY(gray);
    QCOMPARE(model.pixels(), 32 * 32); // no fixed size: 32x32 by default
}

void TestPcaEncoder::optionErrors()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    makeNoisyFolder(root, 20);
    const auto source = openImageSource(root.string());
    QVERIFY(source);

    const auto tooManyDims = PcaEncoder(PcaOptions{.dims = 100, .size = 8}).encode(**source);
    QVERIFY(!tooManyDims);
    QVERIFY2(tooManyDims.error().message.starts_with("pca:100,size=8: 100 components asked for, but 8x8x1 images have only "
                                                     "64 pixel values; use pca:64 or fewer"),
             tooManyDims.error().message.c_str());

    const auto tooFewImages = PcaEncoder(PcaOptions{.dims = 30, .size = 8}).encode(**source);
    QVERIFY(!tooFewImages);
    QVERIFY2(tooFewImages.error().message.find("pca:30 needs at least 31 readable images to fit, found 20; use pca:19 or fewer")
                 != std::string::npos,
             tooFewImages.error().message.c_str());

    // Nothing decodable at all.
    QTemporaryDir bad;
    writeFile(bad.filePath(QStringLiteral("a.png")), "garbage");
    writeFile(bad.filePath(QStringLiteral("b.png")), "garbage");
    writeFile(bad.filePath(QStringLiteral("c.png")), "garbage");
    const auto badSource = openImageSource(bad.path().toStdString());
    QVERIFY(badSource);
    const auto none = PcaEncoder(PcaOptions{.dims = 1, .size = 4}).encode(**badSource);
    QVERIFY(!none);
    QVERIFY2(none.error().message.find("needs at least 2 readable images to fit, found 0") != std::string::npos,
             none.error().message.c_str());
}

void TestPcaEncoder::progressAndCancel()
{
    const PrefixSource subset(*fashionMnist(), 5000);
    std::vector<std::pair<std::size_t, std::size_t>> calls;
    const auto encoded = PcaEncoder(PcaOptions{.dims = 8, .sample = 1000}).encode(subset, [&](std::size_t done, std::size_t total) {
        calls.emplace_back(done, total);
        return true;
    });
    QVERIFY(encoded);
    QVERIFY(calls.size() >= 2);
    for (std::size_t k = 0; k < calls.size(); ++k) {
        QCOMPARE(calls[k].second, std::size_t(5000));
        QVERIFY(calls[k].first <= 5000);
        if (k > 0)
            QVERIFY(calls[k].first >= calls[k - 1].first);
    }
    QCOMPARE(calls.back().first, std::size_t(5000));

    int cancelCalls = 0;
    const auto cancelled = PcaEncoder(PcaOptions{.dims = 8}).encode(subset, [&](std::size_t, std::size_t) {
        ++cancelCalls;
        return false;
    });
    QVERIFY(!cancelled);
    QCOMPARE(cancelCalls, 1);
    QVERIFY2(cancelled.error().message.ends_with(": encoding cancelled"), cancelled.error().message.c_str());
}

void TestPcaEncoder::fullFashionMnist()
{
    // The whole 70,000-image set: checks the result's shape; the time goes to the log only.
    QElapsedTimer timer;
    timer.start();
    const auto encoded = PcaEncoder(PcaOptions{}).encode(*fashionMnist());
    qInfo("pca:64 on %zu Fashion-MNIST images: %lld ms", fashionMnist()->size(), qint64(timer.elapsed()));
    QVERIFY2(encoded, encoded ? "" : encoded.error().message.c_str());
    QCOMPARE(encoded->embeddings.rows(), Eigen::Index(70000));
    QCOMPARE(encoded->embeddings.cols(), Eigen::Index(64));
    QCOMPARE(encoded->items.back().path, std::string("t10k-images-idx3-ubyte.gz#9999"));
    QVERIFY(rowsUnitNorm(encoded->embeddings));
    EmbeddingMatrix copy = encoded->embeddings;
    QVERIFY(validateAndNormaliseRows(copy, "fashion"));
}

QTEST_GUILESS_MAIN(TestPcaEncoder)
#include "tst_pca_encoder.moc"
