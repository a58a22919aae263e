// The native ViT (core/models) against torchvision: tests/data/make_vit_reference.py builds
// torchvision VisionTransformers with seeded random weights, saves them in torchvision's and in
// timm's names with the inputs and torchvision's features, and this test reads those files as a
// user's (readWeights: torch.save(OrderedDict) and safetensors), runs the native ViT and compares
// (max abs difference <= 1e-4 in fp32). Also: configuration read from the shapes, position-embedding interpolation
// against timm's algorithm, DeiT's distillation token, options, bf16, and every kind of bad file.
// The timm and DINOv2 variants (layer scale, fc_norm, register tokens, no_embed_class, DINOv2's
// layout at patch 14) are compared the same way against the script's plain-torch forward passes of
// timm's and DINOv2's models (there is no timm here), at their own size and resampled.
// Skipped with a message when /usr/bin/python3 has no torch or torchvision.

// LibTorch before Qt: Qt's keyword macros (slots, signals, emit) must not reach LibTorch's headers.
#include "core/models/ModelError.h"
#include "core/models/StateDict.h"
#include "core/models/ViTWeights.h"
#include "core/models/VisionTransformer.h"
#include "core/models/WeightsFile.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "TestSupport.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>

using namespace labelprop::models;

Q_DECLARE_METATYPE(labelprop::models::ViTPositionSlots)

namespace {

constexpr double kTolerance = 1e-4; // fp32 max abs difference against torchvision

// A state dict as Labelprop reads users' files: torch.save(OrderedDict) or safetensors.
StateDict loadDict(const QString& path)
{
    return readWeights(path.toStdString());
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b)
{
    return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

// The ModelError message of loading `dict`, or "" when it loads.
QString loadError(const StateDict& dict, const ViTLoadOptions& options = {})
{
    try {
        (void)loadViT(dict, "test.pt", options);
    } catch (const ModelError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

StateDict without(StateDict dict, const std::string& name)
{
    dict.erase(std::remove_if(dict.begin(), dict.end(), [&](const NamedTensor& t) { return t.name == name; }),
               dict.end());
    return dict;
}

StateDict replaced(StateDict dict, const std::string& name, torch::Tensor value)
{
    for (NamedTensor& t : dict)
        if (t.name == name)
            t.value = value;
    return dict;
}

StateDict withPrefix(const StateDict& dict, const std::string& prefix)
{
    StateDict out;
    for (const NamedTensor& t : dict)
        out.push_back({prefix + t.name, t.value});
    return out;
}

std::vector<std::string> names(const std::vector<std::string>& v)
{
    std::vector<std::string> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
}

} // namespace

class TestViT : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void presets();
    void parity_data();
    void parity();
    void inferredConfig_data();
    void inferredConfig();
    void interpolation_data();
    void interpolation();
    void distillationToken();
    void variants_data();
    void variants();
    void variantInterpolation_data();
    void variantInterpolation();
    void variantRoundTrip();
    void unsupportedAtLoad();
    void prefixAndLegacyNames();
    void optionsOverride();
    void ownWeightsRoundTrip();
    void bfloat16();
    void badWeights_data();
    void badWeights();
    void badInput();

private:
    QString file(const QString& name) const { return m_dir.filePath(name); }
    StateDict dict(const QString& name) const { return loadDict(file(name)); }
    torch::Tensor reference(const QString& caseName, const char* key) const
    {
        for (const NamedTensor& t : dict(caseName + QStringLiteral("_reference.pt")))
            if (t.name == key)
                return t.value;
        qFatal("no %s in the %s reference", key, qPrintable(caseName));
    }
    // Loads `weights` with `options` once per pooling the case's reference has (cls only where
    // the model has a class token) and compares the features of the reference's `prefix`input
    // with its `prefix`cls / `prefix`mean (prefix "" or "interp_"). Returns what differs by more
    // than kTolerance, "" when nothing does.
    QString referenceMismatch(const StateDict& weights, const QString& caseName, const std::string& prefix,
                              ViTLoadOptions options) const
    {
        const StateDict ref = dict(caseName + QStringLiteral("_reference.pt"));
        QString failures;
        for (const bool mean : {false, true}) {
            const std::string key = prefix + (mean ? "mean" : "cls");
            const NamedTensor* expected = findTensor(ref, key);
            if (!expected)
                continue;
            options.pooling = mean ? ViTPooling::MeanPatchTokens : ViTPooling::ClassToken;
            const LoadedViT vit = loadViT(weights, "ref.pt", options);
            const torch::Tensor features = vit.model->forward(findTensor(ref, prefix + "input")->value);
            const double diff =
                features.sizes() == expected->value.sizes() ? maxAbsDiff(features, expected->value) : INFINITY;
            qInfo("%s: max abs difference %.3g", key.c_str(), diff);
            if (!(diff <= kTolerance))
                failures += QStringLiteral("%1: max abs difference %2; ").arg(QString::fromStdString(key)).arg(diff);
        }
        return failures;
    }

    QTemporaryDir m_dir;
};

void TestViT::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QProcess p;
    p.start(QStringLiteral(LABELPROP_TEST_PYTHON),
            {QStringLiteral(LABELPROP_SOURCE_DIR "/tests/data/make_vit_reference.py"), m_dir.path()});
    QVERIFY2(p.waitForFinished(300000), "make_vit_reference.py did not finish within 5 minutes");
    const QString err = QString::fromUtf8(p.readAllStandardError());
    if (p.exitStatus() == QProcess::NormalExit && p.exitCode() == 3)
        QSKIP(qPrintable(QStringLiteral("no reference: ") + err.trimmed()
                         + QStringLiteral(" (install python3-torch and python3-torchvision)")));
    QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
             qPrintable(QStringLiteral("make_vit_reference.py failed: ") + err));
}

