//! `stats` and `commit` as a user sees them: the notes' `docker stats great_container1 …` table, and
//! the `commit` → `history` → `save` → `load` → `run` round trip, whiteouts, and `rmi` refusing to
//! delete an image a container uses. Needs root (containers); `Root` removes its containers on drop.

use std::process::Command;

use baleia_tests::{text, Root};

/// The row of `table` whose NAME column is `name`, split on runs of 2+ spaces.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    let line = table
        .lines()
        .find(|l| l.split("  ").any(|c| c.trim() == name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn stats_no_stream_shows_each_container_with_docker_columns() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "great_container1",
        "-m",
        "64m",
        "busybox",
        "sleep",
        "1000",
    ]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "great_container2",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    root.ok(&["run", "--name", "stopped_one", "busybox", "true"]);

    let out = root.ok(&[
        "stats",
        "--no-stream",
        "great_container1",
        "great_container2",
    ]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ],
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    for name in ["great_container1", "great_container2"] {
        let r = row(&out, name);
        assert_eq!(r.len(), 8, "{r:?}");
        assert_eq!(r[0].len(), 12, "{r:?}");
        assert!(r[2].ends_with('%'), "{r:?}");
        let (rx, tx) = r[5].split_once(" / ").expect("NET I/O");
        assert!(rx.ends_with('B') && tx.ends_with('B'), "{r:?}");
        assert_eq!(r[7], "1", "PIDS {r:?}");
    }
    let isolated = row(&out, "great_container2");
    assert_eq!(
        isolated[5], "0B / 0B",
        "--network none: only lo, {isolated:?}"
    );
    let limited = row(&out, "great_container1");
    assert!(limited[3].ends_with(" / 64MiB"), "{limited:?}");

    let names = root.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]);
    let mut lines: Vec<&str> = names.lines().collect();
    lines.sort();
    assert_eq!(lines, ["great_container1 1", "great_container2 1"]);

    let all = root.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}}: {{.MemUsage}} {{.PIDs}}",
    ]);
    assert!(all.contains("stopped_one: 0B / 0B 0"), "{all}");
    assert_eq!(all.lines().count(), 3, "{all}");

    let by_name = root.ok(&[
        "container",
        "stats",
        "--no-stream",
        "--format",
        "{{.Container}} {{.MemPerc}}",
        "great_container1",
    ]);
    assert!(by_name.starts_with("great_container1 "), "{by_name}");
    assert!(by_name.trim_end().ends_with('%'), "{by_name}");

    let err = root.fails(&["stats", "--no-stream", "nope"]);
    assert!(err.contains("No such container: nope"), "{err}");
}

#[test]
fn stats_streams_until_the_named_containers_stop() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&["run", "-d", "--name", "short", "busybox", "sleep", "2"]);
    let start = std::time::Instant::now();
    let out = root.ok(&["stats", "--format", "{{.Name}} {{.PIDs}}", "short"]);
    assert!(start.elapsed().as_secs() < 15, "stats did not end");
    assert!(
        out.lines().filter(|l| *l == "short 1").count() >= 1,
        "{out}"
    );
    assert!(
        !out.contains("\x1b[2J"),
        "no screen clearing when not on a terminal"
    );
}

#[test]
fn commit_round_trip_of_the_notes() {
    let root = Root::with_lab_images(&["debian"]);
    root.ok(&[
        "run",
        "--name",
        "nice",
        "debian",
        "/bin/bash",
        "-c",
        "echo 'Nice content' > /tmp/nice-content",
    ]);
    let id = root.ok(&["inspect", "-f", "{{.Id}}", "nice"]);
    let image = root.ok(&["commit", id.trim(), "foo-bar"]);
    let image = image.trim();
    assert!(image.starts_with("sha256:") && image.len() == 71, "{image}");
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.Id}}", "foo-bar"]).trim(),
        image
    );

    let history = root.ok(&["history", "--no-trunc", "foo-bar"]);
    let top = history.lines().nth(1).unwrap();
    assert!(top.starts_with(image), "{history}");
    assert!(
        top.contains("/bin/bash -c echo 'Nice content' > /tmp/nice-content"),
        "{history}"
    );
    assert!(top.contains(" 13B "), "{history}");
    let base = root.ok(&["history", "-q", "debian"]).lines().count();
    assert_eq!(history.lines().count(), base + 2, "{history}");

    let scratch = root.scratch();
    let tar = scratch.join("foo-bar.tar");
    root.ok(&["save", "-o", tar.to_str().unwrap(), "foo-bar"]);
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let listing = text(&listing.stdout);
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");
    assert_eq!(
        listing
            .lines()
            .filter(|l| l.ends_with("/layer.tar"))
            .count(),
        3,
        "{listing}"
    );
    // The new layer holds the file and its folder, not the mount points baleia made.
    let manifest = Command::new("tar")
        .args(["-xOf", tar.to_str().unwrap(), "manifest.json"])
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    let top_layer = manifest[0]["Layers"][2].as_str().unwrap().to_string();
    let layer = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -xOf '{}' '{top_layer}' | tar -t",
            tar.display()
        ))
        .output()
        .unwrap();
    assert_eq!(text(&layer.stdout), "tmp/\ntmp/nice-content\n");

    let other = Root::new();
    other.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(
        other.ok(&["run", "--rm", "foo-bar", "cat", "/tmp/nice-content"]),
        "Nice content\n"
    );
    // The container's command became the image's.
    assert_eq!(
        other
            .ok(&["inspect", "-f", "{{json .Config.Cmd}}", "foo-bar"])
            .trim(),
        r#"["/bin/bash","-c","echo 'Nice content' > /tmp/nice-content"]"#
    );
}

