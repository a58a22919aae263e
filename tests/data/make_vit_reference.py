#!/usr/bin/python3
"""Reference features for tests/tst_vit.cpp: torchvision VisionTransformer models with seeded random
weights, fixed random images, and what torchvision computes for them.

usage: make_vit_reference.py OUT_DIR

Writes, per case (see CASES), with torch.save of OrderedDicts as model.state_dict() gives them (and
the weights also as .safetensors); read back with core/models' readWeights (torch::pickle_load in LibTorch 1.13
reads a plain dict; the OrderedDict of state_dict() needs the readers in core/models/WeightsFile.h):
  CASE_torchvision.pt  the state dict in torchvision's names (heads.head.* included)
  CASE_timm.pt         the same tensors in timm's names (timm's attn.qkv is torchvision's in_proj)
  CASE_reference.pt    {"input": [B, 3, S, S] images,
                        "cls": [B, D] the class token after encoder.ln (the input of heads), L2-normalised,
                        "mean": [B, D] the mean of the patch tokens after encoder.ln, L2-normalised,
                        "interp_input", "interp_cls", "interp_mean": the same at another input size,
                        with the position embeddings resampled by timm's algorithm (re-implemented below)}
and s4_deit_timm.pt / s4_deit_reference.pt (a DeiT-distilled layout: dist_token after cls_token),
resnet18.pt (a foreign state dict).

The timm and DINOv2 variants (see VARIANTS) have no library here (no timm, no DINOv2 code), so
their features come from timm_features and dinov2_features below: the forward passes of timm's
VisionTransformer and DINOv2's DinoVisionTransformer written out in plain torch ops from those
models' definitions, over torchvision models' random weights in timm's names plus the variant's
own tensors. timm_features is checked against torchvision on the plain weights, and against
dinov2_features on DINOv2 weights that timm's loader converts. Per variant case:
  CASE_<naming>.pt     the weights (see VARIANTS for the namings saved)
  CASE_reference.pt    {"input", "mean", "cls" (with a class token), "interp_input", "interp_mean",
                        "interp_cls": as above, the interp_ ones at a square other size}
Exit status 3 when torch or torchvision cannot be imported.
"""
import collections
import copy
import math
import os
import re
import sys

try:
    import torch
    import torch.nn.functional as F
    import torchvision
    from torchvision.models.vision_transformer import VisionTransformer
except ImportError as e:
    print(f"make_vit_reference.py: needs python3-torch and python3-torchvision ({e})", file=sys.stderr)
    sys.exit(3)

# name, image size, patch, width, depth, mlp width, batch, other input size (height, width).
# Heads are width / 64, as in every timm and torchvision ViT. Depth is cut to keep the test quick.
CASES = [
    ("ti16", 224, 16, 192, 3, 768, 3, (160, 160)),   # ViT-Ti/16 layout at 224 px; shrinks the grid 14 -> 10
    ("s4", 32, 4, 384, 2, 1536, 4, (40, 48)),        # ViT-S width, patch 4 at 32 px; grows 8 -> 10 x 12
    ("b8", 64, 8, 768, 1, 3072, 2, (48, 48)),        # ViT-B width, patch 8
]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_writer import safetensors_bytes  # noqa: E402


