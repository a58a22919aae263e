// The weight-file readers (core/models/WeightsFile.h). tests/data/make_weight_files.py writes, with
// Debian's PyTorch (LABELPROP_TEST_PYTHON), checkpoints as real training code saves them and
// safetensors files written by hand, with the bytes PyTorch sees in each tensor; the readers must
// return the same names in the same order, shapes, dtypes and bytes. Every damaged or foreign
// file must give an error that names the file and the problem.

// LibTorch before Qt: Qt's `slots` and `signals` macros would break LibTorch's headers.
#include "core/models/ModelError.h"
#include "core/models/SafetensorsHeader.h"
#include "core/models/TorchPickle.h"
#include "core/models/WeightsFile.h"

#include "TestSupport.h"

#include <QFileInfo>
#include <QHash>
#include <QProcess>
#include <QTest>
#include <QtEndian>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <functional>

using namespace labelprop::models;
using labelprop::test::readFile;
using labelprop::test::writeFile;

namespace {

struct ExpectedTensor {
    std::string name;
    QString dtype;               // PyTorch's name: "float32", "bfloat16", ...
    std::vector<std::int64_t> shape;
    QByteArray bytes;            // contiguous, little-endian
};

torch::Dtype dtypeNamed(const QString& name)
{
    static const QHash<QString, torch::Dtype> kDtypes = {
        {"float32", torch::kFloat32}, {"float16", torch::kFloat16}, {"bfloat16", torch::kBFloat16},
        {"float64", torch::kFloat64}, {"int64", torch::kInt64},     {"int32", torch::kInt32},
        {"int16", torch::kInt16},     {"int8", torch::kInt8},       {"uint8", torch::kUInt8},
        {"bool", torch::kBool},
    };
    return kDtypes.value(name, torch::kComplexDouble);  // no file here has complex tensors
}

using Reader = std::function<StateDict(const std::string&)>;

Reader readerNamed(const QString& name)
{
    if (name == "safetensors")
        return readSafetensors;
    if (name == "checkpoint")
        return readTorchCheckpoint;
    return readWeights;
}

// The error `reader` gives for `path`, or "" when it reads the file.
QString errorOf(const Reader& reader, const QString& path)
{
    try {
        (void)reader(path.toStdString());
    } catch (const ModelError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

// "" when `reader` refuses `path` with an error that starts with the path and holds every one of
// `says`; else what is wrong.
QString checkRefused(const Reader& reader, const QString& path, const QStringList& says)
{
    const QString error = errorOf(reader, path);
    if (error.isEmpty())
        return path + " was read without an error";
    if (!error.startsWith(path + ": ") && !error.startsWith(path + " (data.pkl)"))
        return "the error does not start with the file's path: " + error;
    for (const QString& s : says)
        if (!error.contains(s))
            return "\"" + s + "\" is not in: " + error;
    return {};
}

} // namespace

class TestWeights : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void readsWhatPyTorchWrote_data();
    void readsWhatPyTorchWrote();
    void viewsAndSharedTensorsAreCopiedOut();
    void refusesDamagedAndForeignFiles_data();
    void refusesDamagedAndForeignFiles();
    void refusesTruncatedFiles_data();
    void refusesTruncatedFiles();
    void describesFilesThatAreNotWeights_data();
    void describesFilesThatAreNotWeights();
    void refusesPathsThatAreNotFiles();
    void replaysFuzzSeeds();

private:
    QString made(const QString& name) const { return m_dir.filePath(QStringLiteral("made/") + name); }
    void requirePython() const;

    QTemporaryDir m_dir;
    QString m_pythonProblem;  // why the Python-made files are missing, or ""
    QHash<QString, QList<ExpectedTensor>> m_expected;
};

void TestWeights::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QProcess p;
    p.start(QStringLiteral(LABELPROP_TEST_PYTHON),
            {QStringLiteral(LABELPROP_SOURCE_DIR "/tests/data/make_weight_files.py"), m_dir.filePath("made")});
    if (!p.waitForFinished(300000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        const QString err = QString::fromUtf8(p.readAllStandardError());
        // Only a missing PyTorch is a reason to skip; any other failure of the script is a failure.
        if (err.contains("No module named 'torch") || err.contains("No module named 'numpy'")) {
            m_pythonProblem = QStringLiteral(LABELPROP_TEST_PYTHON " lacks PyTorch/torchvision (install "
                                             "python3-torch python3-torchvision): ") + err.trimmed();
            return;
        }
        QFAIL(qPrintable("make_weight_files.py failed: " + err + p.errorString()));
    }
    const QList<QByteArray> lines = readFile(made("expected.tsv")).split('\n');
    QHash<QString, QByteArray> blobs;
    for (const QByteArray& line : lines) {
        if (line.isEmpty())
            continue;
        const QList<QByteArray> f = line.split('\t');
        QCOMPARE(f.size(), 6);
        const QString file = QString::fromUtf8(f[0]);
        if (!blobs.contains(file))
            blobs[file] = readFile(made(file + ".expected"));
        ExpectedTensor t;
        t.name = f[1].toStdString();
        t.dtype = QString::fromUtf8(f[2]);
        for (const QByteArray& d : f[3].split(','))
            if (!d.isEmpty())
                t.shape.push_back(d.toLongLong());
        t.bytes = blobs[file].mid(f[4].toLongLong(), f[5].toLongLong());
        QCOMPARE(t.bytes.size(), f[5].toLongLong());
        m_expected[file].append(t);
    }
}

void TestWeights::requirePython() const
{
    if (!m_pythonProblem.isEmpty())
        QSKIP(qPrintable(m_pythonProblem));
}

void TestWeights::readsWhatPyTorchWrote_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("reader");
    const auto row = [](const char* file, const char* reader = "auto") {
        QTest::newRow(file) << QString(file) << QString(reader);
    };
    row("vit_state_dict.pt");            // torch.save(model.state_dict()): an OrderedDict
    row("pytorch_model.bin");            // BatchNorm buffers: int64 scalars; named like Hugging Face's
    row("nested_model_args.pth");        // {"model": sd, "epoch": 3, "args": argparse.Namespace}
    row("state_dict_module.pt");         // {"state_dict": {"module.x": ...}}: "module." removed
    row("training_checkpoint.pt");       // {"epoch", "optimizer" (int keys, momentum tensors), "model"}
    row("tutorial_checkpoint.tar");      // the PyTorch tutorial's {"model_state_dict": ...}
    row("dino_checkpoint.pth");          // DINO: the teacher, not the DDP-wrapped student
    row("model_only.pth");               // {"model": sd} alone: sd's names, not "model.<name>"
    row("model_and_ema.pt");             // "model" before "model_ema"
    row("state_dict_before_model.pt");   // "state_dict" before "model"
    row("dtypes.pt");                    // fp16, bf16, f64, ints, bool, a scalar, an empty tensor
    row("views.pt");                     // slices, a transpose, a column, an element of one storage
    row("parameters_nested.pt");         // nn.Parameter, nested dicts flattened, one tensor twice
    row("protocol3.pt");                 // pickle_protocol=3
    row("protocol4.pt");                 // pickle_protocol=4: FRAME, MEMOIZE, STACK_GLOBAL, ...
    row("protocol5.pt");
    row("pytorch2_rebuilds.pt");         // PyTorch 2.x: _rebuild_from_type_v2, _rebuild_parameter_with_state
    row("saved_on_gpu.pt");              // location "cuda:0", zip written by Python's zipfile
    row("handmade.safetensors");         // every dtype, header in another order than the data, \u names
    row("vit.safetensors");
    row("unpadded_no_metadata.safetensors");
    row("small.pt");
    QTest::newRow("readTorchCheckpoint") << QString("small.pt") << QString("checkpoint");
    QTest::newRow("readSafetensors") << QString("vit.safetensors") << QString("safetensors");
}

