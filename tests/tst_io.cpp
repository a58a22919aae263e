// .npy reading/writing and atomic file writes. numpy (LABELPROP_TEST_PYTHON) is the oracle for
// the file format and the float16 conversion.

#include "core/base/AtomicFile.h"
#include "core/formats/NpyFile.h"

#include "PythonSupport.h"
#include "TestSupport.h"

#include <QTest>

#include <bit>
#include <cmath>
#include <filesystem>
#include <random>

using namespace labelprop;
using labelprop::test::readFile;
using labelprop::test::runPython;
using labelprop::test::writeFile;

namespace {

// A .npy file with the given header dict, format version and raw data.
QByteArray makeNpy(const QByteArray& dict, int major, const QByteArray& data)
{
    QByteArray header = dict;
    const int prefix = major == 1 ? 10 : 12;
    while ((prefix + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    QByteArray bytes("\x93NUMPY", 6);
    bytes += char(major);
    bytes += char(0);
    const auto len = quint32(header.size());
    bytes += char(len & 0xff);
    bytes += char((len >> 8) & 0xff);
    if (major != 1) {
        bytes += char((len >> 16) & 0xff);
        bytes += char((len >> 24) & 0xff);
    }
    return bytes + header + data;
}

EmbeddingMatrix randomMatrix(Eigen::Index rows, Eigen::Index cols, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist;
    EmbeddingMatrix x(rows, cols);
    for (Eigen::Index i = 0; i < x.size(); ++i)
        x.data()[i] = dist(rng);
    return x;
}

bool sameFloat(float a, float b)
{
    return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

} // namespace

class TestIo : public QObject {
    Q_OBJECT

private slots:
    void npyRoundTrip_data();
    void npyRoundTrip();
    void npyWrittenFileLoadsInNumpy();
    void npyReadsNumpyVersionsAndFloat16();
    void halfToFloatKnownValues_data();
    void halfToFloatKnownValues();
    void npyBadFiles_data();
    void npyBadFiles();
    void npyWriteErrors();
    void atomicWriteReplacesAndCleansUp();
    void atomicWriterStreamsAndDiscards();
};

void TestIo::npyRoundTrip_data()
{
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::newRow("1x1") << 1 << 1;
    QTest::newRow("3x5") << 3 << 5;
    QTest::newRow("1000x64") << 1000 << 64;
    QTest::newRow("0x8 (empty)") << 0 << 8;
}

void TestIo::npyRoundTrip()
{
    QFETCH(int, rows);
    QFETCH(int, cols);
    QTemporaryDir dir;
    const std::string path = dir.filePath("x.npy").toStdString();
    const EmbeddingMatrix x = randomMatrix(rows, cols, 7);
    const auto written = writeNpyMatrix(path, x);
    QVERIFY2(written, written ? "" : written.error().message.c_str());
    QVERIFY(!std::filesystem::exists(path + ".tmp"));

    const QByteArray bytes = readFile(QString::fromStdString(path));
    QVERIFY(bytes.startsWith(QByteArray("\x93NUMPY\x01\x00", 8)));
    const int headerLen = quint8(bytes[8]) | (quint8(bytes[9]) << 8);
    QCOMPARE((10 + headerLen) % 64, 0);
    QCOMPARE(bytes[10 + headerLen - 1], '\n');
    QCOMPARE(qsizetype(bytes.size()), qsizetype(10 + headerLen + qsizetype(rows) * cols * 4));
    QVERIFY(bytes.contains("'descr': '<f4'"));
    QVERIFY(bytes.contains("'fortran_order': False"));

    const auto back = readNpyMatrix(path);
    QVERIFY2(back, back ? "" : back.error().message.c_str());
    QCOMPARE(back->rows(), Eigen::Index(rows));
    QCOMPARE(back->cols(), Eigen::Index(cols));
    QVERIFY(*back == x);
}

void TestIo::npyWrittenFileLoadsInNumpy()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath("ours.npy").toStdString();
    EmbeddingMatrix x(2, 3);
    x << 1.5f, -2.0f, 0.25f, 1e-8f, 3.0f, -0.0f;
    QVERIFY(writeNpyMatrix(path, x));
    const auto run = runPython(QStringLiteral(
                                   "import sys, numpy as np\n"
                                   "a = np.load(sys.argv[1])\n"
                                   "print(a.dtype.str, a.shape, a.flags['C_CONTIGUOUS'], ' '.join(repr(float(v)) for v in a.ravel()))\n"),
                               {QString::fromStdString(path)});
    LABELPROP_VERIFY_PYTHON(run);
    QCOMPARE(run.out.trimmed(), QStringLiteral("<f4 (2, 3) True 1.5 -2.0 0.25 9.99999993922529e-09 3.0 -0.0"));
}

void TestIo::npyReadsNumpyVersionsAndFloat16()
{
    QTemporaryDir dir;
    // Every float16 bit pattern (zeros, subnormals, normals, infinities, NaNs) next to numpy's
    // own float32 conversion; plus the same matrix saved as format versions 2.0 and 3.0.
    const auto run = runPython(QStringLiteral(
                                   "import sys, numpy as np\n"
                                   "d = sys.argv[1]\n"
                                   "h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(4096, 16)\n"
                                   "np.save(d + '/half.npy', h)\n"
                                   "np.save(d + '/half_as_f4.npy', h.astype(np.float32))\n"
                                   "x = (np.arange(12, dtype=np.float32) / 7).reshape(3, 4)\n"
                                   "for v in [(2, 0), (3, 0)]:\n"
                                   "    with open(d + '/v%d.npy' % v[0], 'wb') as f:\n"
                                   "        np.lib.format.write_array(f, x, version=v)\n"),
                               {dir.path()});
    LABELPROP_VERIFY_PYTHON(run);

    const auto half = readNpyMatrix(dir.filePath("half.npy").toStdString());
    QVERIFY2(half, half ? "" : half.error().message.c_str());
    const auto ref = readNpyMatrix(dir.filePath("half_as_f4.npy").toStdString());
    QVERIFY2(ref, ref ? "" : ref.error().message.c_str());
    QCOMPARE(half->rows(), Eigen::Index(4096));
    QCOMPARE(half->cols(), Eigen::Index(16));
    int nans = 0;
    for (Eigen::Index i = 0; i < half->size(); ++i) {
        const float a = half->data()[i];
        const float b = ref->data()[i];
        nans += std::isnan(a);
        if (!sameFloat(a, b))
            QFAIL(qPrintable(QStringLiteral("half 0x%1: got %2, numpy %3").arg(i, 4, 16, QChar('0')).arg(a).arg(b)));
    }
    QCOMPARE(nans, 2 * 1023); // positive and negative NaN payloads

    for (const char* name : {"v2.npy", "v3.npy"}) {
        const auto x = readNpyMatrix(dir.filePath(QLatin1String(name)).toStdString());
        QVERIFY2(x, x ? name : x.error().message.c_str());
        QCOMPARE(x->rows(), Eigen::Index(3));
        QCOMPARE(x->cols(), Eigen::Index(4));
        for (int k = 0; k < 12; ++k)
            QCOMPARE(x->data()[k], float(k) / 7.0f);
    }
}

void TestIo::halfToFloatKnownValues_data()
{
    QTest::addColumn<int>("bits");
    QTest::addColumn<float>("expected");
    QTest::newRow("one") << 0x3c00 << 1.0f;
    QTest::newRow("minus two") << 0xc000 << -2.0f;
    QTest::newRow("max normal") << 0x7bff << 65504.0f;
    QTest::newRow("min normal") << 0x0400 << std::ldexp(1.0f, -14);
    QTest::newRow("min subnormal") << 0x0001 << std::ldexp(1.0f, -24);
    QTest::newRow("max subnormal") << 0x03ff << 1023.0f * std::ldexp(1.0f, -24);
    QTest::newRow("negative subnormal") << 0x8200 << -std::ldexp(1.0f, -15);
    QTest::newRow("+inf") << 0x7c00 << std::numeric_limits<float>::infinity();
    QTest::newRow("-inf") << 0xfc00 << -std::numeric_limits<float>::infinity();
    QTest::newRow("-0") << 0x8000 << -0.0f;
}

void TestIo::halfToFloatKnownValues()
{
    QFETCH(int, bits);
    QFETCH(float, expected);
    QVERIFY(sameFloat(halfToFloat(std::uint16_t(bits)), expected));
    QVERIFY(std::isnan(halfToFloat(0x7e00)));
}

void TestIo::npyBadFiles_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    const QByteArray f4x6(24, '\0');
    QTest::newRow("empty file") << QByteArray() << "not a .npy file";
    QTest::newRow("bad magic") << QByteArray("PK\x03\x04 this is a zip file", 24) << "not a .npy file";
    QTest::newRow("float64") << makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 1, QByteArray(48, '\0'))
                             << "dtype '<f8' is not supported (float32 '<f4' and float16 '<f2' are); convert with x.astype('float32')";
    QTest::newRow("int32") << makeNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 1, f4x6)
                           << "dtype '<i4' is not supported";
    QTest::newRow("big endian") << makeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 1, f4x6)
                                << "big-endian";
    QTest::newRow("structured") << makeNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, f4x6)
                                << "structured";
    QTest::newRow("fortran order") << makeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, f4x6)
                                   << "Fortran";
    QTest::newRow("1-D") << makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, f4x6)
                         << "shape (6,) is 1-D; expected a 2-D matrix";
    QTest::newRow("3-D") << makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", 1, f4x6)
                         << "shape (1, 2, 3) is 3-D";
    QTest::newRow("truncated data") << makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, QByteArray(20, '\0'))
                                    << "needs 24 bytes, the file has 20";
    QTest::newRow("truncated float16") << makeNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (4, 4), }", 2, QByteArray(31, '\0'))
                                       << "needs 32 bytes, the file has 31";
    QTest::newRow("header garbage") << makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", 1, f4x6)
                                    << "malformed .npy header";
    QTest::newRow("header not a dict") << makeNpy("hello world", 1, f4x6) << "malformed .npy header";
    QTest::newRow("shape not ints") << makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", 1, f4x6)
                                    << "shape is not a tuple";
    QTest::newRow("missing key") << makeNpy("{'descr': '<f4', 'shape': (2, 3), }", 1, f4x6) << "lacks one of";
    QTest::newRow("header length past end") << QByteArray("\x93NUMPY\x01\x00\xff\x7f{'descr'", 18) << "truncated .npy header";
    QTest::newRow("version 4") << makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 4, f4x6)
                               << "format version 4.0 is not supported";
}

