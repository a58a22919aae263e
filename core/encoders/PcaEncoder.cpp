// The PCA encoder: its spec string, and encoding a source in two phases (decode and fit the
// sample, then decode and project everything else). The fit is in PcaModel, preprocessing in
// PixelRows, the worker loop in BatchRunner.

#include "core/encoders/PcaEncoder.h"

#include "core/base/ContentHash.h"
#include "core/encoders/BatchRunner.h"
#include "core/encoders/EncoderSpec.h"
#include "core/encoders/PixelRows.h"
#include "core/encoders/SplitMix64.h"
#include "core/sources/ImageSource.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <thread>

namespace labelprop {

namespace {

constexpr std::uint64_t kSampleSeed = 0x6c6162656c70726full; // "labelpro"

// The first `m` of a seeded Fisher-Yates shuffle of 0..n-1, sorted ascending.
std::vector<std::size_t> sampleIndices(std::size_t n, std::size_t m)
{
    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i)
        all[i] = i;
    if (m >= n)
        return all;
    SplitMix64 rng(kSampleSeed);
    for (std::size_t i = 0; i < m; ++i)
        std::swap(all[i], all[i + rng.below(n - i)]);
    all.resize(m);
    std::sort(all.begin(), all.end());
    return all;
}

// Why items could not be encoded, by source index (failed[i] == 0: encoded so far). Batch workers
// mark disjoint indices, so no lock is needed.
struct Skips {
    explicit Skips(std::size_t n)
        : reason(n)
        , failed(n, 0)
    {
    }
    void mark(std::size_t i, std::string why)
    {
        reason[i] = std::move(why);
        failed[i] = 1;
    }
    std::vector<std::string> reason;
    std::vector<char> failed;
};

// Phase 1: decodes the sample items (source indices, ascending) into the rows of `x`, then drops
// the rows that failed, so `x` is fitted x p. Returns the source index of each row of `x`, or
// nullopt when cancelled.
std::optional<std::vector<std::size_t>> loadSample(const ImageSource& source, const std::vector<std::size_t>& sample,
                                                   const PixelLayout& layout, int threads,
                                                   const ProgressCallback& progress, PixelMatrix& x, Skips& skips)
{
    x.resize(Eigen::Index(sample.size()), layout.values());
    const bool ok = runBatches(sample.size(), threads, progress, 0, source.size(), [&](std::size_t b, std::size_t e) {
        for (std::size_t k = b; k < e; ++k)
            if (auto err = loadPixelRow(source, sample[k], layout, x.row(Eigen::Index(k)).data()))
                skips.mark(sample[k], std::move(*err));
    });
    if (!ok)
        return std::nullopt;
    std::vector<std::size_t> fitted;
    fitted.reserve(sample.size());
    for (std::size_t k = 0; k < sample.size(); ++k) {
        if (skips.failed[sample[k]])
            continue;
        if (fitted.size() != k)
            x.row(Eigen::Index(fitted.size())) = x.row(Eigen::Index(k));
        fitted.push_back(sample[k]);
    }
    x.conservativeResize(Eigen::Index(fitted.size()), Eigen::NoChange);
    return fitted;
}

// Phase 2: decodes and projects every item outside `sample` into its row of `all` (n x dims). A
// failed item is marked in `skips` (its row, the mean image, projects to zero). False when
// cancelled.
bool encodeRest(const ImageSource& source, const std::vector<std::size_t>& sample, const PcaModel& model,
                const PixelLayout& layout, int threads, const ProgressCallback& progress, EmbeddingMatrix& all,
                Skips& skips)
{
    const std::size_t n = source.size();
    std::vector<std::size_t> rest;
    rest.reserve(n - sample.size());
    {
        std::vector<char> inSample(n, 0);
        for (const auto i : sample)
            inSample[i] = 1;
        for (std::size_t i = 0; i < n; ++i)
            if (!inSample[i])
                rest.push_back(i);
    }
    const Eigen::MatrixXf& w = model.components;
    return runBatches(rest.size(), threads, progress, sample.size(), n, [&](std::size_t b, std::size_t e) {
        PixelMatrix batch(Eigen::Index(e - b), layout.values());
        for (std::size_t k = b; k < e; ++k) {
            const std::size_t i = rest[k];
            if (auto err = loadPixelRow(source, i, layout, batch.row(Eigen::Index(k - b)).data())) {
                skips.mark(i, std::move(*err));
                batch.row(Eigen::Index(k - b)) = model.mean.transpose();
            }
        }
        batch.rowwise() -= model.mean.transpose();
        PixelMatrix proj = batch * w;
        proj *= model.scale.asDiagonal();
        for (std::size_t k = b; k < e; ++k)
            all.row(Eigen::Index(rest[k])) = proj.row(Eigen::Index(k - b));
    });
}

// Scales every encoded row of `all` (n x dims) to unit L2 norm and collects them in source order;
// a row with no direction (the image equals the mean) is skipped too. Fails when nothing is left.
Expected<EncodedSet> collectRows(const ImageSource& source, EmbeddingMatrix& all, Skips& skips, const std::string& what)
{
    const std::size_t n = source.size();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (skips.failed[i])
            continue;
        const float norm = all.row(Eigen::Index(i)).norm();
        if (!(norm > 1e-12f) || !std::isfinite(norm)) {
            skips.mark(i, source.item(i).path + ": the image equals the mean image after PCA, so it has no "
                                                "direction for cosine similarity");
            continue;
        }
        all.row(Eigen::Index(i)) /= norm;
        ++kept;
    }
    if (kept == 0)
        return fail(what + ": no image could be encoded; first problem: "
                    + *std::find_if(skips.reason.begin(), skips.reason.end(), [](const auto& s) { return !s.empty(); }));
    EncodedSet result;
    result.embeddings.resize(Eigen::Index(kept), all.cols());
    result.items.reserve(kept);
    result.sourceIndices.reserve(kept);
    for (std::size_t i = 0; i < n; ++i) {
        if (skips.failed[i]) {
            result.skipped.push_back(std::move(skips.reason[i]));
            continue;
        }
        result.embeddings.row(Eigen::Index(result.items.size())) = all.row(Eigen::Index(i));
        result.items.push_back(source.item(i));
        result.sourceIndices.push_back(i);
    }
    return result;
}

} // namespace

