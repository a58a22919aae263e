// Image sources: folder scans, image folders, CSV lists, IDX files (hand-made and the real
// Fashion-MNIST), auto detection and decoding to 8-bit images.

#include "core/sources/CsvSource.h"
#include "core/sources/ImageSource.h"

#include "PythonSupport.h"
#include "TestSupport.h"

#include <QTest>

#include <opencv2/imgcodecs.hpp>
#include <zlib.h>

#include <cstring>
#include <filesystem>

using namespace labelprop;
using labelprop::test::runPython;
using labelprop::test::writeFile;
namespace fs = std::filesystem;

namespace {

// A w x h 8-bit BGR image with a deterministic pattern.
cv::Mat pattern(int w, int h, int seed)
{
    cv::Mat m(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            m.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 7 + seed), uchar(y * 11 + seed), uchar((x + y) * 5 + seed));
    return m;
}

void writeImage(const fs::path& path, const cv::Mat& image)
{
    fs::create_directories(path.parent_path());
    if (!cv::imwrite(path.string(), image))
        qFatal("cannot write %s", path.string().c_str());
}

QStringList itemPaths(const ImageSource& s)
{
    QStringList paths;
    for (std::size_t i = 0; i < s.size(); ++i)
        paths << QString::fromStdString(s.item(i).path);
    return paths;
}

QStringList itemLabels(const ImageSource& s)
{
    QStringList labels;
    for (std::size_t i = 0; i < s.size(); ++i)
        labels << QString::fromStdString(s.item(i).label);
    return labels;
}

std::size_t findItem(const ImageSource& s, const std::string& path)
{
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s.item(i).path == path)
            return i;
    return s.size();
}

// An IDX file: big-endian header then bytes; gzip-compressed when `gz`.
QByteArray idxBytes(quint8 ndims, const std::vector<quint32>& dims, const QByteArray& data, quint8 type = 0x08)
{
    QByteArray b;
    b += char(0);
    b += char(0);
    b += char(type);
    b += char(ndims);
    for (const auto d : dims) {
        b += char((d >> 24) & 0xff);
        b += char((d >> 16) & 0xff);
        b += char((d >> 8) & 0xff);
        b += char(d & 0xff);
    }
    return b + data;
}

void writeMaybeGz(const fs::path& path, const QByteArray& bytes)
{
    if (path.extension() != ".gz") {
        writeFile(QString::fromStdString(path.string()), bytes);
        return;
    }
    gzFile f = gzopen(path.string().c_str(), "wb");
    QVERIFY(f);
    QCOMPARE(gzwrite(f, bytes.constData(), unsigned(bytes.size())), int(bytes.size()));
    QCOMPARE(gzclose(f), Z_OK);
}

// `count` images of rows x cols whose pixel (r, c) of image k is (k * 31 + r * cols + c) % 256.
QByteArray idxPixels(int count, int rows, int cols, int offset = 0)
{
    QByteArray px;
    for (int k = 0; k < count; ++k)
        for (int i = 0; i < rows * cols; ++i)
            px += char(((k + offset) * 31 + i) % 256);
    return px;
}

QByteArray idxLabels(int count, int offset = 0)
{
    QByteArray l;
    for (int k = 0; k < count; ++k)
        l += char((k + offset) % 10);
    return l;
}

} // namespace

class TestSources : public QObject {
    Q_OBJECT

private slots:
    void parseKind_data();
    void parseKind();
    void extensions_data();
    void extensions();
    void folderScan();
    void folderDecodeConversions();
    void imageFolder();
    void csvSource();
    void csvSourceColumns_data();
    void csvSourceColumns();
    void csvSourceErrors_data();
    void csvSourceErrors();
    void csvSourceUnresolvedPaths_data();
    void csvSourceUnresolvedPaths();
    void idxHandMade_data();
    void idxHandMade();
    void idxSingleFileAndGuessedLabels();
    void idxErrors_data();
    void idxErrors();
    void fashionMnist();
    void openErrors();
};

void TestSources::parseKind_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<int>("kind"); // -1: not a kind
    QTest::newRow("auto") << "auto" << int(SourceKind::Auto);
    QTest::newRow("folder") << "folder" << int(SourceKind::Folder);
    QTest::newRow("imagefolder") << "imagefolder" << int(SourceKind::ImageFolder);
    QTest::newRow("ImageFolder") << "ImageFolder" << int(SourceKind::ImageFolder);
    QTest::newRow("csv") << "csv" << int(SourceKind::Csv);
    QTest::newRow("IDX") << "IDX" << int(SourceKind::Idx);
    QTest::newRow("unknown") << "zip" << -1;
    QTest::newRow("empty") << "" << -1;
}

