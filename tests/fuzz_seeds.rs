//! The fuzz targets' seeds and minimised corpora (`tests/fuzz_seeds/<target>/`, from
//! `cargo fuzz cmin`) replayed as regression tests: each input must be handled — parsed or
//! refused with an error — without a panic. The fuzz runs themselves are documented in
//! `fuzz/README.md`.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_seeds")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: no seeds in {}", dir.display());
    n
}

#[test]
fn fuzz_seeds_replay_without_panics() {
    let counts = [
        ("idx", replay("idx", octet::fuzzing::idx)),
        ("cifar", replay("cifar", octet::fuzzing::cifar)),
        (
            "checkpoint",
            replay("checkpoint", octet::fuzzing::checkpoint),
        ),
        ("config", replay("config", octet::fuzzing::config)),
        ("weights", replay("weights", octet::fuzzing::weights)),
    ];
    eprintln!("replayed: {counts:?}");
}
