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
resnet18.pt (a foreign state dict). Exit status 3 when torch or torchvision cannot be imported.
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

    torch.manual_seed(7)
    save(dict(torchvision.models.resnet18().state_dict()), out_dir, "resnet18.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
