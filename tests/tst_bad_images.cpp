// Bad image inputs through ImageSource: unusual layouts (CMYK JPEG, 16-bit, gray+alpha, palette),
// images over the pixel limit, PNGs cut short or damaged, non-UTF-8 and unicode file names,
// duplicate files, and paths that are not regular files (FIFO, folder, broken link). Each is
// decoded or refused with a message naming the file; nothing hangs, crashes or allocates gigabytes.

#include "core/formats/Csv.h"
#include "core/sources/ImageSource.h"
#include "core/formats/NpyFile.h"

#include "TestSupport.h"

#include <QTest>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <zlib.h>

#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <fstream>

using namespace labelprop;
namespace fs = std::filesystem;

namespace {

const fs::path kImages = fs::path(LABELPROP_SOURCE_DIR) / "tests/data/images";

void writeBytes(const fs::path& path, std::string_view bytes)
{
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out)
        qFatal("cannot write %s", path.string().c_str());
}

void writeImage(const fs::path& path, const cv::Mat& image)
{
    fs::create_directories(path.parent_path());
    if (!cv::imwrite(path.string(), image))
        qFatal("cannot write %s", path.string().c_str());
}

std::string chunk(std::string_view type, std::string_view data)
{
    std::string c;
    for (const std::uint32_t v : {std::uint32_t(data.size())})
        for (int s = 24; s >= 0; s -= 8)
            c += char((v >> s) & 0xff);
    std::string body = std::string(type) + std::string(data);
    c += body;
    const auto crc = std::uint32_t(::crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size())));
    for (int s = 24; s >= 0; s -= 8)
        c += char((crc >> s) & 0xff);
    return c;
}

