#![no_main]
//! The properties of `platform_http1::checks::response_head` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    platform_http1::checks::response_head(data);
});
