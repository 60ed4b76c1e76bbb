//! Playing a lab step by step: narration, the typed command and its output, the observations,
//! the checks (retried until their timeout, a hint on failure), in `run`, `check`, `record` and
//! `walk` modes alike; what happened is kept as a transcript.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::check::{self, Context};
use crate::lab::{check_kind, show_kind, Check, Text};
use crate::observe::{self, Capture, IptablesSnapshot, Observation};
use crate::record::{CheckRecord, ObservationRecord, StepRecord, Transcript};
use crate::session::{place, Session, SessionError};
use crate::terminal::HandBack;
use crate::ui::{paint, Lang};

/// How a lab is played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Narrated for a learner watching; `pause`: wait for Enter between steps.
    Run {
        /// Wait for Enter between steps.
        pause: bool,
    },
    /// Headless: only failures.
    Check,
    /// Headless, keeping everything for the book.
    Record,
    /// Guided: the learner does the exercises in the lab's terminals.
    Walk,
}

/// A step that failed: where, why, and the hint.
#[derive(Debug, Clone, Serialize)]
pub struct StepFailure {
    /// The step (0-based).
    pub step: usize,
    /// Its line in the lab file.
    pub line: Option<usize>,
    /// What went wrong.
    pub message: String,
    /// Help for the learner.
    pub hint: Option<Text>,
}

/// How a lab went.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The lab.
    pub lab: String,
    /// Whether every step and check passed.
    pub passed: bool,
    /// The first failure.
    pub failure: Option<StepFailure>,
    /// Seconds it took.
    pub seconds: f64,
    /// What each step did.
    #[serde(skip)]
    pub transcript: Transcript,
}

impl Outcome {
    /// A lab that could not start (its setup failed): failed at its first step, with why.
    pub fn not_started(lab: &crate::lab::Lab, why: &str) -> Outcome {
        Outcome {
            lab: lab.id.clone(),
            passed: false,
            failure: Some(StepFailure {
                step: 0,
                line: None,
                message: why.to_string(),
                hint: None,
            }),
            seconds: 0.0,
            transcript: Transcript {
                lab: lab.id.clone(),
                title: lab.title.clone(),
                lab_digest: crate::lab::digest(lab),
                recorded: String::new(),
                engine: String::new(),
                steps: Vec::new(),
            },
        }
    }
}

/// Render every string of `value` (a check, an observation) as a template of step `i`.
fn render_all<T: Serialize + DeserializeOwned>(
    s: &Session,
    i: usize,
    value: &T,
) -> Result<T, SessionError> {
    fn walk(s: &Session, i: usize, v: &mut serde_json::Value) -> Result<(), SessionError> {
        match v {
            serde_json::Value::String(text) => *text = s.render(i, text)?,
            serde_json::Value::Array(a) => a.iter_mut().try_for_each(|x| walk(s, i, x))?,
            serde_json::Value::Object(m) => m.values_mut().try_for_each(|x| walk(s, i, x))?,
            _ => {}
        }
        Ok(())
    }
    let mut v = serde_json::to_value(value).expect("lab items serialize");
    walk(s, i, &mut v)?;
    Ok(serde_json::from_value(v).expect("rendered lab items read back"))
}

