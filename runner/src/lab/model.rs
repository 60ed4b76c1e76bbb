//! What a lab file says, as serde reads it. Every field a learner or author writes is here; text
//! shown to the learner comes in both languages ([`Text`]). Strings may hold minijinja templates
//! (`{{ container("baleia").ip }}`), rendered when their step runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A text in Portuguese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Portuguese (the notes' language).
    pub pt: String,
    /// English.
    pub en: String,
}

/// One lab: a note's exercises as steps in named terminals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    /// Short stable name, also the file's stem: `08-bridge`.
    pub id: String,
    /// Its title.
    pub title: Text,
    /// What it is about, shown before the first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<Text>,
    /// The note(s) of `../shared/seeds/` it mirrors (file names).
    pub source: Vec<String>,
    /// Lab images it needs loaded (`debian`, `busybox`, `nginx`, `hello-world`, `registry`).
    #[serde(default)]
    pub images: Vec<String>,
    /// Lab images a stand-in for Docker Hub on 127.0.0.1 serves while the lab runs (as
    /// `library/NAME:TAG`): the built-in engine's only registry mirror in the lab's terminals, so
    /// `docker pull debian` and `docker search debian` never leave the machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hub: Vec<String>,
    /// Network namespaces the lab makes to play a machine outside the host (the notes' `curl
    /// http://ip-host:8080` from another computer).
    #[serde(default)]
    pub clients: Vec<String>,
    /// Its terminals ("abra três terminais"): a name, or a name and the client it runs in.
    #[serde(default = "default_terminals")]
    pub terminals: Vec<TerminalSpec>,
    /// The steps, in the notes' order.
    pub steps: Vec<Step>,
    /// Where it was read from (set by the loader).
    #[serde(skip)]
    pub path: PathBuf,
    /// The line each step starts on (set by the loader), for messages.
    #[serde(skip)]
    pub step_lines: Vec<usize>,
}

fn default_terminals() -> Vec<TerminalSpec> {
    vec![TerminalSpec::Name("t1".into())]
}

/// A terminal: `t1`, or `{name: t3, client: outside}` for a shell inside a client namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TerminalSpec {
    /// A shell on the host.
    Name(String),
    /// A shell in one of the lab's `clients`.
    In {
        /// Its name.
        name: String,
        /// The client namespace it runs in.
        client: String,
    },
}

impl TerminalSpec {
    /// The terminal's name.
    pub fn name(&self) -> &str {
        match self {
            TerminalSpec::Name(n) | TerminalSpec::In { name: n, .. } => n,
        }
    }
    /// The client namespace it runs in, if any.
    pub fn client(&self) -> Option<&str> {
        match self {
            TerminalSpec::Name(_) => None,
            TerminalSpec::In { client, .. } => Some(client),
        }
    }
}

/// One step: narration, something typed in a terminal, what to wait for, what to show, what to
/// check. In `walk` mode an `exercise` step is the learner's to type; `run` is then its model answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name to refer to this step's output later: `{{ steps.ping.output }}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The terminal it types in (default: the previous step's, at first the first terminal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    /// Narration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<Text>,
    /// A command line typed into the terminal's shell (which may be a container's, after
    /// `docker run -it …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Keys sent after `run` (or alone): `ctrl-c`, `ctrl-d`, `ctrl-p`, `ctrl-q`, `enter`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Key>,
    /// Leave the command running (tcpdump, a server, a loop) and go on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub background: bool,
    /// What must happen before the step is over (besides the command finishing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// Observations drawn for this step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub show: Vec<Show>,
    /// What must be true after the step (retried until the timeout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check: Vec<Check>,
    /// The learner's task in `walk` mode ("stop the container baleia with kill").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise: Option<Text>,
    /// Help shown when a check of this step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
    /// Seconds to wait for `wait` and the checks (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// A key the runner can press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Key {
    /// Interrupt (0x03).
    CtrlC,
    /// End of input (0x04).
    CtrlD,
    /// First half of Docker's detach keys (0x10).
    CtrlP,
    /// Second half of Docker's detach keys (0x11).
    CtrlQ,
    /// Return.
    Enter,
}

impl Key {
    /// The byte the key sends.
    pub fn byte(self) -> u8 {
        match self {
            Key::CtrlC => 0x03,
            Key::CtrlD => 0x04,
            Key::CtrlP => 0x10,
            Key::CtrlQ => 0x11,
            Key::Enter => b'\r',
        }
    }
}

