//! Which container a `docker` client in the foreground is attached to, from its command line:
//! `docker run -it --name baleia debian bash`, `docker exec -it c1 sh`, `docker start -ai c1`,
//! `docker attach c1` (and their `container …` forms).

/// The container a client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name or ID given on the command line.
    Named(String),
    /// `run` without `--name`: the newest container.
    Newest,
}

/// Flags of `run`/`create`/`exec`/`start`/`attach` that take a value (`-e X`, `--name X`).
const VALUED: &[&str] = &[
    "-e",
    "--env",
    "--env-file",
    "-w",
    "--workdir",
    "-h",
    "--hostname",
    "-u",
    "--user",
    "--entrypoint",
    "-m",
    "--memory",
    "--memory-swap",
    "-c",
    "--cpu-shares",
    "--cpus",
    "--pids-limit",
    "--network",
    "--net",
    "--network-alias",
    "--net-alias",
    "-p",
    "--publish",
    "--expose",
    "--link",
    "--dns",
    "-v",
    "--volume",
    "--pull",
    "--name",
    "--detach-keys",
    "-l",
    "--label",
    "--restart",
    "--platform",
    "--mount",
    "--ip",
    "--add-host",
    "--cap-add",
    "--cap-drop",
    "--device",
    "--log-driver",
    "--log-opt",
    "--stop-signal",
    "--stop-timeout",
    "--tmpfs",
    "--ulimit",
    "--ipc",
    "--pid",
    "--uts",
    "--cgroupns",
    "--shm-size",
];

/// Whether a flag of `run`/`exec`/… (`-e`, `--name`, `-ite`) takes the next word as its value.
pub fn takes_value(flag: &str) -> bool {
    !flag.contains('=')
        && (VALUED.contains(&flag)
            || (!flag.starts_with("--")
                && flag.len() > 2
                && VALUED.contains(&format!("-{}", &flag[flag.len() - 1..]).as_str())))
}

/// Global flags before the subcommand that take a value.
const GLOBAL_VALUED: &[&str] = &[
    "-H",
    "--host",
    "--root",
    "--config",
    "-c",
    "--context",
    "-l",
    "--log-level",
];

/// The container `argv` (a docker client's command line) is attached to, if it is one.
pub fn target(argv: &[String]) -> Option<Target> {
    let mut words = argv.iter().skip(1).map(String::as_str).peekable();
    // Global flags.
    while let Some(w) = words.peek() {
        if !w.starts_with('-') {
            break;
        }
        let takes = GLOBAL_VALUED.contains(w) && !w.contains('=');
        words.next();
        if takes {
            words.next();
        }
    }
    let mut sub = words.next()?;
    if sub == "container" {
        sub = words.next()?;
    }
    if !matches!(sub, "run" | "exec" | "start" | "attach") {
        return None;
    }
    let mut name = None;
    let mut positional = None;
    // `run` and `exec` hold a terminal only with -i or -t; `start` only with -a or -i.
    let mut interactive = sub == "attach";
    while let Some(w) = words.next() {
        if w == "--" {
            positional = words.next().map(str::to_string);
            break;
        }
        if let Some(rest) = w.strip_prefix("--name=") {
            name = Some(rest.to_string());
            continue;
        }
        if w.starts_with('-') && w.len() > 1 {
            let short = !w.starts_with("--");
            let wants: &[char] = if sub == "start" {
                &['a', 'i']
            } else {
                &['i', 't']
            };
            interactive |= matches!(
                w,
                "--interactive" | "--tty" | "--attach" | "--interactive=true" | "--tty=true"
            ) || (short && !w.contains('=') && w[1..].contains(wants));
            if w.contains('=') {
                continue;
            }
            // `-it`, `-d`… are switches; a valued flag (or a switch cluster ending in one, like
            // `-ite X`) takes the next word.
            if takes_value(w) {
                let v = words.next();
                if w == "--name" {
                    name = v.map(str::to_string);
                }
            }
            continue;
        }
        positional = Some(w.to_string());
        break;
    }
    if !interactive {
        return None;
    }
    match sub {
        "run" => Some(name.map(Target::Named).unwrap_or(Target::Newest)),
        _ => positional.map(Target::Named),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(line: &str) -> Option<Target> {
        target(
            &line
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn clients_name_their_containers() {
        let named = |n: &str| Some(Target::Named(n.into()));
        assert_eq!(
            t("docker run -it --name baleia debian bash"),
            named("baleia")
        );
        assert_eq!(t("docker run -ti --name=c1 -e A=1 debian"), named("c1"));
        assert_eq!(t("docker run -it debian bash"), Some(Target::Newest));
        assert_eq!(t("docker exec -it -u root -w /tmp c2 sh"), named("c2"));
        assert_eq!(t("docker container exec -it c3 bash"), named("c3"));
        assert_eq!(t("docker start -ai c4"), named("c4"));
        assert_eq!(t("docker -H tcp://127.0.0.1:2375 attach c5"), named("c5"));
        assert_eq!(t("baleia --root /r exec -ite A=1 c6 sh"), named("c6"));
        assert_eq!(t("docker ps -a"), None);
        // Not holding the terminal: no -i or -t, or a start without -a/-i.
        assert_eq!(t("docker run --rm busybox sh -c 'sleep 1; echo hi'"), None);
        assert_eq!(t("docker run -d --name=baleia debian sleep 9"), None);
        assert_eq!(t("docker exec c2 ls"), None);
        assert_eq!(t("docker start c4"), None);
        assert_eq!(
            t("docker run --interactive --tty --name=c7 debian"),
            named("c7")
        );
        assert_eq!(t("docker"), None);
    }
}
