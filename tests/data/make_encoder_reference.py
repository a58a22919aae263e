#!/usr/bin/env python3
"""Reference embeddings for tests/tst_vit_encoder.cpp: a folder of real-world-like images (colour
and gray, PNG with alpha, JPEG, WebP, odd sizes, one at the model's size, one corrupt), a
torchvision ViT with seeded random weights saved the way users' files are, a TorchScript module,
and what PyTorch computes for the images after the preprocessing of core/encoders/ModelInput.h,
written here independently with Python's OpenCV.

usage: make_encoder_reference.py OUTDIR
writes OUTDIR/images/*, vit.pth (torch.save(model.state_dict()): an OrderedDict), vit.safetensors
(the same tensors), cnn.pt (torch.jit.trace of a small CNN), vit_ref.npy / cnn_ref.npy (rows in
the order of paths.txt, L2-normalised; large JPEGs read at reduced scale as decode=fast does),
vit_ref_full.npy (the ViT with every image decoded whole: decode=full), paths.txt (file names, one per line). Exit status 3 when
torch, torchvision or cv2 cannot be imported.
"""

import collections
import math
import os
import sys

import numpy as np

try:
    import cv2
    import torch
    from torchvision.models.vision_transformer import VisionTransformer
except ImportError as e:
    print(f"make_encoder_reference.py: needs python3-torch, python3-torchvision and python3-opencv ({e})", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_vit_reference import randomise  # noqa: E402
from safetensors_writer import safetensors_bytes  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def smooth_image(rng, h, w, c, sigma=None):
    """Blurred noise: structure at several scales, so that resizing and cropping matter."""
    x = rng.integers(0, 256, (h, w, c)).astype(np.uint8)
    return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma or max(1.0, min(h, w) / 20))


