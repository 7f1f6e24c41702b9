"""Tracks sequences with NanoTrack v2 through OpenCV (cv2.TrackerNano), for `trackflow bench peers`.

    python nanotrack_peer.py MANIFEST.json MODELS_DIR OUT_DIR

MANIFEST.json is written by trackflow: {"sequences": [{"name", "frames": [paths], "init": [x, y, w, h]}]},
the frames and first boxes trackflow's own readers found, so both trackers see exactly the same
input. MODELS_DIR holds nanotrack_backbone_sim.onnx and nanotrack_head_sim.onnx. OUT_DIR receives
<name>.txt (x, y, w, h per frame, tab-separated, OSTrack's result format) and <name>_time.txt
(seconds per frame: decoding excluded, as OSTrack times a frame). The first frame's row is the
init box, as in every OTB-protocol result file.
"""
import json
import os
import sys
import time

import cv2


def main():
    manifest, models, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(manifest) as f:
        sequences = json.load(f)["sequences"]
    params = cv2.TrackerNano_Params()
    params.backbone = os.path.join(models, "nanotrack_backbone_sim.onnx")
    params.neckhead = os.path.join(models, "nanotrack_head_sim.onnx")
    os.makedirs(out, exist_ok=True)
    frames_done = 0
    for seq in sequences:
        tracker = cv2.TrackerNano_create(params)
        boxes, times = [], []
        for i, path in enumerate(seq["frames"]):
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                sys.exit(f"cannot read frame {path}")
            started = time.perf_counter()
            if i == 0:
                x, y, w, h = seq["init"]
                # OpenCV's tracker API takes an integer rectangle.
                tracker.init(image, (int(round(x)), int(round(y)), int(round(w)), int(round(h))))
                box = (x, y, w, h)
            else:
                ok, box = tracker.update(image)
            times.append(time.perf_counter() - started)
            boxes.append(box)
        write(os.path.join(out, seq["name"] + ".txt"), "".join("%s\t%s\t%s\t%s\n" % tuple(b) for b in boxes))
        write(os.path.join(out, seq["name"] + "_time.txt"), "".join("%.6f\n" % t for t in times))
        frames_done += len(boxes)
    print(f"nanotrack: {len(sequences)} sequence(s), {frames_done} frames")


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