void TestSources::parseKind()
{
    QFETCH(QString, name);
    QFETCH(int, kind);
    const auto parsed = parseSourceKind(name.toStdString());
    QCOMPARE(parsed ? int(*parsed) : -1, kind);
    if (parsed)
        QCOMPARE(QString::fromUtf8(sourceKindName(*parsed).data()).left(int(name.size())), name.toLower());
}

void TestSources::extensions_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("image");
    for (const char* ok : {"a.jpg", "a.JPEG", "b.png", "c.Bmp", "d.webp", "e.tif", "f.TIFF", "x.y.png"})
        QTest::newRow(ok) << ok << true;
    for (const char* no : {"a.gif", "notes.txt", "png", ".png", "a.png.bak", "a.jpgx"})
        QTest::newRow(no) << no << false;
}

void TestSources::extensions()
{
    QFETCH(QString, name);
    QFETCH(bool, image);
    QCOMPARE(hasImageExtension(name.toStdString()), image);
}

void TestSources::folderScan()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "a.png", pattern(10, 8, 1));
    writeImage(root / "B.JPG", pattern(12, 9, 2));
    writeImage(root / "sub/c.bmp", pattern(7, 7, 3));
    writeImage(root / "sub/deeper/d.tiff", pattern(5, 6, 4));
    writeImage(root / "e.webp", pattern(16, 16, 5));
    writeFile(QString::fromStdString((root / "corrupt.jpg").string()), "this is not a JPEG file at all");
    writeFile(QString::fromStdString((root / "empty.png").string()), QByteArray());
    writeFile(QString::fromStdString((root / "notes.txt").string()), "ignored");
    writeImage(root / ".hidden.png", pattern(4, 4, 6));
    writeImage(root / ".cache/x.png", pattern(4, 4, 7));
    fs::create_directory_symlink("..", root / "sub/loop");           // a loop back to root
    fs::create_directory_symlink(root / "sub", root / "sub-link");   // a second way into sub
    fs::create_symlink(root / "missing.png", root / "dangling.png"); // broken link

    for (const SourceKind kind : {SourceKind::Auto, SourceKind::Folder}) {
        const auto source = openImageSource(root.string(), kind);
        QVERIFY2(source, source ? "" : source.error().message.c_str());
        const ImageSource& s = **source;
        QCOMPARE(s.kind(), SourceKind::Folder);
        // sub-link and sub/loop lead to folders already scanned: each image appears once, and the
        // scan terminates. Subfolders are entered in name order, so sub/ wins over sub-link/.
        QCOMPARE(itemPaths(s), (QStringList{"B.JPG", "a.png", "corrupt.jpg", "e.webp", "empty.png", "sub/c.bmp",
                                            "sub/deeper/d.tiff"}));
        QCOMPARE(itemLabels(s), QStringList(7, QString()));
        QVERIFY(!s.fixedImageSize());
        QVERIFY2(QString::fromStdString(s.describe()).contains("7 images"), s.describe().c_str());
        QVERIFY(!s.warnings().empty());
        bool loopWarned = false;
        for (const auto& w : s.warnings())
            loopWarned = loopWarned || w.find("already scanned") != std::string::npos;
        QVERIFY(loopWarned);

        const auto a = s.decode(findItem(s, "a.png"));
        QVERIFY(a);
        QCOMPARE(a->type(), CV_8UC3);
        QCOMPARE(a->size(), cv::Size(10, 8));
        QCOMPARE(cv::norm(*a, pattern(10, 8, 1), cv::NORM_INF), 0.0); // PNG is lossless
        const auto c = s.decode(findItem(s, "sub/c.bmp"));
        QVERIFY(c);
        QCOMPARE(cv::norm(*c, pattern(7, 7, 3), cv::NORM_INF), 0.0);
        const auto d = s.decode(findItem(s, "sub/deeper/d.tiff"));
        QVERIFY(d);
        QCOMPARE(cv::norm(*d, pattern(5, 6, 4), cv::NORM_INF), 0.0);
        const auto b = s.decode(findItem(s, "B.JPG"));
        QVERIFY(b);
        QCOMPARE(b->size(), cv::Size(12, 9));
        const auto e = s.decode(findItem(s, "e.webp"));
        QVERIFY(e);
        QCOMPARE(e->size(), cv::Size(16, 16));

        const auto corrupt = s.decode(findItem(s, "corrupt.jpg"));
        QVERIFY(!corrupt);
        QVERIFY2(corrupt.error().message.starts_with((root / "corrupt.jpg").string() + ": cannot decode"),
                 corrupt.error().message.c_str());
        const auto empty = s.decode(findItem(s, "empty.png"));
        QVERIFY(!empty);
        QCOMPARE(QString::fromStdString(empty.error().message),
                 QString::fromStdString((root / "empty.png").string() + ": the file is empty (0 bytes)"));
        const auto outOfRange = s.decode(s.size());
        QVERIFY(!outOfRange);
    }
}

