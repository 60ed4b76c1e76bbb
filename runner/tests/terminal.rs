//! Terminals: typed commands end on their own (no sleeps) with their exit status, on the host and
//! inside an interactive container, and the learner's keys do what they do in a terminal.

use std::time::Duration;

use baleia_lab::backend::{Backend, Kind};
use baleia_lab::terminal::{Done, Target, Terminal, TerminalOptions};
use baleia_tests::{baleia_bin, Root};

const T: Duration = Duration::from_secs(20);

fn backend(root: &Root) -> Backend {
    Backend::builtin(
        &baleia_bin(),
        &root.scratch().join("shim"),
        vec![
            ("BALEIA_ROOT".into(), root.path().display().to_string()),
            (
                "BALEIA_CONFIG".into(),
                root.config_file().display().to_string(),
            ),
        ],
    )
    .unwrap()
}

fn terminal(b: &Backend, name: &str) -> Terminal {
    Terminal::spawn(&TerminalOptions {
        name: name.into(),
        env: b.env().to_vec(),
        path: b.path_var(),
        netns: None,
        size: (24, 80),
        prompt: format!("{name}$ "),
    })
    .unwrap()
}

/// PID 1 of a container, as the runner finds it.
fn resolver(b: &Backend) -> impl Fn(&Target) -> Option<i32> + '_ {
    move |t| {
        let name = match t {
            Target::Named(n) => n.clone(),
            Target::Newest => b.ok(&["ps", "-lq"]).ok()?.trim().to_string(),
        };
        let v = b.inspect(Kind::Container, &name).ok()??;
        v["State"]["Pid"]
            .as_i64()
            .filter(|p| *p > 0)
            .map(|p| p as i32)
    }
}

#[test]
fn host_commands_end_with_their_exit_status() {
    let root = Root::new();
    let b = backend(&root);
    let t = terminal(&b, "t1");
    let none = |_: &Target| None;
    let m = t.mark();
    t.type_line("echo hello; false", &none).unwrap();
    assert_eq!(t.wait_done(&m, T, &none).unwrap(), Done::Host(1));
    assert!(t.text_since(&m).contains("hello\n"), "{}", t.text_since(&m));
    let m = t.mark();
    t.type_line("sleep 0.3; (exit 7)", &none).unwrap();
    assert_eq!(t.wait_done(&m, T, &none).unwrap(), Done::Host(7));
    // `docker` is the backend.
    let m = t.mark();
    t.type_line("docker version --format '{{.Client.Version}}'", &none)
        .unwrap();
    assert_eq!(t.wait_done(&m, T, &none).unwrap(), Done::Host(0));
    assert!(t.text_since(&m).contains("0.1.0"), "{}", t.text_since(&m));
    // A program blocked reading something else than the terminal is busy, not waiting for keys.
    let m = t.mark();
    t.type_line("tail -f /dev/null", &none).unwrap();
    assert!(t.wait_done(&m, Duration::from_millis(500), &none).is_err());
    t.send(&[0x03], &none).unwrap();
    assert_eq!(t.wait_done(&m, T, &none).unwrap(), Done::Host(130));
    // Ctrl-C interrupts a command that would never end.
    let m = t.mark();
    t.type_line("sleep 1000", &none).unwrap();
    assert!(t.wait_done(&m, Duration::from_millis(300), &none).is_err());
    t.send(&[0x03], &none).unwrap();
    assert_eq!(t.wait_done(&m, T, &none).unwrap(), Done::Host(130));
    t.close();
}

#[test]
fn commands_inside_an_interactive_container_end_too() {
    let root = Root::with_lab_images(&["busybox"]);
    let b = backend(&root);
    let t = terminal(&b, "t1");
    let resolve = resolver(&b);
    let m = t.mark();
    t.type_line("docker run -it --name inside busybox sh", &resolve)
        .unwrap();
    let Done::Container(shell) = t.wait_done(&m, T, &resolve).unwrap() else {
        panic!("not inside: {}", t.text_since(&m))
    };
    let m = t.mark();
    t.type_line("echo pid=$$; sleep 0.5; echo after", &resolve)
        .unwrap();
    assert_eq!(
        t.wait_done(&m, T, &resolve).unwrap(),
        Done::Container(shell)
    );
    let out = t.text_since(&m);
    assert!(out.contains("pid=1\n") && out.contains("after\n"), "{out}");
    // Ctrl-P Ctrl-Q leaves it running and gives the host shell back.
    let m = t.mark();
    t.send(&[0x10, 0x11], &resolve).unwrap();
    assert_eq!(t.wait_done(&m, T, &resolve).unwrap(), Done::Host(0));
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}}", "inside"])
            .unwrap()
            .trim(),
        "running"
    );
    // An exec'd shell, then `exit 3` ends it and the host shell sees the status.
    let m = t.mark();
    t.type_line("docker exec -it inside sh", &resolve).unwrap();
    let Done::Container(exec_shell) = t.wait_done(&m, T, &resolve).unwrap() else {
        panic!("exec: {}", t.text_since(&m))
    };
    assert_ne!(exec_shell, shell, "the exec'd shell is not PID 1");
    let m = t.mark();
    t.type_line("exit 3", &resolve).unwrap();
    assert_eq!(t.wait_done(&m, T, &resolve).unwrap(), Done::Host(3));
    // A program nsenter starts in the container's namespaces reads our own terminal.
    let pid1 = b
        .ok(&["inspect", "-f", "{{.State.Pid}}", "inside"])
        .unwrap();
    let m = t.mark();
    t.type_line(
        &format!(
            "nsenter -m -u -n -p -i -t {} /bin/sh -c 'read line; echo \"got $line in $(hostname)\"; exit 4'",
            pid1.trim()
        ),
        &resolve,
    )
    .unwrap();
    let d = t.wait_done(&m, T, &resolve).unwrap();
    assert!(
        matches!(d, Done::Container(_)),
        "{d:?} {:?}",
        t.text_since(&m)
    );
    let m = t.mark();
    t.type_line("hello", &resolve).unwrap();
    assert_eq!(t.wait_done(&m, T, &resolve).unwrap(), Done::Host(4));
    let host = b
        .ok(&["inspect", "-f", "{{.Config.Hostname}}", "inside"])
        .unwrap();
    assert!(
        t.text_since(&m)
            .contains(&format!("got hello in {}", host.trim())),
        "{}",
        t.text_since(&m)
    );
    // Attach again, and Ctrl-D ends PID 1: the container exits.
    let m = t.mark();
    t.type_line("docker attach inside", &resolve).unwrap();
    t.wait_started(&m, T).unwrap();
    t.send(b"\r", &resolve).unwrap();
    assert!(matches!(
        t.wait_done(&m, T, &resolve).unwrap(),
        Done::Container(_)
    ));
    let m = t.mark();
    t.send(&[0x04], &resolve).unwrap();
    let d = t.wait_done(&m, T, &resolve).unwrap();
    assert_eq!(d, Done::Host(0), "{:?}", t.text_since(&m));
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Status}}", "inside"])
            .unwrap()
            .trim(),
        "exited"
    );
    t.close();
}
