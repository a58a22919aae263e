#include "core/models/VisionTransformer.h"

#include "core/models/ModelError.h"
#include "core/models/TensorShape.h"

#include <cmath>
#include <sstream>

namespace labelprop::models {

using detail::shapeOf;
using detail::squareSide;

const char* toString(ViTPooling pooling)
{
    return pooling == ViTPooling::ClassToken ? "class token" : "mean of patch tokens";
}

const char* toString(ViTPositionSlots slots)
{
    switch (slots) {
    case ViTPositionSlots::AllTokens:
        return "position embeddings for every token";
    case ViTPositionSlots::PatchesOnly:
        return "position embeddings for the patches only";
    case ViTPositionSlots::AllButRegisters:
        return "position embeddings for all but the registers";
    }
    return "?";
}

int64_t ViTConfig::prefixPositionSlots() const
{
    switch (positionSlots) {
    case ViTPositionSlots::AllTokens:
        return prefixTokens();
    case ViTPositionSlots::PatchesOnly:
        return 0;
    case ViTPositionSlots::AllButRegisters:
        return prefixTokens() - registerTokens;
    }
    return prefixTokens();
}

std::string ViTConfig::describe() const
{
    std::ostringstream s;
    s << "width " << width << ", depth " << depth << ", heads " << heads << ", mlp " << mlpWidth << ", patch "
      << patchSize << ", " << imageSize << " px" << (distillationToken ? ", distillation token" : "")
      << (classToken ? "" : ", no class token");
    if (registerTokens > 0)
        s << ", " << registerTokens << " registers";
    if (positionSlots != ViTPositionSlots::AllTokens)
        s << ", " << toString(positionSlots);
    s << (layerScale ? ", layer scale" : "") << (normAfterPooling ? ", norm after pooling (fc_norm)" : "")
      << ", output " << toString(pooling);
    return s.str();
}

ViTConfig vitPreset(const std::string& arch, int64_t patchSize, int64_t imageSize)
{
    ViTConfig config;
    if (arch == "tiny") {
        config.width = 192;
        config.heads = 3;
    } else if (arch == "small") {
        config.width = 384;
        config.heads = 6;
    } else if (arch == "base") {
        config.width = 768;
        config.heads = 12;
    } else {
        throw ModelError("ViT preset '" + arch + "' is unknown; use tiny, small or base");
    }
    config.depth = 12;
    config.mlpWidth = 4 * config.width;
    config.patchSize = patchSize;
    config.imageSize = imageSize;
    validate(config);
    return config;
}

void validate(const ViTConfig& c)
{
    auto fail = [&](const std::string& what) { throw ModelError("ViT configuration (" + c.describe() + "): " + what); };
    if (c.patchSize <= 0 || c.imageSize <= 0 || c.channels <= 0 || c.width <= 0 || c.depth <= 0 || c.heads <= 0
        || c.mlpWidth <= 0)
        fail("every size must be positive");
    if (c.registerTokens < 0)
        fail("the register-token count must not be negative");
    if (c.imageSize % c.patchSize != 0)
        fail("image size " + std::to_string(c.imageSize) + " is not a multiple of the patch size "
             + std::to_string(c.patchSize) + "; choose an image size that is");
    if (c.width % c.heads != 0)
        fail("width " + std::to_string(c.width) + " is not a multiple of heads " + std::to_string(c.heads)
             + "; give a heads count that divides it");
    if (!(c.layerNormEps > 0.0))
        fail("layer-norm eps must be positive");
    if (c.pooling == ViTPooling::ClassToken && !c.classToken)
        fail("class-token output needs a class token; use mean-patch-token pooling");
    if (c.distillationToken && !c.classToken)
        fail("a distillation token comes after a class token; this layout is not supported");
}

torch::Tensor resamplePositionEmbedding(const torch::Tensor& posEmbed, int64_t prefixSlots, int64_t newHeight,
                                        int64_t newWidth)
{
    if (posEmbed.dim() != 3 || posEmbed.size(0) != 1)
        throw ModelError("position embedding is " + shapeOf(posEmbed) + "; expected [1, tokens, width]");
    const int64_t oldGrid = squareSide(posEmbed.size(1) - prefixSlots);
    if (oldGrid < 0)
        throw ModelError("position embedding " + shapeOf(posEmbed) + " has " + std::to_string(posEmbed.size(1))
                         + " tokens, which is not " + std::to_string(prefixSlots)
                         + " prefix slots plus a square grid of patches");
    if (newHeight <= 0 || newWidth <= 0)
        throw ModelError("position embedding: the new grid " + std::to_string(newHeight) + " x "
                         + std::to_string(newWidth) + " is empty");
    if (oldGrid == newHeight && oldGrid == newWidth)
        return posEmbed;
    const int64_t width = posEmbed.size(2);
    // [1, g*g, D] -> [1, D, g, g]: interpolate treats the embedding dimensions as channels.
    torch::Tensor grid = posEmbed.narrow(1, prefixSlots, oldGrid * oldGrid)
                             .to(torch::kFloat)
                             .reshape({1, oldGrid, oldGrid, width})
                             .permute({0, 3, 1, 2});
    namespace F = torch::nn::functional;
    grid = F::interpolate(grid, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{newHeight, newWidth})
                                    .mode(torch::kBicubic)
                                    .align_corners(false)
                                    .antialias(true));
    grid = grid.permute({0, 2, 3, 1}).reshape({1, newHeight * newWidth, width}).to(posEmbed.scalar_type());
    return torch::cat({posEmbed.narrow(1, 0, prefixSlots), grid}, 1);
}