def write_images(folder):
    rng = np.random.default_rng(7)
    os.makedirs(folder, exist_ok=True)
    rgba = smooth_image(rng, 200, 300, 4)
    rgba[:, :, 3] = np.linspace(0, 255, 300, dtype=np.float32)[None, :].astype(np.uint8)  # alpha ramp
    rgba[:40, :40, 3] = 0                                                                 # fully transparent corner
    cv2.imwrite(f"{folder}/a_alpha.png", rgba)
    cv2.imwrite(f"{folder}/b_photo.jpg", smooth_image(rng, 480, 640, 3), [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(f"{folder}/c_gray.png", smooth_image(rng, 64, 64, 1))            # enlarged to 256
    cv2.imwrite(f"{folder}/d_exact.png", smooth_image(rng, 224, 224, 3))                  # already 224: unchanged
    cv2.imwrite(f"{folder}/e_tall.webp", smooth_image(rng, 400, 100, 3), [cv2.IMWRITE_WEBP_QUALITY, 101])
    cv2.imwrite(f"{folder}/f_wide.png", smooth_image(rng, 90, 1000, 3))
    # Large enough that decode=fast reads it at 1/2 scale for 224 px, at 1/8 for 32 px; fine
    # detail, so that the reduced decode's pixels differ from the full one's.
    cv2.imwrite(f"{folder}/h_large.jpg", smooth_image(rng, 1100, 1400, 3, sigma=3), [cv2.IMWRITE_JPEG_QUALITY, 90])
    with open(f"{folder}/g_corrupt.png", "wb") as f:
        f.write(b"this is text, not a PNG\n")


REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def decode(path, min_side=0):
    """As core/sources/ImageDecode.cpp: PNG and WebP unchanged (alpha kept), then alpha over white.
    With min_side (decode=fast), a JPEG is read at the largest scale 1/2, 1/4, 1/8 that leaves its
    shorter side at least 2 * min_side."""
    unchanged = path.endswith((".png", ".webp"))
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED if unchanged else (cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR))
    if img is None:
        return None
    if path.endswith(".jpg") and min_side > 0:
        reduction = 1
        while reduction < 8 and min(img.shape[:2]) // (2 * reduction) >= 2 * min_side:
            reduction *= 2
        if reduction > 1:
            img = cv2.imread(path, REDUCED[reduction])
    if img.ndim == 3 and img.shape[2] == 4:
        a = img[:, :, 3:4].astype(np.int64)
        img = ((img[:, :, :3].astype(np.int64) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    return img


def preprocess(img, size=224, crop=0.875, enlarge=cv2.INTER_CUBIC):
    """ModelInput.h: RGB, shorter side to floor(size / crop), centre crop, ImageNet normalisation, CHW."""
    rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB if img.ndim == 2 else cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    if (h, w) != (size, size):
        shorter = max(size, int(math.floor(size / crop)))
        scale = shorter / min(w, h)
        nw = max(size, int(math.floor(w * scale + 0.5)))
        nh = max(size, int(math.floor(h * scale + 0.5)))
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else enlarge)
        x, y = (nw - size) // 2, (nh - size) // 2
        rgb = rgb[y:y + size, x:x + size]
    v = (rgb.astype(np.float32) * np.float32(1 / 255) - MEAN) * (np.float32(1) / STD)
    return np.ascontiguousarray(v.transpose(2, 0, 1))


def safetensors_file(path, state):
    with open(path, "wb") as f:
        f.write(safetensors_bytes([(k, v.detach().contiguous()) for k, v in state.items()]))


def normalised(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def main():
    out = sys.argv[1]
    folder = f"{out}/images"
    write_images(folder)
    names = sorted(n for n in os.listdir(folder) if not n.startswith("g_"))
    with open(f"{out}/paths.txt", "w") as f:
        f.write("".join(n + "\n" for n in names))
    # decode=fast, the default: what the encoder's resize needs (floor(size / crop) px) decides.
    images = [decode(f"{folder}/{n}", min_side=256) for n in names]
    torch.set_num_threads(1)

    vit = VisionTransformer(image_size=224, patch_size=16, num_layers=2, num_heads=3, hidden_dim=192, mlp_dim=768)
    randomise(vit, torch.Generator().manual_seed(11))
    vit.eval()
    state = vit.state_dict()
    assert isinstance(state, collections.OrderedDict)
    torch.save(state, f"{out}/vit.pth")
    safetensors_file(f"{out}/vit.safetensors", state)
    x = torch.from_numpy(np.stack([preprocess(i) for i in images]))
    with torch.no_grad():
        tokens = vit._process_input(x)
        tokens = torch.cat([vit.class_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        features = vit.encoder(tokens)[:, 0]  # the class token after encoder.ln, what heads read
    np.save(f"{out}/vit_ref.npy", normalised(features.numpy()))
    # decode=full: every image decoded whole, as cv2.imread gives it.
    x = torch.from_numpy(np.stack([preprocess(decode(f"{folder}/{n}")) for n in names]))
    with torch.no_grad():
        tokens = torch.cat([vit.class_token.expand(x.shape[0], -1, -1), vit._process_input(x)], dim=1)
        np.save(f"{out}/vit_ref_full.npy", normalised(vit.encoder(tokens)[:, 0].numpy()))

    # A TorchScript module of another kind: a small CNN at 32 px, no border cut (crop=1).
    cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3),
                              torch.nn.AdaptiveAvgPool2d(1))
    torch.manual_seed(5)
    for p in cnn.parameters():
        torch.nn.init.normal_(p, std=0.3)
    cnn.eval()
    images32 = [decode(f"{folder}/{n}", min_side=32) for n in names]
    x32 = torch.from_numpy(np.stack([preprocess(i, size=32, crop=1.0) for i in images32]))
    traced = torch.jit.trace(cnn, x32[:1])
    traced.save(f"{out}/cnn.pt")
    with torch.no_grad():
        np.save(f"{out}/cnn_ref.npy", normalised(cnn(x32).flatten(1).numpy()))


if __name__ == "__main__":
    main()
