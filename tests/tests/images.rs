//! The image commands a learner types: load, images, inspect, history, save, tag, rmi, import.

use baleia_tests::*;
use serde_json::Value;

fn hello_layer() -> Vec<u8> {
    tar_of(&[
        Entry::File("hello", b"#!/bin/sh\necho hello\n".to_vec()),
        Entry::Dir("etc"),
        Entry::File("etc/os-release", b"ID=test\n".to_vec()),
    ])
}

fn two_layer_image(tags: &[&str]) -> TestImage {
    let base = tar_of(&[
        Entry::Dir("bin"),
        Entry::File("bin/sh", vec![7; 5000]),
        Entry::Symlink("bin/bash", "sh"),
        Entry::Hardlink("bin/sh2", "bin/sh"),
    ]);
    let top = tar_of(&[
        Entry::Dir("etc"),
        Entry::File("etc/motd", b"two layers\n".to_vec()),
    ]);
    TestImage::new(tags, vec![base, top], &["sh"])
}

fn write(root: &Root, name: &str, bytes: &[u8]) -> String {
    let p = root.scratch().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn load_then_images_inspect_and_history_show_the_image() {
    let root = Root::new();
    let img = TestImage::new(&["hello-world:latest"], vec![hello_layer()], &["/hello"]);
    let tar = write(&root, "hello.tar", &archive(&[img], Layout::DockerBlobs));
    let img = TestImage::new(&["hello-world:latest"], vec![hello_layer()], &["/hello"]);
    assert_eq!(
        root.ok(&["load", "-i", &tar]),
        "Loaded image: hello-world:latest\n"
    );

    let out = root.ok(&["images"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("REPOSITORY    TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["hello-world", "latest", &img.id()[7..19]]);
    assert!(out.contains(" ago "), "relative creation time: {out}");

    assert_eq!(root.ok(&["images", "-q"]).trim(), &img.id()[7..19]);
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.Id}}", "hello-world"]).trim(),
        img.id()
    );
    assert_eq!(
        root.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Config.Cmd}}",
            "hello-world"
        ])
        .trim(),
        "[/hello]"
    );
    let rootfs: Value =
        serde_json::from_str(&root.ok(&["inspect", "-f", "{{json .RootFS}}", &img.id()[7..11]]))
            .unwrap();
    assert_eq!(rootfs["Layers"][0], sha256(&hello_layer()));

    // The layer is unpacked once under overlay2/<id>/diff, and inspect points at it.
    let upper = root.ok(&[
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}}",
        "hello-world",
    ]);
    let upper = std::path::Path::new(upper.trim());
    assert!(
        upper.starts_with(root.path().join("overlay2")),
        "{}",
        upper.display()
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("etc/os-release")).unwrap(),
        "ID=test\n"
    );

    let hist = root.ok(&["history", "hello-world"]);
    let rows: Vec<&str> = hist.lines().collect();
    assert!(rows[0].starts_with("IMAGE          CREATED"), "{hist}");
    assert!(
        rows[1].starts_with(&img.id()[7..19]) && rows[1].contains("CMD"),
        "{hist}"
    );
    assert!(
        rows[2].starts_with("<missing>") && rows[2].contains("ADD layer0"),
        "{hist}"
    );
    assert_eq!(rows.len(), 3, "{hist}");
}

