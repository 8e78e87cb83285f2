//! Hostile credentials archives, built packet by packet with sequoia's serializers: each asks the
//! reader for more work (key derivation, or parsing) than an archive service-discover or gpg
//! writes. Shared by `tests/hostile_archives.rs` and `examples/hostile_archives.rs` (the
//! benchmark and the fuzz seeds), which each use part of it.
#![allow(dead_code)]

use std::io::Write;

use carbonio_mesh_archive::{write_tar, Member};
use openpgp::crypto::mpi::{Ciphertext, MPI};
use openpgp::crypto::{Password, SessionKey, S2K};
use openpgp::packet::pkesk::PKESK3;
use openpgp::packet::skesk::{SKESK4, SKESK6};
use openpgp::packet::{Marker, SKESK};
use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
use openpgp::serialize::{MarshalInto, Serialize};
use openpgp::types::{
    AEADAlgorithm, DataFormat, HashAlgorithm, PublicKeyAlgorithm, SymmetricAlgorithm,
};
use openpgp::{KeyID, Packet};
use sequoia_openpgp as openpgp;

pub const PASSWORD: &str = "correct horse battery staple";
pub const GOSSIP_KEY: &str = "H5LWbLNvzQy4dZuWpTzP+kgVUTR1D2ccyIe3nuXy1Wo=";
/// The largest iterated S2K count OpenPGP can encode (octet 0xFF).
pub const MAX_HASH_BYTES: u32 = 65_011_712;
/// What service-discover writes (octet 0xE0).
pub const SERVICE_DISCOVER_HASH_BYTES: u32 = 16_777_216;
/// The default budget: the largest count hashed twice, as gpg 2.2's default (SHA-1, AES-256) is.
pub const DEFAULT_HASH_BUDGET: u64 = 2 * MAX_HASH_BYTES as u64;
/// A file of password packets that fits under the default 8 MiB archive limit: the attacker's
/// 7.8 MB file held this many.
pub const PASSWORD_PACKETS_IN_8_MIB: usize = 524_269;

const ALGO: SymmetricAlgorithm = SymmetricAlgorithm::AES256;

pub fn session_key() -> SessionKey {
    SessionKey::new(ALGO.key_size().unwrap()).unwrap()
}

fn salt<const N: usize>() -> [u8; N] {
    let mut salt = [0; N];
    openpgp::crypto::random(&mut salt).unwrap();
    salt
}

pub fn iterated(hash: HashAlgorithm, hash_bytes: u32) -> S2K {
    S2K::Iterated {
        hash,
        salt: salt(),
        hash_bytes,
    }
}

/// Argon2id with `t` passes, `p` lanes and 2^`m` KiB of memory.
pub fn argon2(t: u8, p: u8, m: u8) -> S2K {
    S2K::Argon2 {
        salt: salt(),
        t,
        p,
        m,
    }
}

/// The password packet that opens the message with [`PASSWORD`] (derives the key once).
pub fn genuine(s2k: S2K, session_key: &SessionKey) -> SKESK {
    SKESK4::with_password(ALGO, ALGO, s2k, session_key, &Password::from(PASSWORD))
        .unwrap()
        .into()
}

/// A password packet no password opens, built without deriving a key: it has no encrypted
/// session key, so a reader uses the derived key as the session key, which fails the SEIPD's
/// quick check. 15 bytes with an iterated S2K, the smallest a password packet gets.
pub fn decoy(s2k: S2K) -> SKESK {
    SKESK4::new(ALGO, s2k, None).unwrap().into()
}

/// A version 6 password packet (for SEIPD v2) with random contents, built without deriving a key.
pub fn decoy_v6(s2k: S2K) -> SKESK {
    let aead = AEADAlgorithm::default();
    let mut iv = vec![0; aead.nonce_size().unwrap()];
    let mut esk = vec![0; ALGO.key_size().unwrap() + aead.digest_size().unwrap()];
    openpgp::crypto::random(&mut iv).unwrap();
    openpgp::crypto::random(&mut esk).unwrap();
    SKESK6::new(ALGO, aead, s2k, iv.into(), esk.into())
        .unwrap()
        .into()
}

