// CSV parsing and writing, the labels file, the class index and the items table.

#include "core/formats/Csv.h"

#include "TestSupport.h"

#include <QTest>

#include <filesystem>

using namespace labelprop;
using labelprop::test::readFile;
using labelprop::test::writeFile;

using Rows = QList<QStringList>;

namespace {

Rows toRows(const std::vector<CsvRecord>& records)
{
    Rows rows;
    for (const auto& r : records) {
        QStringList fields;
        for (const auto& f : r.fields)
            fields << QString::fromStdString(f);
        rows << fields;
    }
    return rows;
}

QList<int> toLines(const std::vector<CsvRecord>& records)
{
    QList<int> lines;
    for (const auto& r : records)
        lines << r.line;
    return lines;
}

} // namespace

class TestCsv : public QObject {
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
    void parseErrors_data();
    void parseErrors();
    void utf8_data();
    void utf8();
    void fieldQuotingRoundTrip_data();
    void fieldQuotingRoundTrip();

    void labelsGood();
    void labelsErrors_data();
    void labelsErrors();
    void labelsMissingFile();

    void classIndexOrder_data();
    void classIndexOrder();
    void classIndexLookup();

    void itemsRoundTrip();
    void itemsErrors_data();
    void itemsErrors();
};

void TestCsv::parse_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<Rows>("rows");
    QTest::addColumn<QList<int>>("lines");
    QTest::newRow("plain") << QByteArray("a,b\n1,2\n") << Rows{{"a", "b"}, {"1", "2"}} << QList<int>{1, 2};
    QTest::newRow("no final newline") << QByteArray("a,b\n1,2") << Rows{{"a", "b"}, {"1", "2"}} << QList<int>{1, 2};
    QTest::newRow("CRLF") << QByteArray("a,b\r\n1,2\r\n") << Rows{{"a", "b"}, {"1", "2"}} << QList<int>{1, 2};
    QTest::newRow("BOM") << QByteArray("\xEF\xBB\xBFindex,label\n") << Rows{{"index", "label"}} << QList<int>{1};
    QTest::newRow("quoted comma") << QByteArray("\"a,b\",c\n") << Rows{{"a,b", "c"}} << QList<int>{1};
    QTest::newRow("doubled quotes") << QByteArray("\"say \"\"hi\"\"\",x\n") << Rows{{"say \"hi\"", "x"}} << QList<int>{1};
    QTest::newRow("quoted line break keeps line numbers")
        << QByteArray("h\n\"two\nlines\"\nnext\n") << Rows{{"h"}, {"two\nlines"}, {"next"}} << QList<int>{1, 2, 4};
    QTest::newRow("blank lines skipped") << QByteArray("a\n\n\r\nb\n") << Rows{{"a"}, {"b"}} << QList<int>{1, 4};
    QTest::newRow("empty fields") << QByteArray("a,,\n,b,\n") << Rows{{"a", "", ""}, {"", "b", ""}} << QList<int>{1, 2};
    QTest::newRow("quoted empty field is a record") << QByteArray("\"\"\n") << Rows{{""}} << QList<int>{1};
    QTest::newRow("utf-8") << QByteArray("chat,caf\xC3\xA9\n") << Rows{{"chat", QString::fromUtf8("caf\xC3\xA9")}}
                           << QList<int>{1};
    QTest::newRow("empty") << QByteArray() << Rows{} << QList<int>{};
}

void TestCsv::parse()
{
    QFETCH(QByteArray, text);
    QFETCH(Rows, rows);
    QFETCH(QList<int>, lines);
    const auto records = parseCsv(std::string_view(text.constData(), std::size_t(text.size())), "t.csv");
    QVERIFY2(records, records ? "" : records.error().message.c_str());
    QCOMPARE(toRows(*records), rows);
    QCOMPARE(toLines(*records), lines);
}

