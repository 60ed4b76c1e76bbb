//! One run of a lab: its terminals and clients are made, each step is typed and waited for, and
//! at the end (or on Ctrl-C, or after a crash, by the next run) everything it made is removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Kind};
use crate::client::{ClientError, Clients};
use crate::inventory::{state_file, Inventory};
use crate::lab::{Lab, Step};
use crate::template::Facts;
use crate::terminal::{Done, Mark, Target, Terminal, TerminalError, TerminalOptions};

/// How long a step may take when the lab does not say (seconds).
pub const DEFAULT_TIMEOUT: f64 = 10.0;
/// How long a typed command may run before the step gives up (seconds).
pub const COMMAND_TIMEOUT: f64 = 120.0;

/// A failure that ends the run (not a failed check).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A terminal failed.
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    /// A template could not be rendered.
    #[error("{place}: {source}")]
    Template {
        /// `step 3`.
        place: String,
        /// Why.
        source: crate::template::TemplateError,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    /// Waiting for something the step asked for took too long.
    #[error("{place}: {what}")]
    Wait {
        /// `step 3`.
        place: String,
        /// What was awaited.
        what: String,
    },
    /// The user pressed Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// The lab's client namespaces could not be made.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The state folder could not be written.
    #[error("keeping the lab's inventory in {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How a session runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Where the inventory of a running lab is kept.
    pub state_dir: PathBuf,
    /// Terminal size.
    pub size: (u16, u16),
}

/// What a step did.
#[derive(Debug, Clone)]
pub struct StepRun {
    /// Its index in the lab.
    pub index: usize,
    /// The terminal it typed in.
    pub terminal: String,
    /// The command line typed (rendered), if any.
    pub command: Option<String>,
    /// What the terminal showed during the step.
    pub output: String,
    /// The exit status, when the command ended at the host shell.
    pub exit: Option<i32>,
    /// It ended inside an interactive container (that shell's host PID).
    pub inside: Option<i32>,
    /// How long typing and waiting took.
    pub took: Duration,
}

/// A lab being run.
pub struct Session {
    /// The lab.
    pub lab: Lab,
    /// Its backend.
    pub backend: Backend,
    /// What templates read.
    pub facts: Facts,
    terminals: BTreeMap<String, Terminal>,
    clients: Clients,
    current: String,
    before: Inventory,
    state: PathBuf,
    started_at: Instant,
    hub: Option<crate::hub::Hub>,
}

/// The `step N` of messages.
pub fn place(i: usize) -> String {
    format!("step {}", i + 1)
}

impl Session {
    /// Clean what a crashed run of this lab left, note what the backend holds, and open the
    /// lab's terminals.
    pub fn start(
        lab: Lab,
        backend: Backend,
        opts: &SessionOptions,
    ) -> Result<Session, SessionError> {
        let state = state_file(&opts.state_dir, &lab.id);
        if let Some(stale) = Inventory::load(&state) {
            stale.restore(&backend);
            release_host(&backend);
            let _ = std::fs::remove_file(&state);
        }
        let mut before = Inventory::take(&backend)?;
        let save = |inv: &Inventory| {
            inv.save(&state).map_err(|source| SessionError::State {
                path: state.clone(),
                source,
            })
        };
        save(&before)?;
        let clients = Clients::create(&lab.clients)?;
        before.netns = clients.iter().map(|c| c.netns().to_string()).collect();
        before.links = clients.iter().map(|c| c.host_if().to_string()).collect();
        save(&before)?;
        let facts = Facts::new(backend.clone());
        for c in clients.iter() {
            facts.add_client(crate::template::ClientFacts {
                name: c.name().into(),
                netns: c.netns().into(),
                ip: c.ip().to_string(),
                host_ip: c.host_ip().to_string(),
            });
        }
        let mut terminals = BTreeMap::new();
        for spec in &lab.terminals {
            let t = Terminal::spawn(&TerminalOptions {
                name: spec.name().into(),
                env: backend.env().to_vec(),
                path: backend.path_var(),
                netns: spec
                    .client()
                    .and_then(|c| clients.get(c))
                    .map(|c| c.netns().to_string()),
                size: opts.size,
                prompt: format!("{}$ ", spec.name()),
            })?;
            terminals.insert(spec.name().to_string(), t);
        }
        let current = lab
            .terminals
            .first()
            .map(|t| t.name().to_string())
            .unwrap_or_else(|| "t1".into());
        Ok(Session {
            lab,
            backend,
            facts,
            terminals,
            clients,
            current,
            before,
            state,
            started_at: Instant::now(),
            hub: None,
        })
    }

