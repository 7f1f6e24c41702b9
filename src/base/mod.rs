//! The bottom layer: what every other layer uses and that knows nothing of tracking.

pub mod cuda;
pub mod diagnostic;
pub mod draw;
pub mod fs;
pub(crate) mod hash;
pub mod image;
pub mod imageio;
pub mod kdl;
pub mod log;
pub mod malloc;
pub mod paths;
pub mod presets;
pub mod python;
pub mod resources;
pub mod rng;
pub mod time;
pub mod zipfile;