ViTBlockImpl::ViTBlockImpl(const ViTConfig& config)
    : m_heads(config.heads)
    , m_eps(config.layerNormEps)
{
    const int64_t d = config.width;
    auto norm = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(config.layerNormEps)); };
    // timm's nesting (attn.qkv, mlp.fc1), so that named_parameters() are timm's names.
    auto attn = register_module("attn", std::make_shared<torch::nn::Module>());
    auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    m_norm1 = register_module("norm1", norm());
    m_qkv = attn->register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(d, 3 * d).bias(config.qkvBias)));
    m_proj = attn->register_module("proj", torch::nn::Linear(d, d));
    m_norm2 = register_module("norm2", norm());
    m_fc1 = mlp->register_module("fc1", torch::nn::Linear(d, config.mlpWidth));
    m_fc2 = mlp->register_module("fc2", torch::nn::Linear(config.mlpWidth, d));
    if (config.layerScale) {
        // timm's LayerScale modules (ls1.gamma, ls2.gamma), initialised to its init_values 1e-5.
        m_gamma1 = register_module("ls1", std::make_shared<torch::nn::Module>())
                       ->register_parameter("gamma", torch::full({d}, 1e-5));
        m_gamma2 = register_module("ls2", std::make_shared<torch::nn::Module>())
                       ->register_parameter("gamma", torch::full({d}, 1e-5));
    }
}

torch::Tensor ViTBlockImpl::attention(const torch::Tensor& x) const
{
    const int64_t b = x.size(0), t = x.size(1), d = x.size(2), hd = d / m_heads;
    // One fused projection, [B, T, 3D]; its columns are (q|k|v) x heads x hd, as in timm's qkv and
    // torchvision's in_proj. One copy turns it into [3, B*H, T, hd] so that q, k and v are
    // contiguous batches for bmm (matmul on the permuted views would copy each of them anyway).
    const torch::Tensor qkv = torch::linear(x, m_qkv->weight, m_qkv->bias)
                                  .view({b, t, 3, m_heads, hd})
                                  .permute({2, 0, 3, 1, 4})
                                  .contiguous()
                                  .view({3, b * m_heads, t, hd});
    const torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    // scores [B*H, T, T] = q k^T / sqrt(hd); beta = 0 ignores the uninitialised input, and the
    // scale rides on the GEMM's alpha instead of a pass over q.
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    torch::Tensor scores = torch::baddbmm(torch::empty({b * m_heads, t, t}, q.options()), q, k.transpose(1, 2),
                                          /*beta=*/0.0, /*alpha=*/scale);
    // For bf16/fp16, LibTorch's softmax (CPU and CUDA) takes the max, exponentiates and sums in
    // float32 and rounds only the result, so no float32 copy of the [B*H, T, T] scores is needed.
    scores = torch::softmax(scores, -1);
    // [B*H, T, hd] -> [B, T, H*hd]: heads side by side again, as proj expects.
    const torch::Tensor heads = torch::bmm(scores, v).view({b, m_heads, t, hd}).transpose(1, 2).reshape({b, t, d});
    return torch::linear(heads, m_proj->weight, m_proj->bias);
}

namespace {

// x + gamma * branch (one fused pass), or x + branch without layer scale (gamma undefined).
torch::Tensor addBranch(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma)
{
    return gamma.defined() ? torch::addcmul(x, branch, gamma) : x + branch;
}

} // namespace

torch::Tensor ViTBlockImpl::forward(const torch::Tensor& x) const
{
    const int64_t d = x.size(2);
    // layer_norm computes mean and variance in float32 for bf16/fp16 inputs (CPU and CUDA).
    const torch::Tensor y =
        addBranch(x, attention(torch::layer_norm(x, {d}, m_norm1->weight, m_norm1->bias, m_eps)), m_gamma1);
    const torch::Tensor h = torch::layer_norm(y, {d}, m_norm2->weight, m_norm2->bias, m_eps);
    // GELU exact (erf), as timm's nn.GELU and torchvision's MLPBlock.
    const torch::Tensor mlp =
        torch::linear(torch::gelu(torch::linear(h, m_fc1->weight, m_fc1->bias)), m_fc2->weight, m_fc2->bias);
    return addBranch(y, mlp, m_gamma2);
}

