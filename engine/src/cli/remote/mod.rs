//! The `baleia` CLI as a client of a daemon (`-H ADDRESS` or `DOCKER_HOST`), as in the notes'
//! `export DOCKER_HOST="ip:porta"`: the same commands, flags and output, sent over the Engine API.
//! Commands that only make sense on this host (`daemon`, `system teardown`) stay local.

mod containers;
mod exec;
mod images;
mod networks;
mod stream;

use anyhow::{bail, Result};
use hyper::Method;
use serde_json::Value;

use super::images::{ImageCommand, InspectArgs};
use super::output::print_inspected;
use super::{system, Command, Reported};
use baleia_engine::client::{Client, ClientError, Host};

/// Run `command` against the daemon at `host`.
pub fn run(host: &str, command: Command) -> Result<()> {
    let client = Client::new(host.parse::<Host>()?)?;
    let exit_on_error = match &command {
        Command::Run(_) => 125,
        _ => 1,
    };
    dispatch(&client, command).map_err(|e| match e.downcast::<ClientError>() {
        Ok(ce) => {
            eprintln!("{ce}");
            Reported(exit_on_error).into()
        }
        Err(e) => e,
    })
}

fn dispatch(c: &Client, command: Command) -> Result<()> {
    use super::containers::ContainerCommand as C;
    match command {
        Command::Version(a) => {
            let server = c.json(Method::GET, "/version", None);
            system::print_version(server.as_ref().ok(), &a)?;
            server.map(|_| ()).map_err(Into::into)
        }
        Command::Info(a) | Command::System(system::SystemCommand::Info(a)) => {
            let v = c.json(Method::GET, "/info", None)?;
            let version = v["ServerVersion"].as_str().unwrap_or_default().to_string();
            system::print_info(&v, &version, None, &a)
        }
        Command::Ps(a) | Command::Container(C::Ls(a)) => containers::ps(c, &a),
        Command::Run(a) | Command::Container(C::Run(a)) => containers::run(c, &a),
        Command::Create(a) | Command::Container(C::Create(a)) => containers::create(c, &a),
        Command::Start(a) | Command::Container(C::Start(a)) => containers::start(c, &a),
        Command::Stop(a) | Command::Container(C::Stop(a)) => containers::stop(c, &a, "stop"),
        Command::Restart(a) | Command::Container(C::Restart(a)) => {
            containers::stop(c, &a, "restart")
        }
        Command::Kill(a) | Command::Container(C::Kill(a)) => containers::kill(c, &a),
        Command::Rm(a) | Command::Container(C::Rm(a)) => containers::rm(c, &a),
        Command::Wait(a) | Command::Container(C::Wait(a)) => containers::wait(c, &a),
        Command::Rename(a) | Command::Container(C::Rename(a)) => containers::rename(c, &a),
        Command::Logs(a) | Command::Container(C::Logs(a)) => containers::logs(c, &a),
        Command::Inspect(a) => inspect(c, &a),
        Command::Container(C::Inspect(mut a)) => {
            a.kind = Some("container".into());
            inspect(c, &a)
        }
        Command::Exec(a) | Command::Container(C::Exec(a)) => exec::exec(c, &a),
        Command::Top(a) | Command::Container(C::Top(a)) => exec::top(c, &a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::images(c, &a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => images::pull(c, &a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::rmi(c, &a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(c, &a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => images::save(c, &a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => images::load(c, &a),
        Command::Image(ImageCommand::Inspect(a)) => {
            let objects = a.names.iter().map(|n| image_json(c, n)).collect();
            show(objects, a.format.as_deref())
        }
        Command::Network(n) => networks::network(c, n),
        other => bail!(
            "`{}` works only without a daemon for now: unset DOCKER_HOST (or leave out -H) to \
             run it on this host's engine, or use the docker CLI with this daemon",
            name_of(&other)
        ),
    }
}

/// The subcommand's name, for messages.
fn name_of(c: &Command) -> String {
    let debug = format!("{c:?}");
    let word = debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    word
}

/// A path segment or query value, percent-encoded.
pub(super) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn image_json(c: &Client, name: &str) -> Result<Value, ClientError> {
    c.json(Method::GET, &format!("/images/{}/json", enc(name)), None)
}

/// `inspect`: a container, else an image, else a network (or what `--type` says).
fn inspect(c: &Client, a: &InspectArgs) -> Result<()> {
    let objects = a
        .names
        .iter()
        .map(|n| {
            let container = || c.json(Method::GET, &format!("/containers/{}/json", enc(n)), None);
            let network = || c.json(Method::GET, &format!("/networks/{}", enc(n)), None);
            match a.kind.as_deref() {
                Some("image") => image_json(c, n),
                Some("network") => network(),
                Some(_) => container(),
                None => container()
                    .or_else(|_| image_json(c, n))
                    .or_else(|_| network())
                    .map_err(|_| ClientError::Api {
                        status: 404,
                        message: format!("No such object: {n}"),
                    }),
            }
        })
        .collect();
    show(objects, a.format.as_deref())
}

/// Print what was found as `inspect` does; report each failure, fail at the end if any.
fn show(objects: Vec<Result<Value, ClientError>>, format: Option<&str>) -> Result<()> {
    let mut found = Vec::new();
    let mut failed = false;
    for o in objects {
        match o {
            Ok(v) => found.push(v),
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    print_inspected(&found, format, failed)
}
