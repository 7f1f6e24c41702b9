//! Official checkpoints to safetensors: OSTrack training checkpoints (with their pickled
//! `settings` object, DDP prefixes and BatchNorm counters) and MAE encoders.

use std::path::Path;
use std::process::Command;

use tch::{Device, Kind};
use trackflow::model::{Config, OSTrack, Parts};

use crate::common::{TempDir, root, run, trackflow};

fn python(script: &str) {
    let py = root().join(".venv/bin/python");
    let out = Command::new(py).arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn tiny() -> Config {
    Config::load(&root().join("configs/ostrack/tiny.kdl")).unwrap()
}

/// Writes a checkpoint shaped like OSTrack's `OSTrack_ep0300.pth.tar`.
fn fake_ostrack_checkpoint(weights: &Path, out: &Path) {
    python(&format!(
        r#"
import sys, types, torch
from safetensors.torch import load_file
sd = load_file({w:?})
net = {{"module." + k: v for k, v in sd.items()}}
for k in list(sd):
    if k.endswith("running_var"):
        net["module." + k[: -len("running_var")] + "num_batches_tracked"] = torch.tensor(7)
for name in ["lib", "lib.train", "lib.train.admin"]:
    sys.modules[name] = types.ModuleType(name)
mod = types.ModuleType("lib.train.admin.settings")
class Settings:
    pass
Settings.__module__ = "lib.train.admin.settings"
mod.Settings = Settings
sys.modules["lib.train.admin.settings"] = mod
s = Settings(); s.script_name = "ostrack"
torch.save({{"epoch": 300, "net": net, "net_type": "OSTrack", "settings": s}}, {o:?})
"#,
        w = weights.display().to_string(),
        o = out.display().to_string()
    ));
}

#[test]
fn ostrack_checkpoint_converts_and_loads_strictly() {
    let dir = TempDir::new("convert");
    let mut m = OSTrack::new(&tiny(), Parts::All, Device::Cpu);
    m.randomize(9);
    let st = dir.path().join("orig.safetensors");
    m.save(&st).unwrap();
    let ckpt = dir.path().join("OSTrack_ep0300.pth.tar");
    fake_ostrack_checkpoint(&st, &ckpt);
    let out = dir.path().join("converted.safetensors");
    let mut c = trackflow();
    c.args(["convert", "ostrack"]).arg(&ckpt).args(["--config", "tiny", "-o"]).arg(&out);
    assert!(run(c).status.success());
    let mut back = OSTrack::new(&tiny(), Parts::All, Device::Cpu);
    back.load(&out).unwrap();
    for (k, v) in m.vs.variables() {
        assert!(back.vs.variables()[&k].equal(&v), "{k}");
    }
    // Converted for the wrong preset: the load check names the mismatch.
    let mut c = trackflow();
    c.args(["convert", "ostrack"]).arg(&ckpt).args(["--config", "vitb_256_mae_ce_32x4_ep300", "-o"]).arg(dir.path().join("x.safetensors"));
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("does not load into `vitb_256_mae_ce_32x4_ep300`") && err.contains("shape mismatch"),
        "{err}"
    );
    // A truncated download is named as such.
    let bytes = std::fs::read(&ckpt).unwrap();
    let cut = dir.path().join("cut.pth.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let mut c = trackflow();
    c.args(["convert", "ostrack"]).arg(&cut).args(["--config", "tiny"]);
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("cannot read as a PyTorch checkpoint"), "{err}");
}

/// Writes a checkpoint in the official MAE layout with tests/fixtures/make_mae_checkpoint.py.
fn official_mae_checkpoint(out: &Path, cfg: &Config) {
    let py = root().join(".venv/bin/python");
    let o = Command::new(py)
        .arg(root().join("tests/fixtures/make_mae_checkpoint.py"))
        .arg(out)
        .args([cfg.model.embed_dim.to_string(), cfg.model.depth.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn mae_checkpoint_converts_and_starts_training() {
    let dir = TempDir::new("mae");
    let cfg = tiny();
    let ckpt = dir.path().join("mae_pretrain_vit_base.pth");
    official_mae_checkpoint(&ckpt, &cfg);
    let out = dir.path().join("init.safetensors");
    let mut c = trackflow();
    c.args(["convert", "mae"]).arg(&ckpt).args(["--config", "tiny", "-o"]).arg(&out);
    let o = run(c);
    assert!(o.status.success());
    // Every encoder tensor: cls_token, pos_embed, the two resized grids, patch_embed (2),
    // 12 per block, norm (2).
    let want = 2 + 2 + 2 + 12 * cfg.model.depth as usize + 2;
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("({want} tensors;")), "{}", String::from_utf8_lossy(&o.stdout));

    // The loader of `trackflow train --pretrained` takes the converter's output whole.
    let t = trackflow::train::Trainer::new(&cfg, Device::Cpu, 0, &trackflow::train::Init::Pretrained(out.clone())).unwrap();
    let vars = t.model.vs.variables();
    let file: std::collections::HashMap<String, tch::Tensor> = tch::Tensor::read_safetensors(&out).unwrap().into_iter().collect();
    for (k, v) in &file {
        assert!(vars[k].equal(v), "{k} was not loaded");
    }
    // pos_embed_x is the 14×14 grid resized bicubically (align_corners=False) to 16×16.
    let pe = &vars["backbone.pos_embed"];
    let grid = pe.narrow(1, 1, 196).transpose(1, 2).reshape([1, 64, 14, 14]);
    let resized = grid.upsample_bicubic2d([16, 16], false, None, None).flatten(2, -1).transpose(1, 2);
    let got = &vars["backbone.pos_embed_x"];
    let err = (got - &resized).abs().max().double_value(&[]);
    assert!(err < 1e-6, "pos_embed_x differs from bicubic resize by {err}");
    assert_eq!(vars["backbone.pos_embed_z"].size(), [1, 64, 64]);
    assert_eq!(got.kind(), Kind::Float);

    // The official file itself loads too (the `model.`-less keys, the decoder skipped).
    let direct = dir.path().join("direct.safetensors");
    python(&format!(
        "import torch; from safetensors.torch import save_file; save_file(torch.load({:?})['model'], {:?})",
        ckpt.display().to_string(),
        direct.display().to_string()
    ));
    let mut m = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    assert_eq!(trackflow::train::load_pretrained(&mut m, &direct).unwrap(), want);

    // An encoder with a block missing is refused, naming the keys.
    let partial = dir.path().join("partial.safetensors");
    python(&format!(
        "import torch; from safetensors.torch import save_file; sd = torch.load({:?})['model']; \
         save_file({{k: v for k, v in sd.items() if not k.startswith('blocks.3.')}}, {:?})",
        ckpt.display().to_string(),
        partial.display().to_string()
    ));
    let e = trackflow::train::load_pretrained(&mut m, &partial).unwrap_err().to_string();
    assert!(e.contains("12 missing") && e.contains("backbone.blocks.3.attn.qkv.weight"), "{e}");

    // A trained tracker given as pretrained weights is a one-line error.
    let mut tracker = OSTrack::new(&cfg, Parts::All, Device::Cpu);
    tracker.randomize(1);
    let ost = dir.path().join("ostrack.safetensors");
    tracker.save(&ost).unwrap();
    let e = trackflow::train::load_pretrained(&mut m, &ost).unwrap_err().to_string();
    assert!(e.contains("trained tracker checkpoint") && e.contains("--init"), "{e}");
}
