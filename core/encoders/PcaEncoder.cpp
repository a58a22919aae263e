#include "core/encoders/PcaEncoder.h"

#include "core/base/ContentHash.h"

#include "core/sources/ImageSource.h"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <cblas.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <numbers>
#include <optional>
#include <thread>

namespace labelprop {

namespace {

constexpr float kWhitenEps = 1e-6f;
constexpr float kMinWhitenRatio = 1e-5f;
constexpr std::uint64_t kSampleSeed = 0x6c6162656c70726full; // "labelpro"
constexpr std::uint64_t kRangeSeed = 0x5043412d72616e64ull;  // "PCA-rand"
constexpr std::size_t kBatch = 256;

// SplitMix64: a tiny, portable generator, so samples are identical across standard libraries.
class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed)
        : m_state(seed)
    {
    }
    std::uint64_t next()
    {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, bound), bound > 0 (modulo with rejection, so no bias).
    std::uint64_t below(std::uint64_t bound)
    {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
        for (;;) {
            const std::uint64_t r = next();
            if (r < limit)
                return r % bound;
        }
    }
    double uniform01() { return double(next() >> 11) * 0x1.0p-53; }
    double normal()
    {
        const double u1 = 1.0 - uniform01(); // (0, 1]
        const double u2 = uniform01();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::uint64_t m_state;
};

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

// C = op(A) * op(B) with OpenBLAS.
void gemm(const PixelMatrix& a, bool transA, const PixelMatrix& b, bool transB, PixelMatrix& c)
{
    const auto m = transA ? a.cols() : a.rows();
    const auto k = transA ? a.rows() : a.cols();
    const auto n = transB ? b.rows() : b.cols();
    c.resize(m, n);
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, int(m),
                int(n), int(k), 1.0f, a.data(), int(a.cols()), b.data(), int(b.cols()), 0.0f, c.data(), int(n));
}

// Orthonormal basis of the columns of `y` (thin Q of a Householder QR).
PixelMatrix orthonormalise(const PixelMatrix& y)
{
    const Eigen::MatrixXf colMajor = y;
    Eigen::HouseholderQR<Eigen::MatrixXf> qr(colMajor);
    Eigen::MatrixXf q = qr.householderQ() * Eigen::MatrixXf::Identity(y.rows(), y.cols());
    return q;
}

// Top `dims` eigenpairs of the covariance of the centred rows of `x` (m x p), descending.
void exactEigen(const PixelMatrix& x, int dims, Eigen::MatrixXf& vectors, Eigen::VectorXf& values)
{
    const int p = int(x.cols());
    const int m = int(x.rows());
    PixelMatrix cov(p, p);
    cov.setZero();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, p, m, 1.0f / float(m - 1), x.data(), p, 0.0f, cov.data(), p);
    Eigen::MatrixXd covD(p, p);
    for (int i = 0; i < p; ++i)
        for (int j = i; j < p; ++j)
            covD(i, j) = covD(j, i) = double(cov(i, j));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covD);
    // Eigenvalues come ascending.
    vectors.resize(p, dims);
    values.resize(dims);
    for (int j = 0; j < dims; ++j) {
        vectors.col(j) = solver.eigenvectors().col(p - 1 - j).cast<float>();
        values[j] = float(std::max(0.0, solver.eigenvalues()[p - 1 - j]));
    }
}

