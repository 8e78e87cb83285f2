//! A hostile archive costs bounded time and memory: password packets that would make the key
//! derivation expensive (Argon2, too many packets, too much hashing, an unknown S2K) are refused
//! with their own error before any key is derived, a flood of packets is refused before it is
//! all parsed, and the archives service-discover and gpg write still open. The costs themselves are measured by scripts/bench-hostile-archives.sh,
//! never timed here.

mod hostile;

use carbonio_mesh_archive::{open, seal, ArchiveError, KeyDerivationRefusal, Limits, Passphrase};
use hostile::*;
use openpgp::crypto::S2K;
use openpgp::types::HashAlgorithm;
use sequoia_openpgp as openpgp;

fn passphrase() -> Passphrase {
    Passphrase::new(PASSWORD.as_bytes().to_vec())
}

fn refusal(archive: &[u8], limits: &Limits) -> KeyDerivationRefusal {
    match open(archive, &passphrase(), limits) {
        Err(ArchiveError::KeyDerivationRefused(why)) => why,
        other => panic!("must be refused before the key derivation, got {other:?}"),
    }
}

fn opens(archive: &[u8], limits: &Limits) {
    let members = open(archive, &passphrase(), limits).expect("opens");
    assert_eq!(&members[0].data[..], GOSSIP_KEY.as_bytes());
}

#[test]
fn argon2_is_refused_whatever_its_parameters() {
    // The attacker's file: RFC 9580's first recommendation (2 GiB), v6 packet, SEIPD v2.
    let archive = message(&[decoy_v6(argon2(1, 4, 21))], &session_key(), true);
    assert_eq!(
        refusal(&archive, &Limits::default()),
        KeyDerivationRefusal::Argon2 {
            passes: 1,
            lanes: 4,
            memory_exponent: 21
        }
    );
    // The cheapest Argon2 there is, in a v4 packet that would otherwise open with the password:
    // refused too, because no credentials archive uses Argon2.
    let key = session_key();
    let archive = message(&[genuine(argon2(1, 1, 3), &key)], &key, false);
    assert_eq!(
        refusal(&archive, &Limits::default()),
        KeyDerivationRefusal::Argon2 {
            passes: 1,
            lanes: 1,
            memory_exponent: 3
        }
    );
}

#[test]
fn too_many_password_packets_are_refused_before_any_is_tried() {
    let archive = decoys(1000, HashAlgorithm::SHA256, SERVICE_DISCOVER_HASH_BYTES);
    assert_eq!(
        refusal(&archive, &Limits::default()),
        KeyDerivationRefusal::TooManyPasswordPackets { limit: 4 }
    );
    // One over the limit is enough, even when the genuine packet comes first.
    let key = session_key();
    let mut skesks = vec![genuine(iterated(HashAlgorithm::SHA256, 1024), &key)];
    skesks.extend((0..4).map(|_| decoy(iterated(HashAlgorithm::SHA256, 1024))));
    assert_eq!(
        refusal(&message(&skesks, &key, false), &Limits::default()),
        KeyDerivationRefusal::TooManyPasswordPackets { limit: 4 }
    );
}

#[test]
fn as_many_password_packets_as_the_limit_still_open() {
    // Three decoys with service-discover's count, the genuine packet last: all four are tried.
    let key = session_key();
    let mut skesks: Vec<_> = (0..3)
        .map(|_| decoy(iterated(HashAlgorithm::SHA256, SERVICE_DISCOVER_HASH_BYTES)))
        .collect();
    skesks.push(genuine(
        iterated(HashAlgorithm::SHA256, SERVICE_DISCOVER_HASH_BYTES),
        &key,
    ));
    opens(&message(&skesks, &key, false), &Limits::default());
}

