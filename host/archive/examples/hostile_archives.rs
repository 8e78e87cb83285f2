//! The hostile-archive set of `tests/hostile_archives.rs`, for timing and for fuzz seeds:
//!
//!   hostile_archives write DIR [--huge]   writes each case as DIR/NAME.gpg and prints one line
//!                                         per case: NAME, size, and `refused` (before the work
//!                                         it asks for) or `tried` (every packet tried, ending as
//!                                         a wrong password); --huge adds 8 MiB files of packets
//!   hostile_archives open FILE            opens FILE with the test password and default limits,
//!                                         prints the time `open` took and the outcome
//!
//! scripts/bench-hostile-archives.sh runs `open` under `/usr/bin/time` for each case.

#[path = "../tests/hostile/mod.rs"]
mod hostile;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use carbonio_mesh_archive::{open, Limits, Passphrase};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", dir] => write(Path::new(dir), false),
        ["write", dir, "--huge"] => write(Path::new(dir), true),
        ["open", file] => open_one(Path::new(file)),
        _ => {
            eprintln!("usage: hostile_archives write DIR [--huge] | hostile_archives open FILE");
            ExitCode::from(2)
        }
    }
}

fn write(dir: &Path, huge: bool) -> ExitCode {
    std::fs::create_dir_all(dir).expect("create the output directory");
    for case in hostile::cases(huge) {
        std::fs::write(dir.join(format!("{}.gpg", case.name)), &case.archive)
            .expect("write a case");
        let expected = if case.refused { "refused" } else { "tried" };
        println!("{}\t{}\t{expected}", case.name, case.archive.len());
    }
    ExitCode::SUCCESS
}

fn open_one(file: &Path) -> ExitCode {
    let bytes = std::fs::read(file).expect("read the archive");
    let passphrase = Passphrase::new(hostile::PASSWORD.as_bytes().to_vec());
    let start = Instant::now();
    let outcome = open(&bytes, &passphrase, &Limits::default());
    let elapsed = start.elapsed();
    let outcome = match outcome {
        Ok(members) => format!("opened ({} members)", members.len()),
        Err(error) => format!("{error:?}"),
    };
    println!("{:.1}\t{outcome}", elapsed.as_secs_f64() * 1000.0);
    ExitCode::SUCCESS
}
