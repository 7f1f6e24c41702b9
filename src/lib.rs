//! trackflow: OSTrack-family single-object tracking (ViT-B/16 one-stream with candidate
//! elimination, ECCV 2022; ViPT multi-modal prompts, CVPR 2023) in Rust on libtorch, run as
//! dora-rs dataflows described in KDL.
//!
//! The same library serves the fused path (`trackflow track`) and every node of the dataflows.

pub mod bench;
pub mod cuda;
pub mod dataflow;
pub mod draw;
pub mod eval;
pub mod fsutil;
pub mod graph;
pub mod hash;
pub mod imageio;
pub mod launch;
pub mod live;
pub mod modality;
pub mod model;
pub mod nodes;
pub mod paths;
pub mod python;
pub mod results;
pub mod sequence;
pub mod synth;
pub mod tracker;
pub mod train;
pub mod video;
pub mod wire;
pub mod zipfile;