void TestIo::npyBadFiles()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bad.npy"));
    writeFile(path, bytes);
    const auto x = readNpyMatrix(path.toStdString());
    QVERIFY(!x);
    const QString message = QString::fromStdString(x.error().message);
    QVERIFY2(message.startsWith(path + ": "), qPrintable(message));
    QVERIFY2(message.contains(expected), qPrintable(message));
    QVERIFY2(!message.contains('\n'), qPrintable(message));
}

void TestIo::npyWriteErrors()
{
    QTemporaryDir dir;
    const EmbeddingMatrix x = randomMatrix(4, 4, 1);

    const std::string missing = dir.filePath("no/such/folder/x.npy").toStdString();
    const auto r1 = readNpyMatrix(missing);
    QVERIFY(!r1);
    QVERIFY2(QString::fromStdString(r1.error().message).startsWith(QString::fromStdString(missing) + ": cannot open"),
             r1.error().message.c_str());

    const auto folderRead = readNpyMatrix(dir.path().toStdString());
    QVERIFY(!folderRead);
    QCOMPARE(QString::fromStdString(folderRead.error().message),
             dir.path() + ": is a folder, not a .npy file; pass the matrix file itself");

    const auto w1 = writeNpyMatrix(missing, x);
    QVERIFY(!w1);
    QVERIFY2(w1.error().message.find(missing + ".tmp: cannot create the file (No such file or directory)") == 0,
             w1.error().message.c_str());

    // The target is a folder: writing the temporary file works, the rename fails and is cleaned up.
    const std::string folder = dir.filePath("a-folder").toStdString();
    std::filesystem::create_directories(folder + "/inside");
    const auto w2 = writeNpyMatrix(folder, x);
    QVERIFY(!w2);
    QVERIFY2(w2.error().message.find(folder + ": cannot replace the file") == 0, w2.error().message.c_str());
    QVERIFY(!std::filesystem::exists(folder + ".tmp"));
    QVERIFY(std::filesystem::is_directory(folder + "/inside"));
}

