//! A small ZIP writer (stored entries, CRC-32), enough for benchmark submission archives, which
//! the GOT-10k and TrackingNet servers unpack with standard tools.

use std::path::Path;

use anyhow::{Result, bail};

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        *t = c;
    }
    !data.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

/// Builds a ZIP archive in memory.
#[derive(Debug, Default)]
pub struct ZipBuilder {
    body: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

impl ZipBuilder {
    /// Adds a file (stored, not compressed). Names use `/` separators.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        if self.count == u16::MAX || self.body.len() + data.len() > u32::MAX as usize {
            bail!("archive too large for a plain ZIP");
        }
        let (crc, size, offset) = (crc32(data), data.len() as u32, self.body.len() as u32);
        let name_b = name.as_bytes();
        // Local file header: version 2.0, no flags, stored, fixed DOS time 1980-01-01.
        let mut h = Vec::with_capacity(30 + name_b.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name_b);
        self.body.extend_from_slice(&h);
        self.body.extend_from_slice(data);
        // Central directory entry.
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&(name_b.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        c.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name_b);
        self.count += 1;
        Ok(())
    }

    /// The finished archive.
    pub fn finish(mut self) -> Vec<u8> {
        let (cd_offset, cd_size) = (self.body.len() as u32, self.central.len() as u32);
        self.body.extend_from_slice(&self.central);
        self.body.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.body.extend_from_slice(&[0, 0, 0, 0]);
        self.body.extend_from_slice(&self.count.to_le_bytes());
        self.body.extend_from_slice(&self.count.to_le_bytes());
        self.body.extend_from_slice(&cd_size.to_le_bytes());
        self.body.extend_from_slice(&cd_offset.to_le_bytes());
        self.body.extend_from_slice(&0u16.to_le_bytes());
        self.body
    }

    /// Writes the archive atomically.
    pub fn write(self, path: &Path) -> Result<()> {
        crate::base::fs::write_atomic(path, &self.finish())
    }
}