void TestViT::presets()
{
    const ViTConfig tiny = vitPreset("tiny");
    QCOMPARE(tiny.width, 192);
    QCOMPARE(tiny.heads, 3);
    QCOMPARE(tiny.depth, 12);
    QCOMPARE(tiny.mlpWidth, 768);
    QCOMPARE(tiny.gridSize(), 14);
    const ViTConfig small = vitPreset("small", 4, 32);
    QCOMPARE(small.width, 384);
    QCOMPARE(small.heads, 6);
    QCOMPARE(small.gridSize(), 8);
    const ViTConfig base = vitPreset("base", 8);
    QCOMPARE(base.width, 768);
    QCOMPARE(base.heads, 12);
    QCOMPARE(base.gridSize(), 28);
    QCOMPARE(base.layerNormEps, 1e-6);

    // A module of a preset has timm's parameter names and the preset's sizes.
    const VisionTransformer model(vitPreset("tiny", 4, 32));
    const auto params = model->named_parameters();
    QVERIFY(params.contains("cls_token"));
    QVERIFY(params.contains("patch_embed.proj.weight"));
    QVERIFY(params.contains("blocks.11.attn.qkv.weight"));
    QVERIFY(params.contains("blocks.11.mlp.fc2.bias"));
    QVERIFY(params.contains("norm.weight"));
    QCOMPARE(params["pos_embed"].sizes(), (torch::IntArrayRef{1, 65, 192}));
    QCOMPARE(params["blocks.0.attn.qkv.weight"].sizes(), (torch::IntArrayRef{576, 192}));

    for (const auto& [arch, patch, size, expected] :
         {std::tuple{"huge", 16, 224, "unknown"}, std::tuple{"tiny", 16, 100, "not a multiple of the patch size 16"}}) {
        try {
            (void)vitPreset(arch, patch, size);
            QFAIL("no error");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }
}

void TestViT::parity_data()
{
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<QString>("naming");
    QTest::addColumn<bool>("meanPooling");
    QTest::addColumn<QString>("format");
    for (const char* c : {"ti16", "s4", "b8"})
        for (const char* naming : {"torchvision", "timm"})
            for (const char* format : {"pt", "safetensors"})
                for (const bool mean : {false, true})
                    QTest::addRow("%s %s %s %s", c, naming, format, mean ? "mean" : "cls")
                        << QString(c) << QString(naming) << mean << QString(format);
}

void TestViT::parity()
{
    QFETCH(QString, caseName);
    QFETCH(QString, naming);
    QFETCH(bool, meanPooling);
    QFETCH(QString, format);
    torch::InferenceMode inference;
    ViTLoadOptions options;
    options.pooling = meanPooling ? ViTPooling::MeanPatchTokens : ViTPooling::ClassToken;
    const LoadedViT vit = loadViT(dict(caseName + "_" + naming + "." + format), "ref." + format.toStdString(), options);
    const bool timm = naming == "timm";
    QCOMPARE(vit.report.layout.naming, timm ? ViTNaming::Timm : ViTNaming::Torchvision);
    QCOMPARE(vit.report.layout.prefix, std::string());
    // The classifier head is left out, and said so.
    QCOMPARE(names(vit.report.ignoredKeys),
             timm ? (std::vector<std::string>{"head.bias", "head.weight"})
                  : (std::vector<std::string>{"heads.head.bias", "heads.head.weight"}));

    const torch::Tensor features = vit.model->forward(reference(caseName, "input"));
    const torch::Tensor expected = reference(caseName, meanPooling ? "mean" : "cls");
    QCOMPARE(features.sizes(), expected.sizes());
    QCOMPARE(features.scalar_type(), torch::kFloat);
    const double diff = maxAbsDiff(features, expected);
    qInfo("max abs difference %.3g", diff);
    QVERIFY2(diff <= kTolerance, qPrintable(QStringLiteral("max abs difference %1").arg(diff)));
    // L2-normalised rows.
    QVERIFY(maxAbsDiff(features.norm(2, 1), torch::ones({features.size(0)})) < 1e-5);
}

void TestViT::inferredConfig_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<int>("imageSize");
    QTest::addColumn<int>("patch");
    QTest::addColumn<int>("width");
    QTest::addColumn<int>("depth");
    QTest::addColumn<int>("heads");
    QTest::addColumn<int>("mlp");
    for (const char* naming : {"torchvision", "timm"}) {
        QTest::addRow("ti16 %s", naming) << QString("ti16_%1.pt").arg(naming) << 224 << 16 << 192 << 3 << 3 << 768;
        QTest::addRow("s4 %s", naming) << QString("s4_%1.pt").arg(naming) << 32 << 4 << 384 << 2 << 6 << 1536;
        QTest::addRow("b8 %s", naming) << QString("b8_%1.pt").arg(naming) << 64 << 8 << 768 << 1 << 12 << 3072;
    }
}

