//! Checks: what must be true after a step. Each kind of [`Check`] is judged here against the
//! backend (through `docker inspect`, so a real Docker and podman are judged alike), the step's
//! terminal output, its captures and the lab's clients. [`eventually`] retries a check until it
//! holds or its time is up; a failure says in plain words what was expected and what was seen.

mod container;
mod file;
mod iptables;
mod network;
pub mod pattern;
mod port;
mod resolve;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendError};
use crate::client::Clients;
use crate::lab::model::{Check, Step, Text};

pub use port::{allowed, OwnAddresses};

/// Seconds a check is retried when neither it nor its step says.
pub const DEFAULT_TIMEOUT: f64 = 10.0;

/// What a check is judged against.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The lab's `docker`.
    pub backend: &'a Backend,
    /// What the step's terminal showed (escape sequences and CRLF are fine).
    pub output: &'a str,
    /// The exit status of the command typed, when it was typed in a host shell.
    pub exit: Option<i32>,
    /// The step's captures, by name: their packets decoded one per line, as `tcpdump -nn` prints.
    pub captures: &'a HashMap<String, Vec<String>>,
    /// The lab's client namespaces.
    pub clients: &'a Clients,
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// It was judged and does not hold: what was seen, what was expected
    /// (`container baleia is running, expected exited`). Retrying may help.
    #[error("{0}")]
    Unmet(String),
    /// It could not be judged: the backend or a tool failed, the check asks for something that
    /// is not there (a capture, a client), or for something refused (an address that is not the
    /// lab's). Retrying will not help.
    #[error("{0}")]
    Error(String),
}

impl Failure {
    /// Whether the check was judged and did not hold (as opposed to not judged at all).
    pub fn is_unmet(&self) -> bool {
        matches!(self, Failure::Unmet(_))
    }
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Unmet(m) | Failure::Error(m) => m,
        }
    }
}

impl From<BackendError> for Failure {
    fn from(e: BackendError) -> Failure {
        Failure::Error(e.to_string())
    }
}

fn unmet<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Unmet(message.into()))
}

fn error<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Error(message.into()))
}

/// Judge `check` once.
pub fn evaluate(check: &Check, ctx: &Context) -> Result<(), Failure> {
    if let Some(code) = check.exit {
        return exit(code, ctx.exit);
    }
    if let Some(p) = &check.output {
        return output(p, ctx.output);
    }
    if let Some(re) = &check.regex {
        return regex(re, ctx.output);
    }
    if let Some(c) = &check.container {
        return container::container(c, ctx.backend);
    }
    if let Some(c) = &check.image {
        return container::image(c, ctx.backend);
    }
    if let Some(c) = &check.file {
        return file::file(c, ctx.backend);
    }
    if let Some(c) = &check.network {
        return network::network(c, ctx.backend);
    }
    if let Some(c) = &check.resolves {
        return resolve::resolves(c, ctx);
    }
    if let Some(c) = &check.port {
        return port::port(c, ctx);
    }
    if let Some(c) = &check.packet {
        return packet(c.capture.as_deref(), &c.matches, ctx.captures);
    }
    if let Some(c) = &check.iptables {
        return iptables::iptables(c);
    }
    error("a check with nothing to check")
}

/// Whether a check can change while we wait: the output, the exit status and the captures of a
/// step that is over cannot.
pub fn settled(check: &Check) -> bool {
    check.exit.is_some()
        || check.output.is_some()
        || check.regex.is_some()
        || check.packet.is_some()
}

