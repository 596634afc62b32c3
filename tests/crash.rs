//! A crash at any moment loses nothing: a training run that checkpoints every step is killed
//! with SIGKILL at 20 random moments — many of them inside a checkpoint write — and resumed
//! each time. The checkpoint on disk is always whole (never torn), and the final weights equal
//! those of an uninterrupted run with the same seed on the same backend.
//!
//! The test binary is its own child: `crash_child` (ignored unless `OCTET_CRASH_DIR` is set)
//! trains, resuming from the directory's checkpoint when there is one.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Needs, for_each_adapter};
use octet::checkpoint::Checkpoint;
use octet::data::Dataset;
use octet::nn::{ModelSpec, TensorRole};
use octet::quant::Policy;
use octet::rng::Gen;
use octet::train::{TrainConfig, Trainer};

const STEPS: u64 = 150;

fn spec() -> ModelSpec {
    ModelSpec {
        input: [12, 12, 1],
        // Wide enough that a checkpoint (weights and momentum, ~3 MB) takes a while to write,
        // so kills land inside writes too.
        ..ModelSpec::mlp(144, &[512, 512], 4)
    }
}

/// The child: train to `STEPS`, checkpointing after every step, from the checkpoint if any.
#[test]
#[ignore = "run by crash_at_any_moment as its child process"]
fn crash_child() {
    let Ok(dir) = std::env::var("OCTET_CRASH_DIR") else {
        return;
    };
    let path = Path::new(&dir).join("last.safetensors");
    let test = "crash_child";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let cfg = TrainConfig {
            batch: 8,
            lr: 0.05,
            ..Default::default()
        };
        let mut trainer = Trainer::new(&ctx, &spec(), Policy::ui8(), cfg).unwrap();
        if path.exists() {
            trainer.restore(&Checkpoint::load(&path).unwrap()).unwrap();
        }
        let data = Dataset::synthetic_images(8 * STEPS as usize, [12, 12, 1], 4, 0.5, 6);
        while trainer.step() < STEPS {
            let (x, y) = data.batch(trainer.step() as usize * 8, 8);
            trainer.train_step(x, y).unwrap();
            trainer.checkpoint().unwrap().save(&path).unwrap();
        }
    });
}

fn child(dir: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["crash_child", "--exact", "--ignored", "--test-threads=1"])
        .env("OCTET_CRASH_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn weights(dir: &Path) -> Vec<Vec<u32>> {
    let ckpt = Checkpoint::load(&dir.join("last.safetensors")).unwrap();
    assert_eq!(ckpt.step, STEPS);
    common::tensor_bits(&ckpt.tensors_of(TensorRole::Parameter))
}

/// Temporary files of interrupted (or ongoing) checkpoint writes in `dir`.
fn temporary_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn crash_at_any_moment() {
    // The reference: one uninterrupted run.
    let whole = tempfile::tempdir().unwrap();
    let started = Instant::now();
    assert!(child(whole.path()).status().unwrap().success());
    let per_step = started.elapsed() / STEPS as u32;
    let expected = weights(whole.path());

    let cut = tempfile::tempdir().unwrap();
    let path = cut.path().join("last.safetensors");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut g = Gen::new(77);
    let mut steps_seen = Vec::new();
    // 20 kills, every other one aimed at a write; then more aimed ones until a write has been
    // cut short (only some land in the write's short window, which ends with the rename).
    let mut kill = 0;
    while kill < 20 || (temporary_files(cut.path()) == 0 && kill < 60) {
        let aimed = kill % 2 == 1 || kill >= 20;
        let before = modified(&path);
        let mut running = child(cut.path()).spawn().unwrap();
        // Wait until this life has written a checkpoint (past its start-up), then kill it at a
        // random moment of the next few steps: in training, in a read-back or in a write.
        while modified(&path) == before && running.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let wait = per_step.mul_f32(3.0 * g.uniform());
        if !aimed {
            std::thread::sleep(wait);
        } else {
            // Aim at a write: kill as soon as this life's temporary checkpoint file appears.
            let tmp = cut
                .path()
                .join(format!(".last.safetensors.tmp-{}", running.id()));
            let deadline = Instant::now() + per_step * 10;
            while !tmp.exists() && Instant::now() < deadline {
                std::hint::spin_loop();
            }
        }
        running.kill().unwrap(); // SIGKILL on Unix
        running.wait().unwrap();
        // Whatever the moment, the checkpoint is whole.
        let ckpt = Checkpoint::load(&path)
            .unwrap_or_else(|e| panic!("kill {kill} after {wait:?}: torn checkpoint: {e}"));
        steps_seen.push(ckpt.step);
        kill += 1;
    }
    // A killed write leaves its temporary file behind (never the checkpoint itself).
    let torn_writes = temporary_files(cut.path());
    eprintln!(
        "checkpoints found after the kills, by step: {steps_seen:?}; writes cut short: {torn_writes}"
    );
    assert!(torn_writes > 0, "no kill landed inside a checkpoint write");
    let mid_run = steps_seen.iter().filter(|&&s| s > 0 && s < STEPS).count();
    assert!(
        mid_run >= 10,
        "only {mid_run} kills landed mid-run: {steps_seen:?}"
    );
    // Finish the interrupted run; it must end where the uninterrupted one did.
    let status = child(cut.path()).status().unwrap();
    assert!(status.success());
    assert!(
        weights(cut.path()) == expected,
        "resumed weights differ from the uninterrupted run"
    );
}
