//! Twin of `shaders/relu.wgsl`.

/// Forward (`dy` = `None`) or backward of the rectifier.
pub fn relu(x: &[f32], dy: Option<&[f32]>, out: &mut [f32]) {
    for i in 0..out.len() {
        let v = x[i];
        out[i] = match dy {
            None => crate::cpu::common::rectify(v),
            Some(d) => {
                if v > 0.0 {
                    d[i]
                } else {
                    0.0
                }
            }
        };
    }
}