void TestViT::inferredConfig()
{
    QFETCH(QString, fileName);
    QFETCH(int, imageSize);
    QFETCH(int, patch);
    QFETCH(int, width);
    QFETCH(int, depth);
    QFETCH(int, heads);
    QFETCH(int, mlp);
    const StateDict weights = dict(fileName);
    const ViTConfig c = inferViTConfig(weights, detectViTLayout(weights, "ref.pt"), "ref.pt");
    QCOMPARE(c.imageSize, imageSize);
    QCOMPARE(c.patchSize, patch);
    QCOMPARE(c.width, width);
    QCOMPARE(c.depth, depth);
    QCOMPARE(c.heads, heads);
    QCOMPARE(c.mlpWidth, mlp);
    QCOMPARE(c.channels, 3);
    QVERIFY(c.classToken);
    QVERIFY(!c.distillationToken);
    QVERIFY(c.qkvBias);
    QCOMPARE(c.layerNormEps, 1e-6);
    QCOMPARE(c.pooling, ViTPooling::ClassToken);
}

void TestViT::interpolation_data()
{
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<bool>("atLoad");
    // ti16: 224 -> 160 px (grid 14 -> 10, antialiased shrink); s4: 32 -> 40 x 48 px (8 -> 10 x 12,
    // not square, so only at run time); b8: 64 -> 48 px (8 -> 6).
    QTest::addRow("ti16 at run time") << "ti16" << false;
    QTest::addRow("ti16 at load") << "ti16" << true;
    QTest::addRow("s4 at run time, not square") << "s4" << false;
    QTest::addRow("b8 at run time") << "b8" << false;
    QTest::addRow("b8 at load") << "b8" << true;
}

void TestViT::interpolation()
{
    QFETCH(QString, caseName);
    QFETCH(bool, atLoad);
    torch::InferenceMode inference;
    const torch::Tensor input = reference(caseName, "interp_input");
    ViTLoadOptions options;
    if (atLoad)
        options.imageSize = input.size(2);
    for (const bool mean : {false, true}) {
        options.pooling = mean ? ViTPooling::MeanPatchTokens : ViTPooling::ClassToken;
        const LoadedViT vit = loadViT(dict(caseName + "_timm.pt"), "ref.pt", options);
        if (atLoad) {
            QCOMPARE(vit.model->config().imageSize, input.size(2));
            const int64_t grid = input.size(2) / vit.model->config().patchSize;
            QCOMPARE(vit.model->named_parameters()["pos_embed"].size(1), 1 + grid * grid);
        }
        const double diff = maxAbsDiff(vit.model->forward(input), reference(caseName, mean ? "interp_mean" : "interp_cls"));
        QVERIFY2(diff <= kTolerance, qPrintable(QStringLiteral("%1: max abs difference %2").arg(mean ? "mean" : "cls").arg(diff)));
    }
    // The resampling itself: the prefix slot is kept, an unchanged grid is returned as is.
    const torch::Tensor pos = torch::randn({1, 1 + 16, 8});
    const torch::Tensor grown = resamplePositionEmbedding(pos, 1, 5, 6);
    QCOMPARE(grown.sizes(), (torch::IntArrayRef{1, 31, 8}));
    QVERIFY(torch::equal(grown.narrow(1, 0, 1), pos.narrow(1, 0, 1)));
    QVERIFY(resamplePositionEmbedding(pos, 1, 4, 4).is_same(pos));
}

void TestViT::distillationToken()
{
    torch::InferenceMode inference;
    const StateDict weights = dict("s4_deit_timm.pt");
    const StateDict ref = dict("s4_deit_reference.pt");
    for (const bool mean : {false, true}) {
        ViTLoadOptions options;
        options.pooling = mean ? ViTPooling::MeanPatchTokens : ViTPooling::ClassToken;
        const LoadedViT vit = loadViT(weights, "deit.pt", options);
        QVERIFY(vit.model->config().distillationToken);
        QCOMPARE(vit.model->config().prefixTokens(), 2);
        QCOMPARE(names(vit.report.ignoredKeys),
                 (std::vector<std::string>{"head.bias", "head.weight", "head_dist.bias", "head_dist.weight"}));
        const double diff = maxAbsDiff(vit.model->forward(findTensor(ref, "input")->value),
                                       findTensor(ref, mean ? "mean" : "cls")->value);
        QVERIFY2(diff <= kTolerance, qPrintable(QStringLiteral("max abs difference %1").arg(diff)));
    }
}

