//! The MPI world (cargo feature `mpi`): [`Collective`] on the `mpi` crate (rsmpi) and whatever
//! MPI library it was built against.

use ::mpi::Threading;
use ::mpi::collective::SystemOperation;
use ::mpi::environment::Universe;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::{Communicator, CommunicatorCollectives, Root};

use super::Collective;
use crate::error::{Error, Result};

/// `MPI_COMM_WORLD`. A process started without `mpiexec` is a world of one. MPI's default
/// error handler ends the whole job when a rank fails, so a collective never waits on a
/// process that died.
pub struct Mpi {
    world: SimpleCommunicator,
    /// Finalizes MPI when dropped; kept after `world` so it drops last.
    _universe: Universe,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .finish()
    }
}

impl Mpi {
    /// Initializes MPI; fails if it was initialized before in this process. Only the thread
    /// that calls this may call MPI (the driver's and wgpu's own threads never do).
    pub fn init() -> Result<Self> {
        let (universe, _) =
            ::mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
                Error::invalid("Mpi::init", "MPI is already initialized in this process")
            })?;
        Ok(Mpi {
            world: universe.world(),
            _universe: universe,
        })
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn broadcast(&self, root: usize, buf: &mut [u8]) -> Result<()> {
        self.world.process_at_rank(root as i32).broadcast_into(buf);
        Ok(())
    }

    fn all_reduce_sum(&self, send: &[f64], recv: &mut [f64]) -> Result<()> {
        self.world
            .all_reduce_into(send, recv, SystemOperation::sum());
        Ok(())
    }

    fn all_gather(&self, send: &[u8], recv: &mut [u8]) -> Result<()> {
        self.world.all_gather_into(send, recv);
        Ok(())
    }

    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) -> Result<()> {
        self.world.all_to_all_into(send, recv);
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
