//! List cursors: a position in list order, `(created_at, id)`, written as an opaque,
//! URL-safe string (docs/semantics.md 5, "Cursors").
//!
//! The form is a version byte, the timestamp's milliseconds (8 bytes, big-endian) and
//! the contact id (16 bytes), in unpadded URL-safe base64: 34 characters that need no
//! escaping in a query string. The version byte lets a later form be told apart; a
//! cursor carries no org, because a position reveals nothing and is only ever applied
//! within the caller's own org.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};
use crate::ids::ContactId;
use crate::store::ListPosition;
use crate::time::Timestamp;

const VERSION: u8 = 1;
const LEN: usize = 1 + 8 + 16;

/// The cursor string of `position`.
pub(crate) fn encode(position: ListPosition) -> String {
    let mut bytes = [0u8; LEN];
    bytes[0] = VERSION;
    bytes[1..9].copy_from_slice(&position.created_at.as_millis().to_be_bytes());
    bytes[9..].copy_from_slice(position.id.0.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The position a cursor string names.
///
/// # Errors
/// [`Error::InvalidInput`] on `field` when `text` is not a cursor this engine wrote.
pub(crate) fn decode(field: &'static str, text: &str) -> Result<ListPosition> {
    let invalid = || Error::invalid(field, "must be a cursor returned in pagination.next_cursor");
    // Checked before decoding, so a huge value costs nothing.
    if text.len() != 34 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let bytes: [u8; LEN] = bytes.try_into().map_err(|_| invalid())?;
    if bytes[0] != VERSION {
        return Err(invalid());
    }
    let mut millis = [0u8; 8];
    millis.copy_from_slice(&bytes[1..9]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[9..]);
    Ok(ListPosition {
        created_at: Timestamp::from_millis(i64::from_be_bytes(millis)),
        id: ContactId(uuid::Uuid::from_bytes(id)),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every position survives the round trip, and its cursor needs no escaping
        /// in a URL.
        #[test]
        fn round_trips(millis in any::<i64>(), id in any::<u128>()) {
            let position = ListPosition {
                created_at: Timestamp::from_millis(millis),
                id: ContactId(uuid::Uuid::from_u128(id)),
            };
            let text = encode(position);
            prop_assert_eq!(text.len(), 34);
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(decode("after", &text)?, position);
        }

        /// Anything else is refused with the field named, never a panic.
        #[test]
        fn refuses_garbage(text in ".{0,40}") {
            if let Err(e) = decode("after", &text) {
                prop_assert!(e.to_string().contains("after"), "{}", e);
            }
        }
    }

    #[test]
    fn refuses_other_versions_and_lengths() {
        let good = encode(ListPosition {
            created_at: Timestamp::from_millis(1),
            id: ContactId(uuid::Uuid::nil()),
        });
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[0] = 2;
        assert!(decode("after", &URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        assert!(decode("after", &good[..33]).is_err());
        assert!(decode("after", &format!("{good}A")).is_err());
        assert!(decode("after", "").is_err());
    }
}
