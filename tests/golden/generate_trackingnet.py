"""Writes tests/golden/trackingnet.json: submissions scored by the TrackingNet devkit's own
`metrics.evaluate` (SilvioGiancola/TrackingNet-devkit, the code its README says the server
uses), for tests/eval.rs.

The devkit needs pandas < 2 and numpy < 2 (it uses DataFrame.append and np.trapz):

    python3 -m venv /tmp/tn && /tmp/tn/bin/pip install numpy==1.26.4 pandas==1.5.3 tqdm
    PYTHONPATH=<devkit checkout> /tmp/tn/bin/python tests/golden/generate_trackingnet.py

Cases: a good submission, boxes needing rounding (.5 values), a short file, a long file,
zero-size boxes, and a sequence with no file at all.
"""
import io
import json
import os
import sys
import zipfile
from contextlib import redirect_stdout

import numpy as np

import metrics  # the devkit's metrics.py

rng = np.random.default_rng(3)
seqs, subs = {}, {}
for s in range(6):
    n = 20 + 3 * s
    c = np.cumsum(rng.normal(0, 3, (n, 2)), axis=0) + [200, 150]
    wh = np.abs(rng.normal([50, 40], 4, (n, 2)))
    gt = np.round(np.concatenate([c - wh / 2, wh], axis=1), 1)
    gt[2] = [120.5, 80.5, 33.5, 21.5]
    pred = np.round(gt + rng.normal(0, 5, gt.shape), 2)
    pred[3, 2] = 0.0
    if s == 2:
        pred = pred[:-4]
    if s == 3:
        pred = np.concatenate([pred, pred[-2:]])
    pred[4] = [11.5, 12.5, 40.5, 30.5]
    name = f"seq_{s}"
    seqs[name] = gt
    if s != 5:
        subs[name] = pred


def zipped(d):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in d.items():
            z.writestr(f"{k}.txt", "\n".join(",".join(repr(float(x)) for x in r) for r in v) + "\n")
    buf.seek(0)
    return buf


with redirect_stdout(io.StringIO()):
    cov, succ, prec, nprec = metrics.evaluate(zipped(seqs), zipped(subs))
out = {"gt": {k: v.tolist() for k, v in seqs.items()}, "pred": {k: v.tolist() for k, v in subs.items()},
       "success": succ, "precision": prec, "norm_precision": nprec}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trackingnet.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path, succ, prec, nprec, file=sys.stderr)