/// Judge `check` until it holds or `timeout` has passed, sleeping 20 ms between tries at first,
/// then longer (up to 200 ms). Output, exit status and packet checks are judged once; an
/// [`Failure::Error`] ends the wait at once. On giving up, the last failure.
pub fn eventually(check: &Check, timeout: Duration, ctx: &Context) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        let failure = match evaluate(check, ctx) {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        let now = Instant::now();
        if settled(check) || !failure.is_unmet() || now >= deadline {
            return Err(failure);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// How long `check` of `step` is retried: its own timeout, else its step's, else 10 s.
pub fn timeout(check: &Check, step: &Step) -> Duration {
    let secs = check.timeout.or(step.timeout).unwrap_or(DEFAULT_TIMEOUT);
    Duration::from_secs_f64(secs.clamp(0.0, 24.0 * 3600.0))
}

/// The help to show when `check` of `step` fails: its own hint, else its step's.
pub fn hint<'a>(check: &'a Check, step: &'a Step) -> Option<&'a Text> {
    check.hint.as_ref().or(step.hint.as_ref())
}

fn exit(expected: i32, seen: Option<i32>) -> Result<(), Failure> {
    match seen {
        None => error("the exit status is only known for a command typed in a host shell"),
        Some(s) if s == expected => Ok(()),
        Some(s) => unmet(format!("exit code {s}, expected {expected}")),
    }
}

fn output(pattern: &str, text: &str) -> Result<(), Failure> {
    match pattern::first_difference(pattern, text) {
        None => Ok(()),
        Some(d) => unmet(format!("the output does not match: {d}")),
    }
}

fn regex(re: &str, text: &str) -> Result<(), Failure> {
    let r = match regex::Regex::new(re) {
        Ok(r) => r,
        Err(e) => return error(format!("bad regular expression /{re}/: {e}")),
    };
    if r.is_match(&pattern::normalize(text)) {
        Ok(())
    } else {
        unmet(format!(
            "the output does not match the regular expression /{re}/"
        ))
    }
}

fn packet(
    capture: Option<&str>,
    pattern: &str,
    captures: &HashMap<String, Vec<String>>,
) -> Result<(), Failure> {
    let (name, lines) = match capture {
        Some(name) => match captures.get(name) {
            Some(lines) => (name, lines),
            None => {
                let mut known: Vec<&str> = captures.keys().map(String::as_str).collect();
                known.sort();
                return error(format!(
                    "no capture named {name:?} in this step (there are: {})",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ));
            }
        },
        None => match captures.iter().next() {
            Some((name, lines)) if captures.len() == 1 => (name.as_str(), lines),
            _ => {
                return error(format!(
                    "a packet check without `capture` needs exactly one capture in its step, there are {}",
                    captures.len()
                ))
            }
        },
    };
    if pattern::matches(pattern, &lines.join("\n")) {
        return Ok(());
    }
    let mut seen = match lines.len() {
        0 => "it saw no packet".to_string(),
        1 => "it saw 1 packet:".to_string(),
        n => format!("it saw {n} packets:"),
    };
    const SHOWN: usize = 5;
    for l in lines.iter().take(SHOWN) {
        seen.push_str("\n  ");
        seen.push_str(l);
    }
    if lines.len() > SHOWN {
        seen.push_str("\n  …");
    }
    unmet(format!(
        "capture {name} has no packet matching {pattern:?}; {seen}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::model::ContainerCheck;

    fn backend() -> Backend {
        Backend::external(std::path::Path::new("/nonexistent/docker"))
    }

    #[test]
    fn exit_status_failures_say_what_was_seen_and_expected() {
        assert_eq!(exit(0, Some(0)), Ok(()));
        assert_eq!(
            exit(137, Some(0)),
            Err(Failure::Unmet("exit code 0, expected 137".into()))
        );
        assert!(!exit(0, None).unwrap_err().is_unmet());
    }

    #[test]
    fn output_and_regex_failures_explain() {
        assert_eq!(output("hi", "$ echo hi\r\nhi\r\n"), Ok(()));
        assert_eq!(
            output("bye", "hi\n"),
            Err(Failure::Unmet(
                "the output does not match: no line matches \"bye\"".into()
            ))
        );
        assert_eq!(
            regex(r"^hi$", "x\r\nhi\r\n"),
            Err(Failure::Unmet(
                "the output does not match the regular expression /^hi$/".into()
            ))
        );
        assert_eq!(regex(r"(?m)^hi$", "x\r\nhi\r\n"), Ok(()));
        assert!(!regex("(", "x").unwrap_err().is_unmet());
    }

    #[test]
    fn packets_are_matched_against_the_named_or_only_capture() {
        let mut caps = HashMap::new();
        caps.insert(
            "c1".to_string(),
            vec![
                "IP 172.17.0.3 > 172.17.0.2: ICMP echo request, id 1, seq 0, length 64".to_string(),
                "IP 172.17.0.2 > 172.17.0.3: ICMP echo reply, id 1, seq 0, length 64".to_string(),
            ],
        );
        let req = "IP 172.17.0.3 > 172.17.0.2: ICMP echo request[..]";
        assert_eq!(packet(Some("c1"), req, &caps), Ok(()));
        assert_eq!(packet(None, req, &caps), Ok(()));
        let other = "IP 172.17.0.4 > 172.17.0.2: ICMP echo request[..]";
        let f = packet(None, other, &caps).unwrap_err();
        assert!(f.is_unmet());
        assert!(
            f.message().starts_with(
                "capture c1 has no packet matching \"IP 172.17.0.4 > 172.17.0.2: ICMP echo request[..]\"; it saw 2 packets:\n  IP 172.17.0.3"
            ),
            "{f}"
        );
        let f = packet(Some("c2"), req, &caps).unwrap_err();
        assert_eq!(
            f,
            Failure::Error("no capture named \"c2\" in this step (there are: c1)".into())
        );
        caps.insert("c2".into(), vec![]);
        assert!(!packet(None, req, &caps).unwrap_err().is_unmet());
        let f = packet(Some("c2"), req, &caps).unwrap_err();
        assert!(f.message().ends_with("it saw no packet"), "{f}");
    }

    #[test]
    fn settled_checks_are_judged_once_and_errors_end_the_wait() {
        let caps = HashMap::new();
        let clients = Clients::none();
        let b = backend();
        let ctx = Context {
            backend: &b,
            output: "hello\n",
            exit: Some(1),
            captures: &caps,
            clients: &clients,
        };
        let start = Instant::now();
        let c = Check {
            exit: Some(0),
            ..Check::default()
        };
        assert_eq!(
            eventually(&c, Duration::from_secs(5), &ctx),
            Err(Failure::Unmet("exit code 1, expected 0".into()))
        );
        let c = Check {
            output: Some("hello".into()),
            ..Check::default()
        };
        assert_eq!(eventually(&c, Duration::from_secs(5), &ctx), Ok(()));
        // The backend cannot run: an error, not retried.
        let c = Check {
            container: Some(ContainerCheck {
                name: "x".into(),
                state: Some("running".into()),
                exit_code: None,
            }),
            ..Check::default()
        };
        let f = eventually(&c, Duration::from_secs(5), &ctx).unwrap_err();
        assert!(!f.is_unmet(), "{f}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn timeouts_and_hints_fall_back_to_the_step() {
        let text = |s: &str| Text {
            pt: s.into(),
            en: s.into(),
        };
        let mut step = Step::default();
        let mut c = Check::default();
        assert_eq!(timeout(&c, &step), Duration::from_secs(10));
        step.timeout = Some(3.0);
        assert_eq!(timeout(&c, &step), Duration::from_secs(3));
        c.timeout = Some(0.5);
        assert_eq!(timeout(&c, &step), Duration::from_millis(500));
        assert_eq!(hint(&c, &step), None);
        step.hint = Some(text("step"));
        assert_eq!(hint(&c, &step).unwrap().en, "step");
        c.hint = Some(text("check"));
        assert_eq!(hint(&c, &step).unwrap().en, "check");
    }
}
