"""OSTrack in plain PyTorch (eager), loading trackflow's safetensors weights: the reference that
`trackflow bench model` races against, in the same command, with the same weights.

Written for trackflow from the architecture description (ViT with candidate elimination,
CENTER head); parameter names are OSTrack's checkpoint keys.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)), attn


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, keep):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.mlp, self.keep = Attention(dim, heads), Mlp(dim, int(dim * mlp_ratio)), keep

    def forward(self, x, lens_t, gidx, ctr):
        a, attn = self.attn(self.norm1(x))
        x = x + a
        removed = None
        if self.keep < 1:
            lens_s = attn.shape[-1] - lens_t
            keep = math.ceil(self.keep * lens_s)
            if keep < lens_s:
                score = attn[:, :, ctr:ctr + 1, lens_t:].mean(dim=2).mean(dim=1)
                order = torch.sort(score, dim=1, descending=True)[1]
                top, rest = order[:, :keep], order[:, keep:]
                removed = gidx.gather(1, rest)
                gidx = gidx.gather(1, top)
                xs = x[:, lens_t:].gather(1, top.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
                x = torch.cat([x[:, :lens_t], xs], dim=1)
        return x + self.mlp(self.norm2(x)), gidx, removed


class Backbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        m, d = c["model"], c["model"]["embed_dim"]
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, d, m["patch_size"], m["patch_size"])
        pre = (m["pretrain_img_size"] // m["patch_size"]) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, pre + 1, d))
        zf, xf = c["data"]["template_size"] // m["patch_size"], c["data"]["search_size"] // m["patch_size"]
        self.pos_embed_z = nn.Parameter(torch.zeros(1, zf * zf, d))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, xf * xf, d))
        keeps = [m["ce_keep_ratio"][m["ce_loc"].index(i)] if i in m["ce_loc"] else 1.0 for i in range(m["depth"])]
        self.blocks = nn.ModuleList(Block(d, m["num_heads"], m["mlp_ratio"], k) for k in keeps)
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.ctr = ((zf - 1) // 2) * zf + (zf - 1) // 2

    def forward(self, z, x):
        z = self.patch_embed.proj(z).flatten(2).transpose(1, 2) + self.pos_embed_z
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2) + self.pos_embed_x
        b, lz, lx = x.shape[0], z.shape[1], x.shape[1]
        t = torch.cat([z, x], dim=1)
        gidx = torch.arange(lx, device=x.device).repeat(b, 1)
        removed = []
        for blk in self.blocks:
            t, gidx, r = blk(t, lz, gidx, self.ctr)
            if r is not None:
                removed.append(r)
        t = self.norm(t)
        xs = t[:, lz:]
        if removed:
            xs = torch.cat([xs, xs.new_zeros(b, lx - xs.shape[1], xs.shape[2])], dim=1)
            idx = torch.cat([gidx] + removed, dim=1).unsqueeze(-1).expand(-1, -1, xs.shape[2])
            xs = torch.zeros_like(xs).scatter_(1, idx, xs)
        return torch.cat([t[:, :lz], xs], dim=1)


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CenterHead(nn.Module):
    def __init__(self, cin, ch, feat):
        super().__init__()
        self.feat = feat
        widths = [cin, ch, ch // 2, ch // 4, ch // 8]
        for name, out in [("ctr", 1), ("offset", 2), ("size", 2)]:
            for i in range(4):
                setattr(self, f"conv{i + 1}_{name}", conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{name}", nn.Conv2d(ch // 8, out, 1))

    def tower(self, name, x):
        for i in range(1, 5):
            x = getattr(self, f"conv{i}_{name}")(x)
        return getattr(self, f"conv5_{name}")(x)

    def forward(self, x):
        score = torch.clamp(self.tower("ctr", x).sigmoid(), 1e-4, 1 - 1e-4)
        size = torch.clamp(self.tower("size", x).sigmoid(), 1e-4, 1 - 1e-4)
        return score, size, self.tower("offset", x)


class OSTrackTorch(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.backbone = Backbone(c)
        self.feat = c["data"]["search_size"] // c["model"]["patch_size"]
        self.box_head = CenterHead(c["model"]["embed_dim"], c["model"]["head_channels"], self.feat)

    def forward(self, z, x):
        t = self.backbone(z, x)
        s = t[:, -self.feat * self.feat:]
        fmap = s.transpose(1, 2).contiguous().view(s.shape[0], s.shape[2], self.feat, self.feat)
        return self.box_head(fmap)


def load(config, weights, device):
    net = OSTrackTorch(config)
    missing, unexpected = net.load_state_dict(load_file(weights), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net.eval().to(device)


def serve(args):
    """Benchmark server: loads the model, then for every line `N` on stdin times N calls of
    `model(template, search)` (as OSTrack's tracker calls it once per frame) and prints the
    times in ms as one JSON list. trackflow interleaves these rounds with its own, so both
    see the same machine load."""
    torch.set_num_threads(args["threads"])
    device = torch.device(args["device"])
    kind = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args["precision"]]
    net = load(args["config"], args["weights"], device).to(kind)
    d = args["config"]["data"]
    z = torch.randn(1, 3, d["template_size"], d["template_size"], device=device, dtype=kind)
    x = torch.randn(1, 3, d["search_size"], d["search_size"], device=device, dtype=kind)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            times = []
            for _ in range(int(line)):
                t0 = time.perf_counter()
                net(z, x)
                sync()
                times.append(1e3 * (time.perf_counter() - t0))
            print(json.dumps(times), flush=True)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
