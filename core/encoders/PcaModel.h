#pragma once
// Principal component analysis of pixel rows: the fit behind PcaEncoder, and the fitted model a
// project stores so that items added later embed like the first ones.
//
// Thread-safety: PcaModel is a value; its const members may run concurrently. fitPca() is
// reentrant (it calls OpenBLAS, whose own threading ScopedSingleThreadedBlas controls).

#include "core/base/Error.h"

#include <Eigen/Core>

#include <string>
#include <string_view>

namespace labelprop {

// Row-major float matrix used for pixel rows.
using PixelMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A fitted PCA over p = width x height x channels pixel values.
struct PcaModel {
    Eigen::VectorXf mean;       // p
    Eigen::MatrixXf components; // p x dims; column j is unit-norm component j, its largest-magnitude
                                // entry positive; columns by decreasing variance
    Eigen::VectorXf variances;  // dims; eigenvalues of the sample covariance (divisor m - 1)
    Eigen::VectorXf scale;      // dims; 1, or 1 / (sqrt(variance) + 1e-6) when whitening

    [[nodiscard]] int dims() const { return int(components.cols()); }
    [[nodiscard]] int pixels() const { return int(components.rows()); }
    // Projects rows of raw pixel values (rows x p): ((x - mean) * components) * diag(scale).
    // Rows are not L2-normalised.
    [[nodiscard]] PixelMatrix project(const PixelMatrix& rows) const;
    // The same for rows already centred (the samples fitPca() centred in place), with one OpenBLAS
    // sgemm: (centred * components) * diag(scale), rows x dims.
    [[nodiscard]] PixelMatrix projectCentred(const PixelMatrix& centred) const;
};

enum class PcaSolver {
    Auto,      // Exact when p <= 1024, else Randomized
    Exact,     // eigen-decomposition of the p x p covariance (double precision)
    Randomized // randomized range finder with 4 power iterations on the centred data
};

// Fits a PCA to `samples` (m x p raw pixel rows, m >= 2). `samples` is centred in place (the
// mean is subtracted from every row), which lets callers project the sample rows afterwards with
// `samples * model.components`. Errors: dims < 1 or dims > p; whitening a component with (near)
// zero variance. m must be at least dims + 1. `source` names the data in messages.
[[nodiscard]] Expected<PcaModel> fitPca(PixelMatrix& samples, int dims, bool whiten, const std::string& source,
                                        PcaSolver solver = PcaSolver::Auto);

// The fitted model as bytes (a project stores it) and back. parsePcaModel() checks sizes and
// values; `source` names the data in the error.
[[nodiscard]] std::string serialisePcaModel(const PcaModel& model);
[[nodiscard]] Expected<PcaModel> parsePcaModel(std::string_view bytes, const std::string& source);

} // namespace labelprop
