#pragma once
// Named tensors as a weights file holds them: the common currency between the weight readers
// (safetensors, PyTorch checkpoints) and the models that load them (VisionTransformer).

#include <torch/torch.h>

#include <string>
#include <vector>

namespace labelprop::models {

struct NamedTensor {
    std::string name;     // as in the file, e.g. "blocks.0.attn.qkv.weight" (timm)
    torch::Tensor value;  // CPU, contiguous, the file's dtype
};

// In file order; names are unique.
using StateDict = std::vector<NamedTensor>;

// The entry called `name`, or nullptr.
[[nodiscard]] const NamedTensor* findTensor(const StateDict& dict, const std::string& name);

} // namespace labelprop::models
