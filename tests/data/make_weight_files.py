#!/usr/bin/python3
"""Writes the weight files tst_weights reads, with the values PyTorch itself sees in them.

    /usr/bin/python3 tests/data/make_weight_files.py OUT_DIR

Needs Debian's python3-torch and python3-torchvision (1.13 / 0.14). Writes into OUT_DIR:
  - good files: torch.save checkpoints as real code writes them (state_dict() OrderedDicts, nested
    under "model", "state_dict", DINO's "teacher", with optimizer state and argparse.Namespace
    "args", views sharing a storage, fp16/bf16, protocol 4, what PyTorch 2.x writes for a tensor
    with attributes) and safetensors files written by hand (safetensors_writer.py:
    python3-safetensors is not in Debian);
  - expected.tsv: one line per tensor a reader must return, in order:
        file  name  dtype  shape(comma-separated)  byte offset  byte count
    where the bytes, raw little-endian and contiguous, are in file + ".expected";
  - bad files (bad_*): damaged safetensors headers, zip archives that are not checkpoints,
    pickles torch.save does not write. tst_weights lists what each error must say.
"""

import argparse
import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import numpy
import torch
import torchvision

from safetensors_writer import raw_bytes, safetensors_bytes

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)
torch.manual_seed(8)
manifest = []


def path(name):
    return os.path.join(out_dir, name)


def expect(file, named):
    """Records that reading `file` must give the (name, tensor) pairs `named`, in this order."""
    blob = bytearray()
    for name, t in named:
        b = raw_bytes(t)
        shape = ",".join(str(d) for d in t.shape)
        dtype = str(t.dtype).replace("torch.", "")
        manifest.append((file, name, dtype, shape, len(blob), len(b)))
        blob += b
    with open(path(file + ".expected"), "wb") as f:
        f.write(blob)


def tiny_vit():
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                hidden_dim=32, mlp_dim=64, num_classes=10)


