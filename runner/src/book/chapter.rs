//! One lab as a chapter of the book, in one language: its intro, how to run it yourself, and each
//! step as it was recorded — the narration, what was typed and what the terminal showed, the
//! observations (namespaces, layers, cgroups, links, iptables, packets) and the checks.

use std::fmt::Write;

use super::markdown::{code_block, inline_code, prose};
use crate::lab::{Key, Lab};
use crate::record::{StepRecord, Transcript};
use crate::ui::Lang;

/// Files kept beside a lab's recording (captures and terminal casts), linked from its chapter.
#[derive(Debug, Clone, Default)]
pub struct Attachments {
    /// `09-neotech.step16-bridge.pcap`…
    pub pcaps: Vec<String>,
    /// `09-neotech.t1.cast`…
    pub casts: Vec<String>,
}

fn key_name(k: Key) -> &'static str {
    match k {
        Key::CtrlC => "Ctrl-C",
        Key::CtrlD => "Ctrl-D",
        Key::CtrlP => "Ctrl-P",
        Key::CtrlQ => "Ctrl-Q",
        Key::Enter => "Enter",
    }
}

/// The chapter of `lab` in `lang`, from its recording `t`.
pub fn chapter(lab: &Lab, t: &Transcript, files: &Attachments, lang: Lang) -> String {
    let say = |pt: &'static str, en: &'static str| lang.say(pt, en);
    let mut md = String::new();
    let other = match lang {
        Lang::Pt => ("en", "English"),
        Lang::En => ("pt", "Português"),
    };
    let _ = writeln!(md, "# {}\n", prose(lang.pick(&lab.title)));
    if let Some(intro) = &lab.intro {
        let _ = writeln!(md, "{}\n", prose(lang.pick(intro)));
    }
    let _ = writeln!(
        md,
        "> **{}** {} {}\n>\n> {} {}\n",
        say("Faça você mesmo:", "Do it yourself:"),
        inline_code(&format!("sudo baleia-lab walk {}", lab.id)),
        say(
            "(guiado: você digita os exercícios e o runner confere)",
            "(guided: you type the exercises and the runner checks them)"
        ),
        inline_code(&format!("sudo baleia-lab run {}", lab.id)),
        say(
            "roda tudo sozinho, narrado, como na gravação abaixo.",
            "runs it all by itself, narrated, as in the recording below."
        ),
    );
    let notes: Vec<String> = lab.source.iter().map(|s| inline_code(s)).collect();
    let _ = writeln!(
        md,
        "{} {}. {} {}. [{}](../../{}/labs/{}.html)\n",
        say("Das notas:", "From the notes:"),
        notes.join(", "),
        say("Gravado em", "Recorded on"),
        prose(&format!("{} ({})", t.recorded, t.engine)),
        other.1,
        other.0,
        lab.id
    );
    let many_terminals = lab.terminals.len() > 1;
    for s in &t.steps {
        step(&mut md, s, lang, many_terminals);
    }
    if !files.pcaps.is_empty() || !files.casts.is_empty() {
        let _ = writeln!(
            md,
            "## {}\n",
            say("Arquivos da gravação", "Recording files")
        );
        let _ = writeln!(
            md,
            "{}\n",
            say(
                "As capturas abrem no Wireshark ou no tshark; os terminais tocam no asciinema (asciinema play ARQUIVO).",
                "The captures open in Wireshark or tshark; the terminals play in asciinema (asciinema play FILE)."
            )
        );
        for f in files.pcaps.iter().chain(&files.casts) {
            let _ = writeln!(md, "- [{f}](../recordings/{f})");
        }
        md.push('\n');
    }
    md
}

