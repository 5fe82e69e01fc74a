//! Interop tests: the core against the shared atproto fixtures and real network data.
//!
//! These mirror the cross-implementation suite (atproto-interop-tests: data model, crypto) and
//! indigo's testdata. They read `../shared` beside the checkout (or `$STRATO_SHARED`) and skip,
//! saying which folder is missing, where it is absent.

use _core::car::{self, Options};
use _core::cid::{self, Cid};
use _core::crypto::{Curve, PrivateKey, PublicKey, SignatureError};
use _core::dagcbor;
use std::path::PathBuf;

fn shared(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STRATO_SHARED").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
        },
        PathBuf::from,
    );
    let path = root.join(sub);
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!(
            "skipped: shared fixtures folder {} is missing",
            path.display()
        );
        None
    }
}

fn b64(text: &str) -> Vec<u8> {
    data_encoding::BASE64_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .expect("base64")
}

#[test]
fn interop_data_model_fixtures_round_trip_exactly() {
    let Some(dir) = shared("interop/data-model") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("data-model-fixtures.json")).unwrap();
    let fixtures: serde_json::Value = serde_json::from_str(&text).unwrap();
    let fixtures = fixtures.as_array().unwrap();
    assert!(!fixtures.is_empty());
    for fixture in fixtures {
        let cbor = b64(fixture["cbor_base64"].as_str().unwrap());
        let value = dagcbor::decode(&cbor).unwrap();
        assert_eq!(dagcbor::encode(&value), cbor);
        let cid = Cid::compute(&cbor, cid::DAG_CBOR).unwrap();
        assert_eq!(cid.to_string(), fixture["cid"].as_str().unwrap());
    }
}

fn assert_canonical_car(path: &std::path::Path) -> usize {
    let data = std::fs::read(path).unwrap();
    let car =
        car::read(&data, &Options::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!car.roots.is_empty(), "{}", path.display());
    for block in &car.blocks {
        if block.cid.codec() == cid::DAG_CBOR {
            let value = dagcbor::decode(block.data)
                .unwrap_or_else(|e| panic!("{} block {}: {e}", path.display(), block.cid));
            assert_eq!(
                dagcbor::encode(&value),
                block.data,
                "{} {}",
                path.display(),
                block.cid
            );
        }
    }
    let rewritten = car::write(&car.roots, car.blocks.iter().map(|b| (&b.cid, b.data)));
    assert_eq!(rewritten, data, "{}", path.display());
    car.blocks.len()
}

#[test]
fn interop_real_repo_cars_verify_and_are_canonical() {
    let Some(dir) = shared("testdata/indigo/testing/testdata") else {
        return;
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".car") || name.ends_with(".repo") {
            assert!(assert_canonical_car(&path) > 0);
            seen += 1;
        }
    }
    assert!(seen >= 5, "expected the real repo CARs, found {seen}");
}

#[test]
fn interop_real_records_re_encode_identically() {
    let Some(dir) = shared("testdata/indigo") else {
        return;
    };
    for rel in [
        "testing/testdata/feedpost_record.cbor",
        "testing/testdata/post_richtext_link.cbor",
        "atproto/atdata/testdata/feedpost_record.cbor",
    ] {
        let data = std::fs::read(dir.join(rel)).unwrap();
        let value = dagcbor::decode(&data).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(dagcbor::encode(&value), data, "{rel}");
    }
}