VisionTransformerImpl::VisionTransformerImpl(const ViTConfig& config)
    : m_config(config)
{
    validate(config);
    const int64_t d = config.width;
    auto patchEmbed = register_module("patch_embed", std::make_shared<torch::nn::Module>());
    m_patchProj = patchEmbed->register_module(
        "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(config.channels, d, config.patchSize).stride(config.patchSize)));
    // timm's initialisation of the tokens and position embeddings (layers keep LibTorch's).
    if (config.classToken)
        m_classToken = register_parameter("cls_token", torch::randn({1, 1, d}) * 1e-6);
    if (config.distillationToken)
        m_distToken = register_parameter("dist_token", torch::randn({1, 1, d}) * 1e-6);
    // DINOv2's name goes with DINOv2's layout, so that the name in a file tells the layout.
    if (config.registerTokens > 0)
        m_regTokens = register_parameter(
            config.positionSlots == ViTPositionSlots::AllButRegisters ? "register_tokens" : "reg_token",
            torch::randn({1, config.registerTokens, d}) * 1e-6);
    const int64_t grid = config.gridSize();
    m_posEmbed =
        register_parameter("pos_embed", torch::randn({1, config.prefixPositionSlots() + grid * grid, d}) * 0.02);
    m_blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < config.depth; ++i)
        m_blocks->push_back(ViTBlock(config));
    m_norm = register_module(config.normAfterPooling ? "fc_norm" : "norm",
                             torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(config.layerNormEps)));
}

void VisionTransformerImpl::setPooling(ViTPooling pooling)
{
    ViTConfig next = m_config;
    next.pooling = pooling;
    validate(next);
    m_config = next;
}

torch::Tensor VisionTransformerImpl::forwardTokens(const torch::Tensor& images) const
{
    const ViTConfig& c = m_config;
    if (images.dim() != 4 || images.size(1) != c.channels || !images.is_floating_point())
        throw ModelError("ViT input is " + shapeOf(images) + " " + c10::toString(images.scalar_type())
                         + "; expected [batch, " + std::to_string(c.channels)
                         + ", height, width] floating point (convert and normalise the images first)");
    const int64_t gh = images.size(2) / c.patchSize, gw = images.size(3) / c.patchSize;
    if (images.size(2) % c.patchSize != 0 || images.size(3) % c.patchSize != 0 || gh == 0 || gw == 0)
        throw ModelError("ViT input is " + std::to_string(images.size(2)) + " x " + std::to_string(images.size(3))
                         + " px, not a positive multiple of the patch size " + std::to_string(c.patchSize)
                         + "; resize or crop the images (the weights were made for "
                         + std::to_string(c.imageSize) + " px)");
    const torch::Tensor& w = m_patchProj->weight;
    const torch::Tensor x = images.to(w.device(), w.scalar_type());
    // [B, C, H, W] -> [B, D, gh, gw] -> [B, gh*gw, D] (row-major patch order, as timm and torchvision).
    torch::Tensor tokens = torch::conv2d(x, w, m_patchProj->bias, c.patchSize).flatten(2).transpose(1, 2);
    const int64_t b = tokens.size(0), slots = c.prefixPositionSlots();
    const torch::Tensor pos = resamplePositionEmbedding(m_posEmbed, slots, gh, gw); // [1, slots + gh*gw, D]
    tokens = tokens + pos.narrow(1, slots, gh * gw);
    std::vector<torch::Tensor> prefixParts;
    for (const torch::Tensor& part : {m_classToken, m_distToken, m_regTokens})
        if (part.defined())
            prefixParts.push_back(part);
    if (!prefixParts.empty()) {
        // [1, P, D], the slotted prefix tokens first (ViTPositionSlots). Adding the slots to the
        // tokens before joining them is the same sum as timm's concat-then-add (and DINOv2's add,
        // then insert the registers).
        torch::Tensor prefix = torch::cat(prefixParts, 1);
        if (slots > 0)
            prefix = torch::cat({prefix.narrow(1, 0, slots) + pos.narrow(1, 0, slots),
                                 prefix.narrow(1, slots, prefix.size(1) - slots)},
                                1);
        tokens = torch::cat({prefix.expand({b, -1, -1}), tokens}, 1);
    }
    for (const auto& block : *m_blocks)
        tokens = block->as<ViTBlockImpl>()->forward(tokens);
    if (c.normAfterPooling)
        return tokens;
    return torch::layer_norm(tokens, {c.width}, m_norm->weight, m_norm->bias, c.layerNormEps);
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& images) const
{
    const torch::Tensor tokens = forwardTokens(images);
    const int64_t prefix = m_config.prefixTokens();
    // Pool in float32 so that bf16/fp16 models still give float32 features: [B, D].
    torch::Tensor pooled = m_config.pooling == ViTPooling::ClassToken
        ? tokens.select(1, 0).to(torch::kFloat)
        : tokens.narrow(1, prefix, tokens.size(1) - prefix).mean({1}, false, torch::kFloat);
    if (m_config.normAfterPooling) // timm's forward_head: pool, then fc_norm
        pooled = torch::layer_norm(pooled, {m_config.width}, m_norm->weight.to(torch::kFloat),
                                   m_norm->bias.to(torch::kFloat), m_config.layerNormEps);
    namespace F = torch::nn::functional;
    return F::normalize(pooled, F::NormalizeFuncOptions().p(2.0).dim(1).eps(1e-12));
}

} // namespace labelprop::models