#[test]
fn commit_records_message_author_changes_and_deletions() {
    let root = Root::with_lab_images(&["debian"]);
    root.ok(&["run", "--name", "del", "debian", "rm", "/etc/motd"]);
    root.ok(&[
        "commit",
        "-m",
        "no motd",
        "-a",
        "Jane <jane@example.com>",
        "-c",
        "ENV GREETING=hi",
        "-c",
        r#"CMD ["sh", "-c", "echo $GREETING"]"#,
        "del",
        "no-motd:v1",
    ]);
    let fmt = "{{.Comment}}|{{.Author}}|{{json .Config.Cmd}}";
    assert_eq!(
        root.ok(&["inspect", "-f", fmt, "no-motd:v1"]).trim(),
        r#"no motd|Jane <jane@example.com>|["sh","-c","echo $GREETING"]"#
    );
    assert_eq!(root.ok(&["run", "--rm", "no-motd:v1"]), "hi\n");
    let gone = root.run(&["run", "--rm", "no-motd:v1", "test", "-e", "/etc/motd"]);
    assert_eq!(gone.status.code(), Some(1), "the whiteout hides /etc/motd");
    root.ok(&["run", "--rm", "debian", "test", "-e", "/etc/motd"]);
    let history = root.ok(&["history", "no-motd:v1"]);
    assert!(
        history.lines().nth(1).unwrap().contains("no motd"),
        "{history}"
    );
}

#[test]
fn commit_a_running_container_leaves_it_running() {
    let root = Root::with_lab_images(&["busybox"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "echo made > /made; echo ready; sleep 1000",
    ]);
    for _ in 0..100 {
        if root.ok(&["logs", "busy"]).contains("ready") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    root.ok(&["commit", "busy", "snap"]);
    assert_eq!(root.ok(&["run", "--rm", "snap", "cat", "/made"]), "made\n");
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.State.Status}}", "busy"])
            .trim(),
        "running"
    );
    let id = root.ok(&["commit", "--pause=false", "busy"]);
    let short = &id.trim()["sha256:".len()..][..12];
    let images = root.ok(&["images", "--format", "{{.Repository}} {{.ID}}"]);
    assert!(images.contains(&format!("<none> {short}")), "{images}");
}

#[test]
fn rmi_refuses_an_image_a_container_uses() {
    let root = Root::with_lab_images(&["busybox"]);
    let image = root.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    let short = &image.trim()["sha256:".len()..][..12];
    let running = root.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let running = &running.trim()[..12];

    let err = root.fails(&["rmi", "busybox"]);
    assert!(
        err.contains(&format!("conflict: unable to remove repository reference \"busybox\" (must force) - container {running} is using its referenced image {short}")),
        "{err}"
    );
    let err = root.fails(&["rmi", "-f", short]);
    assert!(
        err.contains(&format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container {running}")),
        "{err}"
    );
    root.ok(&["rm", "-f", running]);

    root.ok(&["run", "--name", "stopped", "busybox", "true"]);
    let stopped = root.ok(&["inspect", "-f", "{{.Id}}", "stopped"]);
    let stopped = &stopped.trim()[..12];
    let err = root.fails(&["rmi", short]);
    assert!(
        err.contains(&format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container {stopped}")),
        "{err}"
    );
    // Forced: untagged only, the image stays (as <none>) while the container uses it.
    let out = root.ok(&["rmi", "-f", "busybox"]);
    assert_eq!(out, "Untagged: busybox:latest\n");
    let images = root.ok(&["images", "--format", "{{.Repository}} {{.ID}}"]);
    assert_eq!(images, format!("<none> {short}\n"));
    root.ok(&["start", "-a", "stopped"]);
    root.ok(&["rm", "stopped"]);
    let out = root.ok(&["rmi", short]);
    assert!(out.contains(&format!("Deleted: {}", image.trim())), "{out}");
}
