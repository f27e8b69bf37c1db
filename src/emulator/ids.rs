//! Connection ids shaped like API Gateway's: 16 characters of URL-safe base64 (`-` and `_`,
//! never `+` or `/`) ending in `=`, such as `VNRXVFJOywMF3-Q=`; backends validate them that way.

use base64::Engine;
use rand::RngCore;

pub fn new_connection_id() -> String {
    // 11 random bytes encode to 15 characters plus one `=` of padding, like `L0SM9cOFvHcCIhw=`.
    let mut bytes = [0u8; 11];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_look_like_aws_ones() {
        for _ in 0..100 {
            let id = super::new_connection_id();
            assert_eq!(id.len(), 16);
            assert!(id.ends_with('='));
            assert!(!id.ends_with("=="));
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=')),
                "{id}"
            );
        }
    }
}