void TestSources::folderDecodeConversions()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    cv::Mat gray16(4, 6, CV_16UC1);
    for (int i = 0; i < gray16.rows * gray16.cols; ++i)
        gray16.at<quint16>(i / 6, i % 6) = quint16(257 * (i * 10));
    writeImage(root / "gray16.png", gray16);
    cv::Mat bgr16(3, 3, CV_16UC3, cv::Scalar(257 * 10, 257 * 20, 65535));
    writeImage(root / "bgr16.tif", bgr16);
    cv::Mat bgra(5, 5, CV_8UC4, cv::Scalar(10, 20, 30, 0)); // fully transparent
    writeImage(root / "bgra.png", bgra);
    cv::Mat gray8(5, 7, CV_8UC1, cv::Scalar(77));
    writeImage(root / "gray8.png", gray8);

    const auto source = openImageSource(root.string(), SourceKind::Folder);
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QCOMPARE(s.size(), std::size_t(4));

    const auto g16 = s.decode(findItem(s, "gray16.png"));
    QVERIFY2(g16, g16 ? "" : g16.error().message.c_str());
    QCOMPARE(g16->type(), CV_8UC1);
    for (int i = 0; i < 24; ++i)
        QCOMPARE(int(g16->at<uchar>(i / 6, i % 6)), i * 10);

    const auto b16 = s.decode(findItem(s, "bgr16.tif"));
    QVERIFY2(b16, b16 ? "" : b16.error().message.c_str());
    QCOMPARE(b16->type(), CV_8UC3);
    QCOMPARE(b16->at<cv::Vec3b>(1, 1), cv::Vec3b(10, 20, 255));

    const auto a = s.decode(findItem(s, "bgra.png"));
    QVERIFY2(a, a ? "" : a.error().message.c_str());
    QCOMPARE(a->type(), CV_8UC3);
    QCOMPARE(a->at<cv::Vec3b>(2, 2), cv::Vec3b(255, 255, 255)); // fully transparent: composited over white

    const auto g8 = s.decode(findItem(s, "gray8.png"));
    QVERIFY(g8);
    QCOMPARE(g8->type(), CV_8UC1);
    QCOMPARE(int(g8->at<uchar>(4, 6)), 77);

    // toEightBit directly: float, signed 16-bit and gray+alpha layouts.
    const cv::Mat f(2, 2, CV_32FC1, cv::Scalar(0.5));
    const auto f8 = toEightBit(f, "f");
    QVERIFY(f8);
    QCOMPARE(int(f8->at<uchar>(0, 0)), 128);
    cv::Mat ga(2, 2, CV_8UC2, cv::Scalar(99, 7)); // nearly transparent: composited over white
    const auto g = toEightBit(ga, "ga");
    QVERIFY(g);
    QCOMPARE(g->type(), CV_8UC1);
    QCOMPARE(int(g->at<uchar>(1, 1)), (99 * 7 + 255 * 248 + 127) / 255);
    cv::Mat opaque(1, 1, CV_8UC4, cv::Scalar(10, 20, 30, 255)); // opaque: the colour as it is
    QCOMPARE(toEightBit(opaque, "o")->at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
    QVERIFY(g->data != ga.data);
    cv::Mat fiveChannels(2, 2, CV_8UC(5));
    std::memset(fiveChannels.data, 1, fiveChannels.total() * fiveChannels.elemSize());
    const auto five = toEightBit(fiveChannels, "five.tif");
    QVERIFY(!five);
    QVERIFY(five.error().message.starts_with("five.tif: images with 5 channels"));
}