// Randomized range finder (Halko, Martinsson, Tropp 2011, algorithm 4.4) on the centred rows.
void randomizedEigen(const PixelMatrix& x, int dims, Eigen::MatrixXf& vectors, Eigen::VectorXf& values)
{
    const auto m = x.rows();
    const auto p = x.cols();
    const auto l = std::min<Eigen::Index>({p, m, Eigen::Index(dims) + 16});
    constexpr int kPowerIterations = 4;
    SplitMix64 rng(kRangeSeed);
    PixelMatrix omega(p, l);
    for (Eigen::Index i = 0; i < omega.size(); ++i)
        omega.data()[i] = float(rng.normal());
    PixelMatrix y, z;
    gemm(x, false, omega, false, y); // m x l
    for (int it = 0; it < kPowerIterations; ++it) {
        y = orthonormalise(y);
        gemm(x, true, y, false, z); // p x l
        z = orthonormalise(z);
        gemm(x, false, z, false, y); // m x l
    }
    const PixelMatrix q = orthonormalise(y);
    PixelMatrix b;
    gemm(q, true, x, false, b); // l x p
    PixelMatrix bbt;
    gemm(b, false, b, true, bbt); // l x l
    const Eigen::MatrixXd bbtD = bbt.cast<double>();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(0.5 * (bbtD + bbtD.transpose()));
    vectors.resize(p, dims);
    values.resize(dims);
    const Eigen::MatrixXd bD = b.cast<double>();
    for (int j = 0; j < dims; ++j) {
        const double s2 = std::max(0.0, solver.eigenvalues()[l - 1 - j]);
        Eigen::VectorXd v = bD.transpose() * solver.eigenvectors().col(l - 1 - j); // = s * right singular vector
        const double norm = v.norm();
        if (norm > 0)
            v /= norm;
        vectors.col(j) = v.cast<float>();
        values[j] = float(s2 / double(m - 1));
    }
}

// Decodes item `i` into `out` (p floats in [0, 1]); returns an error text on failure.
std::optional<std::string> loadPixels(const ImageSource& source, std::size_t i, cv::Size size, int channels,
                                      float* out)
{
    auto decoded = source.decode(i);
    if (!decoded)
        return decoded.error().message;
    try {
        cv::Mat img = *decoded;
        if (channels == 1 && img.channels() == 3)
            cv::cvtColor(img, img, cv::COLOR_BGR2GRAY);
        else if (channels == 3 && img.channels() == 1)
            cv::cvtColor(img, img, cv::COLOR_GRAY2BGR);
        if (img.channels() != channels)
            return source.item(i).path + ": unexpected channel count " + std::to_string(img.channels());
        if (img.size() != size) {
            cv::Mat resized;
            cv::resize(img, resized, size, 0, 0, cv::INTER_AREA);
            img = resized;
        }
        cv::Mat dst(size, CV_32FC(channels), out);
        img.convertTo(dst, CV_32F, 1.0 / 255.0);
        if (dst.data != reinterpret_cast<uchar*>(out))
            return source.item(i).path + ": internal error: conversion reallocated the buffer";
    } catch (const cv::Exception& e) {
        return source.item(i).path + ": cannot preprocess the image (" + e.msg + ")";
    }
    return std::nullopt;
}

// Runs body(begin, end) over [0, count) in batches on `threads` workers (dynamic scheduling),
// reporting progress from the calling thread. Returns false if cancelled; rethrows the first
// exception a worker threw.
template <class Body>
bool runBatches(std::size_t count, int threads, const ProgressCallback& progress, std::size_t progressBase,
                std::size_t progressTotal, Body body)
{
    if (count == 0)
        return true;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable wake;
    std::exception_ptr error;
    const auto worker = [&] {
        for (;;) {
            if (stop.load())
                return;
            const std::size_t b = next.fetch_add(kBatch);
            if (b >= count)
                return;
            const std::size_t e = std::min(count, b + kBatch);
            try {
                body(b, e);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!error)
                    error = std::current_exception();
                stop = true;
            }
            {
                std::lock_guard lock(mutex); // pairs with the waiting thread's predicate check
                done += e - b;
            }
            wake.notify_one();
        }
    };
    const int workers = int(std::min<std::size_t>(std::size_t(threads), (count + kBatch - 1) / kBatch));
    std::vector<std::jthread> pool;
    pool.reserve(std::size_t(workers));
    for (int t = 0; t < workers; ++t)
        pool.emplace_back(worker);
    bool cancelled = false;
    {
        // Report at the start (so a callback that cancels at once always can), then at most every
        // 100 ms, then once at the end.
        std::unique_lock lock(mutex);
        auto lastReport = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        for (;;) {
            const bool finished = done.load() >= count || stop.load();
            const auto now = std::chrono::steady_clock::now();
            if (progress && (finished || now - lastReport >= std::chrono::milliseconds(100))) {
                const std::size_t d = done.load();
                lastReport = now;
                lock.unlock();
                const bool keepGoing = progress(progressBase + d, progressTotal);
                lock.lock();
                if (!keepGoing) {
                    cancelled = true;
                    stop = true;
                    break;
                }
            }
            if (finished)
                break;
            wake.wait_for(lock, std::chrono::milliseconds(100));
        }
    }
    pool.clear(); // joins
    if (error)
        std::rethrow_exception(error);
    return !cancelled;
}

