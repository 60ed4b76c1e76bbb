//! `baleia daemon`'s guard rails: TCP beyond loopback is refused without client certificates,
//! TLS with `--tlsverify` lets in only clients holding a certificate the CA signed, and malformed
//! or oversized requests get an error while the daemon goes on serving.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use baleia_tests::daemon::Daemon;
use baleia_tests::registry::free_port;
use baleia_tests::*;

#[test]
fn tcp_beyond_loopback_without_tls_is_refused_with_the_reason() {
    let root = Root::new();
    let port = free_port();
    let any = format!("tcp://0.0.0.0:{port}");
    let err = root.fails(&["daemon", "-H", &any]);
    assert!(
        err.contains(&format!("refusing to listen on {any} without TLS")),
        "{err}"
    );
    assert!(err.contains("run containers as root"), "{err}");
    assert!(err.contains("--tlsverify"), "{err}");
    // Server certificates alone do not do: clients must be checked too.
    assert!(root
        .fails(&["daemon", "-H", &any, "--tls"])
        .contains("without TLS"));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing may listen after a refusal"
    );
}

/// Run `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's "Protect the
/// Docker daemon socket" guide makes them; and a second client signed by another CA.
fn certificates(dir: &Path) {
    let key = |name: &str| openssl(dir, &["genrsa", "-out", name, "2048"]);
    for k in [
        "ca-key.pem",
        "server-key.pem",
        "key.pem",
        "rogue-ca-key.pem",
        "rogue-key.pem",
    ] {
        key(k);
    }
    for (ca, subject) in [("ca", "/CN=baleia test CA"), ("rogue-ca", "/CN=rogue CA")] {
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-x509",
                "-days",
                "2",
                "-sha256",
                "-subj",
                subject,
                "-key",
                &format!("{ca}-key.pem"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage = clientAuth\n").unwrap();
    let sign = |key: &str, subject: &str, ca: &str, ext: &str, out: &str| {
        openssl(
            dir,
            &[
                "req", "-new", "-subj", subject, "-key", key, "-out", "req.csr",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-sha256",
                "-in",
                "req.csr",
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}-key.pem"),
                "-CAcreateserial",
                "-out",
                out,
                "-extfile",
                ext,
            ],
        );
    };
    sign(
        "server-key.pem",
        "/CN=127.0.0.1",
        "ca",
        "server.cnf",
        "server-cert.pem",
    );
    sign("key.pem", "/CN=client", "ca", "client.cnf", "cert.pem");
    sign(
        "rogue-key.pem",
        "/CN=rogue",
        "rogue-ca",
        "client.cnf",
        "rogue-cert.pem",
    );
}

#[test]
fn tlsverify_admits_only_clients_with_a_certificate_from_the_ca() {
    require("docker");
    require("openssl");
    let root = Root::new();
    let certs: PathBuf = root.scratch().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    certificates(&certs);
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let file = |n: &str| certs.join(n).display().to_string();
    let d = Daemon::start_args(
        &root,
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &file("ca.pem"),
            "--tlscert",
            &file("server-cert.pem"),
            "--tlskey",
            &file("server-key.pem"),
        ],
    );
    let docker = |args: &[&str]| {
        Command::new("docker")
            .env("DOCKER_CONFIG", &d.config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .args(["-H", &tcp])
            .args(args)
            .output()
            .expect("run docker")
    };
    // Docker's way: --tlsverify with the CA and the client's pair.
    let o = docker(&[
        "--tlsverify",
        "--tlscacert",
        &file("ca.pem"),
        "--tlscert",
        &file("cert.pem"),
        "--tlskey",
        &file("key.pem"),
        "version",
        "--format",
        "{{.Server.APIVersion}}",
    ]);
    assert_eq!(text(&o.stdout).trim(), "1.48", "{}", text(&o.stderr));
    // DOCKER_CERT_PATH and DOCKER_TLS_VERIFY, as the guide exports them.
    let o = Command::new("docker")
        .env("DOCKER_CONFIG", &d.config)
        .env("DOCKER_HOST", &tcp)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &certs)
        .args(["info", "--format", "{{.OSType}}"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout).trim(), "linux", "{}", text(&o.stderr));
    // No client certificate, one from another CA, or plain HTTP: no answer from the engine.
    let o = docker(&[
        "--tlsverify",
        "--tlscacert",
        &file("ca.pem"),
        "version",
        "--format",
        "{{.Server.APIVersion}}",
    ]);
    assert!(!o.status.success(), "a client without a certificate got in");
    let o = docker(&[
        "--tlsverify",
        "--tlscacert",
        &file("ca.pem"),
        "--tlscert",
        &file("rogue-cert.pem"),
        "--tlskey",
        &file("rogue-key.pem"),
        "version",
        "--format",
        "{{.Server.APIVersion}}",
    ]);
    assert!(!o.status.success(), "a certificate from another CA got in");
    let o = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(!o.status.success(), "plain HTTP got an answer over TLS");
    // The unix socket is not TLS and still answers.
    assert_eq!(d.ok(&["info", "--format", "{{.OSType}}"]).trim(), "linux");
}