void TestSources::imageFolder()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "dog/3.png", pattern(4, 4, 3));
    writeImage(root / "cat/1.png", pattern(4, 4, 1));
    writeImage(root / "cat/nested/2.jpg", pattern(4, 4, 2));
    writeImage(root / "10/x.bmp", pattern(4, 4, 4));
    fs::create_directories(root / "empty-class");

    // Auto: no images at the top level, subfolders -> image folder.
    auto source = openImageSource(root.string());
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    QCOMPARE((*source)->kind(), SourceKind::ImageFolder);
    QCOMPARE(itemPaths(**source), (QStringList{"10/x.bmp", "cat/1.png", "cat/nested/2.jpg", "dog/3.png"}));
    QCOMPARE(itemLabels(**source), (QStringList{"10", "cat", "cat", "dog"}));
    QVERIFY2(QString::fromStdString((*source)->describe()).contains("4 images in 3 classes"), (*source)->describe().c_str());
    QVERIFY((*source)->decode(2));

    // A stray image at the top level: auto now says folder; imagefolder ignores it with a warning.
    writeImage(root / "stray.png", pattern(4, 4, 9));
    source = openImageSource(root.string());
    QVERIFY(source);
    QCOMPARE((*source)->kind(), SourceKind::Folder);
    QCOMPARE((*source)->size(), std::size_t(5));
    source = openImageSource(root.string(), SourceKind::ImageFolder);
    QVERIFY(source);
    QCOMPARE((*source)->size(), std::size_t(4));
    bool warned = false;
    for (const auto& w : (*source)->warnings())
        warned = warned || w.find("1 image directly in the folder ignored") != std::string::npos;
    QVERIFY(warned);

    // No class folders with images -> error.
    QTemporaryDir tmp2;
    fs::create_directories(fs::path(tmp2.path().toStdString()) / "a");
    const auto none = openImageSource(tmp2.path().toStdString(), SourceKind::ImageFolder);
    QVERIFY(!none);
    QVERIFY2(none.error().message.find("no images found") != std::string::npos, none.error().message.c_str());
}

void TestSources::csvSource()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "imgs/a.png", pattern(6, 6, 1));
    writeImage(root / "other/b, c.png", pattern(5, 5, 2));
    writeImage(root / "abs.png", pattern(3, 3, 3));
    const fs::path list = root / "imgs/list.csv";
    const std::string absPath = (root / "abs.png").string();
    writeFile(QString::fromStdString(list.string()),
              QByteArray("path,label\r\na.png,cat\r\n\"../other/b, c.png\",\r\n") + QByteArray::fromStdString(absPath)
                  + ",dog\r\nmissing.png,cat\r\n");

    const auto source = openImageSource(list.string());
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QCOMPARE(s.kind(), SourceKind::Csv);
    QCOMPARE(itemPaths(s), (QStringList{"a.png", "../other/b, c.png", QString::fromStdString(absPath), "missing.png"}));
    QCOMPARE(itemLabels(s), (QStringList{"cat", "", "dog", "cat"}));
    const auto a = s.decode(0);
    QVERIFY(a);
    QCOMPARE(cv::norm(*a, pattern(6, 6, 1), cv::NORM_INF), 0.0);
    QVERIFY(s.decode(1));
    QVERIFY(s.decode(2));
    const auto missing = s.decode(3);
    QVERIFY(!missing);
    QVERIFY2(missing.error().message.find("missing.png: file not found") != std::string::npos, missing.error().message.c_str());

    // A path-only list.
    const fs::path paths = root / "paths.csv";
    writeFile(QString::fromStdString(paths.string()), "path\nimgs/a.png\nabs.png\n");
    const auto p = openImageSource(paths.string(), SourceKind::Csv);
    QVERIFY2(p, p ? "" : p.error().message.c_str());
    QCOMPARE(itemLabels(**p), (QStringList{"", ""}));
    QVERIFY((*p)->decode(1));
}

