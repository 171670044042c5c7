//! Fuzz the `shm:` handshake's decoders: `cargo +nightly fuzz run handshake` (from
//! crates/ipclane).
#![no_main]

#[path = "../check_handshake.rs"]
mod check_handshake;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check_handshake::check(data));
