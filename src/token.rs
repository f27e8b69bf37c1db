//! Random tokens: the demo's admin token, doctor's end-to-end nonce.

/// 24 hex digits from the thread's CSPRNG: unguessable, and safe in URLs and headers.
pub fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
