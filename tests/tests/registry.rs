//! Registries, as a user meets them: `push`, `pull` (by tag, by digest, every tag), `run` of an
//! image that is not there yet, a docker.io mirror, `login`/`logout` and `search`, against a real
//! registry (Debian's `docker-registry`) on 127.0.0.1. No test sends a packet anywhere else.
//!
//! The expected wording is Docker's, checked against dockerd 20.10 and the same registry.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use baleia_tests::registry::{
    archive_image_id, base64, free_port, http_get, lab_archive, LocalRegistry,
};
use baleia_tests::*;
use serde_json::Value;

fn id_of(root: &Root, name: &str) -> String {
    root.ok(&["inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

/// `tag` then `push`; the digest from Docker's last line `TAG: digest: sha256:… size: N`.
fn tag_and_push(root: &Root, image: &str, target: &str) -> String {
    root.ok(&["tag", image, target]);
    let out = root.ok(&["push", target]);
    let (repo, tag) = target.rsplit_once(':').expect("target has a tag");
    assert!(
        out.contains(&format!("The push refers to repository [{repo}]")),
        "{out}"
    );
    pushed_digest(&out, tag)
}

fn pushed_digest(out: &str, tag: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{tag}: digest: ")))
        .unwrap_or_else(|| panic!("no `{tag}: digest:` line in:\n{out}"));
    let digest = line
        .split_whitespace()
        .nth(2)
        .expect("digest after `digest:`")
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{line}"
    );
    assert!(line.contains(" size: "), "{line}");
    digest
}

/// The layer folders under the root's overlay2 (everything but the `l` folder of short links).
fn layer_dirs(root: &Root) -> Vec<String> {
    match std::fs::read_dir(root.path().join("overlay2")) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n != "l")
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn flip_a_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(path, b).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("JSON")
}

// ---- The fixture itself (these pass without baleia's registry code) ----

#[test]
fn fixture_serves_skopeo_pushes_and_leaves_no_process() {
    let reg = LocalRegistry::start();
    let pid = reg.pid();
    let archive = lab_archive("busybox");
    reg.push_lab_image("busybox:v1", &archive);
    reg.push_lab_image("busybox:v2", &archive);
    assert_eq!(reg.tags("busybox"), ["v1", "v2"]);
    let (m, digest) = reg
        .manifest("busybox", "v1")
        .expect("manifest of busybox:v1");
    let (_, by_digest) = reg
        .manifest("busybox", &digest)
        .expect("manifest by digest");
    assert_eq!(digest, by_digest);
    // The config blob is copied byte for byte: its digest is the image ID.
    assert_eq!(m["config"]["digest"], archive_image_id(&archive).as_str());
    for blob in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
        let d = blob["digest"].as_str().unwrap();
        let data = std::fs::read(reg.blob_path(d)).expect("blob data");
        assert_eq!(sha256(&data), d);
        assert_eq!(data.len() as u64, blob["size"].as_u64().unwrap());
    }
    assert!(reg.storage().is_dir());
    assert!(reg.manifest("nosuch", "latest").is_none());
    let addr = reg.addr().to_string();
    drop(reg);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "docker-registry {pid} survived its fixture"
    );
    assert!(
        http_get(&addr, "/v2/", &[]).is_err(),
        "{addr} still answers"
    );
    assert_eq!(base64(b"alice:s3cret"), "YWxpY2U6czNjcmV0");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"a"), "YQ==");
}

#[test]
fn fixture_htpasswd_registry_wants_the_password() {
    let reg = LocalRegistry::with_htpasswd("alice", "s3cret");
    let r = http_get(reg.addr(), "/v2/", &[]).unwrap();
    assert_eq!(r.code, 401);
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "www-authenticate" && v.starts_with("Basic ")));
    assert_eq!(reg.get("/v2/", &[]).code, 200);
    let wrong = format!("Basic {}", base64(b"alice:wrong"));
    let r = http_get(reg.addr(), "/v2/", &[("Authorization".into(), wrong)]).unwrap();
    assert_eq!(r.code, 401);
    reg.push_lab_image("busybox:v1", &lab_archive("busybox"));
    assert_eq!(reg.tags("busybox"), ["v1"]);
}

// ---- push and pull ----