def randomise(model, generator):
    """torchvision leaves biases, the class token and LayerNorms at 0/1; give every tensor values
    so that a wrong mapping cannot hide behind a zero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if ".ln" in name or name.startswith("encoder.ln"):
                p.copy_((1.0 + 0.1 * noise) if name.endswith("weight") else 0.05 * noise)
            elif name.endswith("bias"):
                p.copy_(0.05 * noise)
            elif name in ("class_token", "encoder.pos_embedding"):
                p.copy_(0.5 * noise)  # large enough that a wrong position embedding shows


def resample_pos_embed(pos, prefix_tokens, new_hw):
    """timm's resample_abs_pos_embed: prefix tokens kept, the square grid resized with bicubic,
    align_corners=False, antialias=True, in float32."""
    grid = pos[:, prefix_tokens:]
    old = int(math.isqrt(grid.shape[1]))
    d = pos.shape[2]
    grid = grid.float().reshape(1, old, old, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_hw, mode="bicubic", align_corners=False, antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_hw[0] * new_hw[1], d).to(pos.dtype)
    return torch.cat([pos[:, :prefix_tokens], grid], dim=1)


def encode(model, images, prefix, pos_embedding):
    """torchvision's forward up to encoder.ln, with our own prefix tokens and position embeddings
    (its _process_input insists on the model's image size)."""
    n = images.shape[0]
    tokens = model.conv_proj(images).flatten(2).transpose(1, 2)
    tokens = torch.cat([p.expand(n, -1, -1) for p in prefix] + [tokens], dim=1)
    encoder = copy.deepcopy(model.encoder)
    encoder.pos_embedding = torch.nn.Parameter(pos_embedding)
    return encoder(tokens)


def pooled(tokens, prefix_tokens):
    return {"cls": F.normalize(tokens[:, 0], dim=1),
            "mean": F.normalize(tokens[:, prefix_tokens:].mean(dim=1), dim=1)}


TIMM_BLOCK = [("ln_1.", "norm1."), ("self_attention.in_proj_weight", "attn.qkv.weight"),
              ("self_attention.in_proj_bias", "attn.qkv.bias"), ("self_attention.out_proj.", "attn.proj."),
              ("ln_2.", "norm2."), ("mlp.0.", "mlp.fc1."), ("mlp.3.", "mlp.fc2.")]
TIMM_TOP = [("class_token", "cls_token"), ("encoder.pos_embedding", "pos_embed"),
            ("conv_proj.", "patch_embed.proj."), ("encoder.ln.", "norm."), ("heads.head.", "head.")]


def rename(name, table):
    for old, new in table:
        if name.startswith(old):
            return new + name[len(old):]
    raise KeyError(f"no timm name for torchvision's {name}")


def timm_names(state):
    out = {}
    for k, v in state.items():
        m = re.match(r"encoder\.layers\.encoder_layer_(\d+)\.(.*)", k)
        out[f"blocks.{m.group(1)}.{rename(m.group(2), TIMM_BLOCK)}" if m else rename(k, TIMM_TOP)] = v
    return out


def save(obj, out_dir, name):
    """As users' files are: torch.save of an OrderedDict (what model.state_dict() returns)."""
    torch.save(collections.OrderedDict((k, v.detach().clone().contiguous()) for k, v in obj.items()),
               os.path.join(out_dir, name))


def save_safetensors(obj, out_dir, name):
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(safetensors_bytes([(k, v.detach().contiguous()) for k, v in obj.items()]))


# The timm and DINOv2 variants: name, image size, patch, width, depth, batch, other input size
# (square), and what the case adds to a plain ViT:
#   layer_scale   blocks.N.ls1.gamma / ls2.gamma [D] (DeiT III, CaiT, DINOv2)
#   fc_norm       no norm.*; fc_norm.* applied after pooling (timm global_pool='avg': MAE, BEiT fine-tunes)
#   reg_tokens    timm reg_token [1, R, D] after the class token
#   no_embed_class  pos_embed [1, grid * grid, D]: no slots for the class or register tokens
#   class_token   False: no cls_token (timm's ViT-reg "gap" models)
#   dinov2        DINOv2's own layout and forward: mask_token [1, D], register_tokens [1, R, D] that
#                 get no position embedding (pos_embed has the class slot and the grid)
# and the namings it is saved in: timm (as given), gamma (blocks.N.gamma_1 / gamma_2, BEiT's and
# DeiT III's own names), dinov2 (DINOv2's checkpoint), timm_converted (a DINOv2 checkpoint as
# timm's _convert_dinov2 turns it into a no_embed_class ViT: reg_token, cls_token + pos_embed[:, 0],
# pos_embed[:, 1:], no mask_token; saved as safetensors as timm's hub files are).
VARIANTS = [
    ("ls", 32, 4, 128, 2, 3, 48, dict(layer_scale=True), ["timm", "gamma"]),
    ("fcnorm", 32, 4, 128, 2, 3, 48, dict(fc_norm=True), ["timm"]),
    ("reg", 32, 4, 128, 2, 3, 48, dict(reg_tokens=4), ["timm"]),
    ("noembed", 32, 4, 128, 2, 3, 48, dict(no_embed_class=True), ["timm"]),
    ("reggap", 32, 4, 128, 2, 3, 48, dict(class_token=False, reg_tokens=4, no_embed_class=True, fc_norm=True),
     ["timm"]),
    ("deit3", 32, 4, 128, 2, 3, 48, dict(no_embed_class=True, layer_scale=True), ["gamma"]),
    ("dinov2reg", 112, 14, 128, 2, 2, 168, dict(dinov2=True, reg_tokens=4, layer_scale=True),
     ["dinov2", "timm_converted"]),
    # ViT-S/14's layout at its 518 px (37 x 37 patches), narrower and shallower.
    ("dinov2", 518, 14, 128, 1, 2, 224, dict(dinov2=True, layer_scale=True), ["dinov2"]),
]


def block_forward(w, b, x, heads, eps=1e-6):
    """timm's Block, which DINOv2's Block computes too: x + ls1(attn(norm1(x))), then
    x + ls2(mlp(norm2(x))); ls is a learned [D] scale (LayerScale), the identity without one.
    w: timm-named weights, b: the block's prefix "blocks.N."."""
    n, t, d = x.shape
    hd = d // heads
    ls1 = w.get(b + "ls1.gamma", torch.ones(d))
    ls2 = w.get(b + "ls2.gamma", torch.ones(d))
    h = F.layer_norm(x, (d,), w[b + "norm1.weight"], w[b + "norm1.bias"], eps)
    qkv = F.linear(h, w[b + "attn.qkv.weight"], w[b + "attn.qkv.bias"])
    qkv = qkv.reshape(n, t, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    attn = ((q * hd ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    h = (attn @ v).transpose(1, 2).reshape(n, t, d)
    x = x + ls1 * F.linear(h, w[b + "attn.proj.weight"], w[b + "attn.proj.bias"])
    h = F.layer_norm(x, (d,), w[b + "norm2.weight"], w[b + "norm2.bias"], eps)
    h = F.linear(F.gelu(F.linear(h, w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"])), w[b + "mlp.fc2.weight"],
                 w[b + "mlp.fc2.bias"])
    return x + ls2 * h


def blocks_forward(w, x, heads):
    depth = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("blocks."))
    for i in range(depth):
        x = block_forward(w, f"blocks.{i}.", x, heads)
    return x


def timm_features(w, images, patch, heads, no_embed_class, pos_embed, eps=1e-6):
    """timm's VisionTransformer: forward_features (patch_embed, _pos_embed, blocks, norm) and
    forward_head's pooling (pool, then fc_norm), for timm-named weights `w`. _pos_embed: the class
    token, then the register tokens, before the patches; with no_embed_class the position
    embedding is added to the patches before they are joined, else to all tokens after.
    pos_embed: w["pos_embed"] or a resampled one. Returns L2-normalised {"mean", "cls"}."""
    n = images.shape[0]
    x = F.conv2d(images, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=patch)
    x = x.flatten(2).transpose(1, 2)
    to_cat = [w[k].expand(n, -1, -1) for k in ("cls_token", "reg_token") if k in w]
    if no_embed_class:
        x = torch.cat(to_cat + [x + pos_embed], dim=1)
    else:
        x = torch.cat(to_cat + [x], dim=1) + pos_embed
    x = blocks_forward(w, x, heads)
    d = x.shape[2]
    if "norm.weight" in w:
        x = F.layer_norm(x, (d,), w["norm.weight"], w["norm.bias"], eps)
    num_prefix_tokens = sum(t.shape[1] for t in to_cat)
    pooled = {"mean": x[:, num_prefix_tokens:].mean(dim=1)}  # global_pool='avg'
    if "cls_token" in w:
        pooled["cls"] = x[:, 0]  # global_pool='token'
    if "fc_norm.weight" in w:
        pooled = {k: F.layer_norm(v, (d,), w["fc_norm.weight"], w["fc_norm.bias"], eps) for k, v in pooled.items()}
    return {k: F.normalize(v, dim=1) for k, v in pooled.items()}


def dinov2_features(w, images, patch, heads, pos_embed, eps=1e-6):
    """DINOv2's DinoVisionTransformer.forward_features without masks: prepare_tokens_with_masks
    (patch_embed, the cls token joined, the position embedding added, then the register tokens
    inserted after the cls token), the blocks, norm; x_norm_clstoken and the mean of
    x_norm_patchtokens (what its linear evaluation averages). Returns L2-normalised {"mean", "cls"}."""
    n = images.shape[0]
    x = F.conv2d(images, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=patch)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat((w["cls_token"].expand(n, -1, -1), x), dim=1)
    x = x + pos_embed
    registers = w.get("register_tokens")
    if registers is not None:
        x = torch.cat((x[:, :1], registers.expand(n, -1, -1), x[:, 1:]), dim=1)
    x = blocks_forward(w, x, heads)
    x_norm = F.layer_norm(x, (x.shape[2],), w["norm.weight"], w["norm.bias"], eps)
    r = 0 if registers is None else registers.shape[1]
    return {"cls": F.normalize(x_norm[:, 0], dim=1), "mean": F.normalize(x_norm[:, 1 + r:].mean(dim=1), dim=1)}


def timm_from_dinov2(w):
    """timm's _convert_dinov2 for a DINOv2 checkpoint with registers: a no_embed_class ViT whose
    cls_token carries its position embedding."""
    out = {k: v for k, v in w.items() if k not in ("mask_token", "register_tokens", "cls_token", "pos_embed")}
    out["reg_token"] = w["register_tokens"]
    out["cls_token"] = w["cls_token"] + w["pos_embed"][:, 0]
    out["pos_embed"] = w["pos_embed"][:, 1:]
    return out


def gamma_names(w):
    """blocks.N.ls1.gamma -> blocks.N.gamma_1 (BEiT's and DeiT III's own layer-scale names)."""
    return {re.sub(r"\.ls([12])\.gamma$", r".gamma_\1", k): v for k, v in w.items()}


def make_variant(index, name, size, patch, width, depth, batch, other, spec, namings, out_dir):
    g = torch.Generator().manual_seed(2000 + index)
    torch.manual_seed(2000 + index)
    heads = width // 64
    model = VisionTransformer(image_size=size, patch_size=patch, num_layers=depth, num_heads=heads, hidden_dim=width,
                              mlp_dim=4 * width).eval()
    randomise(model, g)
    images = torch.randn(batch, 3, size, size, generator=g)
    other_images = torch.randn(batch, 3, other, other, generator=g)
    grid, other_grid = size // patch, other // patch
    w = timm_names(dict(model.state_dict()))
    with torch.no_grad():
        # timm_features reproduces torchvision on the plain weights before any variant is added.
        plain = timm_features(w, images, patch, heads, False, w["pos_embed"])
        tokens = encode(model, images, [model.class_token], model.encoder.pos_embedding)
        for k, v in pooled(tokens, 1).items():
            if (plain[k] - v).abs().max() > 1e-5:
                raise RuntimeError(f"{name}: timm_features does not reproduce torchvision ({k})")

    def noise(*shape, scale=0.5):
        return scale * torch.randn(*shape, generator=g)

    if spec.get("layer_scale"):
        for i in range(depth):
            for ls in ("ls1", "ls2"):
                w[f"blocks.{i}.{ls}.gamma"] = 0.2 + torch.rand(width, generator=g)
    if spec.get("fc_norm"):
        del w["norm.weight"], w["norm.bias"]
        w["fc_norm.weight"] = 1.0 + noise(width, scale=0.1)
        w["fc_norm.bias"] = noise(width, scale=0.05)
    if spec.get("class_token", True) is False:
        del w["cls_token"]
    registers = spec.get("reg_tokens", 0)
    dinov2 = spec.get("dinov2", False)
    if registers:
        w["register_tokens" if dinov2 else "reg_token"] = noise(1, registers, width)
    if dinov2:
        w["mask_token"] = noise(1, width)
        del w["head.weight"], w["head.bias"]  # DINOv2's checkpoints have no classifier
    # Position-embedding slots before the grid: DINOv2's class token; none with no_embed_class;
    # else one per prefix token (timm's default).
    no_embed_class = spec.get("no_embed_class", False)
    slots = 1 if dinov2 else 0 if no_embed_class else int("cls_token" in w) + registers
    w["pos_embed"] = noise(1, slots + grid * grid, width)

    with torch.no_grad():
        def features(x, pos):
            if dinov2:
                return dinov2_features(w, x, patch, heads, pos)
            return timm_features(w, x, patch, heads, no_embed_class, pos)
        reference = {"input": images, **features(images, w["pos_embed"]), "interp_input": other_images}
        resampled = resample_pos_embed(w["pos_embed"], slots, (other_grid, other_grid))
        for k, v in features(other_images, resampled).items():
            reference["interp_" + k] = v
        if "timm_converted" in namings:
            # timm's view of the same DINOv2 weights must give the same features.
            converted = timm_from_dinov2(w)
            for x, pos, prefix in ((images, converted["pos_embed"], ""),
                                   (other_images, resample_pos_embed(converted["pos_embed"], 0, (other_grid,) * 2),
                                    "interp_")):
                for k, v in timm_features(converted, x, patch, heads, True, pos).items():
                    if (v - reference[prefix + k]).abs().max() > 1e-5:
                        raise RuntimeError(f"{name}: timm's conversion of the DINOv2 weights differs ({prefix}{k})")
    for naming in namings:
        if naming == "timm_converted":
            save_safetensors(timm_from_dinov2(w), out_dir, f"{name}_timm_converted.safetensors")
        else:
            save(gamma_names(w) if naming == "gamma" else w, out_dir, f"{name}_{naming}.pt")
    save(reference, out_dir, f"{name}_reference.pt")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = sys.argv[1]
    torch.set_num_threads(1)
    for index, (name, size, patch, width, depth, mlp, batch, other) in enumerate(CASES):
        g = torch.Generator().manual_seed(1000 + index)
        torch.manual_seed(1000 + index)
        model = VisionTransformer(image_size=size, patch_size=patch, num_layers=depth, num_heads=width // 64,
                                  hidden_dim=width, mlp_dim=mlp).eval()
        randomise(model, g)
        images = torch.randn(batch, 3, size, size, generator=g)
        other_images = torch.randn(batch, 3, other[0], other[1], generator=g)
        with torch.no_grad():
            # The class-token reference is what torchvision's own forward hands to its heads.
            seen = {}
            model.heads.register_forward_hook(lambda _m, inputs, _out: seen.setdefault("x", inputs[0]))
            model(images)
            pos = model.encoder.pos_embedding
            tokens = encode(model, images, [model.class_token], pos)
            if (tokens[:, 0] - seen["x"]).abs().max() > 1e-5:
                raise RuntimeError(f"{name}: encode() does not reproduce torchvision's forward")
            reference = {"input": images, "cls": F.normalize(seen["x"], dim=1), "mean": pooled(tokens, 1)["mean"]}
            resampled = resample_pos_embed(pos, 1, (other[0] // patch, other[1] // patch))
            for k, v in pooled(encode(model, other_images, [model.class_token], resampled), 1).items():
                reference["interp_" + k] = v
            reference["interp_input"] = other_images
        state = dict(model.state_dict())
        save(state, out_dir, f"{name}_torchvision.pt")
        save(timm_names(state), out_dir, f"{name}_timm.pt")
        save_safetensors(timm_names(state), out_dir, f"{name}_timm.safetensors")
        save_safetensors(state, out_dir, f"{name}_torchvision.safetensors")
        save(reference, out_dir, f"{name}_reference.pt")

        if name == "s4":
            # DeiT distilled: [cls, dist, patches] with position embeddings for both prefix tokens.
            dist = 0.5 * torch.randn(1, 1, width, generator=g)
            deit_pos = 0.5 * torch.randn(1, 2 + (size // patch) ** 2, width, generator=g)
            with torch.no_grad():
                tokens = encode(model, images, [model.class_token, dist], deit_pos)
            timm = timm_names(state)
            timm["pos_embed"] = deit_pos
            timm["dist_token"] = dist
            timm["head_dist.weight"] = torch.zeros(1000, width)
            timm["head_dist.bias"] = torch.zeros(1000)
            save(timm, out_dir, "s4_deit_timm.pt")
            save({"input": images, **pooled(tokens, 2)}, out_dir, "s4_deit_reference.pt")

    for index, variant in enumerate(VARIANTS):
        make_variant(index, *variant, out_dir)

    torch.manual_seed(7)
    save(dict(torchvision.models.resnet18().state_dict()), out_dir, "resnet18.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