void TestViT::variants_data()
{
    QTest::addColumn<QString>("caseName"); // the reference: CASE_reference.pt (make_vit_reference.py's VARIANTS)
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<int>("imageSize");
    QTest::addColumn<int>("patch");
    QTest::addColumn<bool>("classToken");
    QTest::addColumn<int>("registers");
    QTest::addColumn<ViTPositionSlots>("slots");
    QTest::addColumn<bool>("layerScale");
    QTest::addColumn<bool>("fcNorm");
    QTest::addColumn<QStringList>("ignored");
    struct Row {
        const char* name;
        const char* caseName;
        const char* fileName;
        int imageSize, patch;
        bool classToken;
        int registers;
        ViTPositionSlots slots;
        bool layerScale, fcNorm;
        QStringList ignored;
    };
    const QStringList head{"head.bias", "head.weight"}, mask{"mask_token"};
    using S = ViTPositionSlots;
    const Row rows[] = {
        {"layer scale (timm ls1.gamma)", "ls", "ls_timm.pt", 32, 4, true, 0, S::AllTokens, true, false, head},
        {"layer scale (BEiT gamma_1)", "ls", "ls_gamma.pt", 32, 4, true, 0, S::AllTokens, true, false, head},
        {"fc_norm (global_pool avg)", "fcnorm", "fcnorm_timm.pt", 32, 4, true, 0, S::AllTokens, false, true, head},
        {"timm registers", "reg", "reg_timm.pt", 32, 4, true, 4, S::AllTokens, false, false, head},
        {"no_embed_class", "noembed", "noembed_timm.pt", 32, 4, true, 0, S::PatchesOnly, false, false, head},
        {"ViT-reg gap: registers, no class token, no_embed_class, fc_norm", "reggap", "reggap_timm.pt", 32, 4, false,
         4, S::PatchesOnly, false, true, head},
        {"DeiT III's own: gamma_1, no_embed_class", "deit3", "deit3_gamma.pt", 32, 4, true, 0, S::PatchesOnly, true,
         false, head},
        {"DINOv2 register_tokens, mask_token", "dinov2reg", "dinov2reg_dinov2.pt", 112, 14, true, 4,
         S::AllButRegisters, true, false, mask},
        {"DINOv2 registers as timm converts them (safetensors)", "dinov2reg", "dinov2reg_timm_converted.safetensors",
         112, 14, true, 4, S::PatchesOnly, true, false, {}},
        {"DINOv2 ViT-S/14 layout at 518 px, mask_token", "dinov2", "dinov2_dinov2.pt", 518, 14, true, 0, S::AllTokens,
         true, false, mask},
    };
    for (const Row& r : rows)
        QTest::newRow(r.name) << QString(r.caseName) << QString(r.fileName) << r.imageSize << r.patch << r.classToken
                              << r.registers << r.slots << r.layerScale << r.fcNorm << r.ignored;
}

void TestViT::variants()
{
    QFETCH(QString, caseName);
    QFETCH(QString, fileName);
    QFETCH(int, imageSize);
    QFETCH(int, patch);
    QFETCH(bool, classToken);
    QFETCH(int, registers);
    QFETCH(ViTPositionSlots, slots);
    QFETCH(bool, layerScale);
    QFETCH(bool, fcNorm);
    QFETCH(QStringList, ignored);
    torch::InferenceMode inference;
    const StateDict weights = dict(fileName);
    const LoadedViT vit = loadViT(weights, fileName.toStdString());
    const ViTConfig& c = vit.model->config();
    QCOMPARE(c.imageSize, imageSize);
    QCOMPARE(c.patchSize, patch);
    QCOMPARE(c.classToken, classToken);
    QCOMPARE(c.registerTokens, registers);
    QCOMPARE(c.prefixTokens(), int(classToken) + registers);
    QCOMPARE(c.positionSlots, slots);
    QCOMPARE(c.layerScale, layerScale);
    QCOMPARE(c.normAfterPooling, fcNorm);
    // The pooling the model was trained with: the class token, or the mean where timm averages.
    QCOMPARE(c.pooling, classToken && !fcNorm ? ViTPooling::ClassToken : ViTPooling::MeanPatchTokens);
    std::vector<std::string> expectedIgnored;
    for (const QString& key : ignored)
        expectedIgnored.push_back(key.toStdString());
    QCOMPARE(names(vit.report.ignoredKeys), expectedIgnored);

    // Both poolings are compared where the model has a class token, the mean alone where not.
    QCOMPARE(findTensor(dict(caseName + "_reference.pt"), "cls") != nullptr, classToken);
    const QString mismatch = referenceMismatch(weights, caseName, "", {});
    QVERIFY2(mismatch.isEmpty(), qPrintable(mismatch));
}

