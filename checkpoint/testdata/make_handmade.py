#!/usr/bin/env python3
"""Builds the hand-made safetensors fixtures straight from the format
specification, the way another tool (Python's json + struct) would: header
keys in insertion order, ", "/": " separators, no padding. These files are
committed; they are deliberately NOT produced by package checkpoint.

Run from checkpoint/testdata:  python3 make_handmade.py
"""
import json, struct

def write(path, tensors, metadata=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)

w32 = ("w32", "F32", [3, 4], struct.pack("<12f", *range(12)))
scalar = ("scalar", "F32", [], struct.pack("<f", 2.5))
half = ("h", "F16", [3], struct.pack("<3e", 1.0, -2.0, 65504.0))
bf = ("b", "BF16", [2], bytes.fromhex("003f") + bytes.fromhex("4040"))  # 0.5, 3.0
i64 = ("i", "I64", [2], struct.pack("<2q", 7, -1))
flag = ("flag", "BOOL", [3], bytes([1, 0, 1]))
empty = ("empty", "F32", [0, 4], b"")
f64 = ("d", "F64", [1], struct.pack("<d", -0.25))

write("handmade.safetensors", [w32, scalar, half, bf, i64, flag, empty, f64], {"format": "pt"})

# Sharded layout, as transformers' save_pretrained would name it.
write("handmade_sharded/model-00001-of-00002.safetensors", [w32, scalar], {"format": "pt"})
write("handmade_sharded/model-00002-of-00002.safetensors", [half, bf])
with open("handmade_sharded/model.safetensors.index.json", "w") as f:
    json.dump({"metadata": {"total_size": 48 + 4 + 6 + 4},
               "weight_map": {"w32": "model-00001-of-00002.safetensors",
                              "scalar": "model-00001-of-00002.safetensors",
                              "h": "model-00002-of-00002.safetensors",
                              "b": "model-00002-of-00002.safetensors"}}, f, indent=2)
