#![no_main]
//! The properties of `platform_http1::checks::chunked` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    platform_http1::checks::chunked(data);
});
