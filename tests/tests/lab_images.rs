//! The lab images (labs/images/build.sh): built from Debian packages, loaded into a private root,
//! layers shared between debian, nginx and registry, and a save/load round trip of the debian image.

use baleia_tests::*;
use std::process::Command;

#[test]
fn lab_images_load_share_layers_and_round_trip() {
    let root = Root::new();
    let script = workspace().join("labs/images/build.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg("--load")
        .env("BALEIA", baleia_bin())
        .env("BALEIA_ROOT", root.path())
        .env("BALEIA_CONFIG", root.config_file())
        .output()
        .expect("run build.sh");
    assert!(
        o.status.success(),
        "build.sh failed:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    let repos = root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    for want in [
        "hello-world:latest",
        "busybox:latest",
        "debian:latest",
        "debian:bookworm",
        "nginx:latest",
        "registry:2",
        "registry:latest",
    ] {
        assert!(repos.lines().any(|l| l == want), "{want} missing:\n{repos}");
    }
    let layers = |name: &str| -> Vec<String> {
        root.ok(&[
            "inspect",
            "-f",
            "{{range .RootFS.Layers}}{{println .}}{{end}}",
            name,
        ])
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
    };
    let (debian, nginx, registry) = (layers("debian"), layers("nginx"), layers("registry:2"));
    assert_eq!(debian.len(), 2);
    assert_eq!(nginx.len(), 3);
    assert_eq!(
        nginx[..2],
        debian[..],
        "nginx stacks on debian's two layers"
    );
    assert_eq!(registry.len(), 3);
    assert_eq!(
        registry[..2],
        debian[..],
        "registry stacks on debian's two layers"
    );
    assert_eq!(
        root.ok(&[
            "inspect",
            "-f",
            "{{.Config.Entrypoint}} {{.Config.Cmd}}",
            "registry:2"
        ])
        .trim(),
        "[/usr/bin/docker-registry serve] [/etc/docker/registry/config.yml]"
    );
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", "nginx"])
            .trim()
            .split(':')
            .next(),
        Some(
            root.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "debian"])
                .trim()
        ),
        "the debian layer folder is the one nginx uses"
    );
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.Config.Cmd}}", "hello-world"])
            .trim(),
        "[/hello]"
    );

    // hello-world's /hello is a static binary that tells what baleia did.
    let upper = root.ok(&[
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}}",
        "hello-world",
    ]);
    let hello = Command::new(std::path::Path::new(upper.trim()).join("hello"))
        .output()
        .unwrap();
    assert!(
        text(&hello.stdout).contains("Hello from Baleia!"),
        "{}",
        text(&hello.stdout)
    );

    // The notes' exercise: save hello-world, unpack it with tar, read manifest.json with jq, unpack
    // the layer.tar it names, and run ./hello.
    let dig = root.scratch().join("dig");
    std::fs::create_dir_all(&dig).unwrap();
    root.ok(&[
        "save",
        "-o",
        dig.join("hello-world.tar").to_str().unwrap(),
        "hello-world",
    ]);
    let sh = |script: &str| -> String {
        let o = Command::new("bash")
            .arg("-euc")
            .arg(script)
            .current_dir(&dig)
            .output()
            .unwrap();
        assert!(o.status.success(), "{script}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    sh("tar -xf hello-world.tar");
    let layer = sh("jq -r '.[0].Layers[0]' manifest.json");
    sh(&format!(
        "mkdir rootfs && tar -xf {} -C rootfs",
        layer.trim()
    ));
    assert!(sh("./rootfs/hello").contains("Hello from Baleia!"));
    assert_eq!(
        sh("ls */layer.tar").lines().count(),
        1,
        "the legacy <id>/layer.tar is there to dig into"
    );
    assert!(
        sh("tar -xOf $(ls */layer.tar) --wildcards '*hello' | head -c 4 | od -c")
            .contains("E   L   F")
    );

    let id = root.ok(&["inspect", "-f", "{{.Id}}", "debian"]);
    let saved = root.scratch().join("debian.tar");
    root.ok(&["save", "-o", saved.to_str().unwrap(), "debian:bookworm"]);
    let other = Root::new();
    assert_eq!(
        other.ok(&["load", "-i", saved.to_str().unwrap()]),
        "Loaded image: debian:bookworm\n"
    );
    assert_eq!(
        other.ok(&["inspect", "-f", "{{.Id}}", "debian:bookworm"]),
        id
    );
}
