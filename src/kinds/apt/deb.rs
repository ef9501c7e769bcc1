//! Reading the control data of a `.deb`: the `ar` archive's `control.tar[.gz|.xz|.zst]` member,
//! decompressed as it streams, and its `./control` file. The data member is skipped, never read.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::deb822::{self, Paragraph};

/// Why a file is not a `.deb` whose control data can be read (the message follows the file's
/// name).
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is not a .deb (too short)")]
    TooShort,
    #[error("is not a .deb (no ar header)")]
    NoArHeader,
    #[error("has no control.tar member")]
    NoControlMember,
    #[error("has a corrupt ar header")]
    CorruptHeader,
    #[error("has an unknown control member `{0}`")]
    UnknownMember(String),
    #[error("{member}: {message}")]
    Member { member: String, message: String },
    #[error("control: {0}")]
    Control(String),
    #[error("has an empty control file")]
    EmptyControl,
    #[error("has no ./control in its control member")]
    NoControlFile,
}

/// The control paragraph of the `.deb` at `path`.
pub fn control(path: &Path) -> Result<Paragraph, DebError> {
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic)
        .map_err(|_| DebError::TooShort)?;
    if &magic != b"!<arch>\n" {
        return Err(DebError::NoArHeader);
    }
    loop {
        let mut header = [0u8; 60];
        if file.read_exact(&mut header).is_err() {
            return Err(DebError::NoControlMember);
        }
        let name = String::from_utf8_lossy(&header[..16])
            .trim()
            .trim_end_matches('/')
            .to_string();
        let size: u64 = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .map_err(|_| DebError::CorruptHeader)?;
        if name.starts_with("control.tar") {
            let member = (&mut file).take(size);
            let reader: Box<dyn Read + '_> = match name.as_str() {
                "control.tar" => Box::new(member),
                "control.tar.gz" => Box::new(flate2::read::GzDecoder::new(member)),
                "control.tar.xz" => Box::new(lzma_rust2::XzReader::new(member, true)),
                "control.tar.zst" => Box::new(
                    ruzstd::decoding::StreamingDecoder::new(member).map_err(|error| {
                        DebError::Member {
                            member: name.clone(),
                            message: error.to_string(),
                        }
                    })?,
                ),
                other => return Err(DebError::UnknownMember(other.to_string())),
            };
            let mut archive = tar::Archive::new(reader);
            for entry in archive.entries()? {
                let mut entry = entry?;
                let entry_path = entry.path()?.to_string_lossy().into_owned();
                if entry_path == "./control" || entry_path == "control" {
                    let mut text = String::new();
                    entry
                        .read_to_string(&mut text)
                        .map_err(|error| DebError::Control(error.to_string()))?;
                    let paragraphs = deb822::parse_all(&text)
                        .map_err(|error| DebError::Control(error.to_string()))?;
                    return paragraphs.into_iter().next().ok_or(DebError::EmptyControl);
                }
            }
            return Err(DebError::NoControlFile);
        }
        // Members are padded to an even size.
        file.seek(SeekFrom::Current((size + size % 2) as i64))?;
    }
}
