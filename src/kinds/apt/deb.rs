//! Reading the control data of a `.deb`: the `ar` archive's `control.tar[.gz|.xz|.zst]` member,
//! decompressed as it streams, and its `./control` file. The data member is skipped, never read.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::deb822::{self, Paragraph};

/// The control paragraph of the `.deb` at `path`.
pub fn control(path: &Path) -> Result<Paragraph, String> {
    let mut file = BufReader::new(std::fs::File::open(path).map_err(|error| error.to_string())?);
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic)
        .map_err(|_| "is not a .deb (too short)".to_string())?;
    if &magic != b"!<arch>\n" {
        return Err("is not a .deb (no ar header)".to_string());
    }
    loop {
        let mut header = [0u8; 60];
        if file.read_exact(&mut header).is_err() {
            return Err("has no control.tar member".to_string());
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .map_err(|_| "has a corrupt ar header".to_string())?;
        if name.starts_with("control.tar") {
            let member = (&mut file).take(size);
            let reader: Box<dyn Read + '_> = match name.as_str() {
                "control.tar" => Box::new(member),
                "control.tar.gz" => Box::new(flate2::read::GzDecoder::new(member)),
                "control.tar.xz" => Box::new(lzma_rust2::XzReader::new(member, true)),
                "control.tar.zst" => Box::new(
                    ruzstd::decoding::StreamingDecoder::new(member)
                        .map_err(|error| format!("control.tar.zst: {error}"))?,
                ),
                other => return Err(format!("has an unknown control member `{other}`")),
            };
            let mut archive = tar::Archive::new(reader);
            for entry in archive.entries().map_err(|error| error.to_string())? {
                let mut entry = entry.map_err(|error| error.to_string())?;
                let entry_path = entry
                    .path()
                    .map_err(|error| error.to_string())?
                    .to_string_lossy()
                    .into_owned();
                if entry_path == "./control" || entry_path == "control" {
                    let mut text = String::new();
                    entry
                        .read_to_string(&mut text)
                        .map_err(|error| format!("control: {error}"))?;
                    let paragraphs =
                        deb822::parse_all(&text).map_err(|error| format!("control: {error}"))?;
                    return paragraphs
                        .into_iter()
                        .next()
                        .ok_or_else(|| "has an empty control file".to_string());
                }
            }
            return Err("has no ./control in its control member".to_string());
        }
        // Members are padded to an even size.
        file.seek(SeekFrom::Current((size + size % 2) as i64))
            .map_err(|error| error.to_string())?;
    }
}
