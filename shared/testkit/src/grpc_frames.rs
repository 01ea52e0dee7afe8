//! gRPC's length-prefixed messages (a flag byte, a big-endian u32 length, the bytes), written
//! and read by hand, sharing no code with the servers: for the gRPC and gRPC-Web tests.

/// One message with its prefix.
pub fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// A body split into its (flag, message) pairs; a body cut short fails the test.
pub fn frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "a message prefix cut short: {body:?}");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(body.len() >= 5 + len, "a message cut short");
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    out
}
