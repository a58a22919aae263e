#pragma once
// Runs an image network (the native ViT, a TorchScript module) over every item of a source:
// decoding and preprocessing (ModelInput.h) on a pool of threads, overlapped with the network on
// the calling thread, in batches. Internal to core/encoders; the only part of them besides the
// encoders themselves that sees LibTorch.
//
//   decode workers:  item -> cv::Mat -> 3 x S x S floats into its row of batch b's buffer
//                    (every worker takes the next item, so all of them fill one batch together)
//   calling thread:  batch b (once all its rows are done) -> device, dtype -> forward -> [B, D] -> rows
//
// At most `kBatchesAhead` (3) batches are decoded ahead of the network, so memory stays at a few
// batches (ViT at 224 px: 0.6 MB per image) whatever the source's size. On a GPU the batch
// buffers are page-locked, and the copy to the device is asynchronous.
//
// Thread-safety: runImageModel() may run concurrently with itself; `forward` is called on the
// calling thread only. LibTorch's intra-op thread count and OpenBLAS's are process-wide: they are
// set from TorchRunOptions::threads for the run (LibTorch 1 and OpenBLAS `threads` on the CPU).

#include "core/encoders/Encoder.h"
#include "core/encoders/ModelInput.h"

#include <torch/torch.h>

#include <functional>
#include <string>

namespace labelprop {

class ImageSource;

// Where the network runs and in which precision.
struct TorchPlacement {
    torch::Device device{torch::kCPU};
    torch::ScalarType dtype = torch::kFloat;
    // "cpu fp32", "cuda:0 bf16 (NVIDIA H200)", for logs and the app.
    [[nodiscard]] std::string describe() const;
};

// device=auto|cpu|cuda|cuda:N and dtype=auto|fp32|bf16|fp16 of a spec. auto: CUDA when LibTorch
// sees a GPU (then bf16 where the GPU supports it, else fp16), the CPU in fp32 otherwise. Fails
// for CUDA in a build or on a machine without it, or half precision on the CPU (slower there
// than fp32 and less exact), naming `spec`.
[[nodiscard]] Expected<TorchPlacement> choosePlacement(std::string_view device, std::string_view dtype,
                                                       const std::string& spec);

struct TorchRunOptions {
    ModelInput input;
    int batch = 0;   // images per forward; 0: 16 on the CPU, 128 on a GPU
    int threads = 0; // LibTorch intra-op threads and decode workers; 0: all cores
    TorchPlacement placement;
};

// images: [B, 3, S, S] on the placement's device and dtype; returns [B, D] features (any float
// dtype, any device). The caller's forward runs under torch::InferenceMode.
using BatchForward = std::function<torch::Tensor(const torch::Tensor& images)>;

// Encodes every item of `source`: rows L2-normalised (float32), items that fail to decode left
// out and listed in `skipped`. Fails when nothing could be encoded, when the network throws
// (its message, prefixed by `what`), or when `progress` cancels.
[[nodiscard]] Expected<EncodedSet> runImageModel(const ImageSource& source, const TorchRunOptions& options,
                                                 const BatchForward& forward, const ProgressCallback& progress,
                                                 const std::string& what);

} // namespace labelprop
