//! Which typed parameter struct belongs to which node kind. Kept out of `nodes/mod.rs` so that
//! the node files, which use the runtime in `mod.rs`, are not used by it in turn.

use anyhow::{Result, bail};

use super::Params;

/// The parameter names a node kind's typed struct reads and writes back, for the test that keeps
/// every struct and its spec in `dataflow/kinds.rs` in step: `p` (the spec's defaults) is read
/// into the struct and written out again.
pub fn typed_param_names(kind: &str, p: &Params) -> Result<Vec<String>> {
    fn names<T: serde::de::DeserializeOwned + serde::Serialize>(p: &Params) -> Result<Vec<String>> {
        let t: T = p.typed()?;
        let v = serde_json::to_value(t)?;
        let mut keys: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        keys.sort();
        Ok(keys)
    }
    match kind {
        "source" => names::<super::source::SourceParams>(p),
        "crop" => names::<super::crop::CropParams>(p),
        "backbone" => names::<super::backbone::BackboneParams>(p),
        "head" => names::<super::head::HeadParams>(p),
        "tracker" => names::<super::tracker::TrackerParams>(p),
        "camera" => names::<super::camera::CameraParams>(p),
        "live-view" => names::<super::live_view::LiveViewParams>(p),
        "viewer" => names::<super::viewer::ViewerParams>(p),
        "writer" => names::<super::writer::WriterParams>(p),
        "sampler" => names::<super::sampler::SamplerParams>(p),
        "trainer" => names::<super::trainer::TrainerParams>(p),
        "checkpoint" => names::<super::checkpoint::CheckpointParams>(p),
        "metrics" => names::<super::metrics::MetricsParams>(p),
        other => bail!("node kind `{other}` has no parameter struct"),
    }
}