void TestViT::variantInterpolation_data()
{
    // Each position-embedding layout resampled to another grid (timm's algorithm), at run time
    // and at load: 32 -> 48 px (patch 4: 8 -> 12), 112 -> 168 px (patch 14: 8 -> 12), and
    // DINOv2's 518 -> 224 px (37 -> 16, an antialiased shrink).
    QTest::addColumn<QString>("caseName");
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<bool>("atLoad");
    const std::pair<const char*, const char*> cases[] = {
        {"ls", "ls_timm.pt"},
        {"fcnorm", "fcnorm_timm.pt"},
        {"reg", "reg_timm.pt"},
        {"noembed", "noembed_timm.pt"},
        {"reggap", "reggap_timm.pt"},
        {"deit3", "deit3_gamma.pt"},
        {"dinov2reg", "dinov2reg_dinov2.pt"},
        {"dinov2reg", "dinov2reg_timm_converted.safetensors"},
        {"dinov2", "dinov2_dinov2.pt"},
    };
    for (const auto& [caseName, fileName] : cases)
        for (const bool atLoad : {false, true})
            QTest::addRow("%s %s", fileName, atLoad ? "at load" : "at run time") << caseName << fileName << atLoad;
}

void TestViT::variantInterpolation()
{
    QFETCH(QString, caseName);
    QFETCH(QString, fileName);
    QFETCH(bool, atLoad);
    torch::InferenceMode inference;
    const StateDict weights = dict(fileName);
    ViTLoadOptions options;
    if (atLoad) {
        options.imageSize = reference(caseName, "interp_input").size(2);
        const LoadedViT vit = loadViT(weights, "ref.pt", options);
        const ViTConfig& c = vit.model->config();
        QCOMPARE(c.imageSize, *options.imageSize);
        QCOMPARE(vit.model->named_parameters()["pos_embed"].size(1),
                 c.prefixPositionSlots() + c.gridSize() * c.gridSize());
    }
    const QString mismatch = referenceMismatch(weights, caseName, "interp_", options);
    QVERIFY2(mismatch.isEmpty(), qPrintable(mismatch));
}

void TestViT::variantRoundTrip()
{
    // A model's own parameters of each variant layout load back into an equal model: the names
    // and shapes alone tell the configuration.
    torch::InferenceMode inference;
    for (const ViTPositionSlots slots :
         {ViTPositionSlots::AllTokens, ViTPositionSlots::PatchesOnly, ViTPositionSlots::AllButRegisters}) {
        ViTConfig config = vitPreset("tiny", 4, 24);
        config.width = 128;
        config.heads = 2;
        config.mlpWidth = 160;
        config.depth = 2;
        config.registerTokens = 3;
        config.positionSlots = slots;
        config.layerScale = true;
        config.normAfterPooling = slots == ViTPositionSlots::PatchesOnly;
        // What loadViT picks by default: fc_norm models average.
        config.pooling = config.normAfterPooling ? ViTPooling::MeanPatchTokens : ViTPooling::ClassToken;
        const VisionTransformer source(config);
        StateDict weights;
        for (const auto& p : source->named_parameters())
            weights.push_back({p.key(), p.value().clone()});
        const LoadedViT vit = loadViT(weights, "own.pt");
        const ViTConfig& c = vit.model->config();
        QCOMPARE(c.positionSlots, slots);
        QCOMPARE(c.registerTokens, 3);
        QVERIFY(c.layerScale);
        QCOMPARE(c.normAfterPooling, config.normAfterPooling);
        QCOMPARE(QString::fromStdString(c.describe()), QString::fromStdString(config.describe()));
        const torch::Tensor input = torch::randn({2, 3, 24, 24});
        QCOMPARE(maxAbsDiff(vit.model->forward(input), source->forward(input)), 0.0);
    }
}

void TestViT::unsupportedAtLoad()
{
    // loadViTWeights on its own (a model made elsewhere) names an unsupported variant among the
    // unexpected keys too.
    StateDict weights = dict("s4_timm.pt");
    VisionTransformer model(inferViTConfig(weights, detectViTLayout(weights, "clip.pt"), "clip.pt"));
    weights.push_back({"norm_pre.weight", torch::ones({384})});
    weights.push_back({"norm_pre.bias", torch::zeros({384})});
    try {
        (void)loadViTWeights(*model, weights, "clip.pt");
        QFAIL("the weights loaded");
    } catch (const ModelError& e) {
        const QString message = e.what();
        QVERIFY2(message.contains("clip.pt: these weights do not fit a timm ViT"), e.what());
        QVERIFY2(message.contains("unexpected keys (2): norm_pre.bias, norm_pre.weight"), e.what());
        QVERIFY2(message.contains("not supported: a norm before the blocks (timm pre_norm=True: CLIP ViTs)"), e.what());
    }
}

