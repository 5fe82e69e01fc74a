//! CIDs in binary (`Cid::from_bytes`, `Cid::read_prefix`) and text (`Cid::parse`), and
//! multibase decoding: no panic, and whatever parses re-encodes to the same bytes or text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strato_core::multibase::{self, Base};
use strato_core::{varint, Cid};

fuzz_target!(|data: &[u8]| {
    if let Ok((cid, used)) = Cid::read_prefix(data) {
        assert_eq!(cid.as_bytes(), &data[..used]);
        assert_eq!(Cid::from_bytes(&data[..used]), Ok(cid));
        assert_eq!(
            cid.digest(),
            &cid.as_bytes()[cid.as_bytes().len() - cid.digest().len()..]
        );
    }
    if let Ok(cid) = Cid::from_bytes(data) {
        assert_eq!(cid.as_bytes(), data);
        if cid.version() == 1 {
            let text = cid.encode(Base::Base32Lower);
            assert_eq!(Cid::parse(&text), Ok(cid));
        }
    }
    if let Ok((value, used)) = varint::decode(data) {
        let mut again = Vec::new();
        varint::encode(value, &mut again);
        assert_eq!(again, &data[..used]);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cid) = Cid::parse(text) {
        let base = if cid.version() == 0 {
            Base::Base58Btc
        } else {
            Base::from_prefix(data[0]).expect("parsed under a known base")
        };
        let again = cid.encode(base);
        assert_eq!(again, text, "a CID string that does not round-trip");
    }
    if let Some((base, bytes)) = multibase::decode(text) {
        assert_eq!(
            multibase::encode(base, &bytes),
            text,
            "non-canonical multibase accepted"
        );
    }
});
