#pragma once
// The embedding matrix: n items x d dimensions, float32, row-major (row i is item i).
// One owner holds it; indices and graphs built over it refer to rows by int32 index.

#include "core/base/Error.h"

#include <Eigen/Core>
#include <cstdint>
#include <string>

namespace labelprop {

using EmbeddingMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Checks that every value is finite and no row is all zeros, then scales every row to unit
// L2 norm in place. `source` names the file for the message, e.g.
// "emb.npy: row 17 has a NaN or Inf value".
[[nodiscard]] Expected<void> validateAndNormaliseRows(EmbeddingMatrix& x, const std::string& source);

} // namespace labelprop