#[test]
fn save_rebuilds_every_layer_byte_for_byte_and_load_gives_the_same_id() {
    let a = Root::new();
    let img = two_layer_image(&["two:v1"]);
    let original: Vec<Vec<u8>> = img.layers.iter().map(|l| l.1.clone()).collect();
    let id = img.id();
    a.ok(&[
        "load",
        "-i",
        &write(&a, "two.tar", &archive(&[img], Layout::DockerLegacy)),
    ]);
    let saved = a.scratch().join("saved.tar");
    a.ok(&["save", "-o", saved.to_str().unwrap(), "two:v1"]);

    let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if e.header().entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if let Some(h) = name.strip_prefix("blobs/sha256/") {
                assert_eq!(
                    sha256(&data)[7..],
                    *h,
                    "blob {name} does not match its name"
                );
            }
        }
        names.push(name);
    }
    for l in &original {
        assert!(
            names.contains(&format!("blobs/sha256/{}", &sha256(l)[7..])),
            "{names:?}"
        );
    }
    for must in [
        "manifest.json",
        "index.json",
        "oci-layout",
        "repositories",
        &format!("blobs/sha256/{}", &id[7..]),
    ] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.ends_with("/layer.tar")),
        "legacy layer.tar missing: {names:?}"
    );

    let b = Root::new();
    assert_eq!(
        b.ok(&["load", "-i", saved.to_str().unwrap()]),
        "Loaded image: two:v1\n"
    );
    assert_eq!(b.ok(&["inspect", "-f", "{{.Id}}", "two:v1"]).trim(), id);
    // Saving twice gives the same bytes: nothing in the archive depends on when it was written.
    let again = a.scratch().join("again.tar");
    a.ok(&["save", "-o", again.to_str().unwrap(), "two:v1"]);
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn save_to_stdout_and_load_from_stdin() {
    let a = Root::new();
    a.ok(&[
        "load",
        "-i",
        &write(
            &a,
            "x.tar",
            &archive(&[two_layer_image(&["pipe:latest"])], Layout::Oci),
        ),
    ]);
    let out = a.cmd(&["save", "pipe"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let b = Root::new();
    let mut child = b
        .cmd(&["load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &out.stdout).unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(text(&o.stdout), "Loaded image: pipe:latest\n");
}

#[test]
fn gzip_layers_and_oci_archives_load() {
    let root = Root::new();
    let img = two_layer_image(&["zipped:1"]).gzipped();
    let id = img.id();
    root.ok(&[
        "load",
        "-i",
        &write(&root, "z.tar", &archive(&[img], Layout::DockerBlobs)),
    ]);
    let img2 = TestImage::new(&["oci:1"], vec![hello_layer()], &["/hello"]).gzipped();
    let id2 = img2.id();
    assert_eq!(
        root.ok(&[
            "load",
            "-i",
            &write(&root, "o.tar", &archive(&[img2], Layout::Oci))
        ]),
        "Loaded image: oci:1\n"
    );
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.Id}}", "zipped:1", "oci:1"]),
        format!("{id}\n{id2}\n")
    );
    let img3 = TestImage::new(
        &["zst:1"],
        vec![tar_of(&[Entry::File("z", b"zstd".to_vec())])],
        &["/z"],
    )
    .zstded();
    let id3 = img3.id();
    assert_eq!(
        root.ok(&[
            "load",
            "-i",
            &write(&root, "zs.tar", &archive(&[img3], Layout::Oci))
        ]),
        "Loaded image: zst:1\n"
    );
    assert_eq!(root.ok(&["inspect", "-f", "{{.Id}}", "zst:1"]).trim(), id3);
}

#[test]
fn save_several_images_into_one_archive() {
    let a = Root::new();
    let imgs = [
        two_layer_image(&["one:latest"]),
        TestImage::new(&["hello-world:latest"], vec![hello_layer()], &["/hello"]),
    ];
    let ids: Vec<String> = imgs.iter().map(|i| i.id()).collect();
    a.ok(&[
        "load",
        "-i",
        &write(&a, "both.tar", &archive(&imgs, Layout::DockerBlobs)),
    ]);
    a.ok(&["tag", "one", "one:other"]);
    let out = a.scratch().join("both-saved.tar");
    // A bare repository name saves all of its tags, as `docker save one` does.
    a.ok(&[
        "save",
        "-o",
        out.to_str().unwrap(),
        "one",
        "hello-world:latest",
    ]);
    let b = Root::new();
    let loaded = b.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(
        loaded,
        "Loaded image: one:latest\nLoaded image: one:other\nLoaded image: hello-world:latest\n"
    );
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.Id}}", "one:other", "hello-world"]),
        format!("{}\n{}\n", ids[0], ids[1])
    );
}

#[test]
fn shared_layers_are_stored_once_and_rmi_keeps_what_others_use() {
    let root = Root::new();
    let base = tar_of(&[Entry::File("base", vec![1; 10_000])]);
    let a = TestImage::new(&["a:latest"], vec![base.clone()], &["sh"]);
    let b = TestImage::new(
        &["b:latest"],
        vec![base.clone(), tar_of(&[Entry::File("extra", b"x".to_vec())])],
        &["sh"],
    );
    root.ok(&[
        "load",
        "-i",
        &write(&root, "ab.tar", &archive(&[a, b], Layout::DockerBlobs)),
    ]);
    let dirs = |r: &Root| {
        std::fs::read_dir(r.path().join("overlay2"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "l")
            .count()
    };
    assert_eq!(dirs(&root), 2, "the base layer is shared, not stored twice");
    let lower = root.ok(&["inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", "b"]);
    assert_eq!(
        lower.trim(),
        root.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "a"])
            .trim()
    );

    let out = root.ok(&["rmi", "b"]);
    assert!(
        out.starts_with("Untagged: b:latest\nDeleted: sha256:"),
        "{out}"
    );
    assert_eq!(
        out.lines().count(),
        3,
        "image and its own top layer deleted, base kept: {out}"
    );
    assert_eq!(dirs(&root), 1);
    root.ok(&["rmi", "a:latest"]);
    assert_eq!(dirs(&root), 0);
    assert_eq!(root.ok(&["images", "-q"]), "");
}