void TestCsv::parseErrors_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("unterminated quote") << QByteArray("a\nb\n\"open,x\nmore\n") << "t.csv:3: a quoted field is never closed";
    QTest::newRow("text after closing quote") << QByteArray("a\n\"x\"y,z\n") << "t.csv:2: unexpected text after a closing quote";
    QTest::newRow("bare quote") << QByteArray("a\nb\nab\"c\n") << "t.csv:3: a quote inside an unquoted field";
    QTest::newRow("invalid utf-8") << QByteArray("a\nb\n\xff\xfe,x\n") << "t.csv:3: text is not valid UTF-8";
    QTest::newRow("invalid utf-8 after quoted break") << QByteArray("\"a\nb\",c\nd\xC3\n") << "t.csv:3: text is not valid UTF-8";
}

void TestCsv::parseErrors()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, expected);
    const auto records = parseCsv(std::string_view(text.constData(), std::size_t(text.size())), "t.csv");
    QVERIFY(!records);
    QVERIFY2(QString::fromStdString(records.error().message).startsWith(expected), records.error().message.c_str());
}

void TestCsv::utf8_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("valid");
    QTest::newRow("ascii") << QByteArray("hello") << true;
    QTest::newRow("2-byte") << QByteArray("\xC3\xA9") << true;
    QTest::newRow("3-byte") << QByteArray("\xE2\x82\xAC") << true;
    QTest::newRow("4-byte") << QByteArray("\xF0\x9F\x98\x80") << true;
    QTest::newRow("max code point") << QByteArray("\xF4\x8F\xBF\xBF") << true;
    QTest::newRow("latin-1") << QByteArray("caf\xE9") << false;
    QTest::newRow("overlong slash") << QByteArray("\xC0\xAF") << false;
    QTest::newRow("overlong 3-byte") << QByteArray("\xE0\x80\xAF") << false;
    QTest::newRow("surrogate") << QByteArray("\xED\xA0\x80") << false;
    QTest::newRow("past U+10FFFF") << QByteArray("\xF4\x90\x80\x80") << false;
    QTest::newRow("truncated") << QByteArray("\xE2\x82") << false;
    QTest::newRow("lone continuation") << QByteArray("\x80") << false;
}

void TestCsv::utf8()
{
    QFETCH(QByteArray, text);
    QFETCH(bool, valid);
    QCOMPARE(isValidUtf8(std::string_view(text.constData(), std::size_t(text.size()))), valid);
}

void TestCsv::fieldQuotingRoundTrip_data()
{
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("written");
    QTest::newRow("plain") << "cat" << "cat";
    QTest::newRow("empty") << "" << "";
    QTest::newRow("comma") << "a,b" << "\"a,b\"";
    QTest::newRow("quote") << "say \"hi\"" << "\"say \"\"hi\"\"\"";
    QTest::newRow("newline") << "a\nb" << "\"a\nb\"";
    QTest::newRow("carriage return") << "a\rb" << "\"a\rb\"";
    QTest::newRow("leading space") << " x" << "\" x\"";
    QTest::newRow("unicode") << QString::fromUtf8("\xE7\x8C\xAB/\xF0\x9F\x90\x88.png")
                             << QString::fromUtf8("\xE7\x8C\xAB/\xF0\x9F\x90\x88.png");
}

void TestCsv::fieldQuotingRoundTrip()
{
    QFETCH(QString, field);
    QFETCH(QString, written);
    const std::string f = field.toStdString();
    QCOMPARE(QString::fromStdString(csvField(f)), written);
    const std::string line = csvLine({std::string_view(f), std::string_view("next")});
    const auto parsed = parseCsv(line, "t.csv");
    QVERIFY2(parsed, parsed ? "" : parsed.error().message.c_str());
    QCOMPARE(parsed->size(), std::size_t(1));
    QCOMPARE(parsed->front().fields, (std::vector<std::string>{f, "next"}));
}

void TestCsv::labelsGood()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("labels.csv"));
    writeFile(path, "\xEF\xBB\xBFindex,label\r\n3,cat\r\n0,\"dog, large\"\r\n\r\n 7 ,caf\xC3\xA9\r\n");
    const auto labels = readLabelsCsv(path.toStdString(), 10);
    QVERIFY2(labels, labels ? "" : labels.error().message.c_str());
    QCOMPARE(labels->size(), std::size_t(3));
    QCOMPARE((*labels)[0].index, 3);
    QCOMPARE((*labels)[0].label, std::string("cat"));
    QCOMPARE((*labels)[0].line, 2);
    QCOMPARE((*labels)[1].index, 0);
    QCOMPARE((*labels)[1].label, std::string("dog, large"));
    QCOMPARE((*labels)[1].line, 3);
    QCOMPARE((*labels)[2].index, 7);
    QCOMPARE((*labels)[2].label, std::string("caf\xC3\xA9"));
    QCOMPARE((*labels)[2].line, 5);
}

