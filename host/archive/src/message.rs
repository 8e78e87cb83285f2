//! The OpenPGP layer: passphrase encryption of one literal data packet.

use std::io::{Read, Write};

use openpgp::crypto::{Password, SessionKey, S2K};
use openpgp::packet::prelude::*;
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageLayer, MessageStructure, VerificationHelper,
};
use openpgp::parse::{PacketParser, Parse};
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message};
use openpgp::serialize::Serialize;
use openpgp::types::{DataFormat, HashAlgorithm, SymmetricAlgorithm};
use openpgp::{armor, Cert, KeyHandle, Packet};
use sequoia_openpgp as openpgp;
use zeroize::Zeroizing;

use crate::{ArchiveError, KeyDerivationRefusal, Limits};

/// The S2K work factor service-discover has used since mid 2024 (encoded as 0xE0).
const S2K_COUNT: u32 = 16_777_216;

/// A passphrase, wiped from memory when dropped. May be empty: `service-discover setup` without
/// `--password` encrypts with the empty passphrase, and such archives must stay readable.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    pub fn new(bytes: Vec<u8>) -> Self {
        Passphrase(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn to_password(&self) -> Password {
        // `Password` keeps its copy encrypted in memory and wipes it on drop.
        Password::from(&self.0[..])
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Decrypts an armored or binary passphrase-encrypted message and returns its literal data,
/// after the whole message was read and its integrity verified.
pub fn decrypt(
    archive: &[u8],
    passphrase: &Passphrase,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
    check_envelope(archive, limits)?;
    let binary = dearmor(archive)?;
    check_framing(&binary)?;
    let mut policy = StandardPolicy::new();
    // Old GnuPG defaulted to CAST5; reading such an archive is allowed, writing never uses it.
    #[allow(deprecated)] // deprecated for new messages, which is exactly how it is used here
    policy.accept_symmetric_algo(SymmetricAlgorithm::CAST5);
    let helper = Helper {
        password: passphrase.to_password(),
        limits: *limits,
        packets: 0,
        work: KeyDerivationWork::default(),
        outcome: None,
    };
    // A buffer larger than any acceptable plaintext makes the decryptor read and verify the
    // whole message (MDC included) before it releases the first byte.
    let buffer = usize::try_from(limits.max_plaintext_bytes + 1).unwrap_or(usize::MAX);
    let run = || -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
        let builder = DecryptorBuilder::from_bytes(&binary[..]).map_err(|e| classify(e, None))?;
        let mut decryptor = builder
            .buffer_size(buffer)
            .with_policy(&policy, None, helper)
            .map_err(|e| classify(e, None))?;
        let mut plaintext = Zeroizing::new(Vec::new());
        let read = (&mut decryptor)
            .take(limits.max_plaintext_bytes + 1)
            .read_to_end(&mut plaintext);
        let outcome = decryptor.helper_mut().outcome.take();
        if let Err(e) = read {
            return Err(classify(e.into(), outcome));
        }
        if plaintext.len() as u64 <= limits.max_plaintext_bytes && !decryptor.message_processed() {
            return Err(ArchiveError::Damaged("the message ends early".into()));
        }
        Ok(plaintext)
    };
    // The parser has asserted on malformed input before (truncated packets, now caught by
    // `check_framing`); whatever else it asserts on is a damaged file, not a crash of root's tool.
    let plaintext =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
            Err(ArchiveError::Damaged(
                "the OpenPGP data is malformed".into(),
            ))
        })?;
    if plaintext.len() as u64 > limits.max_plaintext_bytes {
        return Err(ArchiveError::PlaintextTooLarge {
            limit: limits.max_plaintext_bytes,
        });
    }
    Ok(plaintext)
}