void TestWeights::readsWhatPyTorchWrote()
{
    requirePython();
    QFETCH(QString, file);
    QFETCH(QString, reader);
    QVERIFY2(m_expected.contains(file), qPrintable(file + " is not in expected.tsv"));
    const QList<ExpectedTensor>& expected = m_expected[file];

    StateDict got;
    try {
        got = readerNamed(reader)(made(file).toStdString());
    } catch (const ModelError& e) {
        QFAIL(e.what());
    }
    QCOMPARE(got.size(), std::size_t(expected.size()));
    for (qsizetype k = 0; k < expected.size(); ++k) {
        const ExpectedTensor& want = expected[k];
        const NamedTensor& t = got[std::size_t(k)];
        const QByteArray where = QByteArray::fromStdString(file.toStdString() + ": " + want.name);
        QCOMPARE(QString::fromStdString(t.name), QString::fromStdString(want.name));
        QVERIFY2(t.value.dtype() == dtypeNamed(want.dtype),
                 (where + ": dtype " + QByteArray(t.value.dtype().name().data()) + ", expected " + want.dtype.toUtf8()).constData());
        QCOMPARE(t.value.sizes().vec(), want.shape);
        QVERIFY2(t.value.device().is_cpu(), where.constData());
        QVERIFY2(t.value.is_contiguous(), where.constData());
        // The tensor owns exactly its elements: no view into a larger storage survives.
        QCOMPARE(t.value.storage_offset(), 0);
        QCOMPARE(std::size_t(t.value.storage().nbytes()), t.value.nbytes());
        QCOMPARE(qsizetype(t.value.nbytes()), want.bytes.size());
        QVERIFY2(want.bytes.isEmpty() || std::memcmp(t.value.data_ptr(), want.bytes.constData(), std::size_t(want.bytes.size())) == 0,
                 (where + ": the bytes differ from PyTorch's").constData());
    }
}