/// Send raw bytes to the daemon's socket; what it answers (until it closes or 5 s pass). The
/// requests say `Connection: close`, so the daemon ends the exchange; our side stays open for
/// writing, as clients' do (a client that half-closes may be taken for one that left).
fn raw(socket: &Path, request: &[u8]) -> String {
    exchange(socket, request, false)
}

/// [`raw`], then half-close: the daemon sees the end of what it was promised.
fn raw_then_eof(socket: &Path, request: &[u8]) -> String {
    exchange(socket, request, true)
}

fn exchange(socket: &Path, request: &[u8], eof: bool) -> String {
    let mut s = UnixStream::connect(socket).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A daemon that refuses a huge request may close before reading it all.
    let _ = s.write_all(request);
    if eof {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status line's code and the JSON body's message of one HTTP answer.
fn status_and_message(answer: &str) -> (u16, String) {
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    (code, message)
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn malformed_and_oversized_requests_get_errors_and_the_daemon_serves_on() {
    require("docker");
    let root = Root::with_lab_images(&["busybox"]);
    let d = Daemon::start(&root);
    let ping = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
    let alive = |why: &str| {
        let a = raw(&d.socket, ping);
        assert!(
            a.starts_with("HTTP/1.1 200") && a.ends_with("OK"),
            "after {why}: {a:?}"
        );
    };

    // Not JSON, JSON of the wrong shape: 400-class with Docker's {"message"}.
    let (code, msg) = status_and_message(&raw(
        &d.socket,
        &post("/v1.48/containers/create", b"{not json"),
    ));
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("JSON"), "{msg}");
    let (code, msg) = status_and_message(&raw(
        &d.socket,
        &post("/containers/create", b"{\"Image\": 42}"),
    ));
    assert!((400..500).contains(&code), "{code} {msg}");
    assert!(!msg.is_empty());
    let (code, msg) = status_and_message(&raw(
        &d.socket,
        b"POST /containers/x/stop?t=soon HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    assert_eq!(code, 400, "{msg}");
    assert!(!msg.is_empty());
    alive("bad JSON");

    // A 3 MiB create body: refused as too large, nothing made.
    let mut big = b"{\"Image\":\"busybox\",\"Cmd\":[\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 3 << 20));
    big.extend_from_slice(b"\"]}");
    let (code, msg) = status_and_message(&raw(&d.socket, &post("/containers/create", &big)));
    assert_eq!(code, 413, "{msg}");
    assert!(!msg.is_empty());
    assert_eq!(
        d.ok(&["ps", "-aq"]).trim(),
        "",
        "an oversized create made a container"
    );
    alive("an oversized body");

    // Garbage instead of HTTP, a megabyte of header, a body shorter than announced.
    let answer = raw(&d.socket, b"\x16\x03\x01 this is not HTTP\r\n\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    alive("garbage");
    let mut huge = b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b"\r\n\r\n");
    let answer = raw(&d.socket, &huge);
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "a 1 MiB header was served: {:?}",
        &answer[..answer.len().min(80)]
    );
    alive("a huge header");
    let answer = raw_then_eof(
        &d.socket,
        b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 100\r\n\r\n{\"Image\":",
    );
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer:?}");
    alive("a short body");

    // Many clients that connect and say nothing do not stop others.
    let idle: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    alive("idle connections");
    drop(idle);
    assert_eq!(d.ok(&["info", "--format", "{{.OSType}}"]).trim(), "linux");
}
