"""Writes the golden data that tests/golden.rs compares trackflow against, using the official
OSTrack code (botaoye/OSTrack) and OpenCV. Run once by a developer; the outputs are committed.

    OSTRACK_REPO=/path/to/OSTrack PYTHONPATH=<site with timm, torchvision, easydict, opencv> \
        .venv/bin/python tests/golden/generate_ostrack.py

Used versions: torch 2.11.0 (the project's .venv), timm 1.0.15, torchvision 0.26.0,
opencv-python-headless 4.11.0.86, OSTrack at commit 33b5e12.

What it writes into tests/golden/ostrack/:
  weights.safetensors  a small random-weight OSTrack (64 wide, 4 blocks, CE at blocks 1 and 2)
                       with non-trivial LayerNorm/BatchNorm parameters, keys as upstream names them
  io.safetensors       random template/search inputs and the network's outputs: score/size/offset
                       maps, pred_boxes, the backbone tokens, and the CE-removed indices per layer,
                       with CE on (keep 0.7) and off (keep 1.0)
  io64.safetensors     the same pass with model and inputs in float64 (see below)
  crops.safetensors    sample_target crops (copyMakeBorder + cv.resize) of image.png for a set of
                       boxes, borders included, with their resize factors
  image.png            the image the crops are cut from
  frames/*.jpg         a short synthetic sequence as JPEG (quality 90, 4:2:0), read back with
                       cv2.imread (libjpeg-turbo), as the official tracker reads benchmark frames
  boxes.txt            the official tracker's state after every frame, full float64 precision
  boxes64.txt          the same with network, normalisation and head in float64
  ../jpeg/*.jpg        JPEGs in the encodings benchmarks and cameras produce (4:2:0, 4:2:2, 4:4:4,
                       4:1:1, 4:4:0, progressive, restart markers, grayscale, odd sizes)
  ../jpeg/pixels.safetensors  what cv2.imread decodes each of them to, as RGB

Why float64: float32 results depend on the kernels libtorch picks on a CPU (AVX-512, AVX2,
generic); through a ViT they move by ~1e-4 relative between CPUs. Two correct implementations in
float64 agree to ~1e-12 on any CPU, so a test can demand ~1e-9 there and still see an error as
small as a LayerNorm epsilon of 1e-5 instead of 1e-6 (~1e-6 relative on these activations).
"""
import copy
import math
import os
import sys
import types

import cv2
import numpy as np
import torch
from safetensors.torch import save_file

from golden_common import keep_boxes_near_previous, network_io, randomize_batchnorm_statistics, stub

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ostrack")


for m in ["tensorboardX", "visdom", "visdom.server", "jpeg4py", "lmdb", "wandb", "matplotlib",
          "matplotlib.pyplot", "lib.vis.visdom_cus", "lib.vis.plotting"]:
    stub(m, SummaryWriter=object, Visdom=object)
import collections.abc as _abc  # noqa: E402

stub("torch._six", string_classes=(str, bytes), int_classes=int, container_abcs=_abc)
# The tracker moves everything to CUDA; the golden data is made on the CPU.
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self

sys.path.insert(0, os.environ["OSTRACK_REPO"])
from lib.config.ostrack.config import cfg  # noqa: E402
from lib.models.layers.head import CenterPredictor  # noqa: E402
from lib.models.ostrack.ostrack import OSTrack  # noqa: E402
from lib.models.ostrack.vit_ce import VisionTransformerCE  # noqa: E402
from lib.test.tracker.ostrack import OSTrack as OSTrackTracker  # noqa: E402
from lib.test.tracker.data_utils import Preprocessor  # noqa: E402
from lib.utils.misc import NestedTensor  # noqa: E402
from lib.test.utils.hann import hann2d  # noqa: E402
from lib.train.data.processing_utils import sample_target  # noqa: E402
from lib.utils.ce_utils import generate_mask_cond  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(20221023)
np.random.seed(20221023)

# --- the network -------------------------------------------------------------------------------
cfg.MODEL.BACKBONE.STRIDE = 16
cfg.MODEL.BACKBONE.CE_LOC = [1, 2]
cfg.MODEL.BACKBONE.CE_KEEP_RATIO = [0.7, 0.7]
cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = "CTR_POINT"
cfg.DATA.TEMPLATE.SIZE = 128
cfg.DATA.SEARCH.SIZE = 256
cfg.TEST.TEMPLATE_SIZE = 128
cfg.TEST.SEARCH_SIZE = 256
backbone = VisionTransformerCE(img_size=224, patch_size=16, embed_dim=64, depth=4, num_heads=4, mlp_ratio=4.0,
                               qkv_bias=True, drop_path_rate=0.0, ce_loc=[1, 2], ce_keep_ratio=[0.7, 0.7])
