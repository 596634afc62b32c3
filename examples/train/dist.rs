//! `--distributed`: this process as one rank of a data-parallel run on MPI (built with
//! `--features mpi`, started by `mpiexec` or `srun`; started alone, a world of one).

use octet::dist::{Collective, Exchange};

use crate::AnyResult;
use crate::args::{Args, ExchangeArg};

/// The world this process trains in.
pub struct World {
    pub comm: Box<dyn Collective>,
    pub exchange: Exchange,
}

impl World {
    /// Whether this rank writes checkpoints, reports and progress (rank 0 only).
    pub fn leads(world: Option<&World>) -> bool {
        world.is_none_or(|w| w.comm.rank() == 0)
    }
}

/// The MPI world of `--distributed`, or none.
pub fn world(args: &Args) -> AnyResult<Option<World>> {
    if !args.distributed {
        return Ok(None);
    }
    let exchange = match args.exchange {
        ExchangeArg::F32 => Exchange::F32,
        ExchangeArg::Int8 => Exchange::Int8,
    };
    Ok(Some(World {
        comm: mpi_world()?,
        exchange,
    }))
}

#[cfg(feature = "mpi")]
fn mpi_world() -> AnyResult<Box<dyn Collective>> {
    Ok(Box::new(octet::dist::Mpi::init()?))
}

#[cfg(not(feature = "mpi"))]
fn mpi_world() -> AnyResult<Box<dyn Collective>> {
    Err(
        "--distributed needs MPI: build with `cargo build --release --features mpi --example \
         train` (MPICH or Open MPI and libclang installed) and start it with mpiexec"
            .into(),
    )
}
