//! Case grids more than one suite walks.

use crate::ops::ChannelAxis;

/// Every channel axis a quantized tensor can have.
pub(super) const AXES: [ChannelAxis; 3] =
    [ChannelAxis::Tensor, ChannelAxis::Rows, ChannelAxis::Cols];

/// `(m, n, k)` of the GEMM cases: degenerate, odd, tile-sized and split-K shapes.
pub(super) const GEMM_SHAPES: &[(u32, u32, u32)] = &[
    (1, 1, 1),
    (3, 5, 7),
    (5, 17, 33),
    (17, 3, 129),
    (129, 65, 5),
    (64, 64, 64),
    (65, 63, 257),
    // Whole wide tiles (every slice inside the matrix: no edge checks) and several workgroups
    // with partial ones.
    (128, 64, 64),
    (130, 136, 100),
    // Past gemm_f32's split-K chunk (16384): partials and gemm_reduce on both GEMMs.
    (3, 5, 40_000),
];

/// `(trans_a, trans_b)`: every operand layout.
pub(super) const TRANSPOSES: [(bool, bool); 4] =
    [(false, false), (false, true), (true, false), (true, true)];
