#include "core/encoders/PcaModel.h"

#include "core/encoders/SplitMix64.h"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace labelprop {

namespace {

constexpr float kWhitenEps = 1e-6f;
constexpr float kMinWhitenRatio = 1e-5f;
constexpr std::uint64_t kRangeSeed = 0x5043412d72616e64ull; // "PCA-rand"

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

constexpr char kPcaStateMagic[8] = {'L', 'P', 'P', 'C', 'A', '1', '\n', '\0'};

template <class M>
void appendFloats(std::string& out, const M& m)
{
    const auto* p = reinterpret_cast<const char*>(m.data());
    out.append(p, std::size_t(m.size()) * sizeof(float));
}

} // namespace

PixelMatrix PcaModel::project(const PixelMatrix& rows) const
{
    PixelMatrix centred = rows.rowwise() - mean.transpose();
    PixelMatrix out = centred * components;
    out *= scale.asDiagonal();
    return out;
}

PixelMatrix PcaModel::projectCentred(const PixelMatrix& centred) const
{
    PixelMatrix out;
    gemm(centred, false, PixelMatrix(components), false, out);
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

} // namespace labelprop