#[test]
fn push_then_pull_into_a_fresh_root_gives_the_same_images() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    let src = Root::with_lab_images(&["busybox", "debian"]);
    for (image, name) in [("busybox", "busybox"), ("debian", "debian")] {
        let target = format!("{a}/{name}:v1");
        let digest = tag_and_push(&src, image, &target);
        // What the registry serves under that tag is what push announced.
        let (m, served) = reg
            .manifest(name, "v1")
            .unwrap_or_else(|| panic!("{target} is not in the registry"));
        assert_eq!(served, digest);
        assert_eq!(m["config"]["digest"], id_of(&src, image).as_str());
        assert_eq!(reg.tags(name), ["v1"]);
    }
    // Pushing again uploads nothing new and announces the same digest.
    let again = src.ok(&["push", &format!("{a}/busybox:v1")]);
    assert_eq!(
        pushed_digest(&again, "v1"),
        reg.manifest("busybox", "v1").unwrap().1
    );

    let dst = Root::new();
    for name in ["busybox", "debian"] {
        let target = format!("{a}/{name}:v1");
        let out = dst.ok(&["pull", &target]);
        assert!(out.contains("v1: Pulling from "), "{out}");
        assert!(
            out.contains(&format!("Status: Downloaded newer image for {target}")),
            "{out}"
        );
        assert_eq!(out.lines().last(), Some(target.as_str()), "{out}");
        assert_eq!(id_of(&dst, &target), id_of(&src, name));
    }
    // The layers arrived whole: the same files in a container of either root.
    let show = |r: &Root, image: &str| {
        r.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "cat",
            "/etc/os-release",
        ])
    };
    assert_eq!(show(&dst, &format!("{a}/debian:v1")), show(&src, "debian"));
}

#[test]
fn pull_by_digest() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    let src = Root::with_lab_images(&["busybox"]);
    let digest = tag_and_push(&src, "busybox", &format!("{a}/busybox:v1"));
    let by_digest = format!("{a}/busybox@{digest}");

    let dst = Root::new();
    let out = dst.ok(&["pull", &by_digest]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {by_digest}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(by_digest.as_str()), "{out}");
    assert_eq!(id_of(&dst, &by_digest), id_of(&src, "busybox"));
    // No tag comes with a digest pull; the digest is listed.
    let listed = dst.ok(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}} {{.Tag}} {{.Digest}}",
    ]);
    assert_eq!(
        listed.trim(),
        format!("{a}/busybox <none> {digest}"),
        "{listed}"
    );
    // A digest the registry does not have.
    let zero = format!("{a}/busybox@sha256:{}", "0".repeat(64));
    let err = dst.fails(&["pull", &zero]);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn a_second_pull_is_up_to_date_and_changes_nothing() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    reg.push_lab_image("busybox:v1", &lab_archive("busybox"));
    let root = Root::new();
    let target = format!("{a}/busybox:v1");
    root.ok(&["pull", &target]);
    let before = root.tree();
    let out = root.ok(&["pull", &target]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {target}")),
        "{out}"
    );
    assert!(!out.contains("Downloaded newer image"), "{out}");
    assert_eq!(root.tree(), before);
    // `-q` prints the name only.
    assert_eq!(root.ok(&["pull", "-q", &target]), format!("{target}\n"));
}

#[test]
fn pull_all_tags() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    let busybox = lab_archive("busybox");
    let debian = lab_archive("debian");
    reg.push_lab_image("lab:one", &busybox);
    reg.push_lab_image("lab:two", &busybox);
    reg.push_lab_image("lab:three", &debian);
    reg.push_lab_image("other:one", &busybox);

    let root = Root::new();
    let out = root.ok(&["pull", "-a", &format!("{a}/lab")]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {a}/lab")),
        "{out}"
    );
    let listed = root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = listed.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{a}/lab:one"),
            format!("{a}/lab:three"),
            format!("{a}/lab:two")
        ]
    );
    assert_eq!(
        id_of(&root, &format!("{a}/lab:one")),
        archive_image_id(&busybox)
    );
    assert_eq!(
        id_of(&root, &format!("{a}/lab:two")),
        archive_image_id(&busybox)
    );
    assert_eq!(
        id_of(&root, &format!("{a}/lab:three")),
        archive_image_id(&debian)
    );
    // -a with a tag is refused, as in Docker.
    let err = root.fails(&["pull", "-a", &format!("{a}/lab:one")]);
    assert!(err.contains("tag can't be used with --all-tags"), "{err}");
}

#[test]
fn pull_an_image_skopeo_pushed() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    let archive = lab_archive("debian");
    reg.push_lab_image("tools/debian:bookworm", &archive);
    let root = Root::new();
    let target = format!("{a}/tools/debian:bookworm");
    root.ok(&["pull", &target]);
    assert_eq!(id_of(&root, &target), archive_image_id(&archive));
    let out = root.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &target,
        "cat",
        "/etc/debian_version",
    ]);
    assert!(out.starts_with("12."), "{out}");
}