    /// Keep the lab's stand-in Docker Hub running until the lab is over, and name it to templates.
    pub fn keep_hub(&mut self, hub: crate::hub::Hub) {
        self.facts.set_hub(&hub.host());
        self.hub = Some(hub);
    }

    /// When the session started (recordings count from here).
    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// Where step `i`'s capture `name` is saved (`.pcap`, readable by tshark and wireshark).
    pub fn pcap_path(&self, i: usize, name: &str) -> PathBuf {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.captures_dir();
        let _ = std::fs::create_dir_all(&dir);
        dir.join(format!("step{}-{safe}.pcap", i + 1))
    }

    /// Where this run's captures are saved (removed with the lab).
    pub fn captures_dir(&self) -> PathBuf {
        self.state.with_extension("").with_extension("captures")
    }

    /// The lab's client namespaces.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Make step `i`'s terminal the current one (as typing it would); its name.
    pub fn select_terminal(&mut self, i: usize) -> String {
        if let Some(t) = &self.lab.steps[i].terminal {
            self.current = t.clone();
        }
        self.current.clone()
    }

    /// A terminal by name.
    pub fn terminal(&self, name: &str) -> Option<&Terminal> {
        self.terminals.get(name)
    }

    /// The terminals, by name.
    pub fn terminals(&self) -> impl Iterator<Item = (&String, &Terminal)> {
        self.terminals.iter()
    }

    /// Render a string of step `i`.
    pub fn render(&self, i: usize, text: &str) -> Result<String, SessionError> {
        self.facts
            .render(text)
            .map_err(|source| SessionError::Template {
                place: place(i),
                source,
            })
    }

    /// PID 1 of the container a client names (`Newest`: one that was not there when the
    /// command was typed, `known`).
    fn pid_of(&self, t: &Target, known: &std::collections::BTreeSet<String>) -> Option<i32> {
        let name = match t {
            Target::Named(n) => n.clone(),
            Target::Newest => self.backend.ok(&["ps", "-lq"]).ok()?.trim().to_string(),
        };
        if name.is_empty() {
            return None;
        }
        let v = self.backend.inspect(Kind::Container, &name).ok()??;
        // A client without `--name` is the newest container, but only one its command made.
        if matches!(t, Target::Newest) && known.contains(v["Id"].as_str()?) {
            return None;
        }
        v["State"]["Pid"]
            .as_i64()
            .filter(|p| *p > 0)
            .map(|p| p as i32)
    }

    /// Type step `i` (its command and keys) and wait as it says; the terminal's output and status.
    pub fn run_step(&mut self, i: usize) -> Result<StepRun, SessionError> {
        if crate::interrupt::requested() {
            return Err(SessionError::Interrupted);
        }
        let step: Step = self.lab.steps[i].clone();
        if let Some(t) = &step.terminal {
            self.current = t.clone();
        }
        let command = step.run.as_deref().map(|r| self.render(i, r)).transpose()?;
        let started = Instant::now();
        let term = self
            .terminals
            .get(&self.current)
            .expect("validated terminal");
        let mark = term.mark();
        // The containers there before a `docker run` without a name: the one it attaches to is new.
        let unnamed_run = command.as_deref().is_some_and(|c| {
            let words: Vec<String> = c.split_whitespace().map(String::from).collect();
            crate::terminal::target(&words) == Some(Target::Newest)
        });
        let known = if unnamed_run {
            self.backend
                .ok(&["ps", "-aq", "--no-trunc"])
                .map(|out| out.lines().map(|l| l.trim().to_string()).collect())
                .unwrap_or_else(|_| self.before.containers.clone())
        } else {
            self.before.containers.clone()
        };
        let resolve = |t: &Target| self.pid_of(t, &known);
        let typed = command.is_some() || !step.keys.is_empty();
        if let Some(c) = &command {
            term.type_line(c, &resolve)?;
        }
        if !step.keys.is_empty() {
            if command.is_some() {
                term.wait_started(&mark, Duration::from_secs_f64(DEFAULT_TIMEOUT))?;
            }
            let keys: Vec<u8> = step.keys.iter().map(|k| k.byte()).collect();
            term.send(&keys, &resolve)?;
        }
        let mut done = None;
        if typed && !step.background {
            done = Some(wait_interruptibly(term, &mark, &resolve)?);
        } else if typed {
            term.wait_started(&mark, Duration::from_secs_f64(DEFAULT_TIMEOUT))?;
        }
        if let Some(w) = &step.wait {
            let timeout = Duration::from_secs_f64(step.timeout.unwrap_or(DEFAULT_TIMEOUT));
            self.wait_for(i, term, &mark, w, timeout)?;
        }
        let term = self
            .terminals
            .get(&self.current)
            .expect("validated terminal");
        let output = term.text_since(&mark);
        let (exit, inside) = match done {
            Some(Done::Host(c)) => (Some(c), None),
            Some(Done::Container(p)) => (None, Some(p)),
            None => (None, None),
        };
        if let Some(id) = &step.id {
            self.facts.add_step(id, &output, exit);
        }
        Ok(StepRun {
            index: i,
            terminal: self.current.clone(),
            command,
            output,
            exit,
            inside,
            took: started.elapsed(),
        })
    }