// A header names its columns: path and label are found by name, in any order; other columns are
// ignored with one warning naming the file and them.
void TestSources::csvSourceColumns_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QStringList>("paths");
    QTest::addColumn<QStringList>("labels");
    QTest::addColumn<QString>("warning"); // after "<file>: "; empty: no warning
    QTest::newRow("path,label") << QByteArray("path,label\na.png,cat\nb.png,\n") << QStringList{"a.png", "b.png"}
                                << QStringList{"cat", ""} << "";
    QTest::newRow("path only") << QByteArray("path\na.png\n") << QStringList{"a.png"} << QStringList{""} << "";
    QTest::newRow("reordered") << QByteArray("label,path\ncat,a.png\ndog,b.png\n") << QStringList{"a.png", "b.png"}
                               << QStringList{"cat", "dog"} << "";
    QTest::newRow("case and spaces") << QByteArray(" Label ,PATH\r\ncat,a.png\r\n") << QStringList{"a.png"}
                                     << QStringList{"cat"} << "";
    QTest::newRow("extra columns") << QByteArray("id,path,notes,label\n1,a.png,blurry,cat\n2,b.png,,dog\n")
                                   << QStringList{"a.png", "b.png"} << QStringList{"cat", "dog"}
                                   << "ignored the columns 'id', 'notes'; a CSV source reads only 'path' and 'label'";
    QTest::newRow("one extra column, no label") << QByteArray("path,size\na.png,12\n") << QStringList{"a.png"}
                                                << QStringList{""}
                                                << "ignored the column 'size'; a CSV source reads only 'path' and 'label'";
    QTest::newRow("our export") << QByteArray("path,label,source,confidence,flagged\n"
                                              "a.png,cat,human,1.0000,0\n\"x, y.png\",dog,pseudo,0.7500,1\n"
                                              "b.png,cat,imported,,0\n")
                                << QStringList{"a.png", "x, y.png", "b.png"} << QStringList{"cat", "dog", "cat"}
                                << "ignored the columns 'source', 'confidence', 'flagged'; a CSV source reads only "
                                   "'path' and 'label'";
    QTest::newRow("unnamed column") << QByteArray("path,label,\na.png,cat,\n") << QStringList{"a.png"}
                                    << QStringList{"cat"}
                                    << "ignored the column column 3 (no name); a CSV source reads only 'path' and 'label'";
    QTest::newRow("quoted names with commas")
        << QByteArray("\"label\",\"path\"\n\"cat, big\",\"x, y.png\"\n\"say \"\"hi\"\"\",\"dir, 2/b.png\"\n")
        << QStringList{"x, y.png", "dir, 2/b.png"} << QStringList{"cat, big", "say \"hi\""} << "";
}

void TestSources::csvSourceColumns()
{
    QFETCH(QByteArray, text);
    QFETCH(QStringList, paths);
    QFETCH(QStringList, labels);
    QFETCH(QString, warning);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    for (int i = 0; i < paths.size(); ++i)
        writeImage(root / paths[i].toStdString(), pattern(4 + i, 4, i));
    const std::string list = (root / "list.csv").string();
    writeFile(QString::fromStdString(list), text);

    const auto source = openImageSource(list);
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QCOMPARE(itemPaths(s), paths);
    QCOMPARE(itemLabels(s), labels);
    for (int i = 0; i < paths.size(); ++i) {
        const auto image = s.decode(std::size_t(i));
        QVERIFY2(image, image ? "" : image.error().message.c_str());
        QCOMPARE(cv::norm(*image, pattern(4 + i, 4, i), cv::NORM_INF), 0.0);
    }
    // Said once, naming the file, or not at all.
    std::vector<std::string> expected;
    if (!warning.isEmpty())
        expected.push_back(list + ": " + warning.toStdString());
    QCOMPARE(s.warnings(), expected);
}

void TestSources::csvSourceErrors_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("expected"); // the message starts with "<file>" + this
    QTest::addColumn<QString>("mentions"); // and contains this
    const QString expectedHeader = "expected a header line naming the columns: 'path' (the image file, relative to the "
                                   "CSV's folder) and optionally 'label', in any order, e.g. 'path,label'";
    QTest::newRow("empty") << QByteArray() << ": the file is empty; " + expectedHeader << "";
    QTest::newRow("no path column") << QByteArray("file,class\na.png,x\n")
                                    << ":1: the header is 'file,class', which has no 'path' column; " + expectedHeader
                                    << "";
    QTest::newRow("label but no path") << QByteArray("image,label,source\na.png,x,human\n")
                                       << ":1: the header is 'image,label,source', which has no 'path' column" << "";
    QTest::newRow("no header") << QByteArray("a.png,cat\nb.png,dog\n")
                               << ":1: the header is 'a.png,cat', which has no 'path' column"
                               << "this line looks like an image row, so add the header line above it";
    QTest::newRow("path twice") << QByteArray("path,label,Path\na.png,x,b.png\n")
                                << ":1: the header 'path,label,Path' names the column 'path' twice (columns 1 and 3); "
                                   "keep one of them"
                                << "";
    QTest::newRow("label twice") << QByteArray("label,path,label\nx,a.png,y\n")
                                 << ":1: the header 'label,path,label' names the column 'label' twice (columns 1 and 3)"
                                 << "";
    QTest::newRow("extra field") << QByteArray("path,label\na.png,x\nb.png,y,z\n")
                                 << ":3: expected 2 fields, found 3 (the header 'path,label' has 2)"
                                 << "put paths or labels that contain commas in quotes";
    QTest::newRow("missing field") << QByteArray("path,label,source\na.png,x\n")
                                   << ":2: expected 3 fields, found 2 (the header 'path,label,source' has 3)" << "";
    QTest::newRow("empty path") << QByteArray("label,path\nx,\n") << ":2: empty path" << "";
    QTest::newRow("no rows") << QByteArray("path,label\n") << ": no images listed" << "";
    QTest::newRow("bad utf-8") << QByteArray("path\n\xff.png\n") << ":2: text is not valid UTF-8" << "";
}