/// A session key packet for a made-up RSA key: costs the reader nothing but parsing.
pub fn pkesk() -> Packet {
    let esk = Ciphertext::RSA {
        c: MPI::new(&[0xff; 4]),
    };
    PKESK3::new(
        Some(KeyID::from(0x0123_4567_89ab_cdef)),
        PublicKeyAlgorithm::RSAEncryptSign,
        esk,
    )
    .unwrap()
    .into()
}

/// A marker packet (5 bytes), which readers must ignore (RFC 9580, 5.8).
pub fn marker() -> Packet {
    Marker::default().into()
}

/// `count` copies of `packet`.
pub fn many(count: usize, packet: Packet) -> Vec<Packet> {
    vec![packet; count]
}

/// A binary OpenPGP message: `skesks`, then a tar holding a gossip key encrypted with
/// `session_key` in a SEIPD v1 (with MDC, as service-discover and gpg write), or v2 when `aead`.
pub fn message(skesks: &[SKESK], session_key: &SessionKey, aead: bool) -> Vec<u8> {
    let outer: Vec<Packet> = skesks.iter().cloned().map(Packet::from).collect();
    message_with(&outer, &[], session_key, aead)
}

/// Like [`message`], with any `outer` packets before the encrypted data and `inner` packets
/// inside it, before the literal data.
pub fn message_with(
    outer: &[Packet],
    inner: &[Packet],
    session_key: &SessionKey,
    aead: bool,
) -> Vec<u8> {
    let tar = write_tar(&[Member::new("gossip-key", GOSSIP_KEY.into())]).unwrap();
    let mut sink = Vec::new();
    let mut message = Message::new(&mut sink);
    for packet in outer {
        packet.serialize(&mut message).unwrap();
    }
    let mut encryptor = Encryptor::with_session_key(message, ALGO, session_key.clone()).unwrap();
    if aead {
        encryptor = encryptor.aead_algo(AEADAlgorithm::default());
    }
    let mut encrypted = encryptor.build().unwrap();
    for packet in inner {
        packet.serialize(&mut encrypted).unwrap();
    }
    let mut literal = LiteralWriter::new(encrypted)
        .format(DataFormat::Unicode)
        .build()
        .unwrap();
    literal.write_all(&tar).unwrap();
    literal.finalize().unwrap();
    sink
}

/// A message that opens with [`PASSWORD`] (cheaply: the smallest count) but for a flood of
/// `outer` packets before the encrypted data and `inner` ones inside it.
pub fn flooded(outer: &[Packet], inner: &[Packet]) -> Vec<u8> {
    let key = session_key();
    let mut outer = outer.to_vec();
    outer.push(genuine(iterated(HashAlgorithm::SHA256, 1024), &key).into());
    message_with(&outer, inner, &key, false)
}

/// How many copies of `packet` fill a file up to the default 8 MiB archive limit, leaving room
/// for the rest of the message.
pub fn fill_8_mib(packet: &Packet) -> usize {
    ((8 << 20) - 4096) / packet.serialized_len()
}

/// How many times an S2K with `hash` hashes its count for an AES-256 key: once per digest.
pub fn digests_per_key(hash: HashAlgorithm) -> u64 {
    ALGO.key_size()
        .unwrap()
        .div_ceil(hash.digest_size().unwrap()) as u64
}

/// `count` decoys with an iterated S2K hashing `hash_bytes`, and no packet that opens the message.
pub fn decoys(count: usize, hash: HashAlgorithm, hash_bytes: u32) -> Vec<u8> {
    let skesks: Vec<SKESK> = (0..count)
        .map(|_| decoy(iterated(hash, hash_bytes)))
        .collect();
    message(&skesks, &session_key(), false)
}

