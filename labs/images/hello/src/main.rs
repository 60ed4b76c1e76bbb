//! `/hello`, the only file in the `hello-world` lab image (built by `labs/images/build.sh`).
//!
//! Like Docker's hello-world, it prints a message and exits. It has no dependencies and is linked
//! statically (`-C target-feature=+crt-static`), so it runs in a container whose root filesystem
//! holds nothing else: no shell, no libc, no dynamic loader.

use std::io::Write;

const MESSAGE: &str = "
Hello from Baleia!
This message shows that your installation appears to be working correctly.

To generate this message, Baleia took the following steps:
 1. The baleia client read your command (`baleia run hello-world`).
 2. Baleia found the \"hello-world\" image in its local image store. The image
    was built by labs/images/build.sh and loaded with `baleia load`; no
    registry was contacted.
 3. Baleia created a new container from that image, in new namespaces
    (pid, mount, uts, ipc, net), on an overlay filesystem, which runs the
    executable that produces the output you are currently reading.
 4. Baleia streamed that output to your terminal.

To try something more ambitious, you can run a Debian container with:
 $ baleia run -it debian bash

To learn how all of this works, step by step, try the guided labs:
 $ baleia-lab
";

fn main() {
    // A closed stdout is not worth a panic message; the exit status tells.
    let ok = std::io::stdout()
        .lock()
        .write_all(MESSAGE.as_bytes())
        .is_ok();
    std::process::exit(if ok { 0 } else { 1 });
}
