//! IDX and CIFAR-10 files: parsing with every size checked before anything is allocated, and
//! errors that name the file and say what is wrong.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// Classes of the IDX data sets octet reads (MNIST, Fashion-MNIST) and of CIFAR-10.
const CLASSES: u32 = 10;

/// Pixels of one CIFAR-10 image plane, and bytes of one record (label + three planes).
const PIXELS: usize = 32 * 32;
const RECORD: usize = 1 + 3 * PIXELS;

/// Largest data payload accepted from one file (a guard against absurd headers).
const MAX_PAYLOAD: u64 = 1 << 31;

/// A training and a test split.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    /// The training split.
    pub train: Dataset,
    /// The held-out test split.
    pub test: Dataset,
}

/// An IDX file's dimensions and unsigned-byte payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// `Π dims` bytes, row-major.
    pub data: Vec<u8>,
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// A reader over `bytes`, decompressing when they start with the gzip magic.
fn decoded(bytes: &[u8]) -> Box<dyn Read + '_> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    }
}

/// Reads exactly `n` bytes, or says how many there were.
fn read_exact(path: &Path, r: &mut dyn Read, n: u64, what: &str) -> Result<Vec<u8>> {
    // No capacity from the header: a lying header must not allocate what the file lacks (found
    // by fuzzing: an 11-byte file asked for 2 GiB). The vector grows with the bytes that come.
    let mut out = Vec::new();
    let got = r
        .take(n)
        .read_to_end(&mut out)
        .map_err(|e| Error::data(path, format!("cannot decompress: {e}")))?;
    if (got as u64) < n {
        return Err(Error::data(
            path,
            format!("truncated: the {what} needs {n} bytes, the file has {got}"),
        ));
    }
    Ok(out)
}

/// Parses an IDX file of unsigned bytes (raw or gzip): magic `00 00 08 D`, `D` big-endian
/// dimensions, then the payload.
pub fn read_idx(path: &Path) -> Result<Idx> {
    parse_idx(path, &read_file(path)?)
}

/// [`read_idx`] on bytes already in memory; `path` names them in errors.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<Idx> {
    let mut r = decoded(bytes);
    let magic = read_exact(path, &mut r, 4, "IDX header")?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::data(
            path,
            format!(
                "not an IDX file: it starts with {:02x} {:02x} {:02x} {:02x}, IDX files start \
                 with 00 00 08 <dimensions>",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != 0x08 {
        return Err(Error::data(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported: octet reads unsigned bytes (0x08), \
                 the MNIST layout",
                magic[2]
            ),
        ));
    }
    let ndims = magic[3] as u64;
    if ndims == 0 {
        return Err(Error::data(path, "IDX file with 0 dimensions"));
    }
    let header = read_exact(path, &mut r, 4 * ndims, "dimension list")?;
    let dims: Vec<usize> = header
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let payload = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= MAX_PAYLOAD)
        .ok_or_else(|| {
            Error::data(
                path,
                format!("dimensions {dims:?} describe more than {MAX_PAYLOAD} bytes"),
            )
        })?;
    let data = read_exact(path, &mut r, payload, &format!("{dims:?} payload"))?;
    let mut extra = [0u8; 1];
    if r.read(&mut extra)
        .map_err(|e| Error::data(path, e.to_string()))?
        > 0
    {
        return Err(Error::data(
            path,
            format!("trailing bytes after the {dims:?} payload: not a single IDX file"),
        ));
    }
    Ok(Idx { dims, data })
}

/// An image IDX file (`[n, h, w]`) and its label file (`[n]`, values 0–9) as a data set with
/// pixels scaled to [0, 1].
pub fn load_idx(images: &Path, labels: &Path) -> Result<Dataset> {
    parse_idx_pair(images, &read_file(images)?, labels, &read_file(labels)?)
}

/// [`load_idx`] on files already in memory (in a browser: fetched); the paths name them in
/// errors.
pub fn parse_idx_pair(
    images: &Path,
    image_bytes: &[u8],
    labels: &Path,
    label_bytes: &[u8],
) -> Result<Dataset> {
    let img = parse_idx(images, image_bytes)?;
    let lab = parse_idx(labels, label_bytes)?;
    let [n, h, w] = img.dims[..] else {
        return Err(Error::data(
            images,
            format!(
                "expected images [count, height, width], found dimensions {:?}",
                img.dims
            ),
        ));
    };
    if lab.dims.len() != 1 {
        return Err(Error::data(
            labels,
            format!("expected labels [count], found dimensions {:?}", lab.dims),
        ));
    }
    if lab.dims[0] != n {
        return Err(Error::data(
            labels,
            format!(
                "holds {} labels but {} holds {n} images",
                lab.dims[0],
                images.display()
            ),
        ));
    }
    if n == 0 || h == 0 || w == 0 {
        return Err(Error::data(images, "holds no images"));
    }
    let y = check_labels(labels, lab.data.iter().map(|&l| l as u32).collect(), 0)?;
    Ok(Dataset::from_bytes([h, w, 1], CLASSES, img.data, y))
}