backbone.finetune_track(cfg=cfg, patch_start_index=1)
head = CenterPredictor(inplanes=64, channel=64, feat_sz=16, stride=16)
net = OSTrack(backbone, head, aux_loss=False, head_type="CENTER")
with torch.no_grad():
    for name, p in net.named_parameters():
        # Larger weights than the default init so the maps are peaked and every parameter,
        # norms included, matters.
        if p.dim() == 1:
            p.add_(0.2 * torch.randn_like(p))
        else:
            p.mul_(3.0)
keep_boxes_near_previous(head)
randomize_batchnorm_statistics(net)
net.eval()
os.makedirs(os.path.join(OUT, "frames"), exist_ok=True)
state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items() if "num_batches_tracked" not in k}
save_file(state, os.path.join(OUT, "weights.safetensors"))

# --- one forward pass --------------------------------------------------------------------------
z = torch.randn(1, 3, 128, 128)
x = torch.randn(1, 3, 256, 256)
mask = generate_mask_cond(cfg, 1, "cpu", None)
save_file(network_io(net, z, x, mask, with_boxes=True), os.path.join(OUT, "io.safetensors"))

# --- the same pass in float64 ------------------------------------------------------------------
# No random numbers are drawn here, so every later output stays as it was.
net64 = copy.deepcopy(net).double()
save_file(network_io(net64, z.double(), x.double(), mask, with_boxes=True), os.path.join(OUT, "io64.safetensors"))

# --- crops -------------------------------------------------------------------------------------
h, w = 83, 97
yy, xx = np.mgrid[0:h, 0:w]
image = np.stack([(xx * 7 + yy * 3) % 256, (xx * xx + yy * 5) % 256, (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0))],
                 axis=-1).astype(np.uint8)
