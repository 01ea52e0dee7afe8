use super::*;

#[test]
fn inflate_stops_at_the_limit() {
    let data = vec![7u8; 10_000];
    let packed = gzip(&data);
    assert_eq!(inflate(&packed, 10_000).expect("at the limit"), data);
    assert_eq!(inflate(&packed, 9_999), Err(Inflate::TooLarge));
    assert_eq!(inflate(b"not gzip at all", 100), Err(Inflate::Corrupt));
    assert_eq!(
        inflate(&packed[..packed.len() / 2], 10_000),
        Err(Inflate::Corrupt)
    );
    // Two members (what concatenating gzip files gives) are one body.
    let mut two = gzip(b"ab");
    two.extend(gzip(b"cd"));
    assert_eq!(inflate(&two, 10).expect("two members"), b"abcd");
}

#[test]
fn a_bomb_never_inflates_past_the_limit() {
    // 64 MiB of zeros packs to about 64 KiB.
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
    assert_eq!(inflate(&bomb, 4 * 1024 * 1024), Err(Inflate::TooLarge));
}

#[test]
fn accept_encoding_lists_are_read_with_their_weights() {
    let takes = |v: &'static str| accepts_gzip(&HeaderValue::from_static(v));
    assert!(takes("gzip"));
    assert!(takes("br, GZIP;q=0.5"));
    assert!(takes("*"));
    assert!(takes("identity, gzip"));
    assert!(!takes("gzip;q=0"));
    assert!(!takes("br, deflate"));
    assert!(!takes("identity"));
}