void TestSources::csvSourceErrors()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, expected);
    QFETCH(QString, mentions);
    QTemporaryDir tmp;
    const QString path = tmp.filePath(QStringLiteral("list.csv"));
    writeFile(path, text);
    const auto source = openImageSource(path.toStdString());
    QVERIFY(!source);
    const QString message = QString::fromStdString(source.error().message);
    QVERIFY2(message.startsWith(path + expected), qPrintable(message));
    QVERIFY2(message.contains(mentions), qPrintable(message));
}

// A list whose relative paths resolve to nothing (saved away from the images, or IDX items) says
// so once when it opens.
void TestSources::csvSourceUnresolvedPaths_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("mentions"); // after "<file>: none of the 2 relative paths exists under <folder> (e.g.
                                           // <folder>/<first path>)"; empty: no warning
    QTest::newRow("one resolves") << QByteArray("path,label\ncat/a.png,cat\nhere.png,dog\n") << "";
    QTest::newRow("saved away from the images")
        << QByteArray("path,label,source,confidence,flagged\ncat/a.png,cat,human,,0\ncat/b.png,cat,human,,0\n")
        << "; relative paths are relative to the CSV's folder "
           "(those in a 'project export' CSV to the project's source folder): put the CSV in the folder the "
           "paths start from, or write absolute paths";
    QTest::newRow("idx items") << QByteArray("path,label\ntrain-images-idx3-ubyte.gz#0,3\ntrain-images-idx3-ubyte.gz#1,5\n")
                               << "these are IDX images (<images file>#<index>), which a CSV source cannot open: "
                                  "apply the labels with 'labelprop-cli project import PROJECT --labels";
}

void TestSources::csvSourceUnresolvedPaths()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, mentions);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "data/cat/a.png", pattern(4, 4, 1));
    writeImage(root / "data/cat/b.png", pattern(4, 4, 2));
    writeImage(root / "away/here.png", pattern(4, 4, 3));
    const std::string list = (root / "away/list.csv").string();
    writeFile(QString::fromStdString(list), text);
    const auto source = openImageSource(list);
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    std::vector<std::string> unresolved;
    for (const auto& w : (*source)->warnings())
        if (w.find("relative paths exists under") != std::string::npos)
            unresolved.push_back(w);
    if (mentions.isEmpty()) {
        QCOMPARE(unresolved.size(), std::size_t(0));
        return;
    }
    QCOMPARE(unresolved.size(), std::size_t(1));
    const QString w = QString::fromStdString(unresolved[0]);
    QVERIFY2(w.startsWith(QString::fromStdString(list) + ": none of the 2 relative paths exists under "
                          + QString::fromStdString((root / "away").string()) + " (e.g. "
                          + QString::fromStdString((root / "away").string()) + "/"),
             qPrintable(w));
    QVERIFY2(w.contains(mentions), qPrintable(w));
}

void TestSources::idxHandMade_data()
{
    QTest::addColumn<QString>("suffix");
    QTest::newRow("plain") << "";
    QTest::newRow("gzip") << ".gz";
}

