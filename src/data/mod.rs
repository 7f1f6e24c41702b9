//! Data in and out: sequences in the benchmarks' layouts (one reader per layout), their
//! modalities, video files, cameras, synthetic sequences, training datasets and result files.

pub mod camera;
pub mod datasets;
pub mod modality;
pub mod results;
pub mod sequence;
pub mod synth;
pub mod video;
