//! `baleia daemon`'s image endpoints, driven by the real `docker` CLI: save and load, import,
//! push and pull against a registry on 127.0.0.1 (Debian's `docker-registry`), `run` of an image
//! only the registry has, login with an htpasswd registry, search; and Docker's JSON progress
//! messages as the API sends them. Nothing talks to anything but 127.0.0.1.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use baleia_tests::daemon::Daemon;
use baleia_tests::registry::{base64, LocalRegistry};
use baleia_tests::*;
use serde_json::Value;

fn id_of(d: &Daemon, name: &str) -> String {
    d.ok(&["image", "inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

/// Every image ID and tag the daemon lists.
fn image_list(d: &Daemon) -> String {
    d.ok(&[
        "images",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ])
}

/// The names `tar -t` lists in an archive.
fn tar_names(archive: &[u8]) -> Vec<String> {
    let mut tar = Command::new("tar")
        .arg("-t")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    let mut stdin = tar.stdin.take().unwrap();
    let input = archive.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let o = tar.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(o.status.success(), "tar -t failed");
    text(&o.stdout).lines().map(String::from).collect()
}

/// One HTTP/1.0 request on the daemon's socket (so the answer is not chunked): its status code
/// and body.
fn raw(d: &Daemon, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let mut s = UnixStream::connect(&d.socket).expect("connect to the daemon");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: baleia\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, answer[split + 4..].to_vec())
}

/// The JSON messages of a progress answer, one per line.
fn messages(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap_or_else(|e| panic!("{e}: {}", text(l))))
        .collect()
}

fn statuses(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| m["status"].as_str().map(String::from))
        .collect()
}

#[test]
fn save_and_load_round_trip_keeps_the_image_id() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let id = id_of(&d, "busybox");
    let file = root.scratch().join("x.tar");
    let file_arg = file.to_str().unwrap();

    d.ok(&["save", "-o", file_arg, "busybox"]);
    let saved = std::fs::read(&file).unwrap();
    let names = tar_names(&saved);
    assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    // `docker save busybox | tar -t`: the same archive on stdout.
    let o = d.command(&["save", "busybox"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(tar_names(&o.stdout), names);
    // The older route names the image in the path.
    let (code, body) = raw(&d, "GET", "/v1.48/images/busybox/get", &[]);
    assert_eq!(code, 200);
    assert_eq!(tar_names(&body), names);

    let o = d.docker(&["save", "-o", file_arg, "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("No such image: nosuch"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        saved,
        "a failed save left x.tar as it was"
    );

    let rmi = d.ok(&["rmi", "busybox"]);
    assert!(rmi.contains("Untagged: busybox:latest"), "{rmi}");
    assert!(!image_list(&d).contains(&id));
    let out = d.ok(&["load", "-i", file_arg]);
    assert_eq!(out.trim(), "Loaded image: busybox:latest");
    assert_eq!(id_of(&d, "busybox"), id);

    // From stdin, with the image there: loaded again, same ID, and it still runs.
    d.ok(&["rmi", "busybox"]);
    let o = d.docker_with_input(&["load"], &saved);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), "Loaded image: busybox:latest");
    assert_eq!(id_of(&d, "busybox"), id);
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "echo", "loaded"]).trim(),
        "loaded"
    );
}

#[test]
fn a_malformed_archive_is_refused_and_stores_nothing() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let before = image_list(&d);

    let garbage: Vec<u8> = b"this is not a tar archive\n".repeat(200);
    let o = d.docker_with_input(&["load"], &garbage);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("Error response from daemon: invalid archive: "),
        "{err}"
    );

    // A real archive cut in half: its layer is incomplete.
    let o = d.command(&["save", "busybox"]).output().unwrap();
    assert!(o.status.success());
    d.ok(&["tag", "busybox", "halfway:1"]);
    let mut half = o.stdout.clone();
    half.truncate(o.stdout.len() / 2);
    let o = d.docker_with_input(&["load"], &half);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("invalid archive"),
        "{}",
        text(&o.stderr)
    );
    d.ok(&["rmi", "halfway:1"]);

    assert_eq!(image_list(&d), before);
    let staging: Vec<_> = std::fs::read_dir(root.path().join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "staging left: {staging:?}");
}

