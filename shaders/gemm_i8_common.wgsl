// Shared by gemm_i8.wgsl and gemm_i8_regs.wgsl (prepended after gemm_common.wgsl).

// Zero the bytes of the last K word that lie past K, so garbage padding cannot leak in.
fn k_tail_mask(k4: u32) -> u32 {
    let k4_total = (params.k + 3u) / 4u;
    let rem = params.k % 4u;
    if k4 == k4_total - 1u && rem != 0u {
        return (1u << (8u * rem)) - 1u;
    }
    return 0xffffffffu;
}

// Byte j of each of four words, gathered into one word (a 4x4 byte transpose, one column).
fn byte_column(w0: u32, w1: u32, w2: u32, w3: u32, j: u32) -> u32 {
    let s = 8u * j;
    return ((w0 >> s) & 0xffu) | (((w1 >> s) & 0xffu) << 8u) | (((w2 >> s) & 0xffu) << 16u)
        | (((w3 >> s) & 0xffu) << 24u);
}