    fn wait_for(
        &self,
        i: usize,
        term: &Terminal,
        mark: &Mark,
        w: &crate::lab::Wait,
        timeout: Duration,
    ) -> Result<(), SessionError> {
        if let Some(pattern) = &w.output {
            let pattern = self.render(i, pattern)?;
            term.wait_text(mark, timeout, &|text| text.contains(pattern.as_str()))
                .map_err(|e| match e {
                    TerminalError::Timeout { .. } => SessionError::Wait {
                        place: place(i),
                        what: format!("the terminal never showed {pattern:?}"),
                    },
                    e => e.into(),
                })?;
        }
        if let Some(c) = &w.container {
            let name = self.render(i, c)?;
            let want = w.state.as_deref().unwrap_or("running");
            let deadline = Instant::now() + timeout;
            loop {
                let state = self
                    .backend
                    .inspect(Kind::Container, &name)?
                    .map(|v| {
                        v["State"]["Status"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .unwrap_or_else(|| "removed".into());
                if state == want {
                    break;
                }
                if crate::interrupt::requested() {
                    return Err(SessionError::Interrupted);
                }
                if Instant::now() >= deadline {
                    return Err(SessionError::Wait {
                        place: place(i),
                        what: format!("container {name} is {state}, never {want}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Close the terminals and remove everything the lab made; what could not be removed.
    pub fn finish(mut self) -> Vec<String> {
        for (_, t) in std::mem::take(&mut self.terminals) {
            t.close();
        }
        drop(std::mem::replace(&mut self.clients, Clients::none()));
        let _ = std::fs::remove_dir_all(self.captures_dir());
        let mut failed = self.before.restore(&self.backend);
        // A daemon may finish making (or removing) a container after its client was ended with
        // the terminal: look again, a few times, until nothing new is left. The built-in engine
        // has no daemon: its clients are gone with the terminals.
        let rounds = if self.backend.is_builtin() { 0 } else { 5 };
        for _ in 0..rounds {
            std::thread::sleep(Duration::from_millis(200));
            match Inventory::take(&self.backend) {
                Ok(now) if !self.before.lacks_any_of(&now) => {
                    failed.clear();
                    break;
                }
                _ => failed = self.before.restore(&self.backend),
            }
        }
        drop(self.hub.take());
        if let Some(e) = release_host(&self.backend) {
            failed.push(e);
        }
        if failed.is_empty() {
            let _ = std::fs::remove_file(&self.state);
        }
        failed
    }
}

/// With the built-in engine and no container left running, give the host back: the engine's
/// bridges and iptables rules go until a container needs them again (`system teardown`). A
/// learner's running containers keep theirs.
fn release_host(b: &Backend) -> Option<String> {
    if !b.is_builtin() {
        return None;
    }
    match b.ok(&["ps", "-q"]) {
        Ok(running) if running.trim().is_empty() => {
            b.ok(&["system", "teardown"]).err().map(|e| e.to_string())
        }
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Wait for a typed command, a second at a time, so Ctrl-C is noticed.
fn wait_interruptibly(
    term: &Terminal,
    mark: &Mark,
    resolve: &dyn Fn(&Target) -> Option<i32>,
) -> Result<Done, SessionError> {
    let deadline = Instant::now() + Duration::from_secs_f64(COMMAND_TIMEOUT);
    loop {
        match term.wait_done(mark, Duration::from_secs(1), resolve) {
            Ok(d) => return Ok(d),
            Err(TerminalError::Timeout { .. }) if Instant::now() < deadline => {
                if crate::interrupt::requested() {
                    return Err(SessionError::Interrupted);
                }
            }
            Err(TerminalError::Timeout { name, .. }) => {
                return Err(TerminalError::Timeout {
                    name,
                    seconds: COMMAND_TIMEOUT,
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    }
}
