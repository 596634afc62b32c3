//! Image folders: `DIR/train/<class>/` and `DIR/test/<class>/` of PNG or JPEG files, decoded
//! with the `image` crate into the same NHWC, [0, 1] data sets as the IDX and CIFAR loaders.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};

use crate::data::{Dataset, Splits};
use crate::error::{Error, Result};

/// How the images of a folder become a model's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Height and width of every image after resizing and centre-cropping [default: the first
    /// training image's].
    pub size: Option<[u32; 2]>,
    /// 1 (grayscale) or 3 (RGB) [default: 1 when the first training image is grayscale, else 3].
    pub channels: Option<u32>,
}

/// A data set read from image folders, with its class names.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolders {
    /// The training and test splits.
    pub splits: Splits,
    /// The class of each label: the folder names of `DIR/train`, sorted.
    pub classes: Vec<String>,
}

/// Whether `dir` has the `train` and `test` folders [`load_image_folders`] reads.
pub fn is_image_folder(dir: &Path) -> bool {
    dir.join("train").is_dir() && dir.join("test").is_dir()
}

/// Reads `dir/train/<class>/*` and `dir/test/<class>/*` (PNG or JPEG, recognized by their
/// contents; files whose names start with `.` are skipped).
///
/// - Labels: the class folders of `dir/train` sorted by name are labels 0, 1, …; `dir/test`
///   may lack a class but not add one.
/// - Order: files sorted by file name (then by class), across the classes, so files named by
///   their index keep a data set's original order.
/// - Pixels: scaled to [0, 1] (`v / 255`, 16-bit images first reduced to 8 bits), grayscale
///   or RGB as [`ImageOptions::channels`] says, NHWC. An image of another size is resized
///   (triangle filter) so that it covers the target size and then centre-cropped to it.
///
/// An unreadable or undecodable image stops the load with [`Error::Data`] naming the file.
pub fn load_image_folders(dir: &Path, options: &ImageOptions) -> Result<ImageFolders> {
    let train_dir = dir.join("train");
    let classes = class_folders(&train_dir)?;
    if classes.is_empty() {
        return Err(Error::data(
            &train_dir,
            "holds no class folders: expected train/<class>/ folders of PNG or JPEG images",
        ));
    }
    let train_files = listing(&train_dir, &classes, &train_dir)?;
    let test_dir = dir.join("test");
    let test_files = listing(&test_dir, &classes, &train_dir)?;
    let Some((first, _)) = train_files.first() else {
        return Err(Error::data(&train_dir, "holds no images"));
    };
    let first_image = decode(first)?;
    let (w, h) = first_image.dimensions();
    let size = options.size.unwrap_or([h, w]);
    let channels = options
        .channels
        .unwrap_or(match first_image.color().channel_count() {
            1 | 2 => 1,
            _ => 3,
        });
    if channels != 1 && channels != 3 {
        return Err(Error::invalid(
            "load_image_folders",
            format!("{channels} channels: images are read as 1 (grayscale) or 3 (RGB)"),
        ));
    }
    if size.contains(&0) {
        return Err(Error::invalid(
            "load_image_folders",
            format!("image size {size:?}: height and width must be at least 1"),
        ));
    }
    let shape = [size[0] as usize, size[1] as usize, channels as usize];
    // 8-bit pixels, kept as bytes: the trainer can hold the set on the device.
    let load = |files: &[(PathBuf, u32)]| -> Result<Dataset> {
        let mut bytes = Vec::with_capacity(files.len() * shape.iter().product::<usize>());
        let mut labels = Vec::with_capacity(files.len());
        for (path, label) in files {
            let image = fit(decode(path)?, size);
            if channels == 1 {
                bytes.extend_from_slice(image.to_luma8().as_raw());
            } else {
                bytes.extend_from_slice(image.to_rgb8().as_raw());
            }
            labels.push(*label);
        }
        Ok(Dataset::from_bytes(
            shape,
            classes.len() as u32,
            bytes,
            labels,
        ))
    };
    let splits = Splits {
        train: load(&train_files)?,
        test: load(&test_files)?,
    };
    if splits.test.is_empty() {
        return Err(Error::data(&test_dir, "holds no images"));
    }
    Ok(ImageFolders { splits, classes })
}

/// The sorted names of the folders in `dir`.
fn class_folders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Every image file under `dir/<class>/` with its label, in file-name order; a class folder
/// not among `classes` (read from `train_dir`) is an error.
fn listing(dir: &Path, classes: &[String], train_dir: &Path) -> Result<Vec<(PathBuf, u32)>> {
    let mut files = Vec::new();
    for class in class_folders(dir)? {
        let folder = dir.join(&class);
        let Some(label) = classes.iter().position(|c| *c == class) else {
            return Err(Error::data(
                &folder,
                format!(
                    "class `{class}` has no folder in {}: both splits need the same classes",
                    train_dir.display()
                ),
            ));
        };
        for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().is_file() {
                files.push((name, label as u32, entry.path()));
            }
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, l, p)| (p, l)).collect())
}

fn decode(path: &Path) -> Result<DynamicImage> {
    image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::data(path, format!("not a readable PNG or JPEG image: {e}")))
}

/// `image` resized to cover `[h, w]` (keeping its aspect ratio) and centre-cropped to it; an
/// image of that size already is returned as it is, so its pixels stay exact.
fn fit(image: DynamicImage, [h, w]: [u32; 2]) -> DynamicImage {
    let (iw, ih) = image.dimensions();
    if (iw, ih) == (w, h) {
        return image;
    }
    let scale = (w as f64 / iw as f64).max(h as f64 / ih as f64);
    let rw = ((iw as f64 * scale).ceil() as u32).max(w);
    let rh = ((ih as f64 * scale).ceil() as u32).max(h);
    let resized = image.resize_exact(rw, rh, FilterType::Triangle);
    resized.crop_imm((rw - w) / 2, (rh - h) / 2, w, h)
}