void TestViT::prefixAndLegacyNames()
{
    torch::InferenceMode inference;
    const torch::Tensor input = reference("s4", "input");
    const torch::Tensor expected = reference("s4", "cls");

    // DataParallel's "module." prefix, with a training head beside the backbone (as DINO saves).
    StateDict prefixed = withPrefix(dict("s4_timm.pt"), "module.");
    prefixed.push_back({"dino_head.mlp.0.weight", torch::zeros({4, 4})});
    const LoadedViT vit = loadViT(prefixed, "dino.pth");
    QCOMPARE(vit.report.layout.prefix, std::string("module."));
    QCOMPARE(names(vit.report.ignoredKeys),
             (std::vector<std::string>{"dino_head.mlp.0.weight", "module.head.bias", "module.head.weight"}));
    QVERIFY(maxAbsDiff(vit.model->forward(input), expected) <= kTolerance);

    // torchvision < 0.13 named the MLP layers linear_1 / linear_2.
    StateDict legacy = dict("s4_torchvision.pt");
    for (NamedTensor& t : legacy) {
        for (const auto& [from, to] : {std::pair{".mlp.0.", ".mlp.linear_1."}, std::pair{".mlp.3.", ".mlp.linear_2."}})
            if (const auto at = t.name.find(from); at != std::string::npos)
                t.name.replace(at, std::strlen(from), to);
    }
    QVERIFY(findTensor(legacy, "encoder.layers.encoder_layer_1.mlp.linear_2.bias") != nullptr);
    QVERIFY(maxAbsDiff(loadViT(legacy, "old.pth").model->forward(input), expected) <= kTolerance);
}

void TestViT::optionsOverride()
{
    const StateDict weights = dict("ti16_timm.pt");
    ViTLoadOptions options;
    options.heads = 6;
    options.layerNormEps = 1e-5;
    options.pooling = ViTPooling::MeanPatchTokens;
    options.imageSize = 96;
    const ViTConfig c = loadViT(weights, "ref.pt", options).model->config();
    QCOMPARE(c.heads, 6);
    QCOMPARE(c.layerNormEps, 1e-5);
    QCOMPARE(c.pooling, ViTPooling::MeanPatchTokens);
    QCOMPARE(c.imageSize, 96);
    QCOMPARE(c.width, 192); // what only the file says stays

    options = {};
    options.heads = 5;
    QVERIFY(loadError(weights, options).contains("width 192 is not a multiple of heads 5"));
    options = {};
    options.imageSize = 100;
    QVERIFY(loadError(weights, options).contains("image size 100 is not a multiple of the patch size 16"));
}

void TestViT::ownWeightsRoundTrip()
{
    // Width 96 is not a multiple of 64: the heads must be given, then a model's own parameters
    // load back into an equal model (no class token: mean pooling is the default then).
    torch::InferenceMode inference;
    ViTConfig config = vitPreset("tiny", 4, 16);
    config.width = 96;
    config.mlpWidth = 200;
    config.depth = 2;
    config.classToken = false;
    config.qkvBias = false;
    config.pooling = ViTPooling::MeanPatchTokens;
    const VisionTransformer source(config);
    StateDict weights;
    for (const auto& p : source->named_parameters())
        weights.push_back({p.key(), p.value().clone()});
    QVERIFY(loadError(weights).contains("width 96 is not a multiple of 64"));
    QVERIFY(loadError(weights).contains("give heads explicitly"));
    ViTLoadOptions options;
    options.heads = 3;
    const LoadedViT vit = loadViT(weights, "own.pt", options);
    QVERIFY(!vit.model->config().classToken);
    QVERIFY(!vit.model->config().qkvBias);
    QCOMPARE(vit.model->config().pooling, ViTPooling::MeanPatchTokens);
    const torch::Tensor input = torch::randn({2, 3, 16, 16});
    QCOMPARE(maxAbsDiff(vit.model->forward(input), source->forward(input)), 0.0);
}

void TestViT::bfloat16()
{
    // bf16 keeps ~3 significant digits; the features must still point the same way (cosine).
    torch::InferenceMode inference;
    LoadedViT vit = loadViT(dict("s4_timm.pt"), "ref.pt");
    vit.model->to(torch::kBFloat16);
    const torch::Tensor features = vit.model->forward(reference("s4", "input"));
    QCOMPARE(features.scalar_type(), torch::kFloat);
    const torch::Tensor cosine = (features * reference("s4", "cls")).sum(1);
    QVERIFY2(cosine.min().item<double>() > 0.99, qPrintable(QStringLiteral("cosine %1").arg(cosine.min().item<double>())));
}

