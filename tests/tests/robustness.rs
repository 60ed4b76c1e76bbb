//! Concurrent commands on one root are safe, and a load killed half-way leaves nothing behind.

use baleia_tests::*;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn layer_dirs(root: &Root) -> usize {
    std::fs::read_dir(root.path().join("overlay2"))
        .map(|rd| {
            rd.filter(|e| e.as_ref().unwrap().file_name() != "l")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn concurrent_loads_into_one_root_all_land_and_share_layers() {
    let root = Root::new();
    let shared = tar_of(&[Entry::File("shared", vec![9; 200_000])]);
    let mut files = Vec::new();
    for i in 0..6 {
        let own = tar_of(&[Entry::File("own", format!("image {i}").into_bytes())]);
        let img = TestImage::new(
            &[&format!("c{i}:latest")],
            vec![shared.clone(), own],
            &["sh"],
        );
        let p = root.scratch().join(format!("c{i}.tar"));
        std::fs::write(&p, archive(&[img], Layout::DockerBlobs)).unwrap();
        files.push(p);
    }
    // Two loads of the same archive race too.
    files.push(files[0].clone());
    let children: Vec<_> = files
        .iter()
        .map(|p| {
            root.cmd(&["load", "-i", p.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let tags = root.ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(tags.lines().count(), 6, "{tags}");
    assert_eq!(layer_dirs(&root), 7, "one shared layer plus six own layers");
    assert_eq!(
        std::fs::read_dir(root.path().join("tmp")).unwrap().count(),
        0,
        "no staging left"
    );
}

#[test]
fn a_load_killed_midway_leaves_no_image_and_no_orphan_layer() {
    let root = Root::new();
    // A layer big enough that the load is still streaming when it is killed.
    let big = tar_of(&[Entry::File(
        "big",
        (0..40_000_000u32).map(|i| (i % 251) as u8).collect(),
    )]);
    let bytes = archive(
        &[TestImage::new(&["big:latest"], vec![big], &["sh"])],
        Layout::DockerBlobs,
    );
    let mut child = root
        .cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    // Wait until the layer is being unpacked in staging, then kill -9.
    let staged = root.path().join("tmp");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&staged).map(|rd| rd.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "load never started staging");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(root.ok(&["images", "-q"]), "", "no partial image");

    // The next command that changes the store sweeps what the dead one left.
    let small = root.scratch().join("small.tar");
    std::fs::write(
        &small,
        archive(
            &[TestImage::new(
                &["small:latest"],
                vec![tar_of(&[Entry::File("s", b"s".to_vec())])],
                &["sh"],
            )],
            Layout::DockerBlobs,
        ),
    )
    .unwrap();
    root.ok(&["load", "-i", small.to_str().unwrap()]);
    let left: Vec<_> = std::fs::read_dir(&staged)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        left.is_empty(),
        "staging of the killed load removed: {left:?}"
    );
    root.ok(&["rmi", "small"]);
    assert_eq!(layer_dirs(&root), 0, "no orphan layer");
}
