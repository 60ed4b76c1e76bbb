//! Records the git commit and the compiler version for `baleia version`.

use std::process::Command;

fn main() {
    let out = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = out(&rustc, &["--version"]);
    let version = version.split_whitespace().nth(1).unwrap_or("unknown");
    println!("cargo:rustc-env=BALEIA_RUSTC_VERSION={version}");
    let commit = out("git", &["rev-parse", "--short=7", "HEAD"]);
    println!(
        "cargo:rustc-env=BALEIA_GIT_COMMIT={}",
        if commit.is_empty() {
            "unknown"
        } else {
            &commit
        }
    );
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
