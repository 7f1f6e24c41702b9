"""Writes tests/golden/metrics.json: test vectors scored by the public toolkits themselves, for
tests/eval.rs to compare trackflow's protocols against (to 1e-6).

    PYTHONPATH=<site with got10k==0.1.3, six, shapely>:<pytracking checkout> \
        .venv/bin/python tests/golden/generate_metrics.py

Toolkits: got10k 0.1.3 (`got10k.utils.metrics.rect_iou`, used as ExperimentGOT10k.report uses
it: frame 0 dropped, cover mask, image bound), pytracking master
(`pytracking.analysis.extract_results.calc_seq_err_robust` and the curve thresholds of
`extract_results`). The vectors include absent frames, boxes at and past the image border,
boxes at x=0 / y=0, zero-size predictions, short and long result files.
"""
import json
import os
import sys

import numpy as np
import torch

from golden_common import stub

# Only pytracking's error functions are used: load extract_results.py by path, with its
# environment, text-loading and progress-bar imports stood in for.
for name, attrs in [("pytracking", {}), ("pytracking.utils", {}), ("pytracking.utils.load_text", {"load_text": None}),
                    ("pytracking.evaluation", {}), ("pytracking.evaluation.environment", {"env_settings": lambda: None}),
                    ("tqdm", {"tqdm": lambda x, **k: x})]:
    stub(name, **attrs)
import importlib.util  # noqa: E402

_root = next(p for p in sys.path if os.path.isfile(os.path.join(p, "pytracking/analysis/extract_results.py")))
_spec = importlib.util.spec_from_file_location("extract_results", os.path.join(_root, "pytracking/analysis/extract_results.py"))
_er = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_er)
calc_seq_err_robust = _er.calc_seq_err_robust
from got10k.utils.metrics import rect_iou  # noqa: E402

rng = np.random.default_rng(7)
W, H = 320.0, 240.0


def sequence(n):
    gt, x, y, w, h = [], 100.0, 80.0, 40.0, 30.0
    for _ in range(n):
        x += rng.normal(0, 6)
        y += rng.normal(0, 5)
        w = max(2.0, w * np.exp(rng.normal(0, 0.05)))
        h = max(2.0, h * np.exp(rng.normal(0, 0.05)))
        gt.append([x, y, w, h])
    gt = np.array(gt)
    gt[3] = [0.0, 50.0, 30.0, 20.0]          # touching the left border
    gt[4] = [W - 10.0, H - 8.0, 30.0, 20.0]  # past the bottom-right corner
    pred = gt + rng.normal(0, 4, gt.shape)
    pred[:, 2:] = np.abs(pred[:, 2:])
    pred[6] = [-15.0, -10.0, 40.0, 30.0]     # past the top-left corner
    pred[7, 2] = 0.0                          # zero width
    pred = np.round(pred, 3)
    gt = np.round(gt, 3)
    cover = rng.integers(0, 9, n)
    cover[0] = 8
    cover[8:10] = 0                           # absent
    visible = cover > 0
    return pred, gt, cover, visible


cases = []
for c in range(6):
    n = 30 + 7 * c
    pred, gt, cover, visible = sequence(n)
    case = {"pred": pred.tolist(), "gt": gt.tolist(), "cover": cover.tolist(), "visible": visible.tolist(), "bound": [W, H]}
    # GOT-10k: ExperimentGOT10k.report's per-sequence IoUs.
    ious = rect_iou(pred[1:].copy(), gt[1:].copy(), bound=(W, H))
    case["got10k_ious"] = ious[cover[1:] > 0].tolist()
    # pytracking, three dataset flavours; LaSOT uses the visibility flags.
    lasot_gt = gt.copy()
    for ds in ["otb", "uav", "lasot"]:
        p = pred.copy()
        if c % 2 == 1 and ds != "lasot":
            p = p[:-3]                          # a short result file (padded by pytracking)
        if c == 4:
            p = np.concatenate([p, p[-2:]])     # a long one (truncated)
        vis = torch.tensor(visible) if ds == "lasot" else None
        a = torch.tensor(lasot_gt if ds == "lasot" else gt, dtype=torch.float64)
        ov, ce, cn, _ = calc_seq_err_robust(torch.tensor(p, dtype=torch.float64), a, ds, vis)
        n_frames = a.shape[0]
        t_ov = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64)
        t_c = torch.arange(0, 51, dtype=torch.float64)
        t_n = torch.arange(0, 51, dtype=torch.float64) / 100.0
        case[f"pytracking_{ds}"] = {
            "pred": p.tolist(),
            "success": ((ov.view(-1, 1) > t_ov.view(1, -1)).sum(0).double() / n_frames).tolist(),
            "precision": ((ce.view(-1, 1) <= t_c.view(1, -1)).sum(0).double() / n_frames).tolist(),
            "norm_precision": ((cn.view(-1, 1) <= t_n.view(1, -1)).sum(0).double() / n_frames).tolist(),
        }
    cases.append(case)

all_ious = np.concatenate([np.array(c["got10k_ious"]) for c in cases])
summary = {"ao": float(np.mean(all_ious)), "sr50": float(np.mean(all_ious > 0.5)), "sr75": float(np.mean(all_ious > 0.75))}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics.json")
with open(out, "w") as f:
    json.dump({"cases": cases, "got10k": summary}, f)
print("wrote", out, summary)