#[test]
fn a_corrupted_blob_fails_the_pull_and_stores_nothing() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    let archive = lab_archive("debian");
    reg.push_lab_image("debian:latest", &archive);
    let (m, _) = reg.manifest("debian", "latest").unwrap();
    let layers = m["layers"].as_array().unwrap();
    assert!(layers.len() >= 2, "debian has several layers");
    // The last layer: the ones before it may well be downloaded (and unpacked) first.
    let bad = layers.last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = reg.blob_path(&bad);
    let good = std::fs::read(&path).unwrap();
    flip_a_byte(&path);

    let root = Root::new();
    let target = format!("{a}/debian:latest");
    let err = root.fails(&["pull", &target]);
    // Docker: "filesystem layer verification failed for digest sha256:…", naming the blob.
    assert!(err.to_lowercase().contains("digest"), "{err}");
    assert!(err.contains(&bad), "the message names the bad blob: {err}");
    assert!(root.ok(&["images", "-aq"]).is_empty());
    assert!(root.ok(&["images", "-q"]).is_empty());
    assert!(root.fails(&["inspect", &target]).contains("No such"));
    assert_eq!(layer_dirs(&root), Vec::<String>::new());

    // Nothing half-done stays in the way: once the blob is right again, the pull goes through.
    std::fs::write(&path, good).unwrap();
    root.ok(&["pull", &target]);
    assert_eq!(id_of(&root, &target), archive_image_id(&archive));
}

#[test]
fn a_registry_that_is_down_is_one_clear_error() {
    let port = free_port();
    let root = Root::new();
    let start = Instant::now();
    let o = root.run(&["pull", &format!("127.0.0.1:{port}/busybox:v1")]);
    assert!(!o.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "gave up too slowly"
    );
    let err = text(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not a trace:\n{err}");
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        lines[0].to_lowercase().contains("connection refused"),
        "{err}"
    );
    assert!(root.ok(&["images", "-q"]).is_empty());
}

#[test]
fn pull_of_a_repository_the_registry_lacks_says_not_found() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    let root = Root::new();
    let o = root.run(&["pull", &format!("{a}/nosuch")]);
    assert!(!o.status.success());
    // Docker: "Using default tag: latest", then
    // "manifest for 127.0.0.1:PORT/nosuch:latest not found: manifest unknown: manifest unknown".
    assert!(
        text(&o.stdout).contains("Using default tag: latest"),
        "{}",
        text(&o.stdout)
    );
    let err = text(&o.stderr);
    assert!(err.contains(&format!("{a}/nosuch:latest")), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert!(root.ok(&["images", "-q"]).is_empty());
}

#[test]
fn run_pulls_an_image_it_does_not_have() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    reg.push_lab_image("busybox:v1", &lab_archive("busybox"));
    let root = Root::new();
    let target = format!("{a}/busybox:v1");
    let o = root.run(&["run", "--rm", &target, "echo", "hi"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("Unable to find image '{target}' locally")),
        "{err}"
    );
    // The pull's progress goes to stderr; stdout is the container's.
    assert_eq!(text(&o.stdout), "hi\n");
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {target}")),
        "{err}"
    );
    // Now it is there: no second pull.
    let o = root.run(&["run", "--rm", &target, "echo", "again"]);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout), "again\n");
    assert!(!text(&o.stderr).contains("Unable to find image"));
}

