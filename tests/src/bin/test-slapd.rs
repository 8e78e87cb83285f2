//! `test-slapd`: the tests' real slapd (`carbonio_mesh_tests::slapd`, shaped like Carbonio's
//! LDAP) for the demo, which is a shell script. It starts one on a free loopback port, lists the
//! given servers in it, writes Carbonio's localconfig.xml naming it to each `--localconfig` path
//! (0640, group `nobody`: the stand-ins' user), prints `ready`, and keeps it running until its
//! standard input closes; then slapd is stopped and its files removed.
//!
//! `test-slapd --localconfig PATH... --server FQDN[=SERVICE,SERVICE]...`

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use carbonio_mesh_tests::slapd::Slapd;

fn usage() -> ! {
    eprintln!("usage: test-slapd --localconfig PATH... --server FQDN[=SERVICE,...]...");
    std::process::exit(2);
}

fn main() {
    let mut localconfigs = Vec::new();
    let mut servers = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--localconfig", Some(path)) => localconfigs.push(path),
            ("--server", Some(spec)) => servers.push(spec),
            _ => usage(),
        }
    }
    let ldap = Slapd::start();
    for spec in &servers {
        let (fqdn, services) = spec.split_once('=').unwrap_or((spec, ""));
        let services: Vec<&str> = services.split(',').filter(|s| !s.is_empty()).collect();
        ldap.add_server(fqdn, &services);
    }
    let nobody = nix::unistd::User::from_name("nobody").ok().flatten();
    for path in &localconfigs {
        let path = std::path::Path::new(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the localconfig.xml directory can be made");
        }
        std::fs::write(path, ldap.localconfig()).expect("localconfig.xml can be written");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
        if let (Some(nobody), true) = (&nobody, nix::unistd::Uid::effective().is_root()) {
            nix::unistd::chown(path, None, Some(nobody.gid)).unwrap();
        }
    }
    println!("ready {}", ldap.url());
    let _ = std::io::stdout().flush();
    // Until the demo closes our standard input (or exits): then `ldap` drops and slapd stops.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
