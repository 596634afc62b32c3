// softmax_xent: softmax cross-entropy over rows of logits [batch, classes] with integer labels,
// in FP32. Per row: loss = log(sum exp(l - max)) - (l[label] - max), dlogits = (softmax -
// onehot(label)) / batch (the gradient of the batch mean), and correct = (first argmax ==
// label). A label >= classes makes its row contribute nothing (loss 0, gradient 0, not
// correct); loaders reject such labels before they get here. One invocation per row.
// CPU twin: src/cpu/softmax_xent.rs.

const WG_SIZE: u32 = 256u;

// Mirrors `XentParams` in src/ops/softmax_xent.rs.
struct XentParams {
    batch: u32,
    classes: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: XentParams;
@group(0) @binding(1) var<storage> logits: array<f32>;
@group(0) @binding(2) var<storage> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> correct: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * WG_SIZE;
    if row >= params.batch {
        return;
    }
    let base = row * params.classes;
    let label = labels[row];
    var m = logits[base];
    var arg = 0u;
    for (var c = 1u; c < params.classes; c++) {
        let l = logits[base + c];
        if l > m {
            m = l;
            arg = c;
        }
    }
    var s = 0.0;
    for (var c = 0u; c < params.classes; c++) {
        s += exp(logits[base + c] - m);
    }
    let valid = label < params.classes;
    let inv_batch = 1.0 / f32(params.batch);
    for (var c = 0u; c < params.classes; c++) {
        let p = exp(logits[base + c] - m) / s;
        let target_p = select(0.0, 1.0, c == label);
        dlogits[base + c] = select(0.0, (p - target_p) * inv_batch, valid);
    }
    if valid {
        row_loss[row] = log(s) - (logits[base + label] - m);
        correct[row] = select(0u, 1u, arg == label);
    } else {
        row_loss[row] = 0.0;
        correct[row] = 0u;
    }
}