void TestCsv::labelsErrors_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("expected"); // after "<path>"
    QTest::newRow("empty file") << QByteArray() << ": no labels: the file is empty";
    QTest::newRow("only blank lines") << QByteArray("\n\n") << ": no labels: the file is empty";
    QTest::newRow("header only") << QByteArray("index,label\n") << ": no labels: the file has only the header line";
    QTest::newRow("bad header") << QByteArray("idx,lab\n0,a\n") << ":1: the header is 'idx,lab'; expected exactly 'index,label'";
    QTest::newRow("header with extra column") << QByteArray("index,label,score\n") << ":1: the header is 'index,label,score'";
    QTest::newRow("unknown index") << QByteArray("index,label\n0,a\n50,b\n")
                                   << ":3: index 50 is out of range: there are 50 items, so valid indices are 0 to 49";
    QTest::newRow("negative index") << QByteArray("index,label\n-1,a\n") << ":2: index -1 is out of range";
    QTest::newRow("not an integer") << QByteArray("index,label\n1.5,a\n") << ":2: index '1.5' is not an integer";
    QTest::newRow("empty index") << QByteArray("index,label\n,a\n") << ":2: index '' is not an integer";
    QTest::newRow("duplicate index") << QByteArray("index,label\n4,a\n5,b\n4,c\n") << ":4: index 4 appears again (first on line 2)";
    QTest::newRow("duplicate after multi-line label")
        << QByteArray("index,label\n4,\"a\nb\"\n4,c\n") << ":4: index 4 appears again (first on line 2)";
    QTest::newRow("non-UTF-8") << QByteArray("index,label\n1,a\n2,caf\xE9\n") << ":3: text is not valid UTF-8";
    QTest::newRow("extra column") << QByteArray("index,label\n1,a,b\n") << ":2: expected 2 fields 'index,label', found 3";
    QTest::newRow("missing column") << QByteArray("index,label\n1,a\n2\n") << ":3: expected 2 fields 'index,label', found 1";
    QTest::newRow("empty label") << QByteArray("index,label\n1,\n") << ":2: empty label for index 1";
    QTest::newRow("unclosed quote") << QByteArray("index,label\n1,\"cat\n2,dog\n") << ":2: a quoted field is never closed";
}

void TestCsv::labelsErrors()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("labels.csv"));
    writeFile(path, text);
    const auto labels = readLabelsCsv(path.toStdString(), 50);
    QVERIFY(!labels);
    const QString message = QString::fromStdString(labels.error().message);
    QVERIFY2(message.startsWith(path + expected), qPrintable(message));
    QVERIFY2(!message.contains('\n'), qPrintable(message));
}

void TestCsv::labelsMissingFile()
{
    QTemporaryDir dir;
    const auto folder = readLabelsCsv(dir.path().toStdString(), 10);
    QVERIFY(!folder);
    QCOMPARE(QString::fromStdString(folder.error().message), dir.path() + ": is a folder, not a CSV file; pass the file itself");
    const auto labels = readLabelsCsv("/nonexistent/labels.csv", 10);
    QVERIFY(!labels);
    QVERIFY2(labels.error().message.starts_with("/nonexistent/labels.csv: cannot open (No such file or directory)"),
             labels.error().message.c_str());
}

void TestCsv::classIndexOrder_data()
{
    QTest::addColumn<QStringList>("input");
    QTest::addColumn<QStringList>("sorted");
    QTest::newRow("integers sort numerically") << QStringList{"10", "2", "1", "2", "0"} << QStringList{"0", "1", "2", "10"};
    QTest::newRow("negative integers") << QStringList{"3", "-1", "-10"} << QStringList{"-10", "-1", "3"};
    QTest::newRow("equal values keep byte order") << QStringList{"1", "01", "2"} << QStringList{"01", "1", "2"};
    QTest::newRow("words sort by bytes") << QStringList{"dog", "cat", "Zebra", "ant"} << QStringList{"Zebra", "ant", "cat", "dog"};
    QTest::newRow("mixed sorts by bytes") << QStringList{"10", "2", "a"} << QStringList{"10", "2", "a"};
    QTest::newRow("empty names dropped") << QStringList{"", "b", "", "a"} << QStringList{"a", "b"};
    QTest::newRow("none") << QStringList{} << QStringList{};
}

