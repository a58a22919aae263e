"""A safetensors writer in plain Python (struct + json; python3-safetensors is not in Debian), for
tests/data/make_weight_files.py and bench/weights_bench.py. It lays files out as the reference
writer does: an 8-byte little-endian header length, the JSON header padded with spaces to a
multiple of 8, then the tensors' bytes in order."""

import json
import struct

import torch


def raw_bytes(t):
    """The tensor's elements, contiguous and little-endian (what a reader must return)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what is compared
    return t.numpy().tobytes()


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
             torch.bool: "BOOL"}


def safetensors_bytes(named, metadata=None, header_order=None, entries=None, pad=True, data=None):
    """A safetensors file as the reference writer lays it out: data in `named` order, the header
    padded with spaces to a multiple of 8. `header_order` lists the tensors' order in the JSON;
    `entries` overrides fields of a tensor's entry, `data` the data buffer (for the bad files)."""
    header, blob = {}, bytearray()
    for name, t in named:
        b = raw_bytes(t)
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [len(blob), len(blob) + len(b)]}
        blob += b
    if entries:
        for name, fields in entries.items():
            header[name].update(fields)
    ordered = {}
    if metadata is not None:
        ordered["__metadata__"] = metadata
    for name in header_order or [n for n, _ in named]:
        ordered[name] = header[name]
    text = json.dumps(ordered, ensure_ascii=True).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(blob if data is None else data)
