use bytes::{BufMut as _, Bytes, BytesMut};
use http_body::Frame;
use http_body_util::BodyExt as _;
use platform_testkit::grpc_frames::{frame, frames};
use platform_testkit::gzip::{gunzip, gz};

use super::*;

#[test]
fn compressed_messages_are_inflated_and_plain_ones_kept() {
    let mut body = frame(0, b"first");
    body.extend(frame(1, &gz(b"hello")));
    body.extend(frame(0, b"plain"));
    let out = inflate_messages(Bytes::from(body), 1024, true).expect("inflated");
    assert_eq!(
        frames(&out),
        vec![
            (0, b"first".to_vec()),
            (0, b"hello".to_vec()),
            (0, b"plain".to_vec())
        ]
    );
    // Nothing compressed: the body as it came.
    let plain = Bytes::from(frame(0, b"plain"));
    let out = inflate_messages(plain.clone(), 1024, false).expect("plain");
    assert_eq!(out.as_ptr(), plain.as_ptr(), "not copied");
}

#[test]
fn a_bomb_stops_at_the_limit() {
    let body = frame(1, &gz(&vec![0u8; 64 * 1024 * 1024]));
    assert!(body.len() < 100 * 1024);
    assert_eq!(
        inflate_messages(Bytes::from(body), 4 * 1024 * 1024, true),
        Err(Inflate::TooLarge)
    );
    // A plain message over the limit is refused too, with or without gzip.
    for gzip in [false, true] {
        let plain = frame(0, &[7u8; 2048]);
        assert_eq!(
            inflate_messages(Bytes::from(plain), 1024, gzip),
            Err(Inflate::TooLarge)
        );
    }
}

#[test]
fn the_limit_holds_for_all_the_messages_of_a_call_together() {
    // Many small bombs, each under the limit: together far past it.
    let one = frame(1, &gz(&vec![0u8; 1024 * 1024]));
    let body: Vec<u8> = std::iter::repeat_n(one, 64).flatten().collect();
    assert!(body.len() < 128 * 1024, "{}", body.len());
    assert_eq!(
        inflate_messages(Bytes::from(body), 4 * 1024 * 1024, true),
        Err(Inflate::TooLarge)
    );
    let mut body = frame(0, &[1u8; 600]);
    body.extend(frame(0, &[2u8; 600]));
    assert_eq!(
        inflate_messages(Bytes::from(body), 1024, false),
        Err(Inflate::TooLarge)
    );
}

#[test]
fn corrupt_cut_short_or_wrongly_flagged_is_refused() {
    for (body, gzip) in [
        (frame(1, b"not gzip"), true),
        (frame(0, b"hello")[..7].to_vec(), true),
        (vec![0, 0], true),
        // Compressed without grpc-encoding: gzip; a flag that means nothing.
        (frame(1, &gz(b"hello")), false),
        (frame(2, b"hello"), true),
        (frame(0x80, b"hello"), true),
    ] {
        assert_eq!(
            inflate_messages(Bytes::from(body.clone()), 1024, gzip),
            Err(Inflate::Corrupt),
            "{body:?} gzip {gzip}"
        );
    }
}

#[test]
fn the_accept_list_is_read() {
    assert!(lists_gzip(b"gzip"));
    assert!(lists_gzip(b"identity, deflate,GZIP"));
    assert!(!lists_gzip(b"identity,deflate"));
    assert!(!lists_gzip(b"gzipx"));
}

/// A body that yields the given frames, one per poll.
struct Chunks(std::collections::VecDeque<Frame<Bytes>>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn chunks(frames: Vec<Frame<Bytes>>) -> Body {
    Body::new(Chunks(frames.into()))
}

#[tokio::test]
async fn large_messages_are_gzipped_across_split_frames_and_trailers_kept() {
    let big = vec![b'a'; 4096];
    let mut wire = frame(0, &big);
    wire.extend(frame(0, b"small"));
    // Split mid-prefix and mid-message.
    let (a, rest) = wire.split_at(3);
    let (b, c) = rest.split_at(2000);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let body = chunks(vec![
        Frame::data(Bytes::copy_from_slice(a)),
        Frame::data(Bytes::copy_from_slice(b)),
        Frame::data(Bytes::copy_from_slice(c)),
        Frame::trailers(trailers),
    ]);
    let collected = Compressing::new(body, 1024).collect().await.expect("body");
    assert_eq!(collected.trailers().expect("trailers")["grpc-status"], "0");
    let out = frames(&collected.to_bytes());
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, 1, "the large message is compressed");
    assert!(out[0].1.len() < 200);
    assert_eq!(gunzip(&out[0].1), big);
    assert_eq!(out[1], (0, b"small".to_vec()), "the small one is not");
}

#[tokio::test]
async fn a_message_gzip_would_not_shrink_is_sent_as_it_is() {
    // Incompressible bytes (a xorshift sequence): gzip would only add its overhead.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let body = chunks(vec![Frame::data(Bytes::from(frame(0, &noise)))]);
    let collected = Compressing::new(body, 1024).collect().await.expect("body");
    assert_eq!(frames(&collected.to_bytes()), vec![(0, noise)]);
}

#[tokio::test]
async fn a_message_cut_short_passes_as_it_came() {
    let mut wire = BytesMut::new();
    wire.put_slice(&frame(0, &[1u8; 10])[..8]);
    let body = chunks(vec![Frame::data(wire.clone().freeze())]);
    let collected = Compressing::new(body, 0).collect().await.expect("body");
    assert_eq!(collected.to_bytes(), wire.freeze());
}