/// Something to wait for after typing: text on the terminal, or a container's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// A pattern (see [`Check::output`]) the terminal's output must show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// A container that must reach `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `running`, `exited`, `created`, or `removed` (default `running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// An observation: exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Show {
    /// A container's namespaces next to the host's (inode per type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<String>,
    /// A container's processes: host PID next to PID inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<String>,
    /// An image's or a container's layer chain (lower/upper, sizes, which are shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<String>,
    /// A container's cgroup limit files and usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups: Option<String>,
    /// Bridges, veths and which bridge they sit on, addresses (`true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<bool>,
    /// The iptables rules this step added or removed (`true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables: Option<bool>,
    /// Packets on an interface during the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureSpec>,
    /// A file of the state root (or the host), with a jq-like selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileSpec>,
}

/// `capture:` what to listen to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// The interface (a template: `{{ network("neotech").bridge }}`).
    pub interface: String,
    /// Keep only packets of this protocol: `icmp`, `arp`, `tcp`, `udp`, `dns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// A name for the capture, for `packet` checks and the saved `.pcap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `files:` a path and what of it to show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Relative to the backend's state root, or absolute.
    pub path: String,
    /// A jq-like path into JSON: `.State.Pid`, `.Config.Env[0]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<String>,
}

/// A check: exactly one kind is set (`hint` and `timeout` go with it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The exit status of the command typed in the host's shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// The step's output matches, as trycmd matches: `[..]` is any text on a line, a line `...`
    /// any lines; the other lines must match whole lines, consecutive ones together, in order,
    /// somewhere in the output (the rules: `crate::check::pattern`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The step's output matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A container's state and exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerCheck>,
    /// An image is present (or not), with so many layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageCheck>,
    /// A file inside a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileCheck>,
    /// A container is on a network (or a network exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkCheck>,
    /// A name resolves inside a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolves: Option<ResolveCheck>,
    /// A TCP port answers (the lab's own addresses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortCheck>,
    /// A capture of this step saw a packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketCheck>,
    /// An iptables rule is present (or absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables: Option<IptablesCheck>,
    /// Help shown when this check fails (else the step's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
    /// Seconds to retry (else the step's, else 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// `container:` check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerCheck {
    /// Name or ID.
    pub name: String,
    /// `running`, `exited`, `created`, `paused`, or `removed` (it no longer exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Its exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

/// `image:` check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageCheck {
    /// Name (with tag) or ID.
    pub name: String,
    /// Whether it must be there (default true).
    #[serde(default = "yes")]
    pub present: bool,
    /// How many layers it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
}

/// `file:` check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    /// The container.
    pub container: String,
    /// The path inside it.
    pub path: String,
    /// A pattern (as [`Check::output`]) its content must match; else it must merely exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

/// `network:` check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCheck {
    /// The network.
    pub name: String,
    /// A container that must be (or not be) a member; none: the network must exist (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Whether it must be there (default true).
    #[serde(default = "yes")]
    pub present: bool,
}

/// `resolves:` check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveCheck {
    /// The container asking.
    pub container: String,
    /// The name asked.
    pub name: String,
    /// The address it must give (a template), if it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `port:` check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortCheck {
    /// The address (a template); only loopback and the lab's own addresses are allowed.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// One of the lab's `clients` to connect from (default: the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A pattern the first bytes of an HTTP GET's answer must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// What `answer` GETs (default `/`): `/v2/_catalog` asks a registry what it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `packet:` check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketCheck {
    /// The capture's name (default: the step's only capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// A pattern matched against the decoded line (`IP 172.17.0.3 > 172.17.0.2: ICMP echo request[..]`).
    pub matches: String,
}

/// `iptables:` check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IptablesCheck {
    /// `filter`, `nat`, …
    #[serde(default = "filter")]
    pub table: String,
    /// A pattern (as [`Check::output`], on one line) an `iptables -S` rule must match.
    pub rule: String,
    /// Whether it must be there (default true).
    #[serde(default = "yes")]
    pub present: bool,
}

fn yes() -> bool {
    true
}

fn filter() -> String {
    "filter".into()
}
