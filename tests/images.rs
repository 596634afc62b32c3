//! Image folders: the embedded Fashion-MNIST subset written as PNG folders reads back as the
//! very data set of its IDX files and trains to the same bits; labels, order, resizing,
//! channels and bad files.

mod common;

use std::path::Path;

use common::{Needs, bits, for_each_adapter};
use octet::Error;
use octet::data::{
    Dataset, ImageOptions, is_image_folder, load_dir, load_image_folders, permutation,
};
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};

const EMBEDDED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

/// Writes `data` (grayscale, pixels `v / 255`) as `dir/<split>/class<label>/<row>.png`, rows
/// numbered so that file-name order is the data set's order.
fn write_pngs(dir: &Path, split: &str, data: &Dataset) {
    let [h, w, _] = data.shape;
    for (row, label) in data.y.iter().enumerate() {
        let folder = dir.join(split).join(format!("class{label}"));
        std::fs::create_dir_all(&folder).unwrap();
        let pixels: Vec<u8> = data.x[row * h * w..(row + 1) * h * w]
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        image::GrayImage::from_raw(w as u32, h as u32, pixels)
            .unwrap()
            .save(folder.join(format!("{row:05}.png")))
            .unwrap();
    }
}

/// A short LeNet-5 run (DAI8, one pass over the first 512 images) and its test accuracy.
fn train(ctx: &octet::Context, train: &Dataset, test: &Dataset) -> (Vec<u32>, f32) {
    let (mut train, mut test) = (train.clone(), test.clone());
    train.truncate(512);
    let (mean, std) = train.channel_moments();
    train.normalize(&mean, &std);
    test.normalize(&mean, &std);
    let spec = ModelSpec::lenet5(28, 28, 1, 10);
    let cfg = TrainConfig {
        batch: 32,
        ..Default::default()
    };
    let mut trainer = Trainer::new(ctx, &spec, Policy::dai8(), cfg).unwrap();
    let order = permutation(train.len(), 1, 0);
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    for s in 0..train.len() / 32 {
        train.gather(&order[s * 32..(s + 1) * 32], &mut xb, &mut yb);
        trainer.train_step(&xb, &yb).unwrap();
    }
    let losses = trainer
        .poll_metrics(true)
        .unwrap()
        .iter()
        .map(|m| m.loss.to_bits())
        .collect();
    (losses, trainer.evaluate(&test.x, &test.y).unwrap().1)
}

#[test]
fn png_folders_of_the_embedded_subset_train_as_its_idx_files_bit_for_bit() {
    let idx = load_dir(Path::new(EMBEDDED)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_pngs(dir.path(), "train", &idx.train);
    write_pngs(dir.path(), "test", &idx.test);
    assert!(is_image_folder(dir.path()));
    let folders = load_image_folders(dir.path(), &ImageOptions::default()).unwrap();
    let names: Vec<String> = (0..10).map(|c| format!("class{c}")).collect();
    assert_eq!(folders.classes, names);
    for (png, idx) in [
        (&folders.splits.train, &idx.train),
        (&folders.splits.test, &idx.test),
    ] {
        assert_eq!((png.shape, png.classes), (idx.shape, idx.classes));
        assert_eq!(png.y, idx.y);
        assert_eq!(bits(&png.x), bits(&idx.x));
    }
    // `load_dir` recognizes the folders too.
    assert_eq!(load_dir(dir.path()).unwrap(), folders.splits);
    for_each_adapter("image folders train", Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let from_idx = train(&ctx, &idx.train, &idx.test);
        let from_png = train(&ctx, &folders.splits.train, &folders.splits.test);
        assert_eq!(from_idx.0, from_png.0, "per-step losses");
        assert_eq!(from_idx.1.to_bits(), from_png.1.to_bits(), "test accuracy");
        eprintln!("test accuracy after 16 steps: {:.2}%", 100.0 * from_png.1);
    });
}

/// A `w × h` RGB image whose red channel is `x`, green `y` and blue `base`.
fn rgb(w: u32, h: u32, base: u8) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, base]))
}

#[test]
fn labels_order_resizing_and_channels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (split, class, file, base) in [
        ("train", "zebra", "b.png", 1),
        ("train", "apple", "c.jpg", 2),
        ("train", "apple", "a.png", 3),
        ("test", "zebra", "a.png", 4),
    ] {
        std::fs::create_dir_all(d.join(split).join(class)).unwrap();
        let path = d.join(split).join(class).join(file);
        rgb(40, 20, base).save(&path).unwrap();
    }
    // A hidden file is skipped.
    std::fs::write(d.join("train/apple/.DS_Store"), b"junk").unwrap();
    let options = ImageOptions {
        size: Some([10, 10]),
        channels: None,
    };
    let f = load_image_folders(d, &options).unwrap();
    assert_eq!(f.classes, ["apple", "zebra"]);
    let train = &f.splits.train;
    assert_eq!(train.shape, [10, 10, 3]);
    assert_eq!(train.classes, 2);
    // By file name across the classes: a.png (apple), b.png (zebra), c.jpg (apple).
    assert_eq!(train.y, [0, 1, 0]);
    assert_eq!(f.splits.test.y, [1]);
    // Resized to 20×10, the middle 10 columns kept: red runs over the middle of the
    // image's width, green over all its height, blue is the constant.
    let px = |row: usize, y: usize, x: usize, c: usize| train.x[row * 300 + (y * 10 + x) * 3 + c];
    assert!((px(0, 0, 0, 2) - 3.0 / 255.0).abs() < 1e-6);
    assert!(px(0, 5, 0, 0) > 8.0 / 255.0 && px(0, 5, 9, 0) < 32.0 / 255.0);
    assert!(px(0, 0, 5, 1) < 2.0 / 255.0 && px(0, 9, 5, 1) > 16.0 / 255.0);
    // Grayscale on request; by default the first image decides (RGB here).
    let gray = ImageOptions {
        size: None,
        channels: Some(1),
    };
    let g = load_image_folders(d, &gray).unwrap();
    assert_eq!(g.splits.train.shape, [20, 40, 1]);
}

#[test]
fn bad_folders_and_files_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for split in ["train", "test"] {
        std::fs::create_dir_all(d.join(split).join("cat")).unwrap();
        rgb(4, 4, 0).save(d.join(split).join("cat/a.png")).unwrap();
    }
    let bad = d.join("train/cat/b.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let err = load_image_folders(d, &ImageOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Data { file, .. } if *file == bad),
        "{err}"
    );
    assert!(err.to_string().contains("b.png"), "{err}");
    std::fs::remove_file(&bad).unwrap();
    // A class only in the test split.
    std::fs::create_dir_all(d.join("test/dog")).unwrap();
    let err = load_image_folders(d, &ImageOptions::default()).unwrap_err();
    assert!(err.to_string().contains("dog"), "{err}");
    std::fs::remove_dir(d.join("test/dog")).unwrap();
    // Neither 1 nor 3 channels.
    let two = ImageOptions {
        size: None,
        channels: Some(2),
    };
    assert!(matches!(
        load_image_folders(d, &two),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(
        load_image_folders(d, &ImageOptions::default())
            .unwrap()
            .splits
            .train
            .len(),
        1
    );
}
