//! Fuzz the frame decoder: `cargo +nightly fuzz run decode` (from crates/uds).
#![no_main]

#[path = "../check_decode.rs"]
mod check_decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check_decode::check(data));