Expected<PcaOptions> parsePcaSpec(std::string_view spec)
{
    const std::string whole(spec);
    const auto usage = "; expected pca[:DIMS][,whiten][,rgb][,size=S][,sample=N][,threads=T]";
    const auto colon = spec.find(':');
    std::string name(spec.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; });
    if (name != "pca")
        return fail("encoder '" + whole + "': not a PCA spec" + usage);
    PcaOptions o;
    if (colon == std::string_view::npos)
        return o;
    std::string_view rest = spec.substr(colon + 1);
    bool first = true;
    while (true) {
        const auto comma = rest.find(',');
        std::string_view token = rest.substr(0, comma);
        while (!token.empty() && token.front() == ' ')
            token.remove_prefix(1);
        while (!token.empty() && token.back() == ' ')
            token.remove_suffix(1);
        const auto eq = token.find('=');
        const std::string_view key = token.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : token.substr(eq + 1);
        const auto number = parseUnsigned(value);
        if (first && parseUnsigned(token)) {
            const auto d = *parseUnsigned(token);
            if (d < 1 || d > 4096)
                return fail("encoder '" + whole + "': DIMS must be between 1 and 4096, got " + std::string(token));
            o.dims = int(d);
        } else if (token == "whiten") {
            o.whiten = true;
        } else if (token == "rgb" || token == "color" || token == "colour") {
            o.rgb = true;
        } else if (token == "gray" || token == "grey") {
            o.rgb = false;
        } else if (key == "size" && eq != std::string_view::npos) {
            if (!number || *number < 1 || *number > 1024)
                return fail("encoder '" + whole + "': size must be an integer between 1 and 1024, got '"
                            + std::string(value) + "'");
            o.size = int(*number);
        } else if (key == "sample" && eq != std::string_view::npos) {
            if (value == "all")
                o.sample = 0;
            else if (!number || *number < 2)
                return fail("encoder '" + whole + "': sample must be 'all' or an integer of at least 2, got '"
                            + std::string(value) + "'");
            else
                o.sample = std::size_t(*number);
        } else if (key == "threads" && eq != std::string_view::npos) {
            if (!number || *number > 256)
                return fail("encoder '" + whole + "': threads must be an integer between 0 and 256, got '"
                            + std::string(value) + "'");
            o.threads = int(*number);
        } else if (!(first && token.empty() && comma == std::string_view::npos)) {
            return fail("encoder '" + whole + "': unknown option '" + std::string(token) + "'" + usage);
        }
        first = false;
        if (comma == std::string_view::npos)
            break;
        rest = rest.substr(comma + 1);
    }
    return o;
}

std::string pcaSpec(const PcaOptions& o)
{
    std::string s = "pca:" + std::to_string(o.dims);
    if (o.whiten)
        s += ",whiten";
    if (o.rgb)
        s += ",rgb";
    if (o.size > 0)
        s += ",size=" + std::to_string(o.size);
    if (o.sample != PcaOptions{}.sample)
        s += o.sample == 0 ? std::string(",sample=all") : ",sample=" + std::to_string(o.sample);
    return s;
}

std::string encoderSpecFittingImages(const std::string& spec, std::size_t images)
{
    auto options = parsePcaSpec(spec);
    if (!options || std::size_t(options->dims) < images)
        return spec;
    // Half the images, not images - 1: files found unreadable only when they are decoded leave
    // the fit enough rows, and a kNN over 45 components of 46 images would be noise anyway.
    options->dims = int(std::max<std::size_t>(1, images / 2));
    return pcaSpec(*options);
}