/// The binary OpenPGP data: armor removed (and its checksum checked) when there is armor.
fn dearmor(archive: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ArchiveError> {
    if !archive.trim_ascii_start().starts_with(b"-----BEGIN PGP") {
        return Ok(archive.into());
    }
    let mut reader = armor::Reader::from_bytes(archive, armor::ReaderMode::Tolerant(None));
    let mut binary = Vec::with_capacity(archive.len());
    reader
        .read_to_end(&mut binary)
        .map_err(|e| ArchiveError::Damaged(format!("the ASCII armor is damaged: {e}")))?;
    if binary.is_empty() {
        return Err(ArchiveError::Damaged(
            "the ASCII armor holds no data".into(),
        ));
    }
    Ok(binary.into())
}

/// Walks the top-level packet headers and checks every declared length fits in the file, so
/// a truncated archive is reported as such before the parser sees it.
fn check_framing(data: &[u8]) -> Result<(), ArchiveError> {
    let truncated = || ArchiveError::Damaged("the file ends early (truncated?)".into());
    let byte = |at: usize| data.get(at).copied().map(usize::from).ok_or_else(truncated);
    let mut at = 0;
    while at < data.len() {
        let ctb = data[at];
        if ctb & 0x80 == 0 {
            return Err(ArchiveError::Damaged(format!(
                "byte {at} is not an OpenPGP packet header"
            )));
        }
        at += 1;
        if ctb & 0x40 == 0 {
            // Old format: the length's size is in the header's low bits; 3 means "to the end".
            let len = match ctb & 0x03 {
                0 => byte(at)?,
                1 => (byte(at)? << 8) | byte(at + 1)?,
                2 => {
                    (byte(at)? << 24) | (byte(at + 1)? << 16) | (byte(at + 2)? << 8) | byte(at + 3)?
                }
                _ => return Ok(()),
            };
            at += [1, 2, 4][usize::from(ctb & 0x03)] + len;
        } else {
            // New format, possibly in partial-length chunks.
            loop {
                let first = byte(at)?;
                let (len, header, partial) = match first {
                    0..=191 => (first, 1, false),
                    192..=223 => (((first - 192) << 8) + byte(at + 1)? + 192, 2, false),
                    255 => (
                        (byte(at + 1)? << 24)
                            | (byte(at + 2)? << 16)
                            | (byte(at + 3)? << 8)
                            | byte(at + 4)?,
                        5,
                        false,
                    ),
                    _ => (1 << (first & 0x1f), 1, true),
                };
                at += header + len;
                if !partial {
                    break;
                }
                if at > data.len() {
                    return Err(truncated());
                }
            }
        }
        if at > data.len() {
            return Err(truncated());
        }
    }
    Ok(())
}

/// Cheap checks before any parsing: size, emptiness, and that it looks like OpenPGP at all.
fn check_envelope(archive: &[u8], limits: &Limits) -> Result<(), ArchiveError> {
    if archive.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let size = archive.len() as u64;
    if size > limits.max_archive_bytes {
        return Err(ArchiveError::TooLarge {
            size,
            limit: limits.max_archive_bytes,
        });
    }
    let text = archive.trim_ascii_start();
    let armored = text.starts_with(b"-----BEGIN PGP");
    // A binary OpenPGP packet header always has its top bit set; a tar starts with a file name.
    if !armored && archive[0] & 0x80 == 0 {
        return Err(ArchiveError::NotOpenPgp(
            "no OpenPGP armor or packet header".into(),
        ));
    }
    Ok(())
}

/// What the helper found out, for errors that surface later as generic parse failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    WrongPassword,
    NotPasswordEncrypted,
    NotEncrypted,
    Signed,
    TooManyPackets { limit: usize },
    KeyDerivationRefused(KeyDerivationRefusal),
}

impl From<Outcome> for ArchiveError {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::WrongPassword => ArchiveError::WrongPassword,
            Outcome::NotPasswordEncrypted => ArchiveError::NotPasswordEncrypted,
            Outcome::NotEncrypted => ArchiveError::NotEncrypted,
            Outcome::Signed => ArchiveError::Signed,
            Outcome::TooManyPackets { limit } => ArchiveError::TooManyPackets { limit },
            Outcome::KeyDerivationRefused(why) => ArchiveError::KeyDerivationRefused(why),
        }
    }
}

/// Carries an [`Outcome`] through sequoia's error type.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
struct Refused(Outcome);

struct Helper {
    password: Password,
    limits: Limits,
    /// Packets the parser has handed to `inspect` so far.
    packets: usize,
    /// What the password packets among them ask for.
    work: KeyDerivationWork,
    outcome: Option<Outcome>,
}