#[test]
fn import_makes_an_image_from_a_tarball() {
    require("docker");
    let root = Root::new();
    let d = Daemon::start(&root);
    let rootfs = tar_of(&[
        Entry::Dir("etc/"),
        Entry::File("etc/motd", b"made by import\n".to_vec()),
    ]);
    let o = d.docker_with_input(
        &[
            "import",
            "--change",
            "CMD [\"/bin/true\"]",
            "-m",
            "from a test",
            "-",
            "imported:1",
        ],
        &rootfs,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let id = text(&o.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(id_of(&d, "imported:1"), id);
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Cmd}}",
            "imported:1"
        ])
        .trim(),
        r#"["/bin/true"]"#
    );
    assert!(d.ok(&["history", "imported:1"]).contains("from a test"));

    let o = d.docker_with_input(&["import", "-", "broken:1"], b"not a tarball at all");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not a tar archive"),
        "{}",
        text(&o.stderr)
    );
    assert!(!image_list(&d).contains("broken"));
}

#[test]
fn push_pull_and_run_through_a_local_registry() {
    require("docker");
    let reg = LocalRegistry::start();
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let id = id_of(&d, "busybox");
    let repo = format!("{}/x/busybox", reg.addr());
    let image = format!("{repo}:1");

    d.ok(&["tag", "busybox", &image]);
    let out = d.ok(&["push", &image]);
    assert!(
        out.contains(&format!("The push refers to repository [{repo}]")),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("1: digest: sha256:"), "{out}");
    let pushed = last.split_whitespace().nth(2).unwrap().to_string();
    let (_, digest) = reg.manifest("x/busybox", "1").expect("pushed manifest");
    assert_eq!(pushed, digest);
    // Again: nothing to upload.
    let again = d.ok(&["push", &image]);
    assert!(again.contains(": Layer already exists"), "{again}");
    assert!(!again.contains(": Pushed"), "{again}");

    let o = d.docker(&["push", &format!("{repo}:nope")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains(&format!("tag does not exist: {repo}:nope")),
        "{}",
        text(&o.stderr)
    );

    // As Docker: the repository's last tag takes its digest reference along, then the image.
    let rmi = d.ok(&["rmi", &image, "busybox"]);
    assert!(rmi.contains(&format!("Untagged: {repo}@{pushed}")), "{rmi}");
    assert!(rmi.contains(&format!("Deleted: {id}")), "{rmi}");
    assert!(!image_list(&d).contains(&id));
    let out = d.ok(&["pull", &image]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1: Pulling from x/busybox", "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert_eq!(
        &lines[lines.len() - 3..],
        [
            format!("Digest: {pushed}"),
            format!("Status: Downloaded newer image for {image}"),
            image.clone(),
        ],
        "{out}"
    );
    assert_eq!(id_of(&d, &image), id);
    let out = d.ok(&["pull", &image]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {image}")),
        "{out}"
    );

    let o = d.docker(&["pull", &format!("{repo}:nosuch")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr).trim(),
        format!(
            "Error response from daemon: manifest for {repo}:nosuch not found: \
             manifest unknown: manifest unknown"
        )
    );

    // `run` of an image only the registry has: the CLI pulls it after the daemon's 404.
    d.ok(&["rmi", &image]);
    let o = d.docker(&["run", "--rm", &image, "echo", "pulled"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), "pulled");
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("Unable to find image '{image}' locally")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Status: Downloaded newer image for {image}")),
        "{err}"
    );
    assert_eq!(id_of(&d, &image), id);

    let found = d.ok(&["search", &format!("{}/busy", reg.addr())]);
    assert!(found.starts_with("NAME"), "{found}");
    assert!(found.contains(&repo), "{found}");
    assert!(!d
        .ok(&["search", &format!("{}/nothing-like-it", reg.addr())])
        .contains(&repo));
}

#[test]
fn progress_messages_are_dockers_json() {
    require("docker");
    let reg = LocalRegistry::start();
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let repo = format!("{}/json/busybox", reg.addr());
    d.ok(&["tag", "busybox", &format!("{repo}:2")]);

    let (code, body) = raw(&d, "POST", &format!("/v1.48/images/{repo}/push?tag=2"), &[]);
    assert_eq!(code, 200, "{}", text(&body));
    let msgs = messages(&body);
    assert_eq!(
        msgs[0]["status"],
        format!("The push refers to repository [{repo}]")
    );
    let aux = msgs.last().unwrap()["aux"].clone();
    let (_, digest) = reg.manifest("json/busybox", "2").expect("pushed");
    assert_eq!(aux["Tag"], "2");
    assert_eq!(aux["Digest"], digest);
    assert!(aux["Size"].as_u64().unwrap() > 0);
    assert!(msgs
        .iter()
        .any(|m| m["status"] == "Preparing" && m["progressDetail"].is_object()));

    d.ok(&["rmi", &format!("{repo}:2"), "busybox"]);
    let (code, body) = raw(
        &d,
        "POST",
        &format!("/v1.48/images/create?fromImage={repo}&tag=2"),
        &[],
    );
    assert_eq!(code, 200, "{}", text(&body));
    let msgs = messages(&body);
    assert_eq!(
        msgs[0],
        serde_json::json!({"status": "Pulling from json/busybox", "id": "2"})
    );
    let downloading = msgs
        .iter()
        .find(|m| m["status"] == "Downloading")
        .expect("a Downloading message");
    assert!(downloading["progressDetail"]["total"].as_u64().unwrap() > 0);
    assert!(downloading["id"].as_str().unwrap().len() == 12);
    let st = statuses(&msgs);
    assert!(st.iter().any(|s| s == "Pulling fs layer"), "{st:?}");
    assert!(st.iter().any(|s| s == "Pull complete"), "{st:?}");
    assert_eq!(
        &st[st.len() - 2..],
        [
            format!("Digest: {digest}"),
            format!("Status: Downloaded newer image for {repo}:2")
        ]
    );

    // Not there: an error answer before any message, as the CLI expects.
    let (code, body) = raw(
        &d,
        "POST",
        &format!("/v1.48/images/create?fromImage={repo}&tag=nosuch"),
        &[],
    );
    assert_eq!(code, 404, "{}", text(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["message"].as_str().unwrap().contains("not found"), "{v}");

    // An unreachable registry too.
    let nowhere = format!("127.0.0.1:{}/x", baleia_tests::registry::free_port());
    let (code, body) = raw(
        &d,
        "POST",
        &format!("/v1.48/images/create?fromImage={nowhere}&tag=1"),
        &[],
    );
    assert_eq!(code, 500, "{}", text(&body));

    // A layer that fails its digest once the pull is under way: an error message ends the
    // stream; the CLI prints it and exits 1; nothing is stored.
    d.ok(&["rmi", &format!("{repo}:2")]);
    let (m, _) = reg.manifest("json/busybox", "2").unwrap();
    let bad = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let path = reg.blob_path(&bad);
    let mut blob = std::fs::read(&path).unwrap();
    let mid = blob.len() / 2;
    blob[mid] ^= 0xff;
    std::fs::write(&path, blob).unwrap();
    let o = d.docker(&["pull", &format!("{repo}:2")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("2: Pulling from json/busybox"),
        "{}",
        text(&o.stdout)
    );
    let err = text(&o.stderr);
    assert!(err.contains(&bad), "the message names the bad blob: {err}");
    assert!(!err.contains("Error response from daemon"), "{err}");
    assert_eq!(image_list(&d), "");
}

#[test]
fn login_and_credentials_travel_with_each_request() {
    require("docker");
    let reg = LocalRegistry::with_htpasswd("alice", "s3cret");
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let addr = reg.addr().to_string();
    let image = format!("{addr}/private/busybox:1");
    let client_config = d.config.join("config.json");

    let login = |password: &str| {
        let mut c = d.command(&["login", "-u", "alice", "--password-stdin", &addr]);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = login("wrong");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("unauthorized: incorrect username or password"),
        "{}",
        text(&o.stderr)
    );
    let o = login("s3cret");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Login Succeeded"));
    // The client keeps the credentials; the daemon stores none of its own.
    let conf: Value = serde_json::from_slice(&std::fs::read(&client_config).unwrap()).unwrap();
    assert_eq!(
        conf["auths"][&addr]["auth"],
        base64(b"alice:s3cret").as_str()
    );
    assert!(!root.docker_config().join("config.json").exists());

    // So push, pull and search work only with the X-Registry-Auth the CLI sends.
    d.ok(&["tag", "busybox", &image]);
    let out = d.ok(&["push", &image]);
    assert!(out.contains("1: digest: sha256:"), "{out}");
    d.ok(&["rmi", &image]);
    let out = d.ok(&["pull", &image]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {image}"))
            || out.contains(&format!("Status: Downloaded newer image for {image}")),
        "{out}"
    );
    assert!(d
        .ok(&["search", &format!("{addr}/private")])
        .contains(&format!("{addr}/private/busybox")));

    d.ok(&["logout", &addr]);
    d.ok(&["rmi", &image]);
    let o = d.docker(&["pull", &image]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("pull access denied for"),
        "{}",
        text(&o.stderr)
    );
    d.ok(&["tag", "busybox", &image]);
    let o = d.docker(&["push", &image]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("unauthorized"),
        "{}",
        text(&o.stderr)
    );
}