def trained_optimizer(model):
    """An SGD optimizer after one step: its state_dict has int keys and momentum tensors."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    return opt.state_dict()


vit = tiny_vit().eval()
vit_sd = vit.state_dict()
vit_items = list(vit_sd.items())
small_sd = collections.OrderedDict(vit_items[:2])
namespace = argparse.Namespace(lr=0.1, arch="vit_tiny", epochs=300, drop_path=0.1, flags=[1, 2], big=2**70)

# --- torch.save checkpoints as real training code writes them --------------------------------------

torch.save(vit_sd, path("vit_state_dict.pt"))
expect("vit_state_dict.pt", vit_items)

mobilenet = torchvision.models.mobilenet_v3_small()  # BatchNorm: int64 num_batches_tracked scalars
mobilenet_sd = mobilenet.state_dict()
torch.save(mobilenet_sd, path("pytorch_model.bin"))  # Hugging Face's name for a torch.save file
expect("pytorch_model.bin", list(mobilenet_sd.items()))

torch.save({"model": vit_sd, "epoch": 3, "args": namespace}, path("nested_model_args.pth"))
expect("nested_model_args.pth", vit_items)

module_sd = collections.OrderedDict((f"module.{k}", v) for k, v in vit_items[:4])
torch.save({"state_dict": module_sd, "epoch": 7}, path("state_dict_module.pt"))
expect("state_dict_module.pt", vit_items[:4])

training_vit = tiny_vit()
training_opt = trained_optimizer(training_vit)
torch.save({"epoch": 3, "optimizer": training_opt, "model": training_vit.state_dict(), "scaler": None},
           path("training_checkpoint.pt"))
expect("training_checkpoint.pt", list(training_vit.state_dict().items()))

torch.save({"epoch": 5, "model_state_dict": vit_sd, "optimizer_state_dict": training_opt, "loss": 0.25},
           path("tutorial_checkpoint.tar"))
expect("tutorial_checkpoint.tar", vit_items)

# DINO: student under DistributedDataParallel ("module." names), teacher plain; the teacher is read.
student = collections.OrderedDict((f"module.backbone.{k}", torch.randn_like(v)) for k, v in vit_items[:3])
teacher = collections.OrderedDict((f"backbone.{k}", v) for k, v in vit_items[:3])
teacher["head.last_layer.weight_g"] = torch.ones(1, 16)
torch.save({"student": student, "teacher": teacher, "optimizer": training_opt, "epoch": 100, "args": namespace,
            "dino_loss": {"center": torch.zeros(1, 16)}}, path("dino_checkpoint.pth"))
expect("dino_checkpoint.pth", list(teacher.items()))

# Several candidates: the first of kStateDictKeys (TorchPickle.h) wins.
ema = collections.OrderedDict((k, v + 1) for k, v in vit_items[:2])
torch.save({"model_ema": ema, "model": small_sd, "epoch": 1}, path("model_and_ema.pt"))
expect("model_and_ema.pt", list(small_sd.items()))
torch.save({"model": small_sd}, path("model_only.pth"))  # the wrapper alone: names without "model."
expect("model_only.pth", list(small_sd.items()))
torch.save({"model": ema, "state_dict": small_sd}, path("state_dict_before_model.pt"))
expect("state_dict_before_model.pt", list(small_sd.items()))

dtypes = collections.OrderedDict([
    ("half", torch.randn(3, 4).half()),
    ("bfloat16", torch.randn(2, 5).bfloat16()),
    ("double", torch.randn(3).double()),
    ("int32", torch.arange(-3, 3, dtype=torch.int32)),
    ("int64", torch.tensor([2**40, -1])),
    ("int16", torch.tensor([-300, 7], dtype=torch.int16)),
    ("int8", torch.tensor([-5, 6], dtype=torch.int8)),
    ("uint8", torch.tensor([0, 255], dtype=torch.uint8)),
    ("bool", torch.tensor([True, False, True])),
    ("scalar", torch.tensor(2.5)),
    ("empty", torch.zeros(0, 3)),
])
torch.save(dtypes, path("dtypes.pt"))
expect("dtypes.pt", list(dtypes.items()))

# Views: slices, a transpose, a column and a scalar share one storage with the whole tensor.
t = torch.arange(20.0).reshape(4, 5)
views = {"a": t[1:3], "b": t.t(), "col": t[:, 1], "elem": t[2, 3], "whole": t}
torch.save(views, path("views.pt"))
expect("views.pt", list(views.items()))

params = {"w": torch.nn.Parameter(torch.randn(2, 3)),
          "backbone": {"fc": {"weight": torch.randn(4, 2), "bias": torch.zeros(4)}},
          "tied": t}
params["tied_again"] = t  # one tensor under two names
torch.save(params, path("parameters_nested.pt"))
expect("parameters_nested.pt", [("w", params["w"]), ("backbone.fc.weight", params["backbone"]["fc"]["weight"]),
                                ("backbone.fc.bias", params["backbone"]["fc"]["bias"]), ("tied", t),
                                ("tied_again", t)])

for protocol in (3, 4, 5):
    torch.save(vit_sd, path(f"protocol{protocol}.pt"), pickle_protocol=protocol)
    expect(f"protocol{protocol}.pt", vit_items)


class SubclassLikeTensor:
    """Pickles as PyTorch 2.x does a tensor with attributes: _rebuild_from_type_v2 around v2."""

    def __init__(self, t):
        self.t = t

    def __reduce__(self):
        t = self.t
        args = (t.storage(), t.storage_offset(), tuple(t.size()), t.stride(), False, collections.OrderedDict())
        return (torch._tensor._rebuild_from_type_v2,
                (torch._utils._rebuild_tensor_v2, torch.Tensor, args, {"foo": 1}))


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    """PyTorch >= 2.0 has this in torch._utils; 1.13 does not, so one stands in while saving."""
    return torch.nn.Parameter(data, requires_grad)


_rebuild_parameter_with_state.__module__ = "torch._utils"
torch._utils._rebuild_parameter_with_state = _rebuild_parameter_with_state


class ParameterWithState:
    """Pickles as PyTorch 2.x does a Parameter with attributes."""

    def __init__(self, t):
        self.t = t

    def __reduce__(self):
        return (torch._utils._rebuild_parameter_with_state, (self.t, True, collections.OrderedDict(), {"x": 1}))


v2 = torch.randn(3, 2)
p2 = torch.randn(4)
torch.save({"v2": SubclassLikeTensor(v2), "p2": ParameterWithState(p2)}, path("pytorch2_rebuilds.pt"))
expect("pytorch2_rebuilds.pt", [("v2", v2), ("p2", p2)])



class StorageRef:
    """Stands for a storage in CudaPickler's pickle."""

    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class CudaPickler(pickle.Pickler):
    """Writes storage references as torch.save does for tensors saved on a GPU."""

    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", torch.FloatStorage, obj.key, "cuda:0", obj.numel)
        return None