/// Play `session`'s lab in `mode`, narrating to `out` in `lang`.
pub fn play(
    session: &mut Session,
    mode: Mode,
    lang: Lang,
    color: bool,
    out: &mut dyn Write,
) -> Outcome {
    let started = Instant::now();
    let lab = session.lab.clone();
    let mut transcript = Transcript {
        lab: lab.id.clone(),
        title: lab.title.clone(),
        lab_digest: crate::lab::digest(&lab),
        recorded: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        engine: session
            .backend
            .ok(&["--version"])
            .map(|v| v.trim().to_string())
            .unwrap_or_default(),
        steps: Vec::new(),
    };
    let narrate = matches!(mode, Mode::Run { .. } | Mode::Walk);
    let mut prompts: HashMap<String, String> = HashMap::new();
    if narrate {
        let _ = writeln!(
            out,
            "{}",
            paint(
                color,
                "1",
                &format!("{} — {}", lab.id, lang.pick(&lab.title))
            )
        );
        if let Some(i) = &lab.intro {
            let _ = writeln!(out, "{}\n", lang.pick(i));
        }
    }
    let total = lab.steps.len();
    let mut failure = None;
    for i in 0..total {
        let step = lab.steps[i].clone();
        if narrate {
            let _ = writeln!(
                out,
                "{}",
                paint(color, "2", &format!("── {}/{total}", i + 1))
            );
            if let Some(s) = &step.say {
                // Narration may name the lab's objects too ({{ network('bridge').bridge }}).
                let said = lang.pick(s);
                let _ = writeln!(
                    out,
                    "{}",
                    session.render(i, said).unwrap_or_else(|_| said.to_string())
                );
            }
        }
        let result = play_step(session, i, mode, lang, color, out, &mut prompts);
        match result {
            Ok(record) => transcript.steps.push(record),
            Err(f) => {
                let _ = writeln!(
                    out,
                    "{} {}{}: {}: {}",
                    paint(color, "31", "✗"),
                    lab.path.display(),
                    f.line.map(|l| format!(":{l}")).unwrap_or_default(),
                    place(f.step),
                    f.message
                );
                if let Some(h) = &f.hint {
                    let _ = writeln!(out, "  {} {}", lang.say("dica:", "hint:"), lang.pick(h));
                }
                failure = Some(f);
                break;
            }
        }
        if let Mode::Run { pause: true } = mode {
            let _ = write!(
                out,
                "{}",
                paint(
                    color,
                    "2",
                    lang.say("[Enter: próximo passo] ", "[Enter: next step] ")
                )
            );
            let _ = out.flush();
            let mut s = String::new();
            let _ = std::io::stdin().read_line(&mut s);
        }
    }
    Outcome {
        lab: lab.id.clone(),
        passed: failure.is_none(),
        failure,
        seconds: started.elapsed().as_secs_f64(),
        transcript,
    }
}

fn fail(session: &Session, i: usize, message: String, hint: Option<Text>) -> StepFailure {
    StepFailure {
        step: i,
        line: session.lab.step_lines.get(i).copied(),
        message,
        hint,
    }
}

