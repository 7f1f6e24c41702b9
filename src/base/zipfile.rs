//! Submission archives for the benchmark servers (GOT-10k, TrackingNet, the VOT-LT layout),
//! written with the `zip` crate (deflated entries) and saved atomically: a server or a person
//! never sees half an archive.

use std::io::{Cursor, Write};
use std::path::Path;

use anyhow::{Context, Result};
use zip::write::SimpleFileOptions;

/// Builds a ZIP archive in memory.
pub(crate) struct ZipBuilder {
    writer: zip::ZipWriter<Cursor<Vec<u8>>>,
}

impl Default for ZipBuilder {
    fn default() -> Self {
        Self { writer: zip::ZipWriter::new(Cursor::new(Vec::new())) }
    }
}

impl ZipBuilder {
    /// Adds a file. Names use `/` separators. Entries carry a fixed 1980-01-01 timestamp, so
    /// packing the same results twice gives the same bytes.
    pub(crate) fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        self.writer.start_file(name, options).with_context(|| format!("cannot add {name} to the archive"))?;
        self.writer.write_all(data).with_context(|| format!("cannot add {name} to the archive"))?;
        Ok(())
    }

    /// The finished archive.
    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        Ok(self.writer.finish().context("cannot finish the archive")?.into_inner())
    }

    /// Writes the archive atomically.
    pub fn write(self, path: &Path) -> Result<()> {
        crate::base::fs::write_atomic(path, &self.finish()?)
    }
}