void TestViT::badWeights_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QString>("change");
    QTest::addColumn<QStringList>("expected");
    QTest::addRow("missing key") << "ti16_torchvision.pt" << "drop mlp.3"
        << QStringList{"test.pt: these weights do not fit a torchvision ViT", "missing keys (1): encoder.layers.encoder_layer_1.mlp.3.weight"};
    QTest::addRow("missing final norm") << "ti16_timm.pt" << "drop norm"
        << QStringList{"missing keys (1): norm.bias"};
    QTest::addRow("unexpected key") << "ti16_torchvision.pt" << "add key"
        << QStringList{"unexpected keys (1): encoder.layers.encoder_layer_0.extra.weight"};
    QTest::addRow("shape mismatch") << "ti16_torchvision.pt" << "reshape mlp.0"
        << QStringList{"shape mismatches (1): encoder.layers.encoder_layer_2.mlp.0.weight expected [768, 192], found [700, 192]"};
    QTest::addRow("all three at once") << "ti16_timm.pt" << "all three"
        << QStringList{"missing keys (1): blocks.1.attn.proj.bias", "unexpected keys (1): blocks.0.extra.weight",
                       "shape mismatches (1): blocks.2.mlp.fc1.weight expected [768, 192], found [700, 192]"};
    QTest::addRow("integer values") << "ti16_timm.pt" << "integer norm"
        << QStringList{"shape mismatches (1): norm.weight expected [192], found Long values"};
    QTest::addRow("foreign keys (ResNet-18)") << "resnet18.pt" << ""
        << QStringList{"test.pt: not a ViT state dict", "among its 122 keys", "conv1.weight", "bn1.running_mean",
                       "layer1.0.conv1.weight", "and 102 more"};
    QTest::addRow("empty") << "ti16_timm.pt" << "empty" << QStringList{"among its 0 keys: (none)"};
    QTest::addRow("position embeddings not a square") << "ti16_timm.pt" << "bad grid"
        << QStringList{"test.pt: pos_embed is [1, 190, 192]; expected 1 prefix-token slots plus a square grid of "
                       "patches, or a square grid of patches alone (timm no_embed_class)"};
    QTest::addRow("torchvision position embeddings without a class slot") << "ti16_torchvision.pt" << "grid only"
        << QStringList{"test.pt: encoder.pos_embedding is [1, 196, 192]; expected 1 prefix-token slots plus a square "
                       "grid of patches"};
    QTest::addRow("DINOv2 registers with position slots") << "dinov2reg_dinov2.pt" << "register slots"
        << QStringList{"test.pt: pos_embed is [1, 69, 128]; expected 1 slots plus a square grid of patches "
                       "(DINOv2's register_tokens have none)"};
    QTest::addRow("norm and fc_norm") << "s4_timm.pt" << "fc_norm"
        << QStringList{"test.pt: has both norm.* (timm's norm of the tokens) and fc_norm.* (its norm after average "
                       "pooling)"};
    QTest::addRow("layer scale of a wrong shape") << "ls_timm.pt" << "bad gamma"
        << QStringList{"test.pt: these weights do not fit a timm ViT", ", layer scale,",
                       "shape mismatches (1): blocks.1.ls2.gamma expected [128], found [129]"};
    QTest::addRow("BEiT layer scale of a wrong shape") << "ls_gamma.pt" << "bad gamma_1"
        << QStringList{"shape mismatches (1): blocks.0.gamma_1 expected [128], found [1, 1, 128]"};
    QTest::addRow("layer scale missing in a block") << "ls_gamma.pt" << "drop gamma_2"
        << QStringList{"missing keys (1): blocks.1.ls2.gamma or blocks.1.gamma_2"};
    QTest::addRow("register tokens of a wrong shape") << "reg_timm.pt" << "bad registers"
        << QStringList{"test.pt: reg_token is [4, 128]; expected [1, registers, 128]"};
    QTest::addRow("reg_token and register_tokens") << "reg_timm.pt" << "both registers"
        << QStringList{"unexpected keys (1): register_tokens"};
    QTest::addRow("SwiGLU MLP (DINOv2 ViT-g)") << "dinov2_dinov2.pt" << "swiglu"
        << QStringList{"test.pt: this ViT variant is not supported; the file has",
                       "a SwiGLU MLP (mlp.w12, mlp.w3: DINOv2's ViT-g/14); this ViT's MLP is fc1, GELU, fc2 "
                       "(blocks.0.mlp.w12.bias, blocks.0.mlp.w12.weight)",
                       "Use the weights of a ViT without it"};
    QTest::addRow("norm before the blocks (CLIP)") << "s4_timm.pt" << "norm_pre"
        << QStringList{"test.pt: this ViT variant is not supported",
                       "a norm before the blocks (timm pre_norm=True: CLIP ViTs) (norm_pre.bias, norm_pre.weight)"};
    QTest::addRow("two ViTs in one dict") << "s4_timm.pt" << "two"
        << QStringList{"test.pt: holds 2 ViTs (timm at 'student.', timm at 'teacher.')"};
    QTest::addRow("no blocks") << "s4_timm.pt" << "no blocks" << QStringList{"no transformer blocks (blocks.0.* and on)"};
}

