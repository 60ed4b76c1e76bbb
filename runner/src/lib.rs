//! `baleia-lab`: hands-on Docker notes as labs. A lab (YAML) types the notes' commands into real
//! terminals, shows what the kernel did behind each step (namespaces, layers, cgroups, links,
//! iptables, packets), and checks that the exercise worked.

pub mod backend;
pub mod book;
pub mod check;
pub mod client;
pub mod hub;
pub mod interrupt;
pub mod inventory;
pub mod lab;
pub mod observe;
pub mod play;
pub mod record;
pub mod session;
pub mod settings;
pub mod setup;
pub mod template;
pub mod terminal;
pub mod ui;