void TestSources::idxHandMade()
{
    QFETCH(QString, suffix);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    const std::string sfx = suffix.toStdString();
    // Written test-first to check that train comes before t10k whatever the directory order.
    writeMaybeGz(root / ("t10k-images-idx3-ubyte" + sfx), idxBytes(3, {2, 4, 5}, idxPixels(2, 4, 5, 3)));
    writeMaybeGz(root / ("t10k-labels-idx1-ubyte" + sfx), idxBytes(1, {2}, idxLabels(2, 3)));
    writeMaybeGz(root / ("train-images-idx3-ubyte" + sfx), idxBytes(3, {3, 4, 5}, idxPixels(3, 4, 5)));
    writeMaybeGz(root / ("train-labels-idx1-ubyte" + sfx), idxBytes(1, {3}, idxLabels(3)));

    const auto source = openImageSource(root.string());
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QCOMPARE(s.kind(), SourceKind::Idx);
    QCOMPARE(s.size(), std::size_t(5));
    QCOMPARE(s.fixedImageSize(), std::optional<cv::Size>(cv::Size(5, 4)));
    const QString train = QStringLiteral("train-images-idx3-ubyte") + suffix;
    const QString test = QStringLiteral("t10k-images-idx3-ubyte") + suffix;
    QCOMPARE(itemPaths(s), (QStringList{train + "#0", train + "#1", train + "#2", test + "#0", test + "#1"}));
    QCOMPARE(itemLabels(s), (QStringList{"0", "1", "2", "3", "4"}));
    QVERIFY(s.warnings().empty());
    for (std::size_t k = 0; k < 5; ++k) {
        const auto img = s.decode(k);
        QVERIFY(img);
        QCOMPARE(img->type(), CV_8UC1);
        QCOMPARE(img->size(), cv::Size(5, 4));
        for (int i = 0; i < 20; ++i)
            QCOMPARE(int(img->at<uchar>(i / 5, i % 5)), int((k * 31 + std::size_t(i)) % 256));
    }
    QVERIFY2(QString::fromStdString(s.describe()).contains("5 images of 5x4"), s.describe().c_str());
}

void TestSources::idxSingleFileAndGuessedLabels()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeMaybeGz(root / "emnist-train-images.idx3-ubyte", idxBytes(3, {2, 2, 2}, idxPixels(2, 2, 2)));
    writeMaybeGz(root / "emnist-train-labels.idx1-ubyte.gz", idxBytes(1, {2}, QByteArray("\x07\x19", 2)));
    writeMaybeGz(root / "lonely-images-idx3-ubyte.gz", idxBytes(3, {1, 2, 2}, idxPixels(1, 2, 2)));

    const auto one = openImageSource((root / "emnist-train-images.idx3-ubyte").string());
    QVERIFY2(one, one ? "" : one.error().message.c_str());
    QCOMPARE((*one)->kind(), SourceKind::Idx);
    QCOMPARE(itemLabels(**one), (QStringList{"7", "25"}));

    const auto lonely = openImageSource((root / "lonely-images-idx3-ubyte.gz").string(), SourceKind::Idx);
    QVERIFY2(lonely, lonely ? "" : lonely.error().message.c_str());
    QCOMPARE(itemLabels(**lonely), (QStringList{""}));
    QCOMPARE((*lonely)->warnings().size(), std::size_t(1));
    QVERIFY((*lonely)->warnings()[0].find("no labels file found") != std::string::npos);
}

void TestSources::idxErrors_data()
{
    QTest::addColumn<QByteArray>("images");
    QTest::addColumn<QByteArray>("labels"); // empty: no labels file
    QTest::addColumn<QString>("expected");
    const QByteArray good = idxBytes(3, {3, 4, 5}, idxPixels(3, 4, 5));
    QTest::newRow("truncated pixels") << idxBytes(3, {3, 4, 5}, idxPixels(3, 4, 5).left(45)) << QByteArray()
                                      << "train-images-idx3-ubyte: truncated IDX data: expected 60 bytes after the header, found 45";
    QTest::newRow("truncated header") << good.left(9) << QByteArray() << "train-images-idx3-ubyte: truncated IDX header";
    QTest::newRow("empty file") << QByteArray() << QByteArray() << "train-images-idx3-ubyte: truncated IDX header (0 of 4";
    QTest::newRow("bad magic") << QByteArray("GIF89a not idx data") << QByteArray() << "train-images-idx3-ubyte: not an IDX file";
    QTest::newRow("float data") << idxBytes(3, {1, 1, 1}, QByteArray(4, '\0'), 0x0D) << QByteArray()
                                << "train-images-idx3-ubyte: IDX data type 0x0D is not supported";
    QTest::newRow("labels as images") << idxBytes(1, {3}, idxLabels(3)) << QByteArray()
                                      << "train-images-idx3-ubyte: IDX file has 1 dimensions; expected 3";
    QTest::newRow("count mismatch") << good << idxBytes(1, {4}, idxLabels(4))
                                    << "train-labels-idx1-ubyte: has 4 labels but train-images-idx3-ubyte has 3 images";
    QTest::newRow("truncated labels") << good << idxBytes(1, {3}, idxLabels(2))
                                      << "train-labels-idx1-ubyte: truncated IDX data: expected 3 bytes after the header, found 2";
}