void TestCsv::classIndexOrder()
{
    QFETCH(QStringList, input);
    QFETCH(QStringList, sorted);
    std::vector<std::string> names;
    for (const auto& s : input)
        names.push_back(s.toStdString());
    const ClassIndex classes = ClassIndex::fromNames(names);
    QStringList got;
    for (const auto& n : classes.names())
        got << QString::fromStdString(n);
    QCOMPARE(got, sorted);
    QCOMPARE(classes.size(), int(sorted.size()));
    for (int i = 0; i < classes.size(); ++i) {
        QCOMPARE(classes.id(classes.name(i)), i);
        QCOMPARE(QString::fromStdString(classes.name(i)), sorted[i]);
    }
    // Same set in another order: same index.
    std::reverse(names.begin(), names.end());
    QCOMPARE(ClassIndex::fromNames(names).names(), classes.names());
}

void TestCsv::classIndexLookup()
{
    const ClassIndex ordered = ClassIndex::fromOrderedNames({"zebra", "ant", "zebra", "", "moth"});
    QCOMPARE(ordered.names(), (std::vector<std::string>{"zebra", "ant", "moth"}));
    QCOMPARE(ordered.id("zebra"), 0);
    QCOMPARE(ordered.id("moth"), 2);
    QCOMPARE(ordered.id("bee"), -1);
    QCOMPARE(ordered.id(""), -1);
    QVERIFY_THROWS_EXCEPTION(std::out_of_range, (void)ordered.name(3));
    QVERIFY_THROWS_EXCEPTION(std::out_of_range, (void)ordered.name(-1));
    const ClassIndex empty;
    QCOMPARE(empty.size(), 0);
    QCOMPARE(empty.id("x"), -1);
}

void TestCsv::itemsRoundTrip()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath("items.csv").toStdString();
    const std::vector<Item> items = {
        {"a.png", "cat"},
        {"sub dir/b,c.jpg", ""},
        {"quote\"d.png", "dog, large"},
        {"multi\nline.png", "x"},
        {"\xE7\x8C\xAB.png", "\xE7\x8C\xAB"},
    };
    const auto written = writeItemsCsv(path, items);
    QVERIFY2(written, written ? "" : written.error().message.c_str());
    QVERIFY(!std::filesystem::exists(path + ".tmp"));
    const QByteArray text = readFile(QString::fromStdString(path));
    QVERIFY(text.startsWith("index,path,label\n0,a.png,cat\n1,\"sub dir/b,c.jpg\",\n"));
    const auto back = readItemsCsv(path);
    QVERIFY2(back, back ? "" : back.error().message.c_str());
    QVERIFY(*back == items);

    QVERIFY(writeItemsCsv(path, {}));
    const auto none = readItemsCsv(path);
    QVERIFY(none);
    QVERIFY(none->empty());
}

void TestCsv::itemsErrors_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("empty") << QByteArray() << ": the file is empty";
    QTest::newRow("bad header") << QByteArray("path,label\n") << ":1: the header is 'path,label'; expected exactly 'index,path,label'";
    QTest::newRow("index out of order") << QByteArray("index,path,label\n0,a.png,\n2,b.png,\n") << ":3: index '2' should be 1";
    QTest::newRow("missing field") << QByteArray("index,path,label\n0,a.png\n") << ":2: expected 3 fields";
    QTest::newRow("empty path") << QByteArray("index,path,label\n0,,cat\n") << ":2: empty path for item 0";
}

void TestCsv::itemsErrors()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("items.csv"));
    writeFile(path, text);
    const auto items = readItemsCsv(path.toStdString());
    QVERIFY(!items);
    QVERIFY2(QString::fromStdString(items.error().message).startsWith(path + expected), items.error().message.c_str());
}

QTEST_GUILESS_MAIN(TestCsv)
#include "tst_csv.moc"