fn play_step(
    session: &mut Session,
    i: usize,
    mode: Mode,
    lang: Lang,
    color: bool,
    out: &mut dyn Write,
    prompts: &mut HashMap<String, String>,
) -> Result<StepRecord, StepFailure> {
    let step = session.lab.steps[i].clone();
    let err = |s: &Session, e: SessionError| {
        let m = e.to_string();
        let m = m
            .strip_prefix(&format!("{}: ", place(i)))
            .map(str::to_string)
            .unwrap_or(m);
        fail(s, i, m, step.hint.clone())
    };
    // Guided: the learner types the exercise; the runner watches its checks.
    if mode == Mode::Walk && step.exercise.is_some() {
        let done = walk_exercise(session, i, &step.check, lang, color, out)
            .map_err(|e| err(session, e))?;
        if done {
            return Ok(record_of(session, i, None, Vec::new()));
        }
    }
    // What must be watched from before the command: the rules, the packets (their interface is
    // rendered now; what is looked at afterwards is rendered afterwards, when it exists).
    let before = if step.show.iter().any(|o| o.iptables == Some(true)) {
        Some(
            IptablesSnapshot::take()
                .map_err(|e| fail(session, i, format!("iptables: {e}"), None))?,
        )
    } else {
        None
    };
    let mut listening: Vec<(String, Capture)> = Vec::new();
    for o in &step.show {
        if let Some(c) = &o.capture {
            let c = render_all(session, i, c).map_err(|e| err(session, e))?;
            let name = c.name.clone().unwrap_or_else(|| c.interface.clone());
            let pcap = session.pcap_path(i, &name);
            let cap = Capture::start(&c.interface, c.only.as_deref(), Some(&pcap))
                .map_err(|e| fail(session, i, format!("capture: {e}"), None))?;
            listening.push((name, cap));
        }
    }
    let run = session.run_step(i).map_err(|e| err(session, e))?;
    let mut seen: Vec<(String, Observation)> = Vec::new();
    let mut captures = HashMap::new();
    for (name, cap) in listening {
        let o = cap
            .stop()
            .map_err(|e| fail(session, i, format!("capture: {e}"), None))?;
        captures.insert(name, o.lines.clone());
        seen.push(("capture".into(), o));
    }
    if let Some(b) = &before {
        let after = IptablesSnapshot::take()
            .map_err(|e| fail(session, i, format!("iptables: {e}"), None))?;
        seen.push(("iptables".into(), observe::iptables_diff(b, &after)));
    }
    for o in &step.show {
        if o.capture.is_some() || o.iptables.is_some() {
            continue;
        }
        let o = render_all(session, i, o).map_err(|e| err(session, e))?;
        if let Some(r) = observe::now(&session.backend, &o) {
            let kind = show_kind(&o).unwrap_or("show").to_string();
            let obs = r.map_err(|e| fail(session, i, format!("{kind}: {e}"), None))?;
            seen.push((kind, obs));
        }
    }
    let prompt = prompts
        .get(&run.terminal)
        .cloned()
        .unwrap_or_else(|| format!("{}$ ", run.terminal));
    // The output ends with the next prompt, shown before the next command. At the host shell the
    // prompt is known (a program may have ended without a newline: `^C` then the prompt); in a
    // container's shell it is the last line.
    let host_prompt = format!("{}$ ", run.terminal);
    let split = match (run.exit, run.output.rfind(&host_prompt)) {
        (Some(_), Some(n)) if run.output.ends_with(&host_prompt) => Some(n),
        _ => run.output.rfind('\n').map(|n| n + 1),
    };
    let (mut body, next_prompt) = match split {
        Some(n) => (run.output[..n].to_string(), run.output[n..].to_string()),
        None if step.background => (run.output.clone(), String::new()),
        None => (String::new(), run.output.clone()),
    };
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    // A command left running has printed no prompt yet.
    let next_prompt = if step.background {
        String::new()
    } else {
        next_prompt
    };
    if run.command.is_some() || !step.keys.is_empty() {
        prompts.insert(run.terminal.clone(), next_prompt);
        if matches!(mode, Mode::Run { .. } | Mode::Walk) {
            let _ = write!(out, "{}{body}", paint(color, "1", &prompt));
            if body.is_empty() {
                let keys: Vec<String> = step.keys.iter().map(|k| format!("{k:?}")).collect();
                let _ = writeln!(
                    out,
                    "{}",
                    paint(color, "2", &format!("[{}]", keys.join(" ")))
                );
            }
        }
    }
    if matches!(mode, Mode::Run { .. } | Mode::Walk) {
        for (_, o) in &seen {
            let _ = writeln!(out, "{}", o.render(color));
        }
    }
    // Checks are rendered now: they may name what the command made.
    let checks: Vec<Check> = step
        .check
        .iter()
        .map(|c| render_all(session, i, c))
        .collect::<Result<_, _>>()
        .map_err(|e| err(session, e))?;
    let clients = session.clients();
    let ctx = Context {
        backend: &session.backend,
        output: &run.output,
        exit: run.exit,
        captures: &captures,
        clients,
    };
    let mut records = Vec::new();
    for c in &checks {
        let kind = check_kind(c).unwrap_or("check").to_string();
        match check::eventually(c, check::timeout(c, &step), &ctx) {
            Ok(()) => {
                let said = describe(c);
                if matches!(mode, Mode::Run { .. } | Mode::Walk) {
                    let _ = writeln!(out, "{} {}", paint(color, "32", "✓"), lang.pick(&said));
                }
                records.push(CheckRecord {
                    kind: kind.clone(),
                    passed: true,
                    message: said,
                });
            }
            Err(f) => {
                return Err(fail(
                    session,
                    i,
                    format!("{kind} check: {}", f.message()),
                    check::hint(c, &step).cloned(),
                ))
            }
        }
    }
    let mut record = record_of(session, i, Some(&run), records);
    record.prompt = prompt;
    record.output = body;
    record.observations = seen
        .into_iter()
        .map(|(kind, o)| ObservationRecord {
            kind,
            title: o.title.clone(),
            text: o.render(false),
            data: o.data.clone(),
        })
        .collect();
    Ok(record)
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let cut: String = s.chars().take(n - 1).collect();
    format!("{cut}…")
}

