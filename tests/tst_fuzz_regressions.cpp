// Inputs that once crashed a reader or made it allocate from a lying header, and the fuzz seed
// corpus, replayed in the normal (g++) suite. Each bad input runs through both the path reader
// and its in-memory twin; both must refuse it with the same message naming the file.
// docs/fuzzing.md says how these were found; a new crash input from scripts/fuzz.sh goes into
// tests/fuzz/corpus/<target>/ (replayed below) and, with its expected message, into a row here.

#include "core/formats/Csv.h"
#include "core/formats/IdxFile.h"
#include "core/sources/ImageSource.h"
#include "core/formats/NpyFile.h"

#include "TestSupport.h"

#include <QTest>

#include <zlib.h>

#include <filesystem>

using namespace labelprop;
namespace fs = std::filesystem;

namespace {

enum class Reader { Npy, IdxImages, IdxLabels, LabelsCsv, ItemsCsv };

QByteArray be32(quint32 v)
{
    QByteArray b;
    for (int s = 24; s >= 0; s -= 8)
        b += char((v >> s) & 0xff);
    return b;
}

QByteArray idx(quint8 ndims, std::initializer_list<quint32> dims, const QByteArray& data)
{
    QByteArray b("\0\0\x08", 3);
    b += char(ndims);
    for (const auto d : dims)
        b += be32(d);
    return b + data;
}

QByteArray npy(quint8 major, const QByteArray& header, const QByteArray& data, qint64 claimedLength = -1)
{
    QByteArray b("\x93NUMPY", 6);
    b += char(major);
    b += char(0);
    const quint32 len = claimedLength >= 0 ? quint32(claimedLength) : quint32(header.size());
    for (int k = 0; k < (major == 1 ? 2 : 4); ++k)
        b += char((len >> (8 * k)) & 0xff);
    return b + header + data;
}

std::span<const std::uint8_t> bytesOf(const QByteArray& b)
{
    return {reinterpret_cast<const std::uint8_t*>(b.constData()), std::size_t(b.size())};
}

// Runs `reader` on `bytes` in memory under `name`; returns the error message, or "" on success.
std::string readFromMemory(Reader reader, const QByteArray& bytes, const std::string& name)
{
    std::vector<std::string> warnings;
    const std::string_view text(bytes.constData(), std::size_t(bytes.size()));
    switch (reader) {
    case Reader::Npy: {
        const auto r = parseNpyMatrix(std::as_bytes(bytesOf(bytes)), name);
        return r ? "" : r.error().message;
    }
    case Reader::IdxImages:
    case Reader::IdxLabels: {
        const auto r = parseIdx(bytesOf(bytes), reader == Reader::IdxImages ? 3 : 1, name, warnings);
        return r ? "" : r.error().message;
    }
    case Reader::LabelsCsv: {
        const auto r = parseLabelsCsv(text, name, 100);
        return r ? "" : r.error().message;
    }
    case Reader::ItemsCsv: {
        const auto r = parseItemsCsv(text, name);
        return r ? "" : r.error().message;
    }
    }
    return "unknown reader";
}

std::string readFromFile(Reader reader, const std::string& path)
{
    std::vector<std::string> warnings;
    switch (reader) {
    case Reader::Npy: {
        const auto r = readNpyMatrix(path);
        return r ? "" : r.error().message;
    }
    case Reader::IdxImages:
    case Reader::IdxLabels: {
        const auto r = readIdxFile(path, reader == Reader::IdxImages ? 3 : 1, warnings);
        return r ? "" : r.error().message;
    }
    case Reader::LabelsCsv: {
        const auto r = readLabelsCsv(path, 100);
        return r ? "" : r.error().message;
    }
    case Reader::ItemsCsv: {
        const auto r = readItemsCsv(path);
        return r ? "" : r.error().message;
    }
    }
    return "unknown reader";
}

} // namespace

Q_DECLARE_METATYPE(Reader)

class TestFuzzRegressions : public QObject {
    Q_OBJECT

private slots:
    void badInputs_data();
    void badInputs();
    void gzipLyingIdxHeader();
    void wrappedIdxDimsDoNotOpen();
    void seedCorpusReplays();
};

void TestFuzzRegressions::badInputs_data()
{
    QTest::addColumn<Reader>("reader");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("message"); // after "<file>: "

    // 2^30 x 2^30 x 16 wrapped to 0 in 64 bits and passed the size check with no data behind it;
    // opening it then listed 2^30 items.
    QTest::newRow("idx dims product wraps to zero")
        << Reader::IdxImages << idx(3, {1u << 30, 1u << 30, 16}, {})
        << "IDX dims 1073741824 x 1073741824 x 16 ask for more than 68719476736 bytes; the file is corrupt";
    // The input fuzz_idx found in 263 executions against the old header code (corpus/idx/crash-wrapped-dims).
    QTest::newRow("idx dims product wraps, fuzz_idx input")
        << Reader::IdxImages << idx(3, {0x33000000, 0x0a000000, 0x001c0000}, QByteArray(32, '\0'))
        << "IDX dims 855638016 x 167772160 x 1835008 ask for more than 68719476736 bytes; the file is corrupt";
    QTest::newRow("idx header claims 47 MB, file has 100 bytes")
        << Reader::IdxImages << idx(3, {60000, 28, 28}, QByteArray(100, '\x01'))
        << "truncated IDX data: expected 47040000 bytes after the header, found 100; the file is incomplete, "
           "download it again";
    QTest::newRow("idx labels header cut short") << Reader::IdxLabels << QByteArray("\0\0\x08\x01\0\0", 6)
                                                 << "truncated IDX header; the file is incomplete";
    QTest::newRow("npy v2 header length 4 GB")
        << Reader::Npy << npy(2, "{'descr': '<f4', ", {}, 0xffffffffLL)
        << "truncated .npy header (it claims 4294967295 bytes, the file has 17 after the prefix); the file is "
           "incomplete";
    QTest::newRow("npy shape past 64 bits")
        << Reader::Npy << npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }\n", {})
        << "shape (4611686018427387904, 2) is too large to load";
    QTest::newRow("npy shape claims 4 GB, file has 16 bytes")
        << Reader::Npy << npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000), }\n",
                              QByteArray(16, '\0'))
        << "truncated data: shape (1000000, 1000) of '<f4' needs 4000000000 bytes, the file has 16; the file is "
           "incomplete, save it again";
    QTest::newRow("npy unterminated key") << Reader::Npy << npy(1, "{'descr", {})
                                          << "malformed .npy header: expected a quoted key at header offset 1; "
                                             "re-save the matrix with numpy.save()";
    QTest::newRow("npy 9 bytes") << Reader::Npy << QByteArray("\x93NUMPY\x01\x00\x05", 9)
                                 << "truncated .npy header; the file is incomplete";
    QTest::newRow("labels csv: quote never closed")
        << Reader::LabelsCsv << QByteArray("index,label\n0,\"abc")
        << "2: a quoted field is never closed; add the closing '\"' (a quote inside a quoted field is written \"\")";
    QTest::newRow("items csv: NUL and invalid UTF-8")
        << Reader::ItemsCsv << QByteArray("index,path,label\n0,a\0b\xff.png,x\n", 29)
        << "2: text is not valid UTF-8; save the file as UTF-8";
}