void TestIo::atomicWriteReplacesAndCleansUp()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath("stats.json").toStdString();
    QVERIFY(writeFileAtomically(path, "old contents, longer than the new ones\n"));
    QVERIFY(writeFileAtomically(path, "{}\n"));
    QCOMPARE(readFile(QString::fromStdString(path)), QByteArray("{}\n"));
    QVERIFY(!std::filesystem::exists(path + ".tmp"));
    QVERIFY(writeFileAtomically(path, ""));
    QCOMPARE(std::filesystem::file_size(path), std::uintmax_t(0));

    const auto bad = writeFileAtomically("/proc/definitely/not/here.csv", "x");
    QVERIFY(!bad);
    QVERIFY2(bad.error().message.starts_with("/proc/definitely/not/here.csv.tmp: cannot create the file ("),
             bad.error().message.c_str());
}

void TestIo::atomicWriterStreamsAndDiscards()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath("big.bin").toStdString();
    QVERIFY(writeFileAtomically(path, "keep me"));
    {
        AtomicFileWriter w(path);
        QVERIFY(w.write("partial", 7));
        QVERIFY(std::filesystem::exists(path + ".tmp"));
        // Destroyed without commit(): the previous file stays, the temporary file goes.
    }
    QVERIFY(!std::filesystem::exists(path + ".tmp"));
    QCOMPARE(readFile(QString::fromStdString(path)), QByteArray("keep me"));

    AtomicFileWriter w(path);
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 5; ++i)
        QVERIFY(w.write(chunk.data(), chunk.size()));
    QVERIFY(w.commit());
    QCOMPARE(std::filesystem::file_size(path), std::uintmax_t(5u << 20));
    const auto again = w.commit();
    QVERIFY(!again);
    QVERIFY(again.error().message.find("already written") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestIo)
#include "tst_io.moc"