void TestWeights::viewsAndSharedTensorsAreCopiedOut()
{
    requirePython();
    const StateDict views = readWeights(made("views.pt").toStdString());
    const NamedTensor* a = findTensor(views, "a");
    const NamedTensor* whole = findTensor(views, "whole");
    QVERIFY(a && whole);
    QVERIFY(a->value.storage().data() != whole->value.storage().data());
    whole->value.zero_();  // writing one must not change another
    QCOMPARE(a->value[0][0].item<float>(), 5.0f);

    const StateDict tied = readWeights(made("parameters_nested.pt").toStdString());
    const NamedTensor* t1 = findTensor(tied, "tied");
    const NamedTensor* t2 = findTensor(tied, "tied_again");
    QVERIFY(t1 && t2);
    QVERIFY(t1->value.storage().data() != t2->value.storage().data());
    QVERIFY(torch::equal(t1->value, t2->value));
}

void TestWeights::refusesDamagedAndForeignFiles_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("reader");
    QTest::addColumn<QStringList>("says");
    const auto row = [](const char* file, QStringList says, const char* reader = "auto") {
        QTest::newRow(file) << QString(file) << QString(reader) << says;
    };
    // safetensors headers
    row("bad_header_length_beyond_file.safetensors", {"header length", "says 1000000 bytes", "truncated"});
    row("bad_header_length_too_short.safetensors", {"header byte", "not valid JSON"});
    row("bad_overlap.safetensors", {"tensor \"b\" (data bytes [16, 32)) overlaps tensor \"a\" (data bytes [0, 24))"});
    row("bad_gap.safetensors", {"data bytes [24, 32) belong to no tensor", "before tensor \"b\""});
    row("bad_size_mismatch.safetensors", {"tensor \"a\"", "hold 24 bytes, but F32 x [2, 4] needs 32"});
    row("bad_end_before_begin.safetensors", {"tensor \"b\"", "[40, 24] end before they begin"});
    row("bad_offsets_past_end.safetensors", {"tensor \"b\"", "ends after the data, which has 30 bytes", "truncated"});
    row("bad_trailing_bytes.safetensors", {"8 bytes after the last tensor", "\"b\""});
    row("bad_unknown_dtype.safetensors", {"tensor \"a\"", "unknown dtype \"F7\""});
    row("bad_unsupported_dtype.safetensors", {"tensor \"b\"", "dtype U16", "convert"});
    row("bad_negative_shape.safetensors", {"tensor \"b\": shape[0] is -4, not a non-negative integer"});
    row("bad_float_offset.safetensors", {"tensor \"b\": data_offsets[0] is 24.0"});
    row("bad_missing_shape.safetensors", {"tensor \"a\"", "\"shape\" is null, not an array"});
    row("bad_metadata.safetensors", {"\"__metadata__\": \"epoch\" is a number, not a string"});
    row("bad_json_trailing_comma.safetensors", {"expected a quoted key, found '}'", "not valid JSON"});
    row("bad_json_duplicate_key.safetensors", {"the key \"a\" appears twice"});
    row("bad_json_control_char.safetensors", {"header byte 3", "control character"});
    row("bad_json_not_object.safetensors", {"tensor \"a\" is described by an array"});
    // zip archives and pickles
    row("bad_missing_storage.pt", {"tensor \"conv_proj.weight\"", "storage data/1 is missing"});
    row("bad_short_storage.pt", {"tensor \"class_token\"", "data/0 holds 12 bytes", "32 elements"});
    row("bad_protocol0_pickle.pt", {"(data.pkl) byte 2", "opcode 0x70 (PUT (protocol 0))"});
    row("bad_truncated_pickle.pt", {"(data.pkl) byte", "truncated"});
    row("bad_pickle_no_stop.pt", {"(data.pkl) byte", "without a STOP opcode"});
    row("bad_zip_without_data_pkl.pt", {"without data.pkl", "version, data/0"});
    row("bad_plain_zip.zip", {"zip archive", "not in a subdirectory: readme.txt"});
    row("bad_load_from_bytes.pt", {"(data.pkl) byte", "torch.storage._load_from_bytes"});
    row("bad_view_past_storage.pt", {"tensor \"w\"", "sizes [100]", "storage data/0 of 10 elements"});
    row("bad_no_state_dict.pt", {"no state dict", "\"epoch\" (an int)", "\"args\" (an object of class argparse.Namespace)",
                                 "\"optimizer\" (a dict of 2 entries)"});
    row("bad_model_not_tensors.pt", {"no state dict", "\"model.n_averaged\" is an int, not a tensor"});
    row("bad_duplicate_after_strip.pt", {"both \"module.x\" and \"x\""});
    row("bad_quantized.pt", {"\"q\" is a tensor of a kind Labelprop does not read", "_rebuild_qtensor"});
    row("bad_legacy_format.pt", {"legacy format", "PyTorch >= 1.6"});
    row("bad_torchscript.pt", {"TorchScript module", "torchscript:"});
    row("bad_plain_pickle.pkl", {"a Python pickle that torch.save did not write"});
    row("bad_numpy.npy", {"NumPy .npy array"});
    // a reader called directly on the other format
    QTest::newRow("readSafetensors on a checkpoint") << QString("small.pt") << QString("safetensors")
                                                     << QStringList{"header length", "truncated"};
    QTest::newRow("readTorchCheckpoint on safetensors") << QString("vit.safetensors") << QString("checkpoint")
                                                        << QStringList{"zip archive"};
}