void TestViT::badWeights()
{
    QFETCH(QString, fileName);
    QFETCH(QString, change);
    QFETCH(QStringList, expected);
    StateDict weights = dict(fileName);
    if (change == "drop mlp.3") {
        weights = without(weights, "encoder.layers.encoder_layer_1.mlp.3.weight");
    } else if (change == "drop norm") {
        weights = without(weights, "norm.bias");
    } else if (change == "add key") {
        weights.push_back({"encoder.layers.encoder_layer_0.extra.weight", torch::zeros({3})});
    } else if (change == "reshape mlp.0") {
        weights = replaced(weights, "encoder.layers.encoder_layer_2.mlp.0.weight", torch::zeros({700, 192}));
    } else if (change == "all three") {
        weights = without(weights, "blocks.1.attn.proj.bias");
        weights.push_back({"blocks.0.extra.weight", torch::zeros({3})});
        weights = replaced(weights, "blocks.2.mlp.fc1.weight", torch::zeros({700, 192}));
    } else if (change == "integer norm") {
        weights = replaced(weights, "norm.weight", torch::ones({192}, torch::kLong));
    } else if (change == "empty") {
        weights.clear();
    } else if (change == "bad grid") {
        weights = replaced(weights, "pos_embed", torch::zeros({1, 190, 192}));
    } else if (change == "grid only") {
        weights = replaced(weights, "encoder.pos_embedding", torch::zeros({1, 196, 192}));
    } else if (change == "register slots") {
        weights = replaced(weights, "pos_embed", torch::zeros({1, 1 + 4 + 64, 128}));
    } else if (change == "bad gamma") {
        weights = replaced(weights, "blocks.1.ls2.gamma", torch::ones({129}));
    } else if (change == "bad gamma_1") {
        weights = replaced(weights, "blocks.0.gamma_1", torch::ones({1, 1, 128}));
    } else if (change == "drop gamma_2") {
        weights = without(weights, "blocks.1.gamma_2");
    } else if (change == "bad registers") {
        weights = replaced(weights, "reg_token", torch::zeros({4, 128}));
    } else if (change == "both registers") {
        weights.push_back({"register_tokens", torch::zeros({1, 4, 128})});
    } else if (change == "swiglu") {
        // DINOv2's ViT-g blocks: SwiGLUFFNFused's w12 packs both halves of the gate, w3 projects back.
        for (NamedTensor& t : weights)
            for (const auto& [from, to] : {std::pair{".mlp.fc1.", ".mlp.w12."}, std::pair{".mlp.fc2.", ".mlp.w3."}})
                if (const auto at = t.name.find(from); at != std::string::npos) {
                    t.name.replace(at, std::strlen(from), to);
                    if (std::strcmp(from, ".mlp.fc1.") == 0)
                        t.value = torch::cat({t.value, t.value});
                }
    } else if (change == "norm_pre") {
        weights.push_back({"norm_pre.weight", torch::ones({384})});
        weights.push_back({"norm_pre.bias", torch::zeros({384})});
    } else if (change == "fc_norm") {
        weights.push_back({"fc_norm.weight", torch::ones({384})});
        weights.push_back({"fc_norm.bias", torch::zeros({384})});
    } else if (change == "two") {
        StateDict both = withPrefix(weights, "student.");
        for (NamedTensor& t : withPrefix(weights, "teacher."))
            both.push_back(t);
        weights = both;
    } else if (change == "no blocks") {
        weights.erase(std::remove_if(weights.begin(), weights.end(),
                                     [](const NamedTensor& t) { return t.name.rfind("blocks.", 0) == 0; }),
                      weights.end());
    } else {
        QVERIFY2(change.isEmpty(), qPrintable(change));
    }
    const QString message = loadError(weights);
    QVERIFY2(!message.isEmpty(), "the weights loaded");
    for (const QString& part : expected)
        QVERIFY2(message.contains(part), qPrintable(QStringLiteral("'%1' not in:\n%2").arg(part, message)));
}

void TestViT::badInput()
{
    torch::InferenceMode inference;
    const VisionTransformer model(vitPreset("tiny", 4, 32));
    const std::pair<torch::Tensor, const char*> cases[] = {
        {torch::zeros({2, 1, 32, 32}), "ViT input is [2, 1, 32, 32] Float; expected [batch, 3, height, width]"},
        {torch::zeros({3, 32, 32}), "ViT input is [3, 32, 32]"},
        {torch::zeros({2, 3, 32, 32}, torch::kByte), "Byte; expected [batch, 3, height, width] floating point"},
        {torch::zeros({2, 3, 30, 32}), "ViT input is 30 x 32 px, not a positive multiple of the patch size 4"},
    };
    for (const auto& [input, expected] : cases) {
        try {
            (void)model->forward(input);
            QFAIL(expected);
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }
    QCOMPARE(model->forward(torch::zeros({2, 3, 36, 28})).sizes(), (torch::IntArrayRef{2, 192}));
}

QTEST_GUILESS_MAIN(TestViT)
#include "tst_vit.moc"
