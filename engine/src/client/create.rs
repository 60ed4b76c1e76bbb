//! The body of `POST /containers/create` for [`CreateOptions`]: Docker's container config with
//! `HostConfig` and `NetworkingConfig` inside, as the docker CLI sends it.

use serde_json::{json, Map, Value};

use crate::container::create::CreateOptions;

/// Docker's create body for `opts` (the daemon reads it back into the same options).
pub fn create_body(opts: &CreateOptions) -> Value {
    let attach = opts.attach;
    let exposed: Map<String, Value> = opts.expose.iter().map(|p| (p.clone(), json!({}))).collect();
    let mut endpoints = Map::new();
    if !opts.network_aliases.is_empty() {
        endpoints.insert(
            opts.host.network_mode.clone(),
            json!({ "Aliases": opts.network_aliases }),
        );
    }
    json!({
        "Image": opts.image,
        "Cmd": (!opts.cmd.is_empty()).then_some(&opts.cmd),
        "Entrypoint": opts.entrypoint.as_ref().map(|e| vec![e.clone()]),
        "Env": opts.env,
        "WorkingDir": opts.workdir.clone().unwrap_or_default(),
        "Hostname": opts.hostname.clone().unwrap_or_default(),
        "User": opts.user.clone().unwrap_or_default(),
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": opts.interactive && attach,
        "AttachStdin": opts.interactive && attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "ExposedPorts": exposed,
        "Labels": opts.labels,
        "HostConfig": serde_json::to_value(&opts.host).expect("host config serializes"),
        "NetworkingConfig": { "EndpointsConfig": endpoints },
    })
}