fn step(md: &mut String, s: &StepRecord, lang: Lang, many_terminals: bool) {
    let say = |pt: &'static str, en: &'static str| lang.say(pt, en);
    let n = s.index + 1;
    // The heading names what was typed, so the table of contents reads as the lab.
    let typed_text = match (&s.command, s.keys.is_empty()) {
        (Some(c), _) => c.clone(),
        (None, false) => s
            .keys
            .iter()
            .map(|k| key_name(*k))
            .collect::<Vec<_>>()
            .join(" "),
        (None, true) => String::new(),
    };
    let typed_text: String = if typed_text.chars().count() > 60 {
        format!("{}…", typed_text.chars().take(59).collect::<String>())
    } else {
        typed_text
    };
    if typed_text.is_empty() {
        let _ = writeln!(md, "## {} {n}\n", say("Passo", "Step"));
    } else {
        let _ = writeln!(md, "## {n}. {}\n", inline_code(&typed_text));
    }
    if let Some(t) = &s.say {
        let _ = writeln!(md, "{}\n", prose(lang.pick(t)));
    }
    if let Some(x) = &s.exercise {
        let _ = writeln!(
            md,
            "> **{}** {}\n",
            say("Exercício:", "Exercise:"),
            prose(lang.pick(x))
        );
        if let Some(h) = &s.hint {
            let _ = writeln!(
                md,
                "<details><summary>{}</summary>\n\n{}\n\n</details>\n",
                say("Dica", "Hint"),
                prose(lang.pick(h))
            );
        }
    }
    let typed = s.command.is_some() || !s.keys.is_empty();
    if typed || !s.output.trim().is_empty() {
        if many_terminals {
            let _ = writeln!(md, "*{} {}*\n", say("Terminal", "Terminal"), s.terminal);
        }
        let mut term = String::new();
        term.push_str(&s.prompt);
        if s.command.is_some() {
            term.push_str(&s.output);
        } else {
            let keys: Vec<&str> = s.keys.iter().map(|k| key_name(*k)).collect();
            let _ = writeln!(term, "[{}]", keys.join(" "));
            term.push_str(&s.output);
        }
        md.push_str(&code_block("console", &term));
        md.push('\n');
    }
    for o in &s.observations {
        if !o.text.starts_with(&o.title) {
            let _ = writeln!(md, "**{}**\n", prose(&o.title));
        }
        md.push_str(&code_block("text", &o.text));
        md.push('\n');
    }
    if !s.checks.is_empty() {
        let _ = writeln!(md, "{}\n", say("O runner conferiu:", "The runner checked:"));
        for c in &s.checks {
            let mark = if c.passed { "✓" } else { "✗" };
            let _ = writeln!(md, "- {mark} {}", prose(lang.pick(&c.message)));
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Text;
    use crate::record::{CheckRecord, ObservationRecord};

    #[test]
    fn a_step_reads_as_narration_terminal_tables_and_checks() {
        let lab = crate::lab::parse(
            std::path::Path::new("09-x.yaml"),
            "id: 09-x\ntitle: {pt: A rede, en: The network}\nsource: [004.txt]\nterminals: [t1, t2]\nsteps:\n  - run: docker network create neotech\n",
        )
        .unwrap();
        let t = Transcript {
            lab: "09-x".into(),
            title: lab.title.clone(),
            lab_digest: crate::lab::digest(&lab),
            recorded: "2026-11-22T23:00:00Z".into(),
            engine: "Baleia version 0.1.0".into(),
            steps: vec![StepRecord {
                index: 0,
                terminal: "t1".into(),
                say: Some(Text {
                    pt: "Crie a rede <neotech>.".into(),
                    en: "Create the *neotech* network.".into(),
                }),
                exercise: None,
                hint: None,
                prompt: "t1$ ".into(),
                command: Some("docker network create neotech".into()),
                keys: vec![],
                output: "docker network create neotech\n5f2c\n".into(),
                exit: Some(0),
                seconds: 0.1,
                observations: vec![ObservationRecord {
                    kind: "links".into(),
                    title: "links".into(),
                    text: "┌─┐\n└─┘\n".into(),
                    data: serde_json::Value::Null,
                }],
                checks: vec![CheckRecord {
                    kind: "network".into(),
                    passed: true,
                    message: Text {
                        pt: "a rede neotech existe".into(),
                        en: "network neotech exists".into(),
                    },
                }],
            }],
        };
        let en = chapter(&lab, &t, &Attachments::default(), Lang::En);
        assert!(en.starts_with("# The network\n"), "{en}");
        assert!(en.contains("`sudo baleia-lab walk 09-x`"), "{en}");
        assert!(en.contains("[Português](../../pt/labs/09-x.html)"), "{en}");
        assert!(
            en.contains(
                "## 1. `docker network create neotech`\n\nCreate the \\*neotech\\* network.\n"
            ),
            "{en}"
        );
        assert!(
            en.contains(
                "*Terminal t1*\n\n```console\nt1$ docker network create neotech\n5f2c\n```\n"
            ),
            "{en}"
        );
        assert!(en.contains("**links**\n\n```text\n┌─┐\n└─┘\n```\n"), "{en}");
        assert!(en.contains("- ✓ network neotech exists\n"), "{en}");
        let pt = chapter(&lab, &t, &Attachments::default(), Lang::Pt);
        assert!(
            pt.contains("## 1. `docker network create neotech`\n\nCrie a rede &lt;neotech&gt;.\n"),
            "{pt}"
        );
        assert!(pt.contains("[English](../../en/labs/09-x.html)"), "{pt}");
        assert!(pt.contains("- ✓ a rede neotech existe\n"), "{pt}");
    }
}
