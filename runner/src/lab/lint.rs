//! Authoring rules a lab must follow beyond being readable: both languages everywhere, every
//! exercise checked and hinted, every image declared, and no address outside the lab's own.

use std::collections::BTreeSet;

use super::model::{Lab, Text};

/// The images `labs/images/build.sh` makes.
pub const LAB_IMAGES: &[&str] = &["hello-world", "busybox", "debian", "nginx", "registry"];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The line, when known.
    pub line: Option<usize>,
    /// `step 3`, when in a step.
    pub place: Option<String>,
    /// The rule broken.
    pub message: String,
}

fn both(t: &Text) -> bool {
    !t.pt.trim().is_empty() && !t.en.trim().is_empty()
}

/// The IPv4 literals of `text`, outside `{{ … }}` templates.
fn addresses(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        plain.push_str(&rest[..i]);
        plain.push(' ');
        rest = rest[i..].split_once("}}").map(|(_, r)| r).unwrap_or("");
    }
    plain.push_str(rest);
    plain
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 4
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.parse::<u8>().is_ok())
        })
        .map(String::from)
        .collect()
}

/// Whether an address may appear literally: loopback, or the unspecified address of `-p`.
fn allowed(addr: &str) -> bool {
    addr.starts_with("127.") || addr == "0.0.0.0"
}

/// The images a command line runs or pulls (`docker run [flags] IMAGE`, `docker pull IMAGE`).
fn images_used(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if *w != "docker" {
            continue;
        }
        let sub = words.get(i + 1).copied().unwrap_or("");
        if !matches!(sub, "run" | "create" | "pull") {
            continue;
        }
        let mut j = i + 2;
        while let Some(w) = words.get(j) {
            if w.starts_with('-') {
                let valued = crate::terminal::takes_value(w);
                j += if valued { 2 } else { 1 };
                continue;
            }
            out.push(w.split([':', '@']).next().unwrap_or(w).to_string());
            break;
        }
    }
    out
}

/// The images a command line makes: `docker commit CTR NAME`, `docker tag SRC NAME`,
/// `docker import FILE NAME` (names without their tag).
fn images_made(line: &str) -> Vec<String> {
    // A template is one word here (`{{ container('c').short_id }}`).
    let mut plain = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("{{") {
        plain.push_str(&rest[..i]);
        plain.push_str(" TEMPLATE ");
        rest = rest[i..].split_once("}}").map(|(_, r)| r).unwrap_or("");
    }
    plain.push_str(rest);
    let mut out = Vec::new();
    for part in plain.split(['&', ';', '|']) {
        let words: Vec<&str> = part.split_whitespace().collect();
        let Some(i) = words.iter().position(|w| *w == "docker") else {
            continue;
        };
        let mut sub = words.get(i + 1).copied().unwrap_or("");
        if sub == "image" || sub == "container" {
            sub = words.get(i + 2).copied().unwrap_or("");
        }
        if !matches!(sub, "commit" | "tag" | "import") {
            continue;
        }
        // The new image's name comes last in all three.
        if let Some(name) = words.last().filter(|w| !w.starts_with('-') && **w != sub) {
            out.push(name.split([':', '@']).next().unwrap_or(name).to_string());
        }
    }
    out
}

