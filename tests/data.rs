//! The IDX and CIFAR-10 loaders on files the tests write, good and bad: every problem is an
//! `Error::Data` that names the file and says what is wrong.

mod common;

use std::io::Write;
use std::path::Path;

use common::idx;
use octet::data::{load_cifar10, load_dir, load_idx, read_idx};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts a data error naming `file` whose message contains `needle`.
fn assert_data_error<T: std::fmt::Debug>(r: octet::Result<T>, file: &Path, needle: &str) {
    match r {
        Err(octet::Error::Data { file: f, problem }) => {
            assert_eq!(f, file, "{problem}");
            assert!(problem.contains(needle), "{problem:?} lacks {needle:?}");
        }
        other => panic!("expected a data error about {needle:?}, got {other:?}"),
    }
}

#[test]
fn idx_files_load_raw_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 4) as u8).collect();
    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &idx(&[3, 4, 5], &pixels),
    );
    write(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &gz(&idx(&[3], &[0, 9, 4])),
    );
    write(
        dir.path(),
        "t10k-images-idx3-ubyte.gz",
        &gz(&idx(&[1, 4, 5], &pixels[..20])),
    );
    write(dir.path(), "t10k-labels-idx1-ubyte", &idx(&[1], &[7]));
    let splits = load_dir(dir.path()).unwrap();
    assert_eq!(splits.train.shape, [4, 5, 1]);
    assert_eq!(splits.train.y, vec![0, 9, 4]);
    assert_eq!(splits.train.x[1], 4.0 / 255.0);
    assert_eq!(splits.train.x.len(), 60);
    assert_eq!(splits.test.y, vec![7]);
    assert_eq!(splits.test.classes, 10);
}

#[test]
fn the_embedded_fashion_mnist_subset_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist");
    let splits = load_dir(&dir).unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (10_000, 2_000));
    assert_eq!(splits.train.shape, [28, 28, 1]);
    // Fashion-MNIST is balanced: every class is present in both splits.
    for c in 0..10 {
        assert!(splits.train.y.iter().filter(|&&y| y == c).count() > 800);
        assert!(splits.test.y.contains(&c));
    }
}

#[test]
fn cifar10_batches_load_as_nhwc() {
    let dir = tempfile::tempdir().unwrap();
    let record = |label: u8, base: u8| {
        let mut r = vec![label];
        // Channel planes: R = base, G = base + 1, B = base + 2 everywhere.
        for c in 0..3u8 {
            r.extend(std::iter::repeat_n(base + c, 1024));
        }
        r
    };
    let train: Vec<u8> = [record(3, 10), record(9, 20)].concat();
    write(dir.path(), "data_batch_1.bin", &train);
    write(dir.path(), "data_batch_2.bin", &record(1, 30));
    write(dir.path(), "test_batch.bin", &record(0, 40));
    let splits = load_dir(dir.path()).unwrap();
    assert_eq!(splits.train.shape, [32, 32, 3]);
    assert_eq!(splits.train.y, vec![3, 9, 1]);
    assert_eq!(
        &splits.train.x[..3],
        &[10.0 / 255.0, 11.0 / 255.0, 12.0 / 255.0]
    );
    assert_eq!(
        splits.train.x[3072 + 5],
        22.0 / 255.0,
        "row 1, pixel 1, blue"
    );
    assert_eq!(splits.test.y, vec![0]);
}

#[test]
fn bad_idx_files_are_refused_with_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good_images = idx(&[2, 2, 2], &[1; 8]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "magic.idx",
            b"PK\x03\x04 zip file".to_vec(),
            "not an IDX file",
        ),
        (
            "type.idx",
            vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0],
            "type 0x0d",
        ),
        ("short.idx", good_images[..10].to_vec(), "truncated"),
        (
            "payload.idx",
            good_images[..good_images.len() - 3].to_vec(),
            "truncated",
        ),
        (
            "trailing.idx",
            [good_images.clone(), vec![0]].concat(),
            "trailing",
        ),
        ("huge.idx", idx(&[65535, 65535, 65535], &[]), "more than"),
        ("nodims.idx", vec![0, 0, 8, 0], "0 dimensions"),
        ("badgz.idx", vec![0x1f, 0x8b, 8, 0, 1, 2, 3], "decompress"),
        ("empty.idx", Vec::new(), "truncated"),
    ];
    for (name, bytes, needle) in cases {
        let p = write(d, name, &bytes);
        assert_data_error(read_idx(&p), &p, needle);
    }
    // Files that parse but do not fit together.
    let images = write(d, "images", &good_images);
    let labels3 = write(d, "labels3", &idx(&[3], &[0, 1, 2]));
    assert_data_error(load_idx(&images, &labels3), &labels3, "holds 3 labels");
    let labels_bad = write(d, "labels_bad", &idx(&[2], &[1, 10]));
    assert_data_error(
        load_idx(&images, &labels_bad),
        &labels_bad,
        "label 10 of row 1",
    );
    let flat = write(d, "flat", &idx(&[8], &[0; 8]));
    assert_data_error(load_idx(&flat, &labels3), &flat, "expected images");
    // A missing file is an I/O error naming it.
    match load_idx(&d.join("missing"), &labels3) {
        Err(octet::Error::Io { file, .. }) => assert_eq!(file, d.join("missing")),
        other => panic!("{other:?}"),
    }
    // A directory without a data set says what it looked for.
    let empty = tempfile::tempdir().unwrap();
    assert_data_error(load_dir(empty.path()), empty.path(), "no data set found");
}

#[test]
fn bad_cifar_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let short = write(dir.path(), "short.bin", &[0u8; 3072]);
    assert_data_error(
        load_cifar10(std::slice::from_ref(&short)),
        &short,
        "3073-byte records",
    );
    let mut rec = vec![10u8];
    rec.extend([0u8; 3072]);
    let label = write(dir.path(), "label.bin", &rec);
    assert_data_error(
        load_cifar10(std::slice::from_ref(&label)),
        &label,
        "label 10 of row 0",
    );
}
