//! Collectives for data-parallel training: the [`Collective`] interface over host slices, a
//! world of one process ([`Local`]), an MPI world (`Mpi`, with the cargo feature `mpi`), and the
//! gradient exchanges built on them ([`exchange`]).
//!
//! octet does not implement transport: MPI (MPICH, Open MPI, a vendor's) moves the bytes, tunes
//! its collectives and launches the processes (`mpiexec`, Slurm's `srun`). The exchanges use
//! all-to-all and all-gather rather than MPI's all-reduce, so that every sum is taken by one
//! rank in rank order and every rank ends with the same bits.

pub mod exchange;
#[cfg(feature = "mpi")]
mod mpi;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
pub use exchange::{Exchange, ExchangeStats};

use crate::error::Result;

/// The collective operations data-parallel training needs, over host slices. Every rank calls
/// each operation in the same order with slices of the same lengths.
pub trait Collective {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// Processes in the world.
    fn size(&self) -> usize;
    /// `buf` on every rank becomes `buf` of rank `root`.
    fn broadcast(&self, root: usize, buf: &mut [u8]) -> Result<()>;
    /// `recv[i] = Σ_ranks send[i]` on every rank (for counts and metrics: f64 sums of small
    /// integers are exact in any order).
    fn all_reduce_sum(&self, send: &[f64], recv: &mut [f64]) -> Result<()>;
    /// `recv` = every rank's `send`, concatenated in rank order (`recv.len() = size · send.len()`).
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) -> Result<()>;
    /// `send` cut into `size` equal blocks, block `r` going to rank `r`; `recv` = the blocks
    /// each rank sent this one, in rank order (`recv.len() = send.len()`).
    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) -> Result<()>;
    /// Ends every process of the world with exit code `code`: for a rank that cannot go on
    /// while the others may be waiting for it in a collective.
    fn abort(&self, code: i32) -> !;
}

/// A world of one process: every collective is a copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn broadcast(&self, _root: usize, _buf: &mut [u8]) -> Result<()> {
        Ok(())
    }

    fn all_reduce_sum(&self, send: &[f64], recv: &mut [f64]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }

    fn all_gather(&self, send: &[u8], recv: &mut [u8]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }

    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}
