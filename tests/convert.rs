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

#[test]
fn mae_encoder_becomes_a_backbone_initialisation() {
    let dir = TempDir::new("mae");
    let cfg = tiny();
    let mut m = OSTrack::new(&cfg, Parts::Backbone, Device::Cpu);
    m.randomize(4);
    let st = dir.path().join("enc.safetensors");
    m.save(&st).unwrap();
    let ckpt = dir.path().join("mae_pretrain_vit_base.pth");
    python(&format!(
        r#"
import torch
from safetensors.torch import load_file
sd = {{k[len("backbone."):]: v for k, v in load_file({w:?}).items() if not k.startswith("backbone.pos_embed_")}}
sd["decoder_embed.weight"] = torch.zeros(2, 2)
torch.save({{"model": sd}}, {o:?})
"#,
        w = st.display().to_string(),
        o = ckpt.display().to_string()
    ));
    let out = dir.path().join("init.safetensors");
    let mut c = trackflow();
    c.args(["convert", "mae"]).arg(&ckpt).args(["--config", "tiny", "-o"]).arg(&out);
    assert!(run(c).status.success());
    let mut b = OSTrack::new(&cfg, Parts::Backbone, Device::Cpu);
    b.load(&out).unwrap();
    // pos_embed_x is the 14×14 grid resized bicubically (align_corners=False) to 16×16.
    let vars = b.vs.variables();
    let pe = &vars["backbone.pos_embed"];
    let grid = pe.narrow(1, 1, 196).transpose(1, 2).reshape([1, 64, 14, 14]);
    let want = grid.upsample_bicubic2d([16, 16], false, None, None).flatten(2, -1).transpose(1, 2);
    let got = &vars["backbone.pos_embed_x"];
    let err = (got - &want).abs().max().double_value(&[]);
    assert!(err < 1e-6, "pos_embed_x differs from bicubic resize by {err}");
    assert_eq!(vars["backbone.pos_embed_z"].size(), [1, 64, 64]);
    assert_eq!(got.kind(), Kind::Float);
}
