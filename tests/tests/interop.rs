//! Our archives read by a tool nobody here wrote (skopeo), and skopeo's archives loaded by us.

use baleia_tests::*;
use std::process::Command;

fn skopeo(args: &[&str]) -> String {
    require("skopeo");
    let o = Command::new("skopeo").args(args).output().expect("skopeo");
    assert!(o.status.success(), "skopeo {args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

fn loaded() -> (Root, String, String) {
    let a = Root::new();
    let base = tar_of(&[
        Entry::Dir("bin"),
        Entry::File("bin/sh", vec![3; 4096]),
        Entry::Symlink("bin/ash", "sh"),
    ]);
    let top = tar_of(&[
        Entry::Dir("etc"),
        Entry::File("etc/motd", b"interop\n".to_vec()),
    ]);
    let img = TestImage::new(&["interop:v1"], vec![base, top], &["/bin/sh"]);
    let id = img.id();
    let p = a.scratch().join("in.tar");
    std::fs::write(&p, archive(&[img], Layout::DockerBlobs)).unwrap();
    a.ok(&["load", "-i", p.to_str().unwrap()]);
    let saved = a.scratch().join("saved.tar").display().to_string();
    a.ok(&["save", "-o", &saved, "interop:v1"]);
    (a, id, saved)
}

#[test]
fn skopeo_reads_our_archive_both_as_docker_and_as_oci() {
    let (_a, id, saved) = loaded();
    let v: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("docker-archive:{saved}")])).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["Architecture"], "amd64");
    let cfg: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{saved}"),
    ]))
    .unwrap();
    assert_eq!(cfg["config"]["Cmd"][0], "/bin/sh");
    let v: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", &format!("oci-archive:{saved}")])).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 2, "{v}");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--config",
        &format!("oci-archive:{saved}"),
    ]);
    assert_eq!(
        sha256(raw.as_bytes()),
        id,
        "the config skopeo reads is byte-identical to ours"
    );
}

#[test]
fn we_load_what_skopeo_writes() {
    let (a, id, saved) = loaded();
    let scratch = a.scratch();
    let legacy = scratch.join("skopeo-docker.tar").display().to_string();
    let oci = scratch.join("skopeo-oci.tar").display().to_string();
    let gz = scratch.join("skopeo-gz.tar").display().to_string();
    skopeo(&[
        "copy",
        "--quiet",
        &format!("docker-archive:{saved}"),
        &format!("docker-archive:{legacy}:copied/by-skopeo:v2"),
    ]);
    skopeo(&[
        "copy",
        "--quiet",
        &format!("docker-archive:{saved}"),
        &format!("oci-archive:{oci}:docker.io/library/oci-copy:v3"),
    ]);
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-compress",
        "--dest-compress-format",
        "gzip",
        &format!("docker-archive:{saved}"),
        &format!("oci-archive:{gz}:gz-copy:v4"),
    ]);

    let b = Root::new();
    assert_eq!(
        b.ok(&["load", "-i", &legacy]),
        "Loaded image: copied/by-skopeo:v2\n"
    );
    assert_eq!(b.ok(&["load", "-i", &oci]), "Loaded image: oci-copy:v3\n");
    let out = b.ok(&["load", "-i", &gz]);
    assert!(out.starts_with("Loaded image"), "{out}");
    // Through docker-archive the config bytes travel unchanged: same image ID.
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.Id}}", "copied/by-skopeo:v2"])
            .trim(),
        id
    );
    // Converting to OCI, skopeo rewrites the config (so the ID changes), but the layers are the same
    // bytes: each is stored once, shared by all three images.
    let layers = |n: &str| {
        b.ok(&[
            "inspect",
            "-f",
            "{{json .RootFS.Layers}} {{.Config.Cmd}}",
            n,
        ])
    };
    assert_eq!(layers("oci-copy:v3"), layers("copied/by-skopeo:v2"));
    assert_eq!(layers("gz-copy:v4"), layers("copied/by-skopeo:v2"));
    let dirs = std::fs::read_dir(b.path().join("overlay2"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "l")
        .count();
    assert_eq!(dirs, 2);
}