impl VerificationHelper for Helper {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    /// Sees each packet as soon as it is parsed, at every depth, before sequoia checks the
    /// message grammar over it. That check re-reads every packet so far, and the decryptor
    /// collects every password packet before it calls `decrypt`: a file of half a million
    /// packets is stopped here, at the first one over a limit, not after hours of parsing.
    fn inspect(&mut self, pp: &PacketParser) -> openpgp::Result<()> {
        self.packets += 1;
        if self.packets > self.limits.max_packets {
            let limit = self.limits.max_packets;
            return self.refuse(Outcome::TooManyPackets { limit });
        }
        if let Packet::SKESK(skesk) = &pp.packet {
            if let Err(why) = self.work.add(skesk, &self.limits) {
                return self.refuse(Outcome::KeyDerivationRefused(why));
            }
        }
        Ok(())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let mut encrypted = false;
        for layer in structure.into_iter() {
            match layer {
                MessageLayer::Encryption { .. } => encrypted = true,
                MessageLayer::SignatureGroup { .. } => return self.refuse(Outcome::Signed),
                MessageLayer::Compression { .. } => {}
            }
        }
        if !encrypted {
            return self.refuse(Outcome::NotEncrypted);
        }
        Ok(())
    }
}

impl Helper {
    fn refuse<T>(&mut self, outcome: Outcome) -> openpgp::Result<T> {
        self.outcome = Some(outcome);
        Err(Refused(outcome).into())
    }
}

impl DecryptionHelper for Helper {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        skesks: &[SKESK],
        _sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        if skesks.is_empty() && !pkesks.is_empty() {
            return self.refuse(Outcome::NotPasswordEncrypted);
        }
        // `inspect` already refused these one by one; checking them all again here, where the
        // work is about to be done, keeps the bound true whichever packets sequoia hands over.
        let mut work = KeyDerivationWork::default();
        for skesk in skesks {
            if let Err(why) = work.add(skesk, &self.limits) {
                return self.refuse(Outcome::KeyDerivationRefused(why));
            }
        }
        for skesk in skesks {
            // A wrong passphrase either fails here (garbage session key algorithm) or fails
            // the cipher's quick check inside `decrypt`.
            if let Ok((algo, key)) = skesk.decrypt(&self.password) {
                if decrypt(algo, &key) {
                    return Ok(None);
                }
            }
        }
        self.refuse(Outcome::WrongPassword)
    }
}

/// The key-derivation work the password packets seen so far ask for.
#[derive(Debug, Default)]
struct KeyDerivationWork {
    packets: usize,
    hash_bytes: u64,
}

impl KeyDerivationWork {
    /// Adds `skesk`'s work, refusing it when that goes over `limits` or cannot be judged. Only
    /// reads the S2K's parameters: no key is derived here.
    fn add(&mut self, skesk: &SKESK, limits: &Limits) -> Result<(), KeyDerivationRefusal> {
        self.packets += 1;
        if self.packets > limits.max_password_packets {
            return Err(KeyDerivationRefusal::TooManyPasswordPackets {
                limit: limits.max_password_packets,
            });
        }
        let (cipher, s2k) = match skesk {
            SKESK::V4(skesk) => (skesk.symmetric_algo(), skesk.s2k()),
            SKESK::V6(skesk) => (skesk.symmetric_algo(), skesk.s2k()),
            // A packet version sequoia learns later has a cost this code has not judged.
            other => {
                return Err(KeyDerivationRefusal::UnknownPasswordPacket {
                    version: other.version(),
                })
            }
        };
        self.hash_bytes = self.hash_bytes.saturating_add(s2k_hash_bytes(s2k, cipher)?);
        if self.hash_bytes > limits.max_s2k_hash_bytes {
            return Err(KeyDerivationRefusal::TooMuchHashing {
                bytes: self.hash_bytes,
                limit: limits.max_s2k_hash_bytes,
            });
        }
        Ok(())
    }
}