std::string be32(std::uint32_t v)
{
    return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// A valid 8-bit gray PNG of w x h black pixels, deflated row by row (a 30000 x 30000 image is
// about 0.9 MB and never exists uncompressed in memory).
std::string uniformPng(std::uint32_t w, std::uint32_t h)
{
    std::string ihdr = be32(w) + be32(h) + std::string("\x08\x00\x00\x00\x00", 5);
    z_stream z{};
    deflateInit(&z, 9);
    std::vector<unsigned char> row(std::size_t(w) + 1, 0), out(1 << 20);
    std::string idat;
    for (std::uint32_t y = 0; y < h; ++y) {
        z.next_in = row.data();
        z.avail_in = uInt(row.size());
        const int flush = y + 1 == h ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = out.data();
            z.avail_out = uInt(out.size());
            deflate(&z, flush);
            idat.append(reinterpret_cast<const char*>(out.data()), out.size() - z.avail_out);
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

QStringList warningsOf(const ImageSource& s)
{
    QStringList w;
    for (const auto& line : s.warnings())
        w << QString::fromStdString(line);
    return w;
}

bool anyWarning(const ImageSource& s, std::string_view a, std::string_view b = {})
{
    for (const auto& w : s.warnings())
        if (contains(w, a) && contains(w, b))
            return true;
    return false;
}

} // namespace

class TestBadImages : public QObject {
    Q_OBJECT

private slots:
    void layouts_data();
    void layouts();
    void headerDimensions_data();
    void headerDimensions();
    void hugePngIsRefused();
    void pixelLimit();
    void reducedDecodeForSize();
    void pngColourProfileIsDroppedQuietly();
    void damagedPngIsRefusedQuietly_data();
    void damagedPngIsRefusedQuietly();
    void hugeFileIsRefused();
    void fileNames();
    void duplicates();
    void notRegularFiles();
};

void TestBadImages::layouts_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("width");
    QTest::addColumn<int>("height");
    QTest::addColumn<int>("x");
    QTest::addColumn<QList<int>>("pixel"); // B, G, R or gray at (x, 0)
    QTest::addColumn<int>("tolerance");
    // tests/data/images/README.md says how each file was made.
    QTest::newRow("cmyk jpeg (red ink)") << "cmyk.jpg" << CV_8UC3 << 16 << 16 << 0 << QList<int>{0, 0, 255} << 8;
    QTest::newRow("16-bit gray tiff") << "gray16.tif" << CV_8UC1 << 5 << 4 << 1 << QList<int>{10} << 0;
    // Alpha is composited over white: gray 100 at alpha 40 (x = 2) is (100 * 40 + 255 * 215) / 255.
    QTest::newRow("gray+alpha png") << "gray_alpha.png" << CV_8UC3 << 4 << 3 << 2 << QList<int>{231, 231, 231} << 0;
    QTest::newRow("palette png, red") << "palette.png" << CV_8UC3 << 4 << 4 << 0 << QList<int>{0, 0, 255} << 0;
    QTest::newRow("palette png, green") << "palette.png" << CV_8UC3 << 4 << 4 << 1 << QList<int>{0, 255, 0} << 0;
    QTest::newRow("16-bit BGR png") << "@bgr16.png" << CV_8UC3 << 3 << 2 << 0 << QList<int>{10, 20, 255} << 0;
    QTest::newRow("16-bit BGRA png, opaque") << "@bgra16.png" << CV_8UC3 << 3 << 2 << 0 << QList<int>{10, 20, 255} << 0;
    QTest::newRow("16-bit BGRA png, transparent") << "@bgra16clear.png" << CV_8UC3 << 3 << 2 << 0
                                                  << QList<int>{255, 255, 255} << 0;
}

void TestBadImages::layouts()
{
    QFETCH(QString, file);
    QFETCH(int, type);
    QFETCH(int, width);
    QFETCH(int, height);
    QFETCH(int, x);
    QFETCH(QList<int>, pixel);
    QFETCH(int, tolerance);
    QTemporaryDir tmp;
    fs::path path = kImages / file.toStdString();
    if (file.startsWith('@')) { // made here: OpenCV writes 16-bit PNGs
        path = fs::path(tmp.path().toStdString()) / file.mid(1).toStdString();
        const int channels = file.contains("bgra") ? 4 : 3;
        const double alpha = file.contains("clear") ? 0 : 65535;
        writeImage(path, cv::Mat(height, width, CV_16UC(channels), cv::Scalar(257 * 10, 257 * 20, 65535, alpha)));
    }
    for (const bool throughSource : {false, true}) {
        Expected<cv::Mat> m = fail("");
        std::unique_ptr<ImageSource> source;
        if (throughSource) {
            auto s = openImageSource(path.parent_path().string(), SourceKind::Folder);
            QVERIFY2(s, s ? "" : s.error().message.c_str());
            source = std::move(*s);
            std::size_t i = 0;
            while (i < source->size() && source->item(i).path != path.filename().string())
                ++i;
            m = source->decode(i);
        } else {
            m = decodeImageFile(path.string());
        }
        QVERIFY2(m, m ? "" : m.error().message.c_str());
        QCOMPARE(m->type(), type);
        QCOMPARE(m->size(), cv::Size(width, height));
        for (int c = 0; c < int(pixel.size()); ++c) {
            const int got = m->ptr<uchar>(0)[x * m->channels() + c];
            QVERIFY2(std::abs(got - pixel[c]) <= tolerance,
                     qPrintable(QStringLiteral("channel %1: %2, expected %3").arg(c).arg(got).arg(pixel[c])));
        }
    }
}

void TestBadImages::headerDimensions_data()
{
    QTest::addColumn<QString>("extension");
    for (const char* ext : {".png", ".jpg", ".bmp", ".webp", ".tif"})
        QTest::newRow(ext) << QString::fromLatin1(ext);
}

void TestBadImages::headerDimensions()
{
    QFETCH(QString, extension);
    QTemporaryDir tmp;
    const fs::path path = fs::path(tmp.path().toStdString()) / ("x" + extension.toStdString());
    writeImage(path, cv::Mat(23, 37, CV_8UC3, cv::Scalar(1, 2, 3)));
    const QByteArray bytes = test::readFile(QString::fromStdString(path.string()));
    const auto span = std::span(reinterpret_cast<const std::uint8_t*>(bytes.constData()), std::size_t(bytes.size()));
    const auto dims = readImageDimensions(span);
    QVERIFY(dims);
    QCOMPARE(dims->width, 37);
    QCOMPARE(dims->height, 23);
    QCOMPARE(dims->isJpeg, extension == ".jpg");
    // Every prefix either tells the right size or nothing; none reads past the end (ASan builds).
    for (std::size_t n = 0; n < span.size(); ++n) {
        const auto partial = readImageDimensions(span.first(n));
        QVERIFY(!partial || (partial->width == 37 && partial->height == 23));
    }
}

void TestBadImages::hugePngIsRefused()
{
    QTemporaryDir tmp;
    const fs::path path = fs::path(tmp.path().toStdString()) / "huge.png";
    const std::string png = uniformPng(30000, 30000); // would decode to 900 MB (gray) or 2.7 GB (BGR)
    QVERIFY2(png.size() < 2'000'000, std::to_string(png.size()).c_str());
    writeBytes(path, png);
    const auto m = decodeImageFile(path.string());
    QVERIFY(!m);
    QCOMPARE(QString::fromStdString(m.error().message),
             QString::fromStdString(path.string() + ": the image is 30000 x 30000 pixels (900000000), more than the "
                                    "limit of 67108864 pixels for one image; scale it down first (e.g. to 4096 "
                                    "pixels on the long side)"));
    // Through a folder source: the item is listed (the scan does not decode) and refused on decode.
    const auto source = openImageSource(path.parent_path().string());
    QVERIFY(source);
    QCOMPARE((*source)->size(), std::size_t(1));
    const auto d = (*source)->decode(0);
    QVERIFY(!d);
    QVERIFY(contains(d.error().message, "more than the limit"));

    // A header that lies: 100000 x 100000 and no image data at all.
    const fs::path liar = fs::path(tmp.path().toStdString()) / "liar.png";
    writeBytes(liar, std::string("\x89PNG\r\n\x1a\n", 8)
                         + chunk("IHDR", be32(100000) + be32(100000) + std::string("\x08\x02\x00\x00\x00", 5)));
    const auto l = decodeImageFile(liar.string());
    QVERIFY(!l);
    QVERIFY2(contains(l.error().message, "100000 x 100000 pixels"), l.error().message.c_str());
}

void TestBadImages::pixelLimit()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "big.jpg", cv::Mat(300, 400, CV_8UC3, cv::Scalar(200, 100, 50)));
    writeImage(root / "big.png", cv::Mat(300, 400, CV_8UC3, cv::Scalar(200, 100, 50)));
    // JPEG over the limit: decoded at the largest of 1/2, 1/4, 1/8 scale that fits.
    const auto half = decodeImageFile((root / "big.jpg").string(), 40000); // 120000 / 4 fits
    QVERIFY2(half, half ? "" : half.error().message.c_str());
    QCOMPARE(half->size(), cv::Size(200, 150));
    QVERIFY(cv::norm(half->at<cv::Vec3b>(70, 100), cv::Vec3b(200, 100, 50), cv::NORM_INF) <= 3);
    const auto eighth = decodeImageFile((root / "big.jpg").string(), 2000); // 120000 / 64 fits
    QVERIFY(eighth);
    QCOMPARE(eighth->size(), cv::Size(50, 38));
    const auto tooBig = decodeImageFile((root / "big.jpg").string(), 1000); // even 1/8 is 1875 px
    QVERIFY(!tooBig);
    QVERIFY2(contains(tooBig.error().message, "big.jpg: the image is 400 x 300 pixels (120000), more than the limit "
                                              "of 1000 pixels"),
             tooBig.error().message.c_str());
    // Other formats are refused, not scaled.
    const auto png = decodeImageFile((root / "big.png").string(), 40000);
    QVERIFY(!png);
    QVERIFY(contains(png.error().message, "big.png: the image is 400 x 300 pixels"));
    // At the limit exactly: decoded at full size.
    const auto exact = decodeImageFile((root / "big.png").string(), 120000);
    QVERIFY(exact);
    QCOMPARE(exact->size(), cv::Size(400, 300));
}

