#pragma once
// Loads the weights a user brings (a StateDict read by WeightsFile.h) into the native
// VisionTransformer: recognises timm's names (also DINO's, DINOv2's, DeiT's and DeiT III's
// checkpoints, which use them) and torchvision's, reads the configuration from the tensors' shapes,
// and refuses a file that does not fit with one ModelError listing every missing key, unexpected
// key and shape mismatch.
//
// Supported besides the plain ViT, all in timm naming and found from the keys and shapes alone:
// DeiT's distillation token (dist_token), register tokens (timm reg_token, DINOv2 register_tokens),
// layer scale (timm and DINOv2 blocks.N.ls1.gamma / ls2.gamma; BEiT's and DeiT III's own
// blocks.N.gamma_1 / gamma_2), position embeddings without prefix slots (timm no_embed_class) and
// the norm after average pooling (timm fc_norm). DINOv2's mask_token is reported as ignored.
// Refused with a message naming the variant: SwiGLU MLPs (DINOv2 ViT-g), a norm before the blocks
// (CLIP), attention pooling, qk-norm and BEiT's relative position biases.
//
// Thread-safety: pure functions over their arguments; loadViTWeights writes the given module,
// which nothing else may use meanwhile.

#include "core/models/StateDict.h"
#include "core/models/VisionTransformer.h"

#include <optional>
#include <string>
#include <vector>

namespace labelprop::models {

enum class ViTNaming {
    // cls_token, dist_token, reg_token or DINOv2's register_tokens, pos_embed, patch_embed.proj,
    // blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma} (ls1.gamma or
    // gamma_1, ls2.gamma or gamma_2), norm or fc_norm
    Timm,
    Torchvision, // class_token, conv_proj, encoder.pos_embedding, encoder.layers.encoder_layer_N.*, encoder.ln
};

[[nodiscard]] const char* toString(ViTNaming naming);

// Where the ViT sits in a state dict.
struct ViTLayout {
    ViTNaming naming = ViTNaming::Timm;
    // Common to every ViT key, e.g. "module." (DistributedDataParallel) or "backbone." (DINO's
    // training checkpoints); empty for a plain state dict.
    std::string prefix;
};

// What the caller decides rather than the file. Each one, when set, overrides what the shapes say.
struct ViTLoadOptions {
    // The input size the model will run at (pixels, square). The position embeddings are resampled
    // to its grid at load time, as timm does when created with another img_size.
    std::optional<int64_t> imageSize;
    // Heads cannot be read from the shapes (qkv is 3D x D whatever the split): without this,
    // width / 64, the head width of every timm, torchvision, DeiT and DINO ViT.
    std::optional<int64_t> heads;
    // default: the mean of the patch tokens for fc_norm models (trained with global_pool='avg') and
    // models without a class token, else the class token
    std::optional<ViTPooling> pooling;
    std::optional<double> layerNormEps;     // default: 1e-6
};

// What the load found besides the weights.
struct ViTLoadReport {
    ViTLayout layout;
    // Keys that were deliberately not loaded: classifier heads (timm head.*, head_dist.*,
    // pre_logits.*; torchvision heads.*), the mask_token of masked-image-modelling training
    // (DINOv2, BEiT) and, under a prefix, everything outside it.
    std::vector<std::string> ignoredKeys;
};

// Which naming and prefix the dict uses, found from the patch-embedding weight
// (patch_embed.proj.weight or conv_proj.weight). `origin` (a file name) starts every message.
// Throws ModelError when no ViT is recognised (listing the dict's first keys) or when several
// prefixes hold one.
[[nodiscard]] ViTLayout detectViTLayout(const StateDict& weights, const std::string& origin);

// The configuration the weights' shapes imply, with `options` applied: width, channels and patch
// from the patch embedding, depth from the block indices, mlp width from block 0, qkv bias, class,
// distillation and register tokens, layer scale and fc_norm from their presence, and which tokens
// the position embedding has slots for plus the image size from its length: [1, prefix + g * g, D]
// (timm's default), [1, g * g, D] (no_embed_class) or, with DINOv2's register_tokens,
// [1, 1 + g * g, D]. Throws ModelError when a key it reads is missing or has an impossible shape,
// or when the file uses a variant that is not supported (naming the variant and its keys).
[[nodiscard]] ViTConfig inferViTConfig(const StateDict& weights, const ViTLayout& layout, const std::string& origin,
                                       const ViTLoadOptions& options = {});

// Copies the weights into `model` (converted to its dtype and device). Every parameter of the
// model must be present with its shape, except that the position embeddings may be stored for
// another square grid (resampled to the model's, see resamplePositionEmbedding). Throws one
// ModelError listing all missing keys, unexpected keys and shape mismatches (name, expected,
// found) in the file's names; the model is left unchanged then.
ViTLoadReport loadViTWeights(VisionTransformerImpl& model, const StateDict& weights, const std::string& origin);

struct LoadedViT {
    VisionTransformer model{nullptr}; // float32 on the CPU, eval() mode
    ViTLoadReport report;
};

// detectViTLayout + inferViTConfig + a new VisionTransformer + loadViTWeights.
[[nodiscard]] LoadedViT loadViT(const StateDict& weights, const std::string& origin,
                                const ViTLoadOptions& options = {});

} // namespace labelprop::models
