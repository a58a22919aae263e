#pragma once
// Small helpers shared by the model code's shape checks and messages (not a public API).

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

namespace labelprop::models::detail {

// "[384, 3, 16, 16]", for messages.
inline std::string shapeOf(const torch::Tensor& t)
{
    std::ostringstream s;
    s << t.sizes();
    return s.str();
}

// The side of a square grid of `tokens` patches, or -1 when `tokens` is not a positive square.
inline int64_t squareSide(int64_t tokens)
{
    if (tokens <= 0)
        return -1;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
    return side * side == tokens ? side : -1;
}

} // namespace labelprop::models::detail
