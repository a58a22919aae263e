#pragma once
// Encoders over LibTorch: the native ViT with the weights a user brings (timm, torchvision, DINO,
// DINOv2, DeiT checkpoints, .pth/.pt or .safetensors), and any TorchScript module. They are built
// into liblabelprop-torch.so and reached through makeTorchEncoder() (TorchModule.h).
//
//   vit:WEIGHTS[,size=S][,pool=cls|mean][,heads=H][,crop=F][,interp=bicubic|bilinear]
//              [,norm=imagenet|clip|half|none][,mean=R:G:B][,std=R:G:B][,decode=fast|full]
//              [,batch=B][,threads=T][,device=auto|cpu|cuda[:N]][,dtype=auto|fp32|bf16|fp16]
//   torchscript:FILE,size=S[,crop=...,norm=...,mean=...,std=...,decode=...,batch=...,threads=...,device=...,dtype=...]
//
// The ViT's configuration (depth, width, patch, image size) is read from the weights; options only
// override. size= defaults to the weights' own image size; a different one resamples the position
// embeddings (timm's rule). A TorchScript module gets [B, 3, S, S] float images normalised as
// given and must return [B, D] (or [B, D, 1, 1]); its output is flattened and L2-normalised.
//
// id(): "vit:weights=<XXH3-128 of the file>,<config>,<preprocessing>,pool=..." — the weights by
// content, not by name, so a renamed file keeps its cache and a retrained one does not mix with the
// old vectors; device, dtype, batch and threads are left out (they change the vectors only by
// rounding). The model is loaded on the first encode(), once, and kept.
//
// Thread-safety: encode() may be called from several threads; the first call loads the model
// (others wait), after which they share it read-only.

#include "core/encoders/Encoder.h"

#include <memory>
#include <string_view>

namespace labelprop {

// spec: the whole "vit:..." or "torchscript:..." text. Checks the options and the file (it must
// exist and be readable; it is hashed here), not yet the weights' contents: a file that is not a
// ViT fails at the first encode() with the list of keys that do not fit.
[[nodiscard]] Expected<std::unique_ptr<Encoder>> makeVitEncoder(std::string_view spec);
[[nodiscard]] Expected<std::unique_ptr<Encoder>> makeTorchScriptEncoder(std::string_view spec);

} // namespace labelprop