/// The bytes deriving a `cipher` key with `s2k` hashes, or why that S2K is refused whatever the
/// limits.
fn s2k_hash_bytes(s2k: &S2K, cipher: SymmetricAlgorithm) -> Result<u64, KeyDerivationRefusal> {
    #[allow(deprecated)] // the old S2Ks are named to be accepted: they cost one hash
    match s2k {
        &S2K::Iterated {
            hash, hash_bytes, ..
        } => {
            // The whole count is hashed once per digest the key needs (RFC 9580, 3.7.1.1 and
            // 3.7.1.3): twice for AES-256's 32 bytes with SHA-1's 20. A cipher or hash sequoia
            // does not know fails before any hashing; counting it as the costliest known keeps
            // the sum an upper bound.
            let key = cipher.key_size().unwrap_or(32);
            let digest = hash.digest_size().unwrap_or(16);
            Ok(u64::from(hash_bytes) * key.div_ceil(digest) as u64)
        }
        S2K::Salted { .. } | S2K::Simple { .. } | S2K::Implicit => Ok(0),
        &S2K::Argon2 { t, p, m, .. } => Err(KeyDerivationRefusal::Argon2 {
            passes: t,
            lanes: p,
            memory_exponent: m,
        }),
        // Unknown and private S2Ks would fail anyway, but as a "wrong password".
        &S2K::Unknown { tag, .. } | &S2K::Private { tag, .. } => {
            Err(KeyDerivationRefusal::UnknownS2k { tag })
        }
        // An S2K sequoia learns later has a cost this code has not judged. Its serialization
        // starts with its type octet (RFC 9580, 3.7.1), which names it in the error.
        other => Err(KeyDerivationRefusal::UnknownS2k {
            tag: openpgp::serialize::MarshalInto::to_vec(other)
                .ok()
                .and_then(|bytes| bytes.first().copied())
                .unwrap_or(u8::MAX),
        }),
    }
}

/// Maps sequoia's errors onto ours; the helper's verdict, when it gave one, wins.
fn classify(error: anyhow::Error, outcome: Option<Outcome>) -> ArchiveError {
    if let Some(Refused(outcome)) = error.downcast_ref::<Refused>() {
        return (*outcome).into();
    }
    if let Some(outcome) = outcome {
        return outcome.into();
    }
    if let Some(e) = error.downcast_ref::<openpgp::Error>() {
        return match e {
            openpgp::Error::ManipulatedMessage => ArchiveError::Damaged(
                "the integrity check (MDC) failed: the file was changed or truncated".into(),
            ),
            openpgp::Error::PolicyViolation(what, _) => {
                ArchiveError::Damaged(format!("it uses {what}, which is not accepted (too weak)"))
            }
            other => ArchiveError::Damaged(other.to_string()),
        };
    }
    let mut text = error.to_string();
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::UnexpectedEof {
            text = "the file ends early (truncated?)".into();
        }
    }
    ArchiveError::Damaged(text)
}

/// Encrypts `plaintext` exactly as service-discover (Go OpenPGP) does: armored, one SKESK v4
/// with an encrypted session key and iterated+salted SHA-256 S2K (count 16,777,216), AES-256,
/// SEIPD v1 with MDC, no compression, literal format 'u'. Never SEIPD v2/AEAD: GnuPG 2.2
/// cannot read it.
pub fn encrypt(plaintext: &[u8], passphrase: &Passphrase) -> Result<Vec<u8>, ArchiveError> {
    encrypt_inner(plaintext, passphrase).map_err(|e| ArchiveError::Encrypt(e.to_string()))
}

fn encrypt_inner(plaintext: &[u8], passphrase: &Passphrase) -> openpgp::Result<Vec<u8>> {
    let algo = SymmetricAlgorithm::AES256;
    let mut sink = Vec::new();
    let message = Message::new(&mut sink);
    let mut message = Armorer::new(message).kind(armor::Kind::Message).build()?;
    let session_key = SessionKey::new(algo.key_size()?)?;
    let mut salt = [0u8; 8];
    openpgp::crypto::random(&mut salt)?;
    let s2k = S2K::Iterated {
        hash: HashAlgorithm::SHA256,
        salt,
        hash_bytes: S2K_COUNT,
    };
    let skesk = SKESK4::with_password(algo, algo, s2k, &session_key, &passphrase.to_password())?;
    Packet::SKESK(skesk.into()).serialize(&mut message)?;
    let message = Encryptor::with_session_key(message, algo, session_key)?.build()?;
    let mut literal = LiteralWriter::new(message)
        .format(DataFormat::Unicode)
        .build()?;
    literal.write_all(plaintext)?;
    literal.finalize()?;
    Ok(sink)
}