PcaEncoder::PcaEncoder(PcaOptions options)
    : m_options(options)
{
}

PcaEncoder::PcaEncoder(PcaOptions options, std::shared_ptr<const PcaModel> frozen, std::string stateId)
    : m_options(options)
    , m_frozen(std::move(frozen))
    , m_stateId(std::move(stateId))
{
}

std::string PcaEncoder::id() const
{
    return m_frozen ? pcaSpec(m_options) + ",model=" + m_stateId : pcaSpec(m_options);
}

Expected<FittedEncoding> PcaEncoder::fitAndEncode(const ImageSource& source, const ProgressCallback& progress) const
{
    if (m_frozen)
        return fail(id() + ": already fitted");
    PcaModel model;
    auto encoded = encodeWithModel(source, &model, progress);
    if (!encoded)
        return std::unexpected(encoded.error());
    return FittedEncoding{serialisePcaModel(model), std::move(*encoded)};
}

Expected<std::unique_ptr<Encoder>> PcaEncoder::withState(std::string_view state) const
{
    auto model = parsePcaModel(state, pcaSpec(m_options));
    if (!model)
        return std::unexpected(model.error());
    if (model->dims() != m_options.dims)
        return fail(pcaSpec(m_options) + ": the stored model has " + std::to_string(model->dims()) + " components, not "
                    + std::to_string(m_options.dims));
    const std::string stateId = hashText(state).hex().substr(0, 16);
    return std::make_unique<PcaEncoder>(m_options, std::make_shared<const PcaModel>(std::move(*model)), stateId);
}

Expected<EncodedSet> PcaEncoder::encode(const ImageSource& source, const ProgressCallback& progress) const
{
    return encodeWithModel(source, nullptr, progress);
}

Expected<EncodedSet> PcaEncoder::encodeWithModel(const ImageSource& source, PcaModel* modelOut,
                                                 const ProgressCallback& progress) const
{
    const std::string what = source.describe();
    const std::size_t n = source.size();
    if (n == 0)
        return fail(what + ": no images to encode");
    const PixelLayout layout = pixelLayout(source, m_options.size, m_options.rgb);
    const int p = layout.values();
    const int dims = m_options.dims;
    if (dims > p)
        return fail(id() + ": " + std::to_string(dims) + " components asked for, but " + std::to_string(layout.size.width)
                    + "x" + std::to_string(layout.size.height) + "x" + std::to_string(layout.channels)
                    + " images have only " + std::to_string(p) + " pixel values; use pca:" + std::to_string(p)
                    + " or fewer, or a larger size=S");
    const int threads = m_options.threads > 0 ? m_options.threads
                                              : std::max(2, int(std::thread::hardware_concurrency()));

    try {
        // A frozen encoder projects with its stored model: no sample, no fit.
        const std::size_t m = m_frozen ? 0 : m_options.sample == 0 ? n : std::min(n, m_options.sample);
        const std::vector<std::size_t> sample = sampleIndices(n, m);
        Skips skips(n);
        PixelMatrix x;
        const auto fitted = loadSample(source, sample, layout, threads, progress, x, skips);
        if (!fitted)
            return fail(what + ": encoding cancelled");

        Expected<PcaModel> model = m_frozen ? Expected<PcaModel>(*m_frozen)
                                            : fitPca(x, dims, m_options.whiten, what, PcaSolver::Auto);
        if (!model)
            return std::unexpected(model.error());
        if (model->pixels() != p)
            return fail(what + ": the project's fitted " + pcaSpec(m_options) + " model expects "
                        + std::to_string(model->pixels()) + " pixel values per image, but these images give "
                        + std::to_string(p) + "; set size=S explicitly, or delete the encoder state to refit");

        EmbeddingMatrix all(Eigen::Index(n), dims);
        {
            const PixelMatrix projected = model->projectCentred(x); // fitPca() centred the sample rows
            for (std::size_t k = 0; k < fitted->size(); ++k)
                all.row(Eigen::Index((*fitted)[k])) = projected.row(Eigen::Index(k));
        }
        x.resize(0, 0);
        if (!encodeRest(source, sample, *model, layout, threads, progress, all, skips))
            return fail(what + ": encoding cancelled");

        auto result = collectRows(source, all, skips, what);
        if (result && modelOut)
            *modelOut = std::move(*model);
        return result;
    } catch (const std::bad_alloc&) {
        return fail(what + ": not enough memory to encode " + std::to_string(n) + " images with " + id()
                    + "; use a smaller sample=N or size=S");
    } catch (const std::exception& e) {
        return fail(what + ": encoding failed (" + e.what() + ")");
    }
}

} // namespace labelprop