/// A check in words, in both languages, for the ✓ line.
fn describe(c: &Check) -> Text {
    let t = |pt: String, en: String| Text { pt, en };
    if let Some(p) = &c.output {
        let lines: Vec<&str> = p
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && *l != "...")
            .collect();
        let first = shorten(lines.first().copied().unwrap_or(""), 72);
        return match lines.len() {
            0 | 1 => t(
                format!("a saída mostra {first:?}"),
                format!("the output shows {first:?}"),
            ),
            n => t(
                format!("a saída mostra {first:?} e mais {} linha(s)", n - 1),
                format!("the output shows {first:?} and {} more line(s)", n - 1),
            ),
        };
    }
    if let Some(re) = &c.regex {
        let re = shorten(re.trim(), 72);
        return t(
            format!("a saída casa com /{re}/"),
            format!("the output matches /{re}/"),
        );
    }
    if let Some(x) = &c.container {
        let (mut pt, mut en) = (
            format!("contêiner {}", x.name),
            format!("container {}", x.name),
        );
        if let Some(st) = &x.state {
            pt += &format!(" está {st}");
            en += &format!(" is {st}");
        }
        if let Some(code) = x.exit_code {
            pt += &format!(", código de saída {code}");
            en += &format!(", exit code {code}");
        }
        return t(pt, en);
    }
    if let Some(x) = &c.image {
        return if x.present {
            t(
                format!("a imagem {} está aqui", x.name),
                format!("image {} is here", x.name),
            )
        } else {
            t(
                format!("a imagem {} não está mais aqui", x.name),
                format!("image {} is gone", x.name),
            )
        };
    }
    if let Some(x) = &c.network {
        return match (&x.container, x.present) {
            (Some(ct), true) => t(
                format!("{ct} está na rede {}", x.name),
                format!("{ct} is on {}", x.name),
            ),
            (Some(ct), false) => t(
                format!("{ct} não está na rede {}", x.name),
                format!("{ct} is not on {}", x.name),
            ),
            (None, true) => t(
                format!("a rede {} existe", x.name),
                format!("network {} exists", x.name),
            ),
            (None, false) => t(
                format!("a rede {} não existe mais", x.name),
                format!("network {} is gone", x.name),
            ),
        };
    }
    if let Some(x) = &c.resolves {
        return t(
            format!("{} é resolvido em {}", x.name, x.container),
            format!("{} resolves in {}", x.name, x.container),
        );
    }
    if let Some(x) = &c.port {
        return t(
            format!("{}:{} responde", x.host, x.port),
            format!("{}:{} answers", x.host, x.port),
        );
    }
    if let Some(x) = &c.file {
        return t(
            format!("{} em {}", x.path, x.container),
            format!("{} in {}", x.path, x.container),
        );
    }
    if let Some(code) = c.exit {
        return t(
            format!("status de saída {code}"),
            format!("exit status {code}"),
        );
    }
    if let Some(x) = &c.iptables {
        let (pt, en) = if x.present {
            ("", "")
        } else {
            (" (ausente)", " (absent)")
        };
        return t(
            format!("iptables -t {}: {}{pt}", x.table, x.rule),
            format!("iptables -t {}: {}{en}", x.table, x.rule),
        );
    }
    if let Some(x) = &c.packet {
        return t(
            format!("um pacote: {}", x.matches),
            format!("a packet: {}", x.matches),
        );
    }
    let kind = check_kind(c).unwrap_or("check").to_string();
    t(kind.clone(), kind)
}