void TestFuzzRegressions::badInputs()
{
    QFETCH(Reader, reader);
    QFETCH(QByteArray, bytes);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const std::string path = (fs::path(tmp.path().toStdString()) / "input.bin").string();
    test::writeFile(QString::fromStdString(path), bytes);
    const std::string sep = message.front().isDigit() ? ":" : ": ";
    const QString expected = QString::fromStdString(path + sep) + message;
    QCOMPARE(QString::fromStdString(readFromFile(reader, path)), expected);
    QCOMPARE(QString::fromStdString(readFromMemory(reader, bytes, path)), expected);
}

void TestFuzzRegressions::gzipLyingIdxHeader()
{
    // Compressed, the file size says nothing about the data size: the reader must stop at the end
    // of the data actually there, with memory to match (it reads in chunks that grow).
    QTemporaryDir tmp;
    const std::string path = (fs::path(tmp.path().toStdString()) / "x-images-idx3-ubyte.gz").string();
    const QByteArray raw = idx(3, {60000000, 28, 28}, QByteArray(1000, '\x02')); // claims 47 GB
    gzFile f = gzopen(path.c_str(), "wb");
    QVERIFY(f);
    QCOMPARE(gzwrite(f, raw.constData(), unsigned(raw.size())), int(raw.size()));
    QCOMPARE(gzclose(f), Z_OK);
    std::vector<std::string> warnings;
    const auto a = readIdxFile(path, 3, warnings);
    QVERIFY(!a);
    QCOMPARE(QString::fromStdString(a.error().message),
             QString::fromStdString(path + ": truncated IDX data: expected 47040000000 bytes after the header, found "
                                    "1000; the file is incomplete, download it again"));
}

void TestFuzzRegressions::wrappedIdxDimsDoNotOpen()
{
    QTemporaryDir tmp;
    const fs::path path = fs::path(tmp.path().toStdString()) / "wrap-images-idx3-ubyte";
    test::writeFile(QString::fromStdString(path.string()), idx(3, {1u << 30, 1u << 30, 16}, {}));
    const auto source = openImageSource(path.string());
    QVERIFY(!source);
    QVERIFY2(source.error().message.find("ask for more than 68719476736 bytes") != std::string::npos,
             source.error().message.c_str());
}

void TestFuzzRegressions::seedCorpusReplays()
{
    // Every seed (and every crash input added later) must run through its reader without crashing;
    // the valid seeds must load.
    const fs::path corpus = fs::path(LABELPROP_SOURCE_DIR) / "tests/fuzz/corpus";
    int files = 0;
    for (const auto& [dir, readers] : std::vector<std::pair<std::string, std::vector<Reader>>>{
             {"csv", {Reader::LabelsCsv, Reader::ItemsCsv}}, {"npy", {Reader::Npy}}, {"idx", {}}}) {
        for (const auto& entry : fs::directory_iterator(corpus / dir)) {
            const QByteArray bytes = test::readFile(QString::fromStdString(entry.path().string()));
            ++files;
            for (const Reader r : readers)
                (void)readFromMemory(r, bytes, entry.path().filename().string());
            if (dir == "idx" && !bytes.isEmpty()) // the first byte picks images or labels, as in fuzz_idx
                (void)readFromMemory((bytes[0] & 1) ? Reader::IdxImages : Reader::IdxLabels, bytes.mid(1), "seed");
        }
    }
    QVERIFY(files >= 15);
    QCOMPARE(QString::fromStdString(readFromMemory(Reader::Npy, test::readFile(QString::fromStdString(
                                                                    (corpus / "npy/f4_3x4.npy").string())),
                                                   "f4_3x4.npy")),
             QString());
    std::vector<std::string> warnings;
    const QByteArray images = test::readFile(QString::fromStdString((corpus / "idx/images_2x3x3").string())).mid(1);
    const auto a = parseIdx(bytesOf(images), 3, "images_2x3x3", warnings);
    QVERIFY(a);
    QCOMPARE(a->dims, (std::vector<std::uint32_t>{2, 3, 3}));
    QCOMPARE(a->data.size(), std::size_t(18));
}

QTEST_GUILESS_MAIN(TestFuzzRegressions)
#include "tst_fuzz_regressions.moc"