std::optional<std::uint64_t> parseUnsigned(std::string_view s)
{
    std::uint64_t v = 0;
    if (s.empty())
        return std::nullopt;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size())
        return std::nullopt;
    return v;
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

PixelMatrix PcaModel::project(const PixelMatrix& rows) const
{
    PixelMatrix centred = rows.rowwise() - mean.transpose();
    PixelMatrix out = centred * components;
    out *= scale.asDiagonal();
    return out;
}

Expected<PcaModel> fitPca(PixelMatrix& x, int dims, bool whiten, const std::string& source, PcaSolver solver)
{
    const auto m = x.rows();
    const auto p = x.cols();
    if (dims < 1)
        return fail(source + ": PCA needs at least 1 component, got " + std::to_string(dims));
    if (p < 1)
        return fail(source + ": PCA needs at least 1 pixel value per item");
    if (dims > p)
        return fail(source + ": pca:" + std::to_string(dims) + " asks for more components than the "
                    + std::to_string(p) + " pixel values per item; use pca:" + std::to_string(p)
                    + " or fewer, or a larger size=S");
    if (m < Eigen::Index(dims) + 1)
        return fail(source + ": pca:" + std::to_string(dims) + " needs at least " + std::to_string(dims + 1)
                    + " readable images to fit, found " + std::to_string(m) + "; use pca:"
                    + std::to_string(std::max<Eigen::Index>(1, m - 1)) + " or fewer"
                    + (m >= 2 ? "" : " (and add images)") + ", or a larger sample=N");

    PcaModel model;
    Eigen::VectorXd meanD = Eigen::VectorXd::Zero(p);
    for (Eigen::Index i = 0; i < m; ++i)
        meanD += x.row(i).transpose().cast<double>();
    meanD /= double(m);
    model.mean = meanD.cast<float>();
    x.rowwise() -= model.mean.transpose();

    if (solver == PcaSolver::Auto)
        solver = p <= 1024 ? PcaSolver::Exact : PcaSolver::Randomized;
    if (solver == PcaSolver::Exact)
        exactEigen(x, dims, model.components, model.variances);
    else
        randomizedEigen(x, dims, model.components, model.variances);
    for (int j = 0; j < dims; ++j) {
        auto c = model.components.col(j);
        Eigen::Index arg = 0;
        c.cwiseAbs().maxCoeff(&arg);
        if (c[arg] < 0)
            c = -c;
    }

    model.scale = Eigen::VectorXf::Ones(dims);
    if (whiten) {
        const float top = model.variances[0];
        for (int j = 0; j < dims; ++j) {
            // Below 1e-5 of the top variance a component is rounding noise of the float covariance.
            if (!(model.variances[j] > kMinWhitenRatio * top))
                return fail(source + ": cannot whiten: component " + std::to_string(j + 1) + " of " + std::to_string(dims)
                            + " has (near) zero variance (" + std::to_string(m) + " images fitted); use fewer dims "
                            + "(at most " + std::to_string(std::max<int>(1, j)) + ") or drop 'whiten'");
            model.scale[j] = 1.0f / (std::sqrt(model.variances[j]) + kWhitenEps);
        }
    }
    return model;
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

namespace {

constexpr char kPcaStateMagic[8] = {'L', 'P', 'P', 'C', 'A', '1', '\n', '\0'};

template <class M>
void appendFloats(std::string& out, const M& m)
{
    const auto* p = reinterpret_cast<const char*>(m.data());
    out.append(p, std::size_t(m.size()) * sizeof(float));
}

} // namespace

std::string serialisePcaModel(const PcaModel& model)
{
    std::string out(kPcaStateMagic, sizeof kPcaStateMagic);
    const std::int32_t header[2] = {model.pixels(), model.dims()};
    out.append(reinterpret_cast<const char*>(header), sizeof header);
    appendFloats(out, model.mean);
    appendFloats(out, model.components); // column-major p x dims
    appendFloats(out, model.variances);
    appendFloats(out, model.scale);
    return out;
}

Expected<PcaModel> parsePcaModel(std::string_view bytes, const std::string& source)
{
    const auto bad = [&](const char* why) { return fail(source + ": the stored PCA model is damaged (" + why + ")"); };
    if (bytes.size() < sizeof kPcaStateMagic + 8 || bytes.substr(0, sizeof kPcaStateMagic)
                                                        != std::string_view(kPcaStateMagic, sizeof kPcaStateMagic))
        return bad("no header");
    std::int32_t header[2];
    std::memcpy(header, bytes.data() + sizeof kPcaStateMagic, sizeof header);
    const auto p = std::int64_t(header[0]), d = std::int64_t(header[1]);
    if (p < 1 || d < 1 || d > p || p > (1 << 24))
        return bad("sizes");
    const std::size_t floats = std::size_t(p + p * d + 2 * d);
    if (bytes.size() != sizeof kPcaStateMagic + 8 + floats * sizeof(float))
        return bad("length");
    const char* at = bytes.data() + sizeof kPcaStateMagic + 8;
    auto take = [&](auto& m) {
        std::memcpy(m.data(), at, std::size_t(m.size()) * sizeof(float));
        at += std::size_t(m.size()) * sizeof(float);
    };
    PcaModel model;
    model.mean.resize(p);
    model.components.resize(p, d);
    model.variances.resize(d);
    model.scale.resize(d);
    take(model.mean);
    take(model.components);
    take(model.variances);
    take(model.scale);
    if (!model.mean.allFinite() || !model.components.allFinite() || !model.scale.allFinite())
        return bad("values");
    return model;
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
    const cv::Size size = m_options.size > 0 ? cv::Size(m_options.size, m_options.size)
                                             : source.fixedImageSize().value_or(cv::Size(32, 32));
    const int channels = m_options.rgb ? 3 : 1;
    const int p = size.width * size.height * channels;
    const int dims = m_options.dims;
    if (dims > p)
        return fail(id() + ": " + std::to_string(dims) + " components asked for, but " + std::to_string(size.width)
                    + "x" + std::to_string(size.height) + "x" + std::to_string(channels) + " images have only "
                    + std::to_string(p) + " pixel values; use pca:" + std::to_string(p) + " or fewer, or a larger size=S");
    const int threads = m_options.threads > 0 ? m_options.threads
                                              : std::max(2, int(std::thread::hardware_concurrency()));

    try {
        // A frozen encoder projects with its stored model: no sample, no fit.
        const std::size_t m = m_frozen ? 0 : m_options.sample == 0 ? n : std::min(n, m_options.sample);
        const std::vector<std::size_t> sample = sampleIndices(n, m);

        std::vector<std::string> errors(n); // empty: ok
        std::vector<char> failed(n, 0);

        // Phase 1: decode the sample.
        PixelMatrix x(Eigen::Index(m), p);
        bool ok = runBatches(m, threads, progress, 0, n, [&](std::size_t b, std::size_t e) {
            for (std::size_t k = b; k < e; ++k) {
                const std::size_t i = sample[k];
                if (auto err = loadPixels(source, i, size, channels, x.row(Eigen::Index(k)).data())) {
                    errors[i] = std::move(*err);
                    failed[i] = 1;
                }
            }
        });
        if (!ok)
            return fail(what + ": encoding cancelled");

        // Compact the sample to its readable rows.
        std::vector<std::size_t> fitted;
        fitted.reserve(m);
        for (std::size_t k = 0; k < m; ++k) {
            if (failed[sample[k]])
                continue;
            if (fitted.size() != k)
                x.row(Eigen::Index(fitted.size())) = x.row(Eigen::Index(k));
            fitted.push_back(sample[k]);
        }
        x.conservativeResize(Eigen::Index(fitted.size()), Eigen::NoChange);

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
            // Sample rows are centred already.
            PixelMatrix proj;
            gemm(x, false, PixelMatrix(model->components), false, proj);
            proj *= model->scale.asDiagonal();
            for (std::size_t k = 0; k < fitted.size(); ++k)
                all.row(Eigen::Index(fitted[k])) = proj.row(Eigen::Index(k));
        }
        x.resize(0, 0);

        // Phase 2: everything outside the sample.
        std::vector<std::size_t> rest;
        rest.reserve(n - m);
        {
            std::vector<char> inSample(n, 0);
            for (const auto i : sample)
                inSample[i] = 1;
            for (std::size_t i = 0; i < n; ++i)
                if (!inSample[i])
                    rest.push_back(i);
        }
        const Eigen::MatrixXf& w = model->components;
        ok = runBatches(rest.size(), threads, progress, m, n, [&](std::size_t b, std::size_t e) {
            PixelMatrix batch(Eigen::Index(e - b), p);
            for (std::size_t k = b; k < e; ++k) {
                const std::size_t i = rest[k];
                if (auto err = loadPixels(source, i, size, channels, batch.row(Eigen::Index(k - b)).data())) {
                    errors[i] = std::move(*err);
                    failed[i] = 1;
                    batch.row(Eigen::Index(k - b)) = model->mean.transpose();
                }
            }
            batch.rowwise() -= model->mean.transpose();
            PixelMatrix proj = batch * w;
            proj *= model->scale.asDiagonal();
            for (std::size_t k = b; k < e; ++k)
                all.row(Eigen::Index(rest[k])) = proj.row(Eigen::Index(k - b));
        });
        if (!ok)
            return fail(what + ": encoding cancelled");

        // Normalise and collect the kept rows in source order.
        EncodedSet result;
        std::size_t kept = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (failed[i])
                continue;
            const float norm = all.row(Eigen::Index(i)).norm();
            if (!(norm > 1e-12f) || !std::isfinite(norm)) {
                errors[i] = source.item(i).path + ": the image equals the mean image after PCA, so it has no "
                                                  "direction for cosine similarity";
                failed[i] = 1;
                continue;
            }
            all.row(Eigen::Index(i)) /= norm;
            ++kept;
        }
        if (kept == 0)
            return fail(what + ": no image could be encoded; first problem: "
                        + *std::find_if(errors.begin(), errors.end(), [](const auto& s) { return !s.empty(); }));
        result.embeddings.resize(Eigen::Index(kept), dims);
        result.items.reserve(kept);
        result.sourceIndices.reserve(kept);
        for (std::size_t i = 0; i < n; ++i) {
            if (failed[i]) {
                result.skipped.push_back(std::move(errors[i]));
                continue;
            }
            result.embeddings.row(Eigen::Index(result.items.size())) = all.row(Eigen::Index(i));
            result.items.push_back(source.item(i));
            result.sourceIndices.push_back(i);
        }
        if (modelOut)
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