fn record_of(
    session: &Session,
    i: usize,
    run: Option<&crate::session::StepRun>,
    checks: Vec<CheckRecord>,
) -> StepRecord {
    let step = &session.lab.steps[i];
    // Both languages, with what the step made named (a template that cannot be rendered stays).
    let rendered = |t: &Option<Text>| {
        t.as_ref().map(|t| Text {
            pt: session.render(i, &t.pt).unwrap_or_else(|_| t.pt.clone()),
            en: session.render(i, &t.en).unwrap_or_else(|_| t.en.clone()),
        })
    };
    StepRecord {
        index: i,
        terminal: run.map(|r| r.terminal.clone()).unwrap_or_default(),
        say: rendered(&step.say),
        exercise: rendered(&step.exercise),
        hint: rendered(&step.hint),
        prompt: String::new(),
        command: run.and_then(|r| r.command.clone()),
        keys: step.keys.clone(),
        output: run.map(|r| r.output.clone()).unwrap_or_default(),
        exit: run.and_then(|r| r.exit),
        seconds: run.map(|r| r.took.as_secs_f64()).unwrap_or(0.0),
        observations: Vec::new(),
        checks,
    }
}

/// Hand the step's terminal to the learner until the checks pass. Ctrl-] shows the hint; a
/// second Ctrl-] lets the runner type the answer (`false` is returned: the step runs as usual).
fn walk_exercise(
    session: &mut Session,
    i: usize,
    checks: &[Check],
    lang: Lang,
    color: bool,
    out: &mut dyn Write,
) -> Result<bool, SessionError> {
    let step = session.lab.steps[i].clone();
    let task = step.exercise.as_ref().expect("an exercise");
    let _ = writeln!(
        out,
        "{} {}",
        paint(color, "1;33", lang.say("Exercício:", "Exercise:")),
        session
            .render(i, lang.pick(task))
            .unwrap_or_else(|_| lang.pick(task).to_string())
    );
    let _ = writeln!(
        out,
        "{}",
        paint(
            color,
            "2",
            lang.say(
                "(digite no terminal; Ctrl-] para uma dica)",
                "(type in the terminal; Ctrl-] for a hint)"
            )
        )
    );
    let name = session.select_terminal(i);
    let mut escapes = 0;
    loop {
        let captures = HashMap::new();
        let clients = session.clients();
        let backend = session.backend.clone();
        let session_ref: &Session = session;
        let term = session_ref.terminal(&name).expect("validated terminal");
        let _ = write!(out, "{}", term.last_line());
        let _ = out.flush();
        let mut all_pass = || {
            let ctx = Context {
                backend: &backend,
                output: "",
                exit: None,
                captures: &captures,
                clients,
            };
            // Rendered at each look: they may name what the learner is about to make.
            checks.iter().filter(|c| !check::settled(c)).all(|c| {
                render_all(session_ref, i, c).is_ok_and(|c| check::evaluate(&c, &ctx).is_ok())
            })
        };
        match term.hand_over(Duration::from_millis(300), &mut all_pass) {
            Ok(HandBack::Done) => {
                let _ = writeln!(
                    out,
                    "\r\n{} {}",
                    paint(color, "32", "✓"),
                    lang.say("Feito!", "Done!")
                );
                return Ok(true);
            }
            Ok(HandBack::Escape) if escapes == 0 => {
                escapes += 1;
                let hint = step
                    .hint
                    .as_ref()
                    .or_else(|| checks.iter().find_map(|c| c.hint.as_ref()));
                if let Some(h) = hint {
                    let _ = writeln!(out, "\r\n{} {}", lang.say("dica:", "hint:"), lang.pick(h));
                }
                let _ = writeln!(
                    out,
                    "{}",
                    paint(
                        color,
                        "2",
                        lang.say(
                            "(Ctrl-] de novo: o runner digita a resposta)",
                            "(Ctrl-] again: the runner types the answer)"
                        )
                    )
                );
            }
            Ok(_) | Err(_) => return Ok(false),
        }
    }
}