/// Every rule `lab` breaks.
pub fn lint(lab: &Lab) -> Vec<Finding> {
    let mut f = Vec::new();
    let mut add = |step: Option<usize>, message: String| {
        f.push(Finding {
            line: step.and_then(|i| lab.step_lines.get(i).copied()),
            place: step.map(|i| format!("step {}", i + 1)),
            message,
        })
    };
    if !both(&lab.title) {
        add(None, "title: give both pt and en".into());
    }
    if lab.intro.as_ref().is_some_and(|t| !both(t)) {
        add(None, "intro: give both pt and en".into());
    }
    if lab.source.is_empty() {
        add(None, "source: name the note(s) this lab mirrors".into());
    }
    for (field, list) in [("images", &lab.images), ("hub", &lab.hub)] {
        for img in list {
            if !LAB_IMAGES.contains(&img.as_str()) {
                add(
                    None,
                    format!(
                        "{field}: {img} is not a lab image ({})",
                        LAB_IMAGES.join(", ")
                    ),
                );
            }
        }
    }
    // Loaded before the lab, or pulled from its stand-in Docker Hub.
    let mut declared: BTreeSet<String> = lab.images.iter().chain(&lab.hub).cloned().collect();
    // Images the lab makes itself (commit, tag, import) may be run afterwards.
    declared.extend(
        lab.steps
            .iter()
            .filter_map(|s| s.run.as_deref())
            .flat_map(images_made),
    );
    let mut has_exercise = false;
    for (i, s) in lab.steps.iter().enumerate() {
        for (what, t) in [
            ("say", &s.say),
            ("exercise", &s.exercise),
            ("hint", &s.hint),
        ] {
            if t.as_ref().is_some_and(|t| !both(t)) {
                add(Some(i), format!("{what}: give both pt and en"));
            }
        }
        for c in &s.check {
            if c.hint.as_ref().is_some_and(|t| !both(t)) {
                add(Some(i), "check hint: give both pt and en".into());
            }
        }
        if s.exercise.is_some() {
            has_exercise = true;
            if s.hint.is_none() && s.check.iter().all(|c| c.hint.is_none()) {
                add(Some(i), "an exercise needs a hint".into());
            }
            if s.run.is_none() {
                add(
                    Some(i),
                    "an exercise needs `run`: the answer check mode types".into(),
                );
            }
        }
        if let Some(run) = &s.run {
            for a in addresses(run) {
                if !allowed(&a) {
                    add(Some(i), format!("address {a} is not the lab's own: use a template (container(…).ip, network(…).gateway, client(…).host_ip)"));
                }
            }
            for img in images_used(run) {
                if !declared.contains(&img) && !img.contains('{') && !img.contains('/') {
                    add(
                        Some(i),
                        format!("image {img} is used but not declared in images (or hub)"),
                    );
                }
            }
        }
    }
    if !has_exercise {
        add(
            None,
            "a lab needs at least one exercise for walk mode".into(),
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_outside_templates_are_found() {
        assert_eq!(addresses("ping -c 1 203.0.113.8"), vec!["203.0.113.8"]);
        assert!(addresses("ping {{ container('c1').ip }}").is_empty());
        assert_eq!(
            addresses("curl 127.0.0.1:8080 and 10.0.0.1"),
            vec!["127.0.0.1", "10.0.0.1"]
        );
        assert!(addresses("debian:12.1 version 1.2.3").is_empty());
    }

    #[test]
    fn images_are_read_from_run_and_pull() {
        assert_eq!(
            images_used("docker run -it --name baleia debian bash"),
            vec!["debian"]
        );
        assert_eq!(
            images_used("docker run -d -p 8080:80 nginx:latest"),
            vec!["nginx"]
        );
        assert_eq!(
            images_used("docker pull hello-world && docker ps"),
            vec!["hello-world"]
        );
        assert!(images_used("docker ps -a").is_empty());
    }

    #[test]
    fn the_example_of_the_labs_readme_reads_and_follows_the_rules() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../labs/README.md"))
                .unwrap();
        let yaml = readme
            .split("```yaml\n")
            .nth(1)
            .and_then(|r| r.split("```").next())
            .unwrap();
        let lab = crate::lab::parse(std::path::Path::new("09-neotech.yaml"), yaml).unwrap();
        assert_eq!(lint(&lab), Vec::<Finding>::new());
        assert!(lab.steps.iter().any(|s| s.exercise.is_some()));
    }

    #[test]
    fn images_the_lab_makes_are_known() {
        assert_eq!(images_made("docker commit abc foo-bar"), vec!["foo-bar"]);
        assert_eq!(
            images_made("docker commit {{ container('c').short_id }} ubuntu/nginx"),
            vec!["ubuntu/nginx"]
        );
        assert_eq!(
            images_made("docker tag busybox mine:1 && docker ps"),
            vec!["mine"]
        );
        assert_eq!(
            images_made("docker image import -c 'CMD x' f.tar imp"),
            vec!["imp"]
        );
        assert!(images_made("docker run foo").is_empty());
    }

    #[test]
    fn a_lab_breaking_rules_gets_findings() {
        let lab = crate::lab::parse(
            std::path::Path::new("x.yaml"),
            "id: x\ntitle: {pt: X, en: ''}\nsource: [a]\nimages: [debian]\nsteps:\n  - run: docker run busybox ping -c 1 203.0.113.8\n  - exercise: {pt: Faça, en: Do}\n    run: docker ps\n    check: [{exit: 0}]\n",
        )
        .unwrap();
        let msgs: Vec<String> = lint(&lab).into_iter().map(|f| f.message).collect();
        assert!(msgs.iter().any(|m| m.starts_with("title")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("203.0.113.8")), "{msgs:?}");
        assert!(
            msgs.iter().any(|m| m.contains("busybox is used")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("needs a hint")), "{msgs:?}");
    }
}