void TestSources::idxErrors()
{
    QFETCH(QByteArray, images);
    QFETCH(QByteArray, labels);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeFile(QString::fromStdString((root / "train-images-idx3-ubyte").string()), images);
    if (!labels.isEmpty())
        writeFile(QString::fromStdString((root / "train-labels-idx1-ubyte").string()), labels);
    const auto source = openImageSource(root.string());
    QVERIFY(!source);
    QVERIFY2(QString::fromStdString(source.error().message).startsWith(QString::fromStdString(root.string()) + "/" + expected),
             source.error().message.c_str());
}

void TestSources::fashionMnist()
{
    const std::string dir = LABELPROP_FASHION_MNIST;
    if (!fs::exists(dir + "/train-images-idx3-ubyte.gz"))
        QSKIP("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)");
    const auto source = openImageSource(dir);
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QCOMPARE(s.kind(), SourceKind::Idx);
    QCOMPARE(s.size(), std::size_t(70000));
    QCOMPARE(s.fixedImageSize(), std::optional<cv::Size>(cv::Size(28, 28)));
    QCOMPARE(s.item(0).path, std::string("train-images-idx3-ubyte.gz#0"));
    QCOMPARE(s.item(60000).path, std::string("t10k-images-idx3-ubyte.gz#0"));

    const auto run = runPython(QStringLiteral(
                                   "import sys, gzip, numpy as np\n"
                                   "d = sys.argv[1]\n"
                                   "def load(name, off):\n"
                                   "    return np.frombuffer(gzip.open(d + '/' + name).read(), np.uint8, offset=off)\n"
                                   "tl = load('train-labels-idx1-ubyte.gz', 8); sl = load('t10k-labels-idx1-ubyte.gz', 8)\n"
                                   "ti = load('train-images-idx3-ubyte.gz', 16).reshape(-1, 28, 28)\n"
                                   "si = load('t10k-images-idx3-ubyte.gz', 16).reshape(-1, 28, 28)\n"
                                   "print(tl[0], tl[59999], sl[0], sl[9999], int(ti[0].sum()), int(si[9999].sum()), int(ti[0, 14, 14]))\n"),
                               {QString::fromStdString(dir)});
    LABELPROP_VERIFY_PYTHON(run);
    const QStringList ref = run.out.trimmed().split(' ');
    QCOMPARE(ref.size(), 7);
    QCOMPARE(QString::fromStdString(s.item(0).label), ref[0]);
    QCOMPARE(QString::fromStdString(s.item(59999).label), ref[1]);
    QCOMPARE(QString::fromStdString(s.item(60000).label), ref[2]);
    QCOMPARE(QString::fromStdString(s.item(69999).label), ref[3]);
    const auto first = s.decode(0);
    QVERIFY(first);
    QCOMPARE(QString::number(qint64(cv::sum(*first)[0])), ref[4]);
    QCOMPARE(QString::number(int(first->at<uchar>(14, 14))), ref[6]);
    const auto last = s.decode(69999);
    QVERIFY(last);
    QCOMPARE(QString::number(qint64(cv::sum(*last)[0])), ref[5]);
}

void TestSources::openErrors()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    const auto missing = openImageSource((root / "nope").string());
    QVERIFY(!missing);
    QCOMPARE(QString::fromStdString(missing.error().message), QString::fromStdString((root / "nope").string() + ": no such file or folder"));

    writeFile(QString::fromStdString((root / "notes.txt").string()), "x");
    const auto txt = openImageSource((root / "notes.txt").string());
    QVERIFY(!txt);
    QVERIFY(txt.error().message.find("cannot tell what kind of image source") != std::string::npos);

    const auto notDir = openImageSource((root / "notes.txt").string(), SourceKind::Folder);
    QVERIFY(!notDir);
    QVERIFY(notDir.error().message.find("not a folder") != std::string::npos);

    const auto emptyDir = openImageSource(root.string(), SourceKind::Folder);
    QVERIFY(!emptyDir);
    QVERIFY2(emptyDir.error().message.find(": no images found (looked for .jpg .jpeg .png .bmp .webp .tif .tiff")
                 != std::string::npos,
             emptyDir.error().message.c_str());

    const auto idxNone = openImageSource(root.string(), SourceKind::Idx);
    QVERIFY(!idxNone);
    QVERIFY(idxNone.error().message.find("no IDX images file found") != std::string::npos);

    QVERIFY(!openImageSource(""));
}

QTEST_GUILESS_MAIN(TestSources)
#include "tst_sources.moc"