cv2.imwrite(os.path.join(OUT, "image.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
cases = [  # box, factor, output size
    ([30.0, 20.0, 20.0, 15.0], 2.0, 128), ([30.0, 20.0, 20.0, 15.0], 4.0, 256),  # upscaling
    ([0.0, 0.0, 12.0, 9.0], 4.0, 256), ([80.5, 70.25, 16.0, 12.0], 4.0, 256),  # past the borders
    ([10.0, 10.0, 60.0, 50.0], 4.0, 64), ([5.0, 7.0, 80.0, 70.0], 2.0, 96),  # downscaling
    ([40.0, 30.0, 16.0, 16.0], 4.0, 32),  # exact 2x: OpenCV's area path
    ([33.3, 21.7, 7.1, 30.2], 5.0, 384), ([60.0, 5.0, 36.0, 20.0], 1.0, 27),
    ([1.5, 2.5, 3.0, 4.0], 3.0, 17), ([47.0, 40.0, 2.0, 2.0], 2.0, 128),
]
crops = {}
for i, (box, factor, size) in enumerate(cases):
    patch, resize_factor, _ = sample_target(image, box, factor, output_sz=size)
    crops[f"{i}.patch"] = torch.from_numpy(np.ascontiguousarray(patch))
    crops[f"{i}.box"] = torch.tensor(box, dtype=torch.float64)
    crops[f"{i}.factor_size"] = torch.tensor([factor, float(size), resize_factor], dtype=torch.float64)
save_file(crops, os.path.join(OUT, "crops.safetensors"))

# --- the tracker on a short sequence -----------------------------------------------------------
n, fh, fw = 10, 240, 320
bg = (np.random.rand(fh // 8, fw // 8, 3) * 255).astype(np.uint8)
bg = cv2.resize(bg, (fw, fh), interpolation=cv2.INTER_CUBIC)
obj = (np.random.rand(6, 6, 3) * 255).astype(np.uint8)
obj = cv2.resize(obj, (30, 24), interpolation=cv2.INTER_NEAREST)
truth = []
for f in os.listdir(os.path.join(OUT, "frames")):
    os.remove(os.path.join(OUT, "frames", f))
for t in range(n):
    frame = bg.copy()
    ox, oy = 120 + 6 * t, 100 + 3 * t
    frame[oy:oy + 24, ox:ox + 30] = obj
    cv2.imwrite(os.path.join(OUT, "frames", f"{t + 1:08d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    truth.append([float(ox), float(oy), 30.0, 24.0])
with open(os.path.join(OUT, "frames", "groundtruth.txt"), "w") as f:
    for b in truth:
        f.write(",".join(f"{v:.1f}" for v in b) + "\n")


class Preprocessor64(Preprocessor):
    """The official Preprocessor with float64 in place of its `.float()`: the same operations
    (/255, - mean, / std) on a float64 tensor."""

    def __init__(self):
        super().__init__()
        self.mean = self.mean.double()
        self.std = self.std.double()

    def process(self, img_arr, amask_arr):
        img = torch.tensor(img_arr).double().permute((2, 0, 1)).unsqueeze(dim=0)
        norm = ((img / 255.0) - self.mean) / self.std
        amask = torch.from_numpy(amask_arr).to(torch.bool).unsqueeze(dim=0)
        return NestedTensor(norm, amask)


def run_tracker(network, preprocessor):
    tracker = OSTrackTracker.__new__(OSTrackTracker)
    tracker.params = types.SimpleNamespace(template_factor=2.0, template_size=128, search_factor=4.0, search_size=256,
                                           debug=False, save_all_boxes=False)
    tracker.cfg = cfg
    tracker.network = network
    tracker.preprocessor = preprocessor
    tracker.feat_sz = 16
    tracker.output_window = hann2d(torch.tensor([16, 16]).long(), centered=True)
    tracker.debug = False
    tracker.save_all_boxes = False
    states = []
    for t in range(n):
        im = cv2.cvtColor(cv2.imread(os.path.join(OUT, "frames", f"{t + 1:08d}.jpg")), cv2.COLOR_BGR2RGB)
        if t == 0:
            tracker.initialize(im, {"init_bbox": truth[0]})
            states.append(list(truth[0]))
        else:
            states.append(list(tracker.track(im)["target_bbox"]))
    return states


for name, network, preprocessor in [("boxes.txt", net, Preprocessor()), ("boxes64.txt", net64, Preprocessor64())]:
    states = run_tracker(network, preprocessor)
    with open(os.path.join(OUT, name), "w") as f:
        for s in states:
            f.write(" ".join(repr(float(v)) for v in s) + "\n")
    print("wrote", name, "boxes:", states[-1])

# --- JPEG decoding -----------------------------------------------------------------------------
# Photo-like content (smooth shading, texture, hard edges, saturated colour) so that every
# decoder stage (IDCT rounding, chroma upsampling at edges and borders) is exercised.
JPEG = os.path.join(os.path.dirname(OUT), "jpeg")
os.makedirs(JPEG, exist_ok=True)
rng = np.random.default_rng(20221023)


def photo(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([120 + 100 * np.sin(xx / 9.0 + yy / 23.0), 90 + 80 * np.cos(yy / 7.0), 60 + 0.6 * xx], axis=-1)
    img += rng.normal(0, 18, size=img.shape)
    img[h // 4:h // 2, w // 3:2 * w // 3] = [250, 20, 30]  # a saturated block with hard edges
    img[(xx - w * 0.7) ** 2 + (yy - h * 0.7) ** 2 < (min(h, w) / 6) ** 2] = [10, 200, 240]
    return np.clip(img, 0, 255).astype(np.uint8)


cases = {
    "420.jpg": (photo(120, 160), [cv2.IMWRITE_JPEG_QUALITY, 90]),
    "422.jpg": (photo(97, 131), [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                 cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422]),
    "444.jpg": (photo(64, 80), [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]),
    "411.jpg": (photo(75, 101), [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411]),
    "440.jpg": (photo(75, 101), [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440]),
    "progressive.jpg": (photo(83, 97), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, 80]),
    "restart.jpg": (photo(90, 90), [cv2.IMWRITE_JPEG_RST_INTERVAL, 3, cv2.IMWRITE_JPEG_QUALITY, 70]),
    "optimized_q30_odd.jpg": (photo(33, 17), [cv2.IMWRITE_JPEG_OPTIMIZE, 1, cv2.IMWRITE_JPEG_QUALITY, 30]),
    "gray.jpg": (cv2.cvtColor(photo(70, 90), cv2.COLOR_RGB2GRAY), [cv2.IMWRITE_JPEG_QUALITY, 90]),
}
pixels = {}
for name, (img, params) in cases.items():
    path = os.path.join(JPEG, name)
    cv2.imwrite(path, img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params)
    decoded = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)  # the official trackers' frame reading
    pixels[name] = torch.from_numpy(np.ascontiguousarray(decoded))
save_file(pixels, os.path.join(JPEG, "pixels.safetensors"))
print("wrote", JPEG, "libjpeg-turbo in OpenCV:", cv2.__version__)
