//! Recognising what a blob is from its first bytes, and undoing its compression.

use std::io::Read;

/// What the first bytes of a blob say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An uncompressed tar stream.
    Tar,
    /// gzip-compressed (a tar, for a layer).
    Gzip,
    /// zstd-compressed.
    Zstd,
    /// Something else (JSON, text, or garbage).
    Other,
}

/// Bytes to read before deciding.
pub const SNIFF_LEN: usize = 512;

/// Classify a blob by its first [`SNIFF_LEN`] bytes.
pub fn sniff(head: &[u8]) -> Kind {
    if head.starts_with(&[0x1f, 0x8b]) {
        Kind::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Kind::Zstd
    } else if head.len() == SNIFF_LEN && is_tar_header(head) {
        Kind::Tar
    } else {
        Kind::Other
    }
}

/// A zero block (an empty archive) or a header whose checksum is right.
fn is_tar_header(b: &[u8]) -> bool {
    if b.iter().all(|&x| x == 0) {
        return true;
    }
    let field = std::str::from_utf8(&b[148..156]).unwrap_or("");
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == ' ' || c == '\0'), 8)
    else {
        return false;
    };
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if (148..156).contains(&i) {
                32
            } else {
                x as u32
            }
        })
        .sum();
    sum == want
}

/// The uncompressed stream of a blob of `kind`.
pub fn decompress<'a, R: Read + 'a>(kind: Kind, r: R) -> std::io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Kind::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Kind::Tar | Kind::Other => Box::new(r),
    })
}

/// Read up to `n` bytes (fewer only at end of stream).
pub fn read_head(r: &mut impl Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tar_gzip_zstd_and_json() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_cksum();
        b.append_data(&mut h, "a", &b"hi"[..]).unwrap();
        let t = b.into_inner().unwrap();
        assert_eq!(sniff(&t[..512]), Kind::Tar);
        assert_eq!(sniff(&[0u8; 512]), Kind::Tar);
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Kind::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Kind::Zstd);
        let mut j = br#"{"architecture":"amd64"}"#.to_vec();
        j.resize(512, b' ');
        assert_eq!(sniff(&j), Kind::Other);
        let mut broken = t[..512].to_vec();
        broken[0] ^= 1;
        assert_eq!(sniff(&broken), Kind::Other);
    }
}
