//! Replays the handshake fuzz corpus (`fuzz/corpus/handshake`) with ordinary `cargo
//! test`, so every input the fuzzer kept is checked on stable Rust too.

#[path = "../fuzz/check_handshake.rs"]
mod check_handshake;

#[test]
fn every_corpus_input_holds_the_handshake_property() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/handshake");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus is committed") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("read corpus input");
        check_handshake::check(&data);
        inputs += 1;
    }
    assert!(inputs > 0, "the corpus at {dir:?} is empty");
}