#[test]
fn a_registry_mirror_serves_docker_io_names() {
    let reg = LocalRegistry::start();
    let archive = lab_archive("busybox");
    reg.push_lab_image("library/busybox:latest", &archive);
    let root = Root::new();
    let mut cfg = read_json(&root.config_file());
    cfg["registry-mirrors"] = serde_json::json!([format!("http://{}", reg.addr())]);
    std::fs::write(root.config_file(), cfg.to_string()).unwrap();

    // Offline: anything but the loopback goes to a proxy nobody runs, so a fall back to
    // Docker Hub could only fail.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let o = root
        .cmd(&["pull", "busybox"])
        .env("HTTPS_PROXY", &dead)
        .env("https_proxy", &dead)
        .env("HTTP_PROXY", &dead)
        .env("http_proxy", &dead)
        .env("ALL_PROXY", &dead)
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(out.contains("Using default tag: latest"), "{out}");
    assert!(
        out.contains("Status: Downloaded newer image for busybox:latest"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("docker.io/library/busybox:latest"));
    // The lab's own busybox (built here, unlike Docker Hub's): it came from the mirror.
    assert_eq!(id_of(&root, "busybox"), archive_image_id(&archive));
    assert_eq!(
        root.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
}

// ---- login, logout ----

#[test]
fn login_and_logout_store_and_remove_credentials() {
    let reg = LocalRegistry::with_htpasswd("alice", "s3cret");
    let a = reg.addr();
    let root = Root::with_lab_images(&["busybox"]);
    let config = root.docker_config().join("config.json");

    // Without credentials the registry says no.
    let target = format!("{a}/busybox:v1");
    root.ok(&["tag", "busybox", &target]);
    let err = root.fails(&["push", &target]).to_lowercase();
    assert!(
        err.contains("no basic auth credentials") || err.contains("unauthorized"),
        "{err}"
    );

    let o = root.run(&["login", "-u", "alice", "-p", "s3cret", a]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Login Succeeded"));
    assert!(
        text(&o.stderr).contains("--password-stdin"),
        "Docker warns about -p"
    );
    let mode = std::fs::metadata(&config)
        .expect("config.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "config.json mode {mode:o}");
    let saved = read_json(&config);
    assert_eq!(saved["auths"][a]["auth"], base64(b"alice:s3cret").as_str());

    // Logged in, push and pull go through.
    tag_and_push(&root, "busybox", &target);
    assert_eq!(reg.tags("busybox"), ["v1"]);
    root.ok(&["rmi", &target]);
    root.ok(&["pull", &target]);

    let out = root.ok(&["logout", a]);
    assert!(
        out.contains(&format!("Removing login credentials for {a}")),
        "{out}"
    );
    let saved = read_json(&config);
    assert!(saved["auths"].get(a).is_none(), "{saved}");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    root.ok(&["rmi", &target]);
    let err = root.fails(&["pull", &target]).to_lowercase();
    assert!(
        err.contains("no basic auth credentials")
            || err.contains("unauthorized")
            || err.contains("pull access denied"),
        "{err}"
    );

    // The password from stdin, as Docker advises.
    let mut c = root.cmd(&["login", "-u", "alice", "--password-stdin", a]);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Login Succeeded"));
    assert!(!text(&o.stderr).contains("--password-stdin"));
    let saved = read_json(&config);
    assert_eq!(saved["auths"][a]["auth"], base64(b"alice:s3cret").as_str());
}

#[test]
fn login_with_a_wrong_password_is_unauthorized() {
    let reg = LocalRegistry::with_htpasswd("alice", "s3cret");
    let a = reg.addr();
    let root = Root::new();
    let err = root.fails(&["login", "-u", "alice", "-p", "wrong", a]);
    // Docker: "login attempt to http://127.0.0.1:PORT/v2/ failed with status: 401 Unauthorized".
    assert!(err.to_lowercase().contains("unauthorized"), "{err}");
    let config = root.docker_config().join("config.json");
    if config.exists() {
        let saved = read_json(&config);
        assert!(saved["auths"].get(a).is_none(), "{saved}");
    }
    // A user nobody created.
    let err = root.fails(&["login", "-u", "mallory", "-p", "s3cret", a]);
    assert!(err.to_lowercase().contains("unauthorized"), "{err}");
}

// ---- search ----

#[test]
fn search_lists_the_registry_catalog() {
    let reg = LocalRegistry::start();
    let a = reg.addr();
    reg.push_lab_image("busybox:latest", &lab_archive("busybox"));
    reg.push_lab_image("debian:latest", &lab_archive("debian"));
    let root = Root::new();

    let out = root.ok(&["search", &format!("{a}/busy")]);
    let mut lines = out.lines();
    let header = lines.next().expect("a header");
    assert!(header.starts_with("NAME"), "{out}");
    assert!(header.contains("DESCRIPTION"), "{out}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(
        rows[0]
            .split_whitespace()
            .next()
            .unwrap()
            .ends_with("busybox"),
        "{out}"
    );
    assert!(!out.contains("debian"), "{out}");

    let names = root.ok(&["search", "--format", "{{.Name}}", &format!("{a}/deb")]);
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0] == "debian" || names[0] == format!("{a}/debian"),
        "{names:?}"
    );
    // A term nothing matches: the header only.
    let out = root.ok(&["search", &format!("{a}/nothing-like-it")]);
    assert_eq!(out.lines().count(), 1, "{out}");
}