/// gpg 2.2's default (SHA-1, the largest count, hashed twice for AES-256's key) is exactly the
/// default budget; that it opens is tested with a real gpg in `gpg_interop.rs`.
#[test]
fn hashing_over_the_budget_is_refused() {
    // gpg's default packet fills the budget: any hashing after it is refused, even for a
    // packet that would open the message.
    let key = session_key();
    let skesks = vec![
        decoy(iterated(HashAlgorithm::SHA1, MAX_HASH_BYTES)),
        genuine(iterated(HashAlgorithm::SHA1, 1024), &key),
    ];
    assert_eq!(
        refusal(&message(&skesks, &key, false), &Limits::default()),
        KeyDerivationRefusal::TooMuchHashing {
            bytes: DEFAULT_HASH_BUDGET + 2 * 1024,
            limit: DEFAULT_HASH_BUDGET
        }
    );
    // A SHA-256 digest covers the key: two packets with the largest count fit, three do not.
    assert_eq!(
        refusal(
            &decoys(3, HashAlgorithm::SHA256, MAX_HASH_BYTES),
            &Limits::default()
        ),
        KeyDerivationRefusal::TooMuchHashing {
            bytes: 3 * u64::from(MAX_HASH_BYTES),
            limit: DEFAULT_HASH_BUDGET
        }
    );
    // A budget of service-discover's own count is inclusive: its archive opens, the largest
    // count does not.
    let service_discover = Limits {
        max_s2k_hash_bytes: SERVICE_DISCOVER_HASH_BYTES.into(),
        ..Limits::default()
    };
    let sealed = seal(
        &[carbonio_mesh_archive::Member::new(
            "gossip-key",
            GOSSIP_KEY.into(),
        )],
        &passphrase(),
    )
    .unwrap();
    opens(&sealed, &service_discover);
    let largest = message(
        &[genuine(
            iterated(HashAlgorithm::SHA256, MAX_HASH_BYTES),
            &key,
        )],
        &key,
        false,
    );
    opens(&largest, &Limits::default());
    assert_eq!(
        refusal(&largest, &service_discover),
        KeyDerivationRefusal::TooMuchHashing {
            bytes: MAX_HASH_BYTES.into(),
            limit: SERVICE_DISCOVER_HASH_BYTES.into()
        }
    );
}

#[test]
fn floods_of_packets_are_refused_before_they_are_all_parsed() {
    // Each opens with the password but for 1000 packets that cost only parsing: session key
    // packets for keys, and marker packets (which readers ignore) before and inside the
    // encrypted data.
    for (what, archive) in [
        ("key packets", flooded(&many(1000, pkesk()), &[])),
        ("markers", flooded(&many(1000, marker()), &[])),
        ("markers inside", flooded(&[], &many(1000, marker()))),
    ] {
        let result = open(&archive, &passphrase(), &Limits::default());
        assert!(
            matches!(result, Err(ArchiveError::TooManyPackets { limit: 64 })),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn an_archive_also_encrypted_to_keys_opens_up_to_the_packet_limit() {
    // Password packet, encrypted data, literal data and MDC are 4 packets; 60 key packets
    // make 64, the limit, and one more is over it.
    opens(&flooded(&many(60, pkesk()), &[]), &Limits::default());
    let result = open(
        &flooded(&many(61, pkesk()), &[]),
        &passphrase(),
        &Limits::default(),
    );
    assert!(
        matches!(result, Err(ArchiveError::TooManyPackets { limit: 64 })),
        "{result:?}"
    );
}

#[test]
fn an_unknown_s2k_is_refused_not_reported_as_a_wrong_password() {
    let s2k = S2K::Private {
        tag: 101,
        parameters: Some(vec![0; 8].into()),
    };
    let archive = message(&[decoy(s2k)], &session_key(), false);
    assert_eq!(
        refusal(&archive, &Limits::default()),
        KeyDerivationRefusal::UnknownS2k { tag: 101 }
    );
}

#[test]
fn the_refusal_says_what_was_asked_and_what_to_do() {
    let error = open(
        &decoys(5, HashAlgorithm::SHA256, SERVICE_DISCOVER_HASH_BYTES),
        &passphrase(),
        &Limits::default(),
    )
    .unwrap_err();
    let text = error.to_string();
    for expected in [
        "more than 4 password packets",
        "not written by service-discover",
        "restore the archive from the Mesh leader or a backup",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text:?}");
    }
    let argon2 = message(&[decoy_v6(argon2(1, 4, 21))], &session_key(), true);
    let text = open(&argon2, &passphrase(), &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("Argon2") && text.contains("2^21 KiB"),
        "{text}"
    );
}

/// The benchmark's hostile set, so what it times is what is tested. (The worst accepted cases
/// it also times cost seconds in a debug build; the benchmark checks they end as a wrong
/// password.)
#[test]
fn the_benchmarked_hostile_cases_are_refused() {
    for case in cases(false).iter().filter(|c| c.refused) {
        let result = open(&case.archive, &passphrase(), &Limits::default());
        assert!(
            matches!(
                result,
                Err(ArchiveError::KeyDerivationRefused(_) | ArchiveError::TooManyPackets { .. })
            ),
            "{}: {result:?}",
            case.name
        );
    }
}