class TensorOn:
    def __init__(self, key, t):
        self.key, self.t = key, t

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (StorageRef(self.key, self.t.numel()), 0, tuple(self.t.shape),
                                                  self.t.stride(), False, collections.OrderedDict()))


# A checkpoint saved from a GPU (location "cuda:0"), its zip written by Python's zipfile: read to the CPU.
on_gpu = collections.OrderedDict([("w", torch.randn(3, 4)), ("b", torch.randn(3))])
buf = io.BytesIO()
CudaPickler(buf, protocol=2).dump(collections.OrderedDict((k, TensorOn(str(i), v)) for i, (k, v) in enumerate(on_gpu.items())))
with zipfile.ZipFile(path("saved_on_gpu.pt"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("saved_on_gpu/data.pkl", buf.getvalue())
    for i, v in enumerate(on_gpu.values()):
        z.writestr(f"saved_on_gpu/data/{i}", raw_bytes(v))
    z.writestr("saved_on_gpu/version", "3\n")
expect("saved_on_gpu.pt", list(on_gpu.items()))

# --- safetensors, written by hand ------------------------------------------------------------------

def write(name, content):
    with open(path(name), "wb") as f:
        f.write(content)


st_named = [
    ("f32", torch.randn(2, 3)),
    ("f16", torch.randn(4).half()),
    ("bf16", torch.randn(3, 1).bfloat16()),
    ("f64", torch.randn(2).double()),
    ("i64", torch.tensor([-(2**62), 5])),
    ("i32", torch.tensor([1, -2, 3], dtype=torch.int32)),
    ("i16", torch.tensor([-7], dtype=torch.int16)),
    ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
    ("u8", torch.tensor([0, 200, 255], dtype=torch.uint8)),
    ("bool", torch.tensor([True, False])),
    ("scalar", torch.tensor(-1.5)),
    ("empty", torch.zeros(0, 3)),
    ("caf\u00e9.\U0001F600 \"quoted\" \\ name", torch.randn(2)),  # \u escapes, a surrogate pair
]
reversed_order = [n for n, _ in reversed(st_named)]
write("handmade.safetensors", safetensors_bytes(st_named, metadata={"format": "pt", "note": "caf\u00e9"},
                                                header_order=reversed_order))
expect("handmade.safetensors", st_named)

write("vit.safetensors", safetensors_bytes(vit_items))
expect("vit.safetensors", vit_items)

write("unpadded_no_metadata.safetensors", safetensors_bytes(st_named[:2], pad=False))
expect("unpadded_no_metadata.safetensors", st_named[:2])

# --- bad safetensors -------------------------------------------------------------------------------

two = [("a", torch.randn(2, 3)), ("b", torch.randn(4))]
good_two = safetensors_bytes(two)
n = struct.unpack("<Q", good_two[:8])[0]
write("bad_header_length_beyond_file.safetensors", struct.pack("<Q", 10**6) + good_two[8:])
write("bad_header_length_too_short.safetensors", struct.pack("<Q", n - 20) + good_two[8:])
write("bad_overlap.safetensors", safetensors_bytes(two, entries={"b": {"data_offsets": [16, 32]}}, data=bytes(32)))
write("bad_gap.safetensors", safetensors_bytes(two, entries={"b": {"data_offsets": [32, 48]}}, data=bytes(48)))
write("bad_size_mismatch.safetensors", safetensors_bytes(two, entries={"a": {"shape": [2, 4]}}))
write("bad_end_before_begin.safetensors", safetensors_bytes(two, entries={"b": {"data_offsets": [40, 24]}}))
write("bad_offsets_past_end.safetensors", safetensors_bytes(two, data=bytes(30)))
write("bad_trailing_bytes.safetensors", safetensors_bytes(two, data=raw_bytes(two[0][1]) + raw_bytes(two[1][1]) + bytes(8)))
write("bad_unknown_dtype.safetensors", safetensors_bytes(two, entries={"a": {"dtype": "F7"}}))
write("bad_unsupported_dtype.safetensors", safetensors_bytes(two, entries={"b": {"dtype": "U16", "shape": [8]}}))
write("bad_negative_shape.safetensors", safetensors_bytes(two, entries={"b": {"shape": [-4]}}))
write("bad_float_offset.safetensors", safetensors_bytes(two, entries={"b": {"data_offsets": [24.0, 40]}}))
write("bad_missing_shape.safetensors", safetensors_bytes(two, entries={"a": {"shape": None}}))
write("bad_metadata.safetensors", safetensors_bytes(two, metadata={"epoch": 3}))


def with_header(text, data=b""):
    return struct.pack("<Q", len(text)) + text + data


data_two = raw_bytes(two[0][1]) + raw_bytes(two[1][1])
header_two = good_two[8:8 + n].rstrip(b" ")
write("bad_json_trailing_comma.safetensors", with_header(header_two[:-1] + b",}", data_two))
write("bad_json_duplicate_key.safetensors",
      with_header(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                  b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', bytes(16)))
write("bad_json_control_char.safetensors",
      with_header(b'{"a\x01": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', bytes(8)))
write("bad_json_not_object.safetensors", with_header(b'{"a": [1, 2]}', b""))

# --- bad checkpoints -------------------------------------------------------------------------------

small = small_sd
torch.save(small, path("small.pt"))
expect("small.pt", vit_items[:2])


def rewrite_zip(src, dst, drop=(), replace=None):
    """Copies the zip `src` to `dst` without the records ending in `drop`, replacing the contents
    of those ending in a key of `replace`."""
    replace = replace or {}
    with zipfile.ZipFile(path(src)) as zin, zipfile.ZipFile(path(dst), "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if any(info.filename.endswith(d) for d in drop):
                continue
            content = zin.read(info.filename)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    content = new
            zout.writestr(info.filename, content)


def archive(dst, records):
    with zipfile.ZipFile(path(dst), "w", zipfile.ZIP_STORED) as z:
        for name, content in records.items():
            z.writestr(name, content)


small_pickle = zipfile.ZipFile(path("small.pt")).read("small/data.pkl")
rewrite_zip("small.pt", "bad_missing_storage.pt", drop=("small/data/1",))
rewrite_zip("small.pt", "bad_short_storage.pt", replace={"small/data/0": b"\0" * 12})
rewrite_zip("small.pt", "bad_protocol0_pickle.pt", replace={"data.pkl": pickle.dumps({"a": 1}, protocol=0)})
rewrite_zip("small.pt", "bad_truncated_pickle.pt", replace={"data.pkl": small_pickle[:len(small_pickle) // 2]})
rewrite_zip("small.pt", "bad_pickle_no_stop.pt", replace={"data.pkl": small_pickle[:-1]})
archive("bad_zip_without_data_pkl.pt", {"archive/version": b"3\n", "archive/data/0": bytes(16)})
archive("bad_plain_zip.zip", {"readme.txt": b"hello"})


class LegacyStorage:
    def __reduce__(self):
        return (torch.storage._load_from_bytes, (b"\x80\x02.",))


archive("bad_load_from_bytes.pt", {"archive/version": b"3\n",
                                   "archive/data.pkl": pickle.dumps({"w": LegacyStorage()}, protocol=2)})


class ViewPastStorage:
    """A tensor reference of 100 elements into a storage of 10."""

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (torch.zeros(10).storage(), 0, (100,), (1,), False, collections.OrderedDict()))


torch.save({"w": ViewPastStorage()}, path("bad_view_past_storage.pt"))
torch.save({"epoch": 3, "args": namespace, "optimizer": {"state": {}, "param_groups": []}},
           path("bad_no_state_dict.pt"))
torch.save({"model": {"w": torch.zeros(2), "n_averaged": 5}}, path("bad_model_not_tensors.pt"))
torch.save({"module.x": torch.zeros(2), "x": torch.ones(2)}, path("bad_duplicate_after_strip.pt"))
torch.save({"q": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)}, path("bad_quantized.pt"))
torch.save(small, path("bad_legacy_format.pt"), _use_new_zipfile_serialization=False)
torch.jit.script(torch.nn.Linear(2, 2)).save(path("bad_torchscript.pt"))
write("bad_plain_pickle.pkl", pickle.dumps({"a": 1.0}, protocol=2))
numpy.save(path("bad_numpy.npy"), numpy.zeros(3, dtype=numpy.float32))

with open(path("expected.tsv"), "w") as f:
    for row in manifest:
        f.write("\t".join(str(x) for x in row) + "\n")
print(f"wrote {len(set(r[0] for r in manifest))} good files, {len(manifest)} tensors to {out_dir}")
