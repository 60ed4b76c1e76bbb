//! Bad input gets one clear error and loses nothing: escaping layer entries, broken digests,
//! truncated or foreign files. The store must look exactly as it did before.

use baleia_tests::*;
use serde_json::json;

/// A store with one image in it, to check that failures leave it untouched.
fn store_with_an_image() -> Root {
    let root = Root::new();
    let img = TestImage::new(
        &["keep:latest"],
        vec![tar_of(&[Entry::File("kept", b"k".to_vec())])],
        &["sh"],
    );
    let p = root.scratch().join("keep.tar");
    std::fs::write(&p, archive(&[img], Layout::DockerBlobs)).unwrap();
    root.ok(&["load", "-i", p.to_str().unwrap()]);
    root
}

/// Load `bytes`, expect failure mentioning `want`, and an unchanged store.
fn refused(root: &Root, bytes: &[u8], want: &str) -> String {
    let before = root.tree();
    let p = root.scratch().join("bad.tar");
    std::fs::write(&p, bytes).unwrap();
    let err = root.fails(&["load", "-i", p.to_str().unwrap()]);
    assert!(
        err.contains(want),
        "error should mention {want:?}, got: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one clear line: {err}");
    assert_eq!(
        root.tree(),
        before,
        "the store changed after a refused load"
    );
    assert_eq!(
        root.ok(&["images", "--format", "{{.Repository}}"]),
        "keep\n"
    );
    err
}

fn image_with_layer(layer: Vec<u8>) -> Vec<u8> {
    archive(
        &[TestImage::new(&["evil:latest"], vec![layer], &["sh"])],
        Layout::DockerBlobs,
    )
}

#[test]
fn entries_escaping_the_layer_are_refused_and_nothing_is_written_outside() {
    let root = store_with_an_image();
    let outside = root.scratch().join("pwned");
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (
            vec![Entry::File(
                "../../../../../../../../tmp/baleia-pwned",
                b"x".to_vec(),
            )],
            "../../../../../../../../tmp/baleia-pwned",
        ),
        (
            vec![Entry::File("/etc/baleia-pwned", b"x".to_vec())],
            "/etc/baleia-pwned",
        ),
        (
            vec![
                Entry::Dir("etc"),
                Entry::Symlink("etc/escape", "/tmp"),
                Entry::File("etc/escape/baleia-pwned", b"x".to_vec()),
            ],
            "etc/escape/baleia-pwned",
        ),
        (
            vec![Entry::Hardlink("passwd", "../../../../../../etc/passwd")],
            "passwd",
        ),
        (vec![Entry::Hardlink("passwd", "/etc/passwd")], "passwd"),
    ];
    for (entries, name) in cases {
        let err = refused(&root, &image_with_layer(tar_of(&entries)), name);
        assert!(err.contains("refusing layer entry"), "{err}");
    }
    assert!(!std::path::Path::new("/tmp/baleia-pwned").exists());
    assert!(!std::path::Path::new("/etc/baleia-pwned").exists());
    assert!(!outside.exists());
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    use std::os::unix::fs::FileTypeExt;
    let root = Root::new();
    let base = tar_of(&[
        Entry::Dir("etc"),
        Entry::File("etc/gone", b"x".to_vec()),
        Entry::Dir("opt"),
        Entry::File("opt/old", b"o".to_vec()),
    ]);
    let top = tar_of(&[
        Entry::Dir("etc"),
        Entry::File("etc/.wh.gone", vec![]),
        Entry::Dir("opt"),
        Entry::File("opt/.wh..wh..opq", vec![]),
        Entry::File("opt/new", b"n".to_vec()),
    ]);
    let p = root.scratch().join("w.tar");
    std::fs::write(
        &p,
        archive(
            &[TestImage::new(&["w:1"], vec![base, top.clone()], &["sh"])],
            Layout::DockerBlobs,
        ),
    )
    .unwrap();
    root.ok(&["load", "-i", p.to_str().unwrap()]);
    let upper = root.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "w:1"]);
    let upper = std::path::Path::new(upper.trim());
    let gone = std::fs::symlink_metadata(upper.join("etc/gone")).unwrap();
    assert!(
        gone.file_type().is_char_device(),
        "a whiteout is a character device"
    );
    assert_eq!(std::os::unix::fs::MetadataExt::rdev(&gone), 0, "device 0:0");
    let opaque = xattr(&upper.join("opt"), "trusted.overlay.opaque");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert!(!upper.join("opt/.wh..wh..opq").exists() && !upper.join("etc/.wh.gone").exists());
    // And the saved layer is the original tar again, whiteout entries included.
    let out = root.cmd(&["save", "w:1"]).output().unwrap();
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let want = format!("blobs/sha256/{}", &sha256(&top)[7..]);
    let found = ar
        .entries()
        .unwrap()
        .any(|e| e.unwrap().path().unwrap().display().to_string() == want);
    assert!(found, "layer with whiteouts rebuilt byte for byte");
}

fn xattr(p: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let cp = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let cn = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and buffer.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

#[test]
fn broken_archives_are_one_clear_error_and_change_nothing() {
    let root = store_with_an_image();
    let layer = tar_of(&[Entry::File("a", b"abc".to_vec())]);
    let good = archive(
        &[TestImage::new(&["x:1"], vec![layer.clone()], &["sh"])],
        Layout::DockerBlobs,
    );

    refused(
        &root,
        b"this is not a tar file at all, just some words to read",
        "invalid archive",
    );
    refused(&root, &good[..good.len() / 2], "invalid archive");
    refused(
        &root,
        &tar_of(&[Entry::File("hello.txt", b"hi".to_vec())]),
        "no manifest.json or index.json",
    );

    // A config whose bytes do not match the digest in its name (same length, one word changed).
    let tampered = replace_once(
        &good,
        br#""architecture":"amd64""#,
        br#""architecture":"arm64""#,
    );
    refused(&root, &tampered, "invalid digest for config");

    // A layer whose uncompressed digest is not the config's diff_id.
    let mut img = TestImage::new(&["x:1"], vec![layer.clone()], &["sh"]);
    img.layers[0] = (
        tar_of(&[Entry::File("a", b"abd".to_vec())]),
        tar_of(&[Entry::File("a", b"abd".to_vec())]),
    );
    refused(
        &root,
        &archive(&[img], Layout::DockerLegacy),
        "invalid digest for layer",
    );

    // A manifest naming a blob the archive does not have.
    let mut b = tar::Builder::new(Vec::new());
    let m = serde_json::to_vec(&json!([{"Config": "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000", "RepoTags": ["x:1"], "Layers": []}])).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(m.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, "manifest.json", &m[..]).unwrap();
    refused(&root, &b.into_inner().unwrap(), "missing blob");

    // An OCI layer of a media type nobody reads.
    let mut img = TestImage::new(&["x:1"], vec![layer], &["sh"]);
    img.layer_media_type = Some("application/x-weird-layer".into());
    refused(
        &root,
        &archive(&[img], Layout::Oci),
        "unsupported media type application/x-weird-layer",
    );
}

fn replace_once(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let i = hay
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = hay.to_vec();
    out[i..i + to.len()].copy_from_slice(to);
    out
}