fn check_labels(path: &Path, y: Vec<u32>, first_row: usize) -> Result<Vec<u32>> {
    if let Some((row, label)) = y.iter().enumerate().find(|(_, l)| **l >= CLASSES) {
        return Err(Error::data(
            path,
            format!(
                "label {label} of row {} is out of range: this data set has {CLASSES} classes \
                 (0–{})",
                first_row + row,
                CLASSES - 1
            ),
        ));
    }
    Ok(y)
}

/// CIFAR-10 binary batches (records of 1 label byte and 32×32×3 pixels, channel-planar) as
/// one NHWC data set with pixels scaled to [0, 1].
pub fn load_cifar10(files: &[PathBuf]) -> Result<Dataset> {
    let mut data = Dataset::from_bytes([32, 32, 3], CLASSES, Vec::new(), Vec::new());
    for path in files {
        append_cifar10(&mut data, path, &read_file(path)?)?;
    }
    Ok(data)
}

/// Appends the records of one CIFAR-10 binary batch (`bytes`, named `path` in errors) to `data`.
pub fn append_cifar10(data: &mut Dataset, path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::data(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte records (1 label + \
                 32×32×3 pixels): truncated, or not a CIFAR-10 binary batch",
                bytes.len()
            ),
        ));
    }
    let labels = bytes.chunks(RECORD).map(|r| r[0] as u32).collect();
    data.y.extend(check_labels(path, labels, data.y.len())?);
    // Without bytes (a set built otherwise) there is nothing to keep them in step with.
    let mut pixels = data.pixels.take();
    for record in bytes.chunks(RECORD) {
        let planes = &record[1..];
        for p in 0..PIXELS {
            for c in 0..3 {
                let b = planes[c * PIXELS + p];
                data.x.push(b as f32 / 255.0);
                if let Some(px) = &mut pixels {
                    px.bytes.push(b);
                }
            }
        }
    }
    data.pixels = pixels;
    Ok(())
}

/// The first of `names` that exists in `dir`.
fn find(dir: &Path, names: &[String]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Loads the data set in `dir`: Fashion-MNIST/MNIST IDX files (`train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-…`, each optionally `.gz`) or CIFAR-10's binary batches
/// (`data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`, directly in `dir` or in
/// `dir/cifar-10-batches-bin`), or image folders `train/<class>/` and `test/<class>/`
/// ([`load_image_folders`](crate::data::load_image_folders) with default options).
pub fn load_dir(dir: &Path) -> Result<Splits> {
    if crate::data::is_image_folder(dir) {
        let options = crate::data::ImageOptions::default();
        return Ok(crate::data::load_image_folders(dir, &options)?.splits);
    }
    let idx = |stem: &str| find(dir, &[stem.to_string(), format!("{stem}.gz")]);
    let idx_files = [
        idx("train-images-idx3-ubyte"),
        idx("train-labels-idx1-ubyte"),
        idx("t10k-images-idx3-ubyte"),
        idx("t10k-labels-idx1-ubyte"),
    ];
    if let [Some(ti), Some(tl), Some(ei), Some(el)] = &idx_files {
        return Ok(Splits {
            train: load_idx(ti, tl)?,
            test: load_idx(ei, el)?,
        });
    }
    for cifar in [dir.to_path_buf(), dir.join("cifar-10-batches-bin")] {
        let train: Vec<PathBuf> = (1..=5)
            .filter_map(|i| find(&cifar, &[format!("data_batch_{i}.bin")]))
            .collect();
        if let (false, Some(test)) = (train.is_empty(), find(&cifar, &["test_batch.bin".into()])) {
            return Ok(Splits {
                train: load_cifar10(&train)?,
                test: load_cifar10(&[test])?,
            });
        }
    }
    let missing = if idx_files.iter().any(Option::is_some) {
        " (some IDX files are there: all four are needed)"
    } else {
        ""
    };
    Err(Error::data(
        dir,
        format!(
            "no data set found{missing}: expected IDX files train-images-idx3-ubyte, \
             train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may \
             end in .gz), CIFAR-10 binary batches data_batch_1.bin … and test_batch.bin, or \
             folders train/<class>/ and test/<class>/ of PNG or JPEG images"
        ),
    ))
}
