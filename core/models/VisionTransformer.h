#pragma once
// A native Vision Transformer (Dosovitskiy et al., "An Image Is Worth 16x16 Words") in LibTorch:
// the architecture of timm's and torchvision's VisionTransformer, so that their weights load into
// it (ViTWeights.h), returning one L2-normalised feature vector per image instead of class scores.
// Besides the original ViT it has the variants of timm's and DINOv2's checkpoints that change
// neither the attention nor the MLP: DeiT's distillation token, register tokens (timm ViT-reg,
// DINOv2), layer scale (DeiT III, CaiT, DINOv2), position embeddings without slots for the prefix
// tokens (timm no_embed_class) and the norm after pooling (timm fc_norm).
//
// Thread-safety: forward() changes no state, so several threads may call it on one module at once
// (under torch::InferenceMode, as Labelprop encodes); loading weights or moving the module
// (to(device, dtype)) must not overlap with anything else.

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace labelprop::models {

// What forward() returns per image. Both read the tokens after the final norm: it is the one
// output norm that every class-token checkpoint has (timm norm, torchvision encoder.ln), and DINO's
// and DINOv2's linear evaluations average the normed patch tokens the same way. A model that norms
// after pooling instead (timm fc_norm, ViTConfig::normAfterPooling) pools the un-normed tokens and
// norms the pooled vector, whichever the pooling, as timm's forward_head does (pool, then fc_norm):
// its class token is then fc_norm(class token), what timm gives for such a model with
// global_pool='token'.
enum class ViTPooling {
    ClassToken,      // the class token (what timm's and torchvision's classifier heads read)
    MeanPatchTokens, // the mean of the patch tokens, prefix tokens (class, distillation, registers) left out
};

// Which tokens the position embedding has a slot for. The tokens are always in the order
// [class, distillation, registers, patches], and in every layout the tokens with a slot are the
// first prefix tokens and the patches, so pos_embed is [1, slots + grid * grid, D].
enum class ViTPositionSlots {
    AllTokens,       // every prefix token, then the grid: timm's default, torchvision, DeiT, DINO, DINOv2
    PatchesOnly,     // the grid only (timm no_embed_class=True: DeiT III, timm's ViT-reg and DINOv2-reg)
    AllButRegisters, // the class (and distillation) token, then the grid; registers have none (DINOv2's
                     // register_tokens: inserted after the position embedding is added)
};

[[nodiscard]] const char* toString(ViTPooling pooling);
[[nodiscard]] const char* toString(ViTPositionSlots slots);

struct ViTConfig {
    int64_t imageSize = 224;     // pixels, square: the grid the position embeddings are stored for
    int64_t patchSize = 16;      // pixels, square patches, stride = patch (no overlap)
    int64_t channels = 3;
    int64_t width = 768;         // the token width D
    int64_t depth = 12;          // transformer blocks
    int64_t heads = 12;          // attention heads; width must be a multiple of it
    int64_t mlpWidth = 3072;     // hidden width of each block's MLP
    double layerNormEps = 1e-6;  // timm and torchvision ViTs both use 1e-6 (not LayerNorm's 1e-5)
    bool classToken = true;      // a learned class token is prepended (timm class_token=True)
    bool distillationToken = false; // DeiT distilled: a second prefix token after the class token
    bool qkvBias = true;         // timm's qkv_bias; torchvision always has it
    // Learned tokens after the class and distillation tokens (timm reg_token, DINOv2 register_tokens).
    int64_t registerTokens = 0;
    ViTPositionSlots positionSlots = ViTPositionSlots::AllTokens;
    // x + gamma1 * attn(norm1(x)), then x + gamma2 * mlp(norm2(x)), gammas [D] (timm init_values).
    bool layerScale = false;
    // timm fc_norm (global_pool='avg': MAE, BEiT fine-tunes): the tokens are not normed, the final
    // norm (parameters fc_norm.*, not norm.*) is applied to the pooled vector.
    bool normAfterPooling = false;
    ViTPooling pooling = ViTPooling::ClassToken;

    [[nodiscard]] int64_t gridSize() const { return imageSize / patchSize; } // patches per side
    // The tokens before the patches: class, distillation and register tokens.
    [[nodiscard]] int64_t prefixTokens() const
    {
        return (classToken ? 1 : 0) + (distillationToken ? 1 : 0) + registerTokens;
    }
    // The prefix tokens that have a position-embedding slot (the first ones, see ViTPositionSlots).
    [[nodiscard]] int64_t prefixPositionSlots() const;
    // "ViT width 384, depth 12, heads 6, mlp 1536, patch 16, 224 px, class token", for messages.
    [[nodiscard]] std::string describe() const;
};

// Named sizes (Touvron et al.'s DeiT Ti/S and the original B): arch is "tiny" (width 192,
// 3 heads), "small" (384, 6) or "base" (768, 12), all depth 12 with mlp = 4 x width. Any patch and
// image size, e.g. vitPreset("tiny", 16, 224) for vit_tiny_patch16_224 or vitPreset("small", 4, 32)
// for BYOL from scratch on 32 px images. Throws ModelError for an unknown arch or invalid sizes.
[[nodiscard]] ViTConfig vitPreset(const std::string& arch, int64_t patchSize = 16, int64_t imageSize = 224);

// Throws ModelError naming the first field that is out of range or inconsistent
// (width % heads, imageSize % patchSize, class-token pooling without a class token, negative
// register count, ...).
void validate(const ViTConfig& config);

// Resamples absolute position embeddings to another patch grid exactly as timm's
// resample_abs_pos_embed: the prefix-token slots are kept, the grid is resized with bicubic
// interpolation, align_corners=false and antialias=true (so shrinking low-passes first), in
// float32, and the result has the input's dtype and device.
// posEmbed: [1, prefixSlots + oldGrid * oldGrid, D] (square old grid); returns
// [1, prefixSlots + newHeight * newWidth, D]; the input itself when the grid is already that size.
// DINOv2's own code resamples differently (its interpolate_pos_encoding: bicubic with
// scale_factor (newGrid + 0.1) / oldGrid rather than the target size, and no antialiasing in the
// released models), so a DINOv2 model run at another grid than its 37 x 37 (518 px) gives features
// close to, not equal to, DINOv2's own at that size; at its own grid nothing is resampled and they
// are equal. timm runs DINOv2 weights with this resampler too.
[[nodiscard]] torch::Tensor resamplePositionEmbedding(const torch::Tensor& posEmbed, int64_t prefixSlots,
                                                      int64_t newHeight, int64_t newWidth);

// One pre-norm encoder block: x + Attn(LN1(x)), then x + MLP(LN2(x)), each branch scaled by its
// learned [D] gamma under layer scale. Parameter names follow timm (norm1, attn.qkv, attn.proj,
// ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma).
class ViTBlockImpl : public torch::nn::Module {
public:
    explicit ViTBlockImpl(const ViTConfig& config);
    // x: [B, T, D] -> [B, T, D], same dtype and device.
    [[nodiscard]] torch::Tensor forward(const torch::Tensor& x) const;

private:
    [[nodiscard]] torch::Tensor attention(const torch::Tensor& x) const;

    int64_t m_heads;
    double m_eps;
    torch::nn::LayerNorm m_norm1{nullptr};
    torch::nn::Linear m_qkv{nullptr};
    torch::nn::Linear m_proj{nullptr};
    torch::Tensor m_gamma1; // [D], undefined without layer scale
    torch::nn::LayerNorm m_norm2{nullptr};
    torch::nn::Linear m_fc1{nullptr};
    torch::nn::Linear m_fc2{nullptr};
    torch::Tensor m_gamma2; // [D], undefined without layer scale
};
TORCH_MODULE(ViTBlock);

// The whole encoder. named_parameters() are timm's names (cls_token, dist_token, reg_token,
// pos_embed, patch_embed.proj.*, blocks.N.*, norm.* or fc_norm.*), which ViTWeights maps every
// supported naming onto; the registers are DINOv2's register_tokens under DINOv2's layout
// (ViTPositionSlots::AllButRegisters), as the name in a file tells which layout it has. A new
// module has random weights (the tokens and position embeddings initialised as timm does, the
// layers as LibTorch does): load weights (ViTWeights.h) before use.
class VisionTransformerImpl : public torch::nn::Module {
public:
    explicit VisionTransformerImpl(const ViTConfig& config); // validates config (ModelError)

    // images: [B, channels, H, W], any floating dtype (converted to the parameters' dtype and
    // device), already normalised as the weights expect (e.g. ImageNet mean/std); H and W must be
    // multiples of patchSize and need not equal imageSize: the position embeddings are then
    // resampled for this call (resamplePositionEmbedding). Returns [B, width] float32 on the
    // parameters' device, each row L2-normalised (the pooled token is upcast first, so bf16 and
    // fp16 models give float32 features). Throws ModelError for a wrong shape.
    [[nodiscard]] torch::Tensor forward(const torch::Tensor& images) const;

    // The tokens out of the last block, after the final norm unless the model norms after pooling
    // (normAfterPooling), before pooling: [B, prefixTokens + gh * gw, width] in the parameters'
    // dtype, in the order [class, distillation, registers, patches].
    [[nodiscard]] torch::Tensor forwardTokens(const torch::Tensor& images) const;

    [[nodiscard]] const ViTConfig& config() const { return m_config; }
    // Only the output pooling can change after construction (it holds no weights).
    void setPooling(ViTPooling pooling);

private:
    ViTConfig m_config;
    torch::nn::Conv2d m_patchProj{nullptr};
    torch::Tensor m_classToken;   // [1, 1, D] (undefined without a class token)
    torch::Tensor m_distToken;    // [1, 1, D] (undefined unless DeiT distilled)
    torch::Tensor m_regTokens;    // [1, registerTokens, D] (undefined without registers)
    torch::Tensor m_posEmbed;     // [1, prefixPositionSlots + grid * grid, D]
    torch::nn::ModuleList m_blocks{nullptr};
    torch::nn::LayerNorm m_norm{nullptr}; // norm.*, or fc_norm.* when it norms the pooled vector
};
TORCH_MODULE(VisionTransformer);

} // namespace labelprop::models