void TestWeights::refusesDamagedAndForeignFiles()
{
    requirePython();
    QFETCH(QString, file);
    QFETCH(QString, reader);
    QFETCH(QStringList, says);
    QVERIFY2(QFileInfo::exists(made(file)), qPrintable(file + " was not written"));
    const QString problem = checkRefused(readerNamed(reader), made(file), says);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

void TestWeights::refusesTruncatedFiles_data()
{
    // cut: how many bytes of the file are kept: "N", "end-N", "half", or "header" (a safetensors
    // file's 8 + N header bytes, none of the data).
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("cut");
    QTest::addColumn<QString>("reader");
    QTest::addColumn<QStringList>("says");
    const QStringList zip = {"zip archive", "truncated"};
    for (const char* cut : {"4", "100", "half", "end-22", "end-10", "end-1"})
        QTest::newRow(qPrintable(QString("checkpoint, kept %1").arg(cut))) << "vit_state_dict.pt" << cut << "auto" << zip;
    QTest::newRow("checkpoint with optimizer, kept half") << "training_checkpoint.pt" << "half" << "auto" << zip;
    QTest::newRow("safetensors, kept 4") << "handmade.safetensors" << "4" << "safetensors"
                                         << QStringList{"4 bytes, too short for a safetensors file"};
    QTest::newRow("safetensors, kept 8") << "handmade.safetensors" << "8" << "safetensors"
                                         << QStringList{"the file has only 0 bytes after it", "truncated"};
    QTest::newRow("safetensors, kept 20") << "handmade.safetensors" << "20" << "auto"
                                          << QStringList{"the file has only 12 bytes after it", "truncated"};
    QTest::newRow("safetensors, header only") << "handmade.safetensors" << "header" << "auto"
                                              << QStringList{"tensor \"f32\"", "the data, which has 0 bytes", "truncated"};
    QTest::newRow("safetensors, kept half") << "vit.safetensors" << "half" << "auto"
                                            << QStringList{"ends after the data", "truncated"};
    QTest::newRow("safetensors, kept end-1") << "handmade.safetensors" << "end-1" << "auto"
                                             << QStringList{"ends after the data", "truncated"};
}

void TestWeights::refusesTruncatedFiles()
{
    requirePython();
    QFETCH(QString, file);
    QFETCH(QString, cut);
    QFETCH(QString, reader);
    QFETCH(QStringList, says);
    const QByteArray whole = readFile(made(file));
    qsizetype keep = 0;
    if (cut == "half")
        keep = whole.size() / 2;
    else if (cut == "header")
        keep = 8 + qsizetype(qFromLittleEndian<quint64>(whole.constData()));
    else if (cut.startsWith("end-"))
        keep = whole.size() - cut.mid(4).toLongLong();
    else
        keep = cut.toLongLong();
    QVERIFY(keep > 0 && keep < whole.size());
    const QString path = m_dir.filePath("cut-" + QString::number(keep) + "-" + file);
    writeFile(path, whole.left(keep));
    const QString problem = checkRefused(readerNamed(reader), path, says);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

void TestWeights::describesFilesThatAreNotWeights_data()
{
    // Made here, so these run without PyTorch in Python too.
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QStringList>("says");
    QTest::newRow("empty") << "empty.pt" << QByteArray() << QStringList{"empty (0 bytes)"};
    QTest::newRow("text") << "notes.pth" << QByteArray("epoch 3: loss 0.25\nepoch 4: loss 0.2\n")
                          << QStringList{"a text file", "\"epoch 3: loss 0.25 epoch 4: loss 0.2\""};
    QTest::newRow("git lfs pointer") << "model.safetensors"
                                     << QByteArray("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 343\n")
                                     << QStringList{"Git LFS pointer", "git lfs pull"};
    QTest::newRow("html page") << "model.pth" << QByteArray("<!DOCTYPE html>\n<html><head><title>vit</title>")
                               << QStringList{"an HTML page", "\"resolve\""};
    QTest::newRow("gzip") << "model.pt.gz" << QByteArray("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10)
                          << QStringList{"gzip-compressed"};
    QTest::newRow("hdf5") << "model.h5" << QByteArray("\x89HDF\r\n\x1a\n\0\0\0\0", 12) << QStringList{"HDF5"};
    QTest::newRow("empty zip") << "empty.zip" << QByteArray("PK\x05\x06", 4).append(18, '\0')
                               << QStringList{"empty zip archive"};
    QTest::newRow("binary") << "random.bin" << QByteArray("\x00\x01\x02\x03\xfe\xff\x10\x20\x30\x40", 10)
                            << QStringList{"neither a safetensors file", "00 01 02 03 fe ff 10 20"};
}

void TestWeights::describesFilesThatAreNotWeights()
{
    QFETCH(QString, name);
    QFETCH(QByteArray, content);
    QFETCH(QStringList, says);
    const QString path = m_dir.filePath(name);
    writeFile(path, content);
    const QString problem = checkRefused(readWeights, path, says);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

void TestWeights::refusesPathsThatAreNotFiles()
{
    const QString missing = m_dir.filePath("no-such.safetensors");
    const QString folder = m_dir.filePath("a-folder.pt");
    const QString fifo = m_dir.filePath("a-fifo.pt");
    QVERIFY(QDir().mkpath(folder));
    QCOMPARE(::mkfifo(fifo.toLocal8Bit().constData(), 0600), 0);
    for (const char* reader : {"auto", "safetensors", "checkpoint"}) {
        const Reader read = readerNamed(reader);
        QCOMPARE(errorOf(read, missing), missing + ": no such file; check the weights path");
        QVERIFY2(errorOf(read, folder).startsWith(folder + ": a folder, not a weights file"), reader);
        // A FIFO is refused before it is opened (opening it would block until a writer comes).
        QVERIFY2(errorOf(read, fifo).startsWith(fifo + ": not a regular file"), reader);
    }
}

// The seeds of fuzz_safetensors and fuzz_torch_pickle (tests/fuzz), through the same LibTorch-free
// halves of the readers, in this g++ build: each one parses or gives a ModelError naming it.
void TestWeights::replaysFuzzSeeds()
{
    namespace fs = std::filesystem;
    const fs::path corpus = fs::path(LABELPROP_SOURCE_DIR) / "tests/fuzz/corpus";
    int parsed = 0, refused = 0;
    for (const auto& entry : fs::directory_iterator(corpus / "safetensors")) {
        const std::string name = entry.path().filename().string();
        const QByteArray bytes = readFile(QString::fromStdString(entry.path().string()));
        const std::string_view file(bytes.constData(), std::size_t(bytes.size()));
        try {
            const std::uint64_t n = safetensorsHeaderLength(file.substr(0, 8), file.size(), name);
            const SafetensorsHeader h = parseSafetensorsHeader(file.substr(8, std::size_t(n)), file.size(), name);
            QVERIFY2(!h.tensors.empty(), name.c_str());
            ++parsed;
        } catch (const ModelError& e) {
            QVERIFY2(std::string(e.what()).rfind(name + ": ", 0) == 0, e.what());
            ++refused;
        }
    }
    for (const auto& entry : fs::directory_iterator(corpus / "torch_pickle")) {
        const std::string name = entry.path().filename().string();
        const QByteArray bytes = readFile(QString::fromStdString(entry.path().string()));
        try {
            const PickleDocument doc = PickleDocument::parse(std::string_view(bytes.constData(), std::size_t(bytes.size())), name);
            QVERIFY2(!findStateDict(doc.root(), name).tensors.empty(), name.c_str());
            ++parsed;
        } catch (const ModelError& e) {
            QVERIFY2(std::string(e.what()).rfind(name, 0) == 0, e.what());
            ++refused;
        }
    }
    // The seeds hold both kinds (tests/fuzz/corpus/*/bad_* are refused).
    QVERIFY(parsed >= 10);
    QVERIFY(refused >= 7);
}

QTEST_GUILESS_MAIN(TestWeights)
#include "tst_weights.moc"
