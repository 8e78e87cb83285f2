//! Any bytes given to the archive reader give members or an error: never a panic, a hang or
//! unbounded memory. Half the runs use the empty passphrase so the fuzzer can get past
//! decryption (it can forge a valid empty-passphrase message) and reach the tar reader.
#![no_main]

use carbonio_mesh_archive::{open, read_tar, Limits, Passphrase};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_archive_bytes: 1 << 16,
        max_plaintext_bytes: 1 << 16,
        ..Limits::default()
    };
    let passphrase = Passphrase::new(Vec::new());
    let _ = open(data, &passphrase, &limits);
    // The tar reader alone, so plaintext paths are covered without the cipher in the way.
    let _ = read_tar(data, &limits);
});