// A JPEG with an EXIF APP1 segment (right after SOI) whose orientation tag is `orientation`.
std::string jpegWithOrientation(const cv::Mat& image, std::uint16_t orientation)
{
    std::vector<uchar> jpeg;
    cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 95});
    const auto be16 = [](std::uint16_t v) { return std::string{char(v >> 8), char(v & 0xff)}; };
    // Big-endian TIFF: header, one IFD with one SHORT entry (0x0112 Orientation), no next IFD.
    const std::string tiff = std::string("MM\0\x2a", 4) + be32(8) + be16(1) + be16(0x0112) + be16(3) + be32(1)
                             + be16(orientation) + be16(0) + be32(0);
    const std::string app1 = std::string("\xff\xe1", 2) + be16(std::uint16_t(2 + 6 + tiff.size()))
                             + std::string("Exif\0\0", 6) + tiff;
    std::string bytes(jpeg.begin(), jpeg.end());
    return bytes.substr(0, 2) + app1 + bytes.substr(2);
}

void TestBadImages::reducedDecodeForSize()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    // A smooth 1600 x 1200 image: a colour ramp, so that shrinking by any route gives the same.
    cv::Mat photo(1200, 1600, CV_8UC3);
    for (int y = 0; y < photo.rows; ++y)
        for (int x = 0; x < photo.cols; ++x)
            photo.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 255 / 1599), uchar(y * 255 / 1199), uchar(128));
    writeImage(root / "photo.jpg", photo);
    writeImage(root / "photo.png", photo);
    cv::Mat gray;
    cv::cvtColor(photo, gray, cv::COLOR_BGR2GRAY);
    writeImage(root / "gray.jpg", gray);

    // The rule: the largest of 1/2, 1/4, 1/8 that keeps the shorter side >= 2 x minSide.
    const ImageDimensions phone{4032, 3024, true};
    QCOMPARE(jpegReductionFor(phone, 256), 4);  // 756 px >= 512; 1/8 would be 378
    QCOMPARE(jpegReductionFor(phone, 32), 8);
    QCOMPARE(jpegReductionFor(phone, 0), 1);
    QCOMPARE(jpegReductionFor(phone, 2000), 1);
    QCOMPARE(jpegReductionFor(ImageDimensions{4032, 3024, false}, 32), 1); // not a JPEG
    QCOMPARE(jpegReductionFor(ImageDimensions{640, 480, true}, 256), 1);

    const std::string jpg = (root / "photo.jpg").string();
    const auto full = decodeImageFile(jpg);
    QVERIFY(full);
    QCOMPARE(full->size(), cv::Size(1600, 1200));
    const auto half = decodeImageFile(jpg, kMaxImagePixels, 256); // 600 >= 512; 300 is not
    QVERIFY2(half, half ? "" : half.error().message.c_str());
    QCOMPARE(half->size(), cv::Size(800, 600));
    const auto quarter = decodeImageFile(jpg, kMaxImagePixels, 100); // 300 >= 200; 150 is not
    QVERIFY(quarter);
    QCOMPARE(quarter->size(), cv::Size(400, 300));
    QCOMPARE(decodeImageFile(jpg, kMaxImagePixels, 700)->size(), cv::Size(1600, 1200)); // 600 < 1400
    // Shrunk to the caller's size, the reduced decode gives what the full one does.
    cv::Mat fromFull, fromQuarter;
    cv::resize(*full, fromFull, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
    cv::resize(*quarter, fromQuarter, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
    QVERIFY2(cv::norm(fromFull, fromQuarter, cv::NORM_INF) <= 4,
             std::to_string(cv::norm(fromFull, fromQuarter, cv::NORM_INF)).c_str());
    // Gray JPEGs come back BGR when reduced, with equal channels.
    const auto grayHalf = decodeImageFile((root / "gray.jpg").string(), kMaxImagePixels, 256);
    QVERIFY(grayHalf);
    QCOMPARE(grayHalf->size(), cv::Size(800, 600));
    QCOMPARE(grayHalf->channels(), 3);
    const cv::Vec3b g = grayHalf->at<cv::Vec3b>(300, 400);
    QVERIFY(g[0] == g[1] && g[1] == g[2]);
    // Other formats are decoded whole.
    QCOMPARE(decodeImageFile((root / "photo.png").string(), kMaxImagePixels, 100)->size(), cv::Size(1600, 1200));
    // EXIF orientation 6 (rotate 90 degrees clockwise) holds for the reduced decode too.
    writeBytes(root / "rotated.jpg", jpegWithOrientation(photo, 6));
    const auto rotatedFull = decodeImageFile((root / "rotated.jpg").string());
    QVERIFY(rotatedFull);
    QCOMPARE(rotatedFull->size(), cv::Size(1200, 1600));
    const auto rotatedHalf = decodeImageFile((root / "rotated.jpg").string(), kMaxImagePixels, 256);
    QVERIFY(rotatedHalf);
    QCOMPARE(rotatedHalf->size(), cv::Size(600, 800));
    // The top-left of the rotated image is the original's bottom-left (green high, blue ramp low).
    const cv::Vec3b corner = rotatedHalf->at<cv::Vec3b>(2, 2);
    QVERIFY2(corner[1] > 240 && corner[0] < 15, "EXIF rotation not applied to the reduced decode");

    // Through a source: decodeForSize() reduces, decode() never does.
    const auto source = openImageSource(root.string());
    QVERIFY(source);
    std::size_t at = 0;
    while ((*source)->item(at).path != "photo.jpg")
        ++at;
    QCOMPARE((*source)->decode(at)->size(), cv::Size(1600, 1200));
    QCOMPARE((*source)->decodeForSize(at, 256)->size(), cv::Size(800, 600));
}

// libpng warns on stderr about many PNGs' colour profiles ("iCCP: known incorrect sRGB profile",
// here "iCCP: too short"); the profile is dropped before decoding, so nothing is printed and the
// pixels are those stored.
void TestBadImages::pngColourProfileIsDroppedQuietly()
{
    QTemporaryDir tmp;
    const fs::path folder = fs::path(tmp.path().toStdString()) / "profiled";
    fs::create_directories(folder);
    std::vector<cv::Mat> images;
    for (int i = 0; i < 3; ++i) {
        images.emplace_back(20, 30, CV_8UC3, cv::Scalar(10 + 80 * i, 200, 30));
        std::vector<uchar> png;
        QVERIFY(cv::imencode(".png", images.back(), png));
        std::string bytes(png.begin(), png.end());
        bytes.insert(33, chunk("iCCP", std::string("bad profile\0\0", 13) + "this is not zlib data")); // after IHDR
        writeBytes(folder / ("p" + std::to_string(i) + ".png"), bytes);
    }
    const auto m = decodeImageFile((folder / "p1.png").string());
    QVERIFY2(m, m ? "" : m.error().message.c_str());
    QCOMPARE(cv::norm(*m, images[1], cv::NORM_INF), 0.0);
    const auto r = test::runCli({"embed", QString::fromStdString(folder.string()), "--encoder", "pca:1", "-o",
                           tmp.filePath("e.npy")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(!r.err.contains("libpng"), qPrintable(r.err));
}

// A PNG that was cut short or damaged is refused before OpenCV hands it to libpng, which would
// print "libpng error: PNG input buffer is incomplete" (or "IDAT: CRC error") on stderr, naming no
// file: the message names the file, the chunk and what to do, and nothing reaches stderr.
void TestBadImages::damagedPngIsRefusedQuietly_data()
{
    QTest::addColumn<int>("keep");     // bytes kept from the start; -1: all of them
    QTest::addColumn<int>("flip");     // a byte flipped this far into the IDAT data; -1: none
    QTest::addColumn<QString>("fault");
    QTest::newRow("cut inside IDAT") << -2 << -1 << "IDAT chunk at byte 33 needs";
    QTest::newRow("cut before IEND") << -3 << -1 << "without an IEND chunk (it was cut short)";
    QTest::newRow("cut inside IHDR")
        << 20 << -1 << "its IHDR chunk at byte 8 needs 25 bytes, but the file ends at byte 20 (it was cut short)";
    QTest::newRow("a byte flipped in IDAT")
        << -1 << 5 << "its IDAT chunk at byte 33 is damaged (the CRC does not match)";
}

void TestBadImages::damagedPngIsRefusedQuietly()
{
    QFETCH(int, keep);
    QFETCH(int, flip);
    QFETCH(QString, fault);
    QTemporaryDir tmp;
    const fs::path folder = fs::path(tmp.path().toStdString()) / "images";
    cv::Mat noise(40, 50, CV_8UC3);
    cv::randu(noise, 0, 255); // incompressible, so the IDAT chunk is large
    std::vector<uchar> png;
    QVERIFY(cv::imencode(".png", noise, png));
    std::string bytes(png.begin(), png.end());
    QCOMPARE(bytes.substr(37, 4), std::string("IDAT")); // signature (8) and IHDR (25) come first
    const std::size_t iend = bytes.size() - 12;
    if (keep == -2)
        bytes.resize((33 + iend) / 2);
    else if (keep == -3)
        bytes.resize(iend);
    else if (keep >= 0)
        bytes.resize(std::size_t(keep));
    if (flip >= 0)
        bytes[41 + std::size_t(flip)] ^= 0x10;
    writeBytes(folder / "damaged.png", bytes);
    const auto m = decodeImageFile((folder / "damaged.png").string());
    QVERIFY(!m);
    const auto message = QString::fromStdString(m.error().message);
    const QString file = QString::fromStdString((folder / "damaged.png").string());
    QVERIFY2(message.startsWith(file + ": cannot decode the PNG image: ") && message.contains(fault)
                 && message.endsWith("copy or export it again from where it came from"),
             qPrintable(message));

    // Through the command line, among good images: skipped with that message, and no libpng line.
    for (int i = 0; i < 3; ++i)
        writeImage(folder / ("good" + std::to_string(i) + ".png"), cv::Mat(8, 8, CV_8UC1, cv::Scalar(40 * i)));
    const auto r = test::runCli({"embed", QString::fromStdString(folder.string()), "--encoder", "pca:1", "-o",
                                 tmp.filePath("e.npy")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.err.contains("skipped: " + message), qPrintable(r.err));
    QVERIFY2(!r.err.contains("libpng"), qPrintable(r.err));
}

void TestBadImages::hugeFileIsRefused()
{
    QTemporaryDir tmp;
    const fs::path path = fs::path(tmp.path().toStdString()) / "sparse.tif";
    writeBytes(path, "II*");
    fs::resize_file(path, std::uintmax_t(kMaxImageFileBytes) + 1); // sparse: no disk space, nothing read
    const auto m = decodeImageFile(path.string());
    QVERIFY(!m);
    QCOMPARE(QString::fromStdString(m.error().message),
             QString::fromStdString(path.string() + ": the file has 1073741825 bytes, more than the limit of "
                                    "1073741824 for one image; convert it to a smaller image first"));
}

void TestBadImages::fileNames()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    const cv::Mat img(6, 8, CV_8UC3, cv::Scalar(9, 8, 7));
    writeImage(root / "café_猫.png", img);
    writeImage(root / "ok.png", img);
    writeImage(root / "\xff\xfe.png", img);         // not UTF-8: skipped
    writeImage(root / "bad\xc3(dir" / "x.png", img); // folder not UTF-8: skipped
    writeImage(root / "ünï" / "y.png", img);

    const auto source = openImageSource(root.string());
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QStringList paths;
    for (std::size_t i = 0; i < s.size(); ++i)
        paths << QString::fromStdString(s.item(i).path);
    QCOMPARE(paths, (QStringList{"café_猫.png", "ok.png", "ünï/y.png"}));
    QVERIFY2(anyWarning(s, "\\xFF\\xFE.png: file name is not valid UTF-8; skipped (rename it)"),
             qPrintable(warningsOf(s).join('\n')));
    QVERIFY2(anyWarning(s, "bad\\xC3(dir: folder name is not valid UTF-8; skipped"), qPrintable(warningsOf(s).join('\n')));
    for (const auto& w : s.warnings())
        QVERIFY2(isValidUtf8(w), w.c_str());

    // Decode, items.csv and back: the unicode path round-trips byte for byte.
    const auto m = s.decode(0);
    QVERIFY2(m, m ? "" : m.error().message.c_str());
    QCOMPARE(m->size(), cv::Size(8, 6));
    std::vector<Item> items;
    for (std::size_t i = 0; i < s.size(); ++i)
        items.push_back(s.item(i));
    const std::string itemsCsv = (root / "items.csv").string();
    QVERIFY(writeItemsCsv(itemsCsv, items));
    const auto back = readItemsCsv(itemsCsv);
    QVERIFY2(back, back ? "" : back.error().message.c_str());
    QCOMPARE(back->size(), items.size());
    QCOMPARE((*back)[0].path, std::string("café_猫.png"));

    // The same names as image-folder classes: the unicode class is a label, the bad one is skipped.
    QTemporaryDir tmp2;
    const fs::path root2 = tmp2.path().toStdString();
    writeImage(root2 / "猫" / "a.png", img);
    writeImage(root2 / "\xff" / "b.png", img);
    const auto folder = openImageSource(root2.string());
    QVERIFY2(folder, folder ? "" : folder.error().message.c_str());
    QCOMPARE((*folder)->kind(), SourceKind::ImageFolder);
    QCOMPARE((*folder)->size(), std::size_t(1));
    QCOMPARE((*folder)->item(0).label, std::string("猫"));
    QVERIFY(anyWarning(**folder, "\\xFF: class folder name is not valid UTF-8; skipped"));
    // QTemporaryDir cannot remove names that are not valid in the locale's encoding.
    fs::remove_all(root);
    fs::remove_all(root2);
}

void TestBadImages::duplicates()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "a.png", cv::Mat(4, 4, CV_8UC1, cv::Scalar(5)));
    fs::copy_file(root / "a.png", root / "copy of a.png");
    fs::create_hard_link(root / "a.png", root / "hardlink.png");
    const auto source = openImageSource(root.string());
    QVERIFY(source);
    QCOMPARE((*source)->size(), std::size_t(3));
    for (std::size_t i = 0; i < 3; ++i) {
        const auto m = (*source)->decode(i);
        QVERIFY(m);
        QCOMPARE(int(m->at<uchar>(3, 3)), 5);
    }
}

void TestBadImages::notRegularFiles()
{
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeImage(root / "good.png", cv::Mat(4, 4, CV_8UC1, cv::Scalar(1)));
    QCOMPARE(::mkfifo((root / "pipe.png").c_str(), 0644), 0); // reading it would block forever
    fs::create_symlink(root / "nowhere.png", root / "gone.png");
    fs::create_directory(root / "folder.png");                  // a folder is scanned as a folder
    fs::create_symlink(root / "pipe.png", root / "link-to-pipe.jpg");

    const auto source = openImageSource(root.string());
    QVERIFY2(source, source ? "" : source.error().message.c_str());
    const ImageSource& s = **source;
    QCOMPARE(s.size(), std::size_t(1));
    QCOMPARE(s.item(0).path, std::string("good.png"));
    const QString w = warningsOf(s).join('\n');
    QVERIFY2(anyWarning(s, "pipe.png: is a FIFO (named pipe), not an image file; it is not read; skipped"), qPrintable(w));
    QVERIFY2(anyWarning(s, "link-to-pipe.jpg: is a FIFO"), qPrintable(w));
    QVERIFY2(anyWarning(s, "gone.png: broken symbolic link (its target is missing); skipped"), qPrintable(w));

    // Direct decodes (a CSV source can list any path): an error each, at once.
    const std::pair<const char*, const char*> cases[] = {
        {"pipe.png", "is a FIFO (named pipe), not an image file; it is not read"},
        {"gone.png", "broken symbolic link (its target is missing)"},
        {"folder.png", "is a folder, not an image file"},
        {"missing.png", "file not found"},
    };
    for (const auto& [name, reason] : cases) {
        const auto m = decodeImageFile((root / name).string());
        QVERIFY(!m);
        QCOMPARE(QString::fromStdString(m.error().message), QString::fromStdString((root / name).string() + ": " + reason));
    }
    test::writeFile(QString::fromStdString((root / "list.csv").string()), "path\npipe.png\ngood.png\n");
    const auto csv = openImageSource((root / "list.csv").string());
    QVERIFY(csv);
    QVERIFY(!(*csv)->decode(0));
    QVERIFY((*csv)->decode(1));

    // The other readers refuse a FIFO without opening it.
    QCOMPARE(::mkfifo((root / "pipe.csv").c_str(), 0644), 0);
    QCOMPARE(::mkfifo((root / "pipe.npy").c_str(), 0644), 0);
    const auto labels = readLabelsCsv((root / "pipe.csv").string(), 10);
    QVERIFY(!labels);
    QVERIFY2(contains(labels.error().message, "pipe.csv: not a regular file"), labels.error().message.c_str());
    const auto fromCsvSource = openImageSource((root / "pipe.csv").string(), SourceKind::Csv);
    QVERIFY(!fromCsvSource);
    const auto npy = readNpyMatrix((root / "pipe.npy").string());
    QVERIFY(!npy);
    QVERIFY2(contains(npy.error().message, "pipe.npy: not a regular file"), npy.error().message.c_str());
}

QTEST_GUILESS_MAIN(TestBadImages)
#include "tst_bad_images.moc"
