"""Writes the golden data that tests/golden.rs compares trackflow's ViPT against, using the
official ViPT code (jiawen-zhu/ViPT) and OpenCV. Run once by a developer; outputs are committed.

    VIPT_REPO=/path/to/ViPT PYTHONPATH=<site with timm, easydict, opencv> \
        .venv/bin/python tests/golden/generate_vipt.py

Used versions: torch 2.11.0 (the project's .venv), timm 1.0.15, opencv-python-headless
4.11.0.86, ViPT at commit f49f301.

What it writes into tests/golden/vipt/:
  <variant>.safetensors     a small random-weight ViPT backbone + center head (64 wide, 4 blocks,
                            CE at blocks 1 and 2), every prompt parameter perturbed (the fovea
                            temperature included), keys as upstream names them
  <variant>.io.safetensors  random 6-channel template/search inputs and the outputs (backbone
                            tokens, score/size/offset maps, CE-removed indices), CE on and off
  <variant>.io64.safetensors  the same pass with model and inputs in float64: float32 results
                            move by ~1e-4 between CPUs' kernels, float64 ones agree to ~1e-12, so
                            the tests can demand ~1e-9 there (see generate_ostrack.py)
  <variant>.kdl             the architecture, as a trackflow config
  depth.png, color.png      a 16-bit depth image and its colour frame
  rgbd.safetensors          get_x_frame(color, depth, 'rgbcolormap', depth_clip) as H x W x 6
  jet.safetensors           OpenCV's COLORMAP_JET look-up table (256 x 3, BGR)
with <variant> = deep and shaw.
"""
import copy
import importlib.util
import os
import sys

import cv2
import numpy as np
import torch
from safetensors.torch import save_file

from golden_common import keep_boxes_near_previous, network_io, randomize_batchnorm_statistics, stub

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vipt")


for m in ["tensorboardX", "visdom", "jpeg4py", "lmdb", "wandb"]:
    stub(m, SummaryWriter=object, Visdom=object)

sys.path.insert(0, os.environ["VIPT_REPO"])
from lib.config.vipt.config import cfg  # noqa: E402
from lib.models.layers.head import CenterPredictor  # noqa: E402
from lib.models.vipt.ostrack_prompt import ViPTrack  # noqa: E402
from lib.models.vipt.vit_ce_prompt import VisionTransformerCE  # noqa: E402
from lib.utils.ce_utils import generate_mask_cond  # noqa: E402

# The dataset package imports pandas for other loaders; load depth_utils on its own.
_spec = importlib.util.spec_from_file_location(
    "depth_utils", os.path.join(os.environ["VIPT_REPO"], "lib/train/dataset/depth_utils.py"))
_depth_utils = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_depth_utils)
get_x_frame = _depth_utils.get_x_frame

torch.set_num_threads(1)
os.makedirs(OUT, exist_ok=True)
cfg.MODEL.BACKBONE.STRIDE = 16
cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = "CTR_POINT"
cfg.DATA.TEMPLATE.SIZE = 128
cfg.DATA.SEARCH.SIZE = 256
cfg.TEST.TEMPLATE_SIZE = 128
cfg.TEST.SEARCH_SIZE = 256

for variant in ["deep", "shaw"]:
    torch.manual_seed(20230601 + len(variant))
    backbone = VisionTransformerCE(img_size=224, patch_size=16, embed_dim=64, depth=4, num_heads=4, mlp_ratio=4.0,
                                   qkv_bias=True, drop_path_rate=0.0, ce_loc=[1, 2], ce_keep_ratio=[0.7, 0.7],
                                   search_size=(256, 256), template_size=(128, 128), new_patch_size=16,
                                   prompt_type=f"vipt_{variant}")
    head = CenterPredictor(inplanes=64, channel=64, feat_sz=16, stride=16)
    net = ViPTrack(backbone, head, aux_loss=False, head_type="CENTER")
    with torch.no_grad():
        for name, p in net.named_parameters():
            # Larger than the default init, so that every parameter (norms, the fovea
            # temperature) visibly matters.
            if name.endswith("fovea.smooth"):
                p.copy_(torch.rand(1) * 4.0 + 1.0)
            elif p.dim() == 1:
                p.add_(0.2 * torch.randn_like(p))
            elif name.startswith("backbone.pos_embed") or name.endswith("cls_token"):
                p.copy_(0.3 * torch.randn_like(p))
            else:
                p.mul_(3.0)
    keep_boxes_near_previous(head)
    randomize_batchnorm_statistics(net)
    net.eval()
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items() if "num_batches_tracked" not in k}
    save_file(state, os.path.join(OUT, f"{variant}.safetensors"))
    with open(os.path.join(OUT, f"{variant}.kdl"), "w") as f:
        f.write(f"// The architecture of the golden random-weight ViPT model (generate_vipt.py).\n"
                f"model {{\n    embed-dim 64\n    depth 4\n    num-heads 4\n    ce-loc 1 2\n"
                f"    ce-keep-ratio 0.7 0.7\n    head-channels 64\n    prompt \"vipt_{variant}\"\n}}\n")
    z = torch.randn(1, 6, 128, 128)
    x = torch.randn(1, 6, 256, 256)
    mask = generate_mask_cond(cfg, 1, "cpu", None)
    # No random numbers are drawn by the passes, so the float64 one leaves later outputs as they were.
    save_file(network_io(net, z, x, mask, with_boxes=False), os.path.join(OUT, f"{variant}.io.safetensors"))
    net64 = copy.deepcopy(net).double()
    save_file(network_io(net64, z.double(), x.double(), mask, with_boxes=False), os.path.join(OUT, f"{variant}.io64.safetensors"))
    trainable = sum(p.numel() for n, p in net.named_parameters() if "prompt" in n)
    print(variant, "prompt parameters:", trainable)

# --- RGB-D input -------------------------------------------------------------------------------
h, w = 61, 83
yy, xx = np.mgrid[0:h, 0:w]
depth = (800 + 40 * xx + 25 * yy + 300 * np.sin(xx / 4.0)).astype(np.uint16)
depth[5:15, 60:75] = 0  # holes, as a real sensor leaves
depth[40:50, 10:20] = 30000  # far outliers the clip removes
color = np.stack([(xx * 3) % 256, (yy * 4) % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
cv2.imwrite(os.path.join(OUT, "depth.png"), depth)
cv2.imwrite(os.path.join(OUT, "color.png"), color)
frames = {}
for clip in [True, False]:
    img = get_x_frame(os.path.join(OUT, "color.png"), os.path.join(OUT, "depth.png"), dtype="rgbcolormap",
                      depth_clip=clip)
    frames["clip" if clip else "noclip"] = torch.from_numpy(np.ascontiguousarray(img))
save_file(frames, os.path.join(OUT, "rgbd.safetensors"))
lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(1, 256), cv2.COLORMAP_JET)[0]
save_file({"bgr": torch.from_numpy(np.ascontiguousarray(lut))}, os.path.join(OUT, "jet.safetensors"))
print("wrote", OUT)
