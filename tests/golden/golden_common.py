"""Helpers shared by the golden-data generators (generate_ostrack.py, generate_vipt.py).

Each helper draws its random numbers in a fixed order, so moving code here kept every committed
golden file bit for bit.
"""
import sys
import types

import torch


def stub(name, **attrs):
    """Registers an empty module under `name`: the reference code imports some packages for
    logging and visualisation only, and the golden data needs none of them."""
    mod = types.ModuleType(name)
    mod.__path__ = []
    mod.__dict__.update(attrs)
    sys.modules[name] = mod


@torch.no_grad()
def keep_boxes_near_previous(head):
    """Sets the center head's size and offset towers so that predicted sizes stay near the
    previous box (sigmoid(-1.1) = 0.25 of a 4x crop) and offsets near the cell centre; the tracked
    boxes then stay inside the image instead of being clipped, and the comparison stays sharp."""
    for tower, bias in [(head.conv5_size, -1.0986), (head.conv5_offset, 0.5)]:
        tower.weight.mul_(0.05)
        tower.bias.copy_(bias + 0.05 * torch.randn_like(tower.bias))


@torch.no_grad()
def randomize_batchnorm_statistics(net):
    """Gives every BatchNorm non-trivial running statistics, so that eval-mode normalisation is
    checked too (fresh ones are mean 0, variance 1: an identity a wrong formula would pass)."""
    for name, b in net.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(0.1 * torch.randn_like(b))
        elif name.endswith("running_var"):
            b.copy_(0.5 + torch.rand_like(b))


@torch.no_grad()
def network_io(net, z, x, mask, with_boxes):
    """Runs `net` on template `z` and search `x` with candidate elimination on (the model's keep
    ratio) and off (keep 1.0), and returns the inputs and every output the golden tests compare:
    the score, size and offset maps, the backbone tokens, the CE-removed indices per block and,
    `with_boxes`, the decoded boxes. Works in the precision of `net` and the inputs."""
    io = {"template": z, "search": x}
    for tag, keep in [("ce", None), ("noce", 1.0)]:
        out = net(template=z, search=x, ce_template_mask=mask, ce_keep_rate=keep)
        for k in ["score_map", "size_map", "offset_map"]:
            io[f"{tag}.{k}"] = out[k]
        if with_boxes:
            io[f"{tag}.pred_boxes"] = out["pred_boxes"].view(-1, 4)
        io[f"{tag}.tokens"] = out["backbone_feat"]
        for i, r in enumerate(out["removed_indexes_s"]):
            if r is not None:
                io[f"{tag}.removed.{i}"] = r.to(torch.int64)
    return {k: v.contiguous() for k, v in io.items()}
