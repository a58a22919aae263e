#include "core/base/Embeddings.h"

#include <cmath>

namespace labelprop {

Expected<void> validateAndNormaliseRows(EmbeddingMatrix& x, const std::string& source)
{
    if (x.rows() == 0 || x.cols() == 0)
        return fail(source + ": the embedding matrix is empty (" + std::to_string(x.rows()) + " x "
                    + std::to_string(x.cols()) + ")");
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
        auto row = x.row(i);
        double sq = 0.0;
        for (Eigen::Index j = 0; j < row.size(); ++j) {
            const float v = row[j];
            if (!std::isfinite(v))
                return fail(source + ": row " + std::to_string(i) + " (item " + std::to_string(i)
                            + ") has a NaN or Inf value in column " + std::to_string(j)
                            + "; re-run the encoder or drop that item");
            sq += double(v) * v;
        }
        if (sq == 0.0)
            return fail(source + ": row " + std::to_string(i) + " (item " + std::to_string(i)
                        + ") is all zeros, so it has no direction for cosine similarity; "
                          "re-run the encoder or drop that item");
        row *= float(1.0 / std::sqrt(sq));
    }
    return {};
}

} // namespace labelprop