#[test]
fn tag_and_rmi_follow_dockers_rules() {
    let root = Root::new();
    let img = TestImage::new(&["foo-bar:latest"], vec![hello_layer()], &["/hello"]);
    let id = img.id();
    root.ok(&[
        "load",
        "-i",
        &write(&root, "f.tar", &archive(&[img], Layout::DockerBlobs)),
    ]);
    root.ok(&["tag", "foo-bar", "127.0.0.1:5000/lab/foo-bar:v1"]);
    root.ok(&["tag", &id[7..11], "ubuntu/nginx"]);
    let repos: Vec<String> = root
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        repos,
        [
            "127.0.0.1:5000/lab/foo-bar:v1",
            "foo-bar:latest",
            "ubuntu/nginx:latest"
        ]
    );
    assert_eq!(
        root.ok(&["images", "ubuntu/nginx", "--format", "{{.Tag}}"]),
        "latest\n"
    );

    let err = root.fails(&["rmi", &id[7..19]]);
    assert!(err.contains(&format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", &id[7..19])), "{err}");
    assert_eq!(
        root.ok(&["rmi", "ubuntu/nginx"]),
        "Untagged: ubuntu/nginx:latest\n"
    );
    let err = root.fails(&["rmi", "nope", "foo-bar"]);
    assert!(err.contains("No such image: nope:latest"), "{err}");
    let out = root.ok(&["rmi", "-f", &id[7..19]]);
    assert!(
        out.contains("Untagged: 127.0.0.1:5000/lab/foo-bar:v1")
            && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert!(root
        .fails(&["tag", "gone", "x"])
        .contains("No such image: gone:latest"));
    assert!(root
        .fails(&["tag", &id, "Bad:Name"])
        .contains("invalid reference format"));
}

#[test]
fn import_makes_a_one_layer_image_with_changes() {
    let root = Root::new();
    let rootfs = gzip(&tar_of(&[
        Entry::Dir("bin"),
        Entry::File("bin/hello", b"hi".to_vec()),
    ]));
    let mut child = root
        .cmd(&[
            "import",
            "-c",
            r#"CMD ["/bin/hello"]"#,
            "-c",
            "ENV GREETING=ola",
            "-m",
            "from the notes",
            "-",
            "imported:v1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &rootfs).unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let id = text(&o.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(
        root.ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{.Config.Cmd}} {{.Config.Env}}",
            "imported:v1"
        ])
        .trim(),
        format!("{id} [/bin/hello] [GREETING=ola]")
    );
    let hist = root.ok(&[
        "history",
        "--format",
        "{{.Comment}}|{{.Size}}",
        "imported:v1",
    ]);
    assert_eq!(hist, "from the notes|2B\n");
    let file = root.scratch().join("r.tar");
    std::fs::write(&file, tar_of(&[Entry::File("x", vec![])])).unwrap();
    let id2 = root.ok(&["import", file.to_str().unwrap()]);
    assert!(root
        .ok(&["history", "--format", "{{.Comment}}", id2.trim()])
        .starts_with(&format!("Imported from {}", file.display())));
    assert!(root
        .fails(&["import", "-c", "RUN make", file.to_str().unwrap()])
        .contains("RUN"));
}

#[test]
fn errors_read_like_dockers() {
    let root = Root::new();
    assert!(root
        .fails(&["inspect", "debian"])
        .contains("No such object: debian"));
    assert!(root
        .fails(&["image", "inspect", "debian"])
        .contains("No such image: debian:latest"));
    assert!(root
        .fails(&["history", "debian:bookworm"])
        .contains("No such image: debian:bookworm"));
    let o = root.run(&["images", "--bogus"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).starts_with("unknown flag: --bogus\nSee 'baleia images --help'."),
        "{}",
        text(&o.stderr)
    );
    assert!(root
        .fails(&["inspect", "-f", "{{.Nope", "x"])
        .contains("No such object: x"));
}

#[test]
fn not_root_is_one_clear_line_and_touches_nothing() {
    let root = Root::new();
    let dir = root.path();
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(baleia_bin())
        .args(["--root", dir.to_str().unwrap(), "images"])
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("Error: permission denied: baleia needs root"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.exists(), "nothing may be created without root");
}

#[test]
fn info_and_version_describe_the_engine() {
    let root = Root::new();
    root.ok(&[
        "load",
        "-i",
        &write(
            &root,
            "h.tar",
            &archive(
                &[TestImage::new(&["h:1"], vec![hello_layer()], &["/hello"])],
                Layout::DockerBlobs,
            ),
        ),
    ]);
    let info = root.ok(&["info"]);
    for want in [
        " Images: 1\n",
        " Storage Driver: overlay2\n",
        &format!(" Baleia Root Dir: {}\n", root.path().display()),
        " Cgroup Version: ",
        " Kernel Version: ",
        " Operating System: ",
        " CPUs: ",
        " Total Memory: ",
    ] {
        assert!(info.contains(want), "info lacks {want:?}:\n{info}");
    }
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        root.ok(&["info", "--format", "{{.NCPU}}"]).trim(),
        cpus.to_string()
    );
    let v = root.ok(&["version"]);
    assert!(
        v.starts_with("Client:\n Version:           0.1.0\n")
            && v.contains("\nServer: Baleia Engine"),
        "{v}"
    );
    assert!(root.ok(&["-v"]).starts_with("Baleia version 0.1.0, build "));
}