fn crypto_fixture(name: &str) -> Option<serde_json::Value> {
    let dir = shared("interop/crypto")?;
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

#[test]
fn interop_signature_fixtures() {
    let Some(fixtures) = crypto_fixture("signature-fixtures.json") else {
        return;
    };
    let fixtures = fixtures.as_array().unwrap();
    assert!(!fixtures.is_empty());
    for fixture in fixtures {
        let comment = fixture["comment"].as_str().unwrap();
        let curve = match fixture["algorithm"].as_str().unwrap() {
            "ES256K" => Curve::K256,
            "ES256" => Curve::P256,
            other => panic!("{comment}: unknown algorithm {other}"),
        };
        let key = PublicKey::from_did_key(fixture["publicKeyDid"].as_str().unwrap()).unwrap();
        assert_eq!(key.curve(), curve, "{comment}");
        // `publicKeyMultibase` here is the bare compressed point (see spec-digest 3.1).
        let multibase = fixture["publicKeyMultibase"].as_str().unwrap();
        assert_eq!(
            PublicKey::from_multibase(multibase, curve).unwrap(),
            key,
            "{comment}"
        );
        let message = b64(fixture["messageBase64"].as_str().unwrap());
        let signature = b64(fixture["signatureBase64"].as_str().unwrap());
        let result = key.verify(&message, &signature);
        let tags: Vec<&str> = fixture["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tag| tag.as_str().unwrap())
            .collect();
        if fixture["validSignature"].as_bool().unwrap() {
            assert_eq!(result, Ok(()), "{comment}");
        } else if tags.contains(&"high-s") {
            assert_eq!(result, Err(SignatureError::HighS), "{comment}");
        } else if tags.contains(&"der-encoded") {
            assert_eq!(result, Err(SignatureError::Length), "{comment}");
        } else {
            assert!(result.is_err(), "{comment}");
        }
    }
}

#[test]
fn interop_w3c_did_key_private_keys() {
    for (name, field, curve) in [
        ("w3c_didkey_K256.json", "privateKeyBytesHex", Curve::K256),
        ("w3c_didkey_P256.json", "privateKeyBytesBase58", Curve::P256),
    ] {
        let Some(fixtures) = crypto_fixture(name) else {
            return;
        };
        let fixtures = fixtures.as_array().unwrap();
        assert!(!fixtures.is_empty(), "{name}");
        for fixture in fixtures {
            let text = fixture[field].as_str().unwrap();
            let raw = match curve {
                Curve::K256 => data_encoding::HEXLOWER.decode(text.as_bytes()).unwrap(),
                Curve::P256 => bs58::decode(text).into_vec().unwrap(),
            };
            let private = PrivateKey::from_bytes(&raw, curve).unwrap();
            let did = fixture["publicDidKey"].as_str().unwrap();
            assert_eq!(private.public_key().did_key(), did, "{name}");
            let public = PublicKey::from_did_key(did).unwrap();
            assert_eq!(public.verify(b"hello", &private.sign(b"hello")), Ok(()));
        }
    }
}

/// Every line of the `interop/syntax` lists whose format has a native check: valid lines pass,
/// invalid lines fail, and `*_parse_invalid` lines pass the syntax-only check.
#[test]
fn interop_syntax_lists() {
    use _core::syntax;
    let Some(dir) = shared("interop/syntax") else {
        return;
    };
    type Check = fn(&str) -> bool;
    let checks: [(&str, Check); 8] = [
        ("did", syntax::is_did),
        ("handle", syntax::is_handle),
        ("atidentifier", syntax::is_at_identifier),
        ("nsid", syntax::is_nsid),
        ("recordkey", syntax::is_record_key),
        ("tid", syntax::is_tid),
        ("aturi", syntax::is_at_uri),
        ("datetime", syntax::is_datetime),
    ];
    let mut lines_checked = 0;
    for (kind, check) in checks {
        for (level, valid) in [("syntax", true), ("syntax", false), ("parse", false)] {
            let name = format!(
                "{kind}_{level}_{}.txt",
                if valid { "valid" } else { "invalid" }
            );
            let Ok(text) = std::fs::read_to_string(dir.join(&name)) else {
                continue;
            };
            for line in text.split('\n') {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                assert_eq!(check(line), valid, "{name}: {line:?}");
                if kind == "datetime" {
                    assert_eq!(
                        syntax::is_datetime_syntax(line),
                        level == "parse" || valid,
                        "{name}: {line:?}"
                    );
                }
                lines_checked += 1;
            }
        }
    }
    assert!(lines_checked > 300, "only {lines_checked} lines");
}