/// One hostile (or worst accepted) archive, and whether the reader must refuse it before the
/// work it asks for: before deriving any key, or before parsing a flood of packets.
pub struct Case {
    pub name: String,
    pub archive: Vec<u8>,
    pub refused: bool,
}

/// The hostile set the benchmark times and the fuzz seeds come from. `huge` adds the cases that
/// are megabytes large (whole 8 MiB files of packets).
pub fn cases(huge: bool) -> Vec<Case> {
    let refused = |name: &str, archive: Vec<u8>| Case {
        name: name.into(),
        archive,
        refused: true,
    };
    let mut cases = vec![
        // The attacker's file: RFC 9580's first recommended Argon2, 2 GiB of memory.
        refused(
            "argon2-2gib-skesk6",
            message(&[decoy_v6(argon2(1, 4, 21))], &session_key(), true),
        ),
        // RFC 9580's second recommended Argon2 (64 MiB), in a version 4 packet.
        refused(
            "argon2-64mib-skesk4",
            message(&[decoy(argon2(3, 4, 16))], &session_key(), false),
        ),
        refused(
            "private-s2k",
            message(
                &[decoy(S2K::Private {
                    tag: 101,
                    parameters: Some(vec![0; 8].into()),
                })],
                &session_key(),
                false,
            ),
        ),
        // More password packets than allowed, each cheap enough that the count refuses them.
        refused(
            "5-skesks",
            decoys(5, HashAlgorithm::SHA256, SERVICE_DISCOVER_HASH_BYTES),
        ),
        refused(
            "1000-skesks",
            decoys(1000, HashAlgorithm::SHA256, SERVICE_DISCOVER_HASH_BYTES),
        ),
        // One packet more than the hashing budget allows (each fits alone).
        refused(
            "3-skesks-max-count-sha256",
            decoys(3, HashAlgorithm::SHA256, MAX_HASH_BYTES),
        ),
        refused(
            "2-skesks-max-count-sha1",
            decoys(2, HashAlgorithm::SHA1, MAX_HASH_BYTES),
        ),
        // Packets that cost nothing to decrypt, only to parse: before the encrypted data, and
        // inside it (reached with the right password).
        refused("1000-pkesks", flooded(&many(1000, pkesk()), &[])),
        refused("1000-markers", flooded(&many(1000, marker()), &[])),
        refused("1000-markers-inside", flooded(&[], &many(1000, marker()))),
    ];
    if huge {
        cases.push(refused(
            "524269-skesks-8mib",
            decoys(
                PASSWORD_PACKETS_IN_8_MIB,
                HashAlgorithm::SHA256,
                MAX_HASH_BYTES,
            ),
        ));
        for (name, packet) in [("pkesks", pkesk()), ("markers", marker())] {
            let count = fill_8_mib(&packet);
            cases.push(refused(
                &format!("{count}-{name}-8mib"),
                flooded(&many(count, packet), &[]),
            ));
        }
    }
    // The most work the default limits allow: as many password packets with the largest count
    // as fit in the hashing budget (two with a long digest, one with a digest shorter than
    // AES-256's key, which is hashed twice), none of which opens the message, so every one is
    // tried. The hash decides the cost per byte. With SHA-1 this is gpg 2.2's default archive
    // given a wrong password.
    for hash in [
        HashAlgorithm::SHA256,
        HashAlgorithm::SHA1,
        HashAlgorithm::SHA224,
        HashAlgorithm::SHA512,
        HashAlgorithm::SHA3_512,
        HashAlgorithm::RipeMD,
        HashAlgorithm::MD5,
    ] {
        let fit = DEFAULT_HASH_BUDGET / (u64::from(MAX_HASH_BYTES) * digests_per_key(hash));
        cases.push(Case {
            name: format!(
                "{fit}-skesk{}-max-count-{hash:?}",
                if fit == 1 { "" } else { "s" }
            )
            .to_lowercase(),
            archive: decoys(fit as usize, hash, MAX_HASH_BYTES),
            refused: false,
        });
    }
    cases
}
