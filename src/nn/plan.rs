//! Fusion, decided once when a model is built: which ReLU runs in the layer before it (a GEMM's
//! epilogue, a batch norm), which layer writes a ReLU's bit mask as it quantizes the ReLU's
//! output, which ReLU leaves its backward to the max-pooling or the Linear after it, which
//! max pooling leaves its backward to the convolution after it, and which block's last ReLU runs
//! in its residual add. The recording passes read the resulting
//! [`LayerPlan`]s; a probe records with [`LayerPlan::UNFUSED`] instead, every layer on its own.

use crate::abi::F32_K_CHUNK;
use crate::nn::layer::Layer;

/// Where a ReLU layer's forward runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ReluForward {
    /// A pass of its own, which writes its mask if it keeps one.
    #[default]
    OwnPass,
    /// In the layer before it (a GEMM's epilogue, a batch norm), which writes the ReLU's
    /// output; the mask, if the ReLU keeps one, is written by the next layer's quantization.
    InProducer,
}

/// Where a ReLU layer's backward runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ReluBackward {
    /// A pass of its own, from its mask or its output.
    #[default]
    OwnPass,
    /// In the max-pooling after it: the pool's forward marks windows whose maximum is not
    /// positive, and its backward routes them no gradient — exactly what the ReLU's backward
    /// would have zeroed.
    InPool,
    /// In the epilogue of the input-gradient GEMM of the Linear after it, which writes the
    /// ReLU's input gradient directly (gated by the ReLU's mask or output).
    InNextGemm,
}

/// How layer `i` of a model is recorded. Each fusion shows at every layer that records part of
/// it, so that a pass reads only its own layer's plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LayerPlan {
    /// A GEMM layer or batch norm that runs the ReLU after it ([`ReluForward::InProducer`]):
    /// it writes the ReLU's output, `acts[i + 2]`.
    pub(crate) runs_next_relu: bool,
    /// A GEMM layer or block that writes, as it quantizes its input, the bit mask of layer
    /// `k`'s ReLU: a ReLU layer's that ran in its producer, or a block's last ReLU's.
    pub(crate) writes_mask_of: Option<usize>,
    /// A ReLU's forward.
    pub(crate) relu_forward: ReluForward,
    /// A ReLU's backward.
    pub(crate) relu_backward: ReluBackward,
    /// A max-pooling that does the backward of the ReLU before it ([`ReluBackward::InPool`]).
    pub(crate) pool_after_relu: bool,
    /// A layer before a ReLU whose backward the pooling after that does: its output gradient
    /// is the pooling's input gradient, `grads[i + 2]`.
    pub(crate) grad_past_relu: bool,
    /// A block whose last ReLU runs in its residual add, its mask written by the next layer.
    pub(crate) block_relu_in_add: bool,
    /// A Linear whose input-gradient GEMM does the backward of the ReLU before it
    /// ([`ReluBackward::InNextGemm`]): it writes that ReLU's input gradient, `grads[i - 1]`.
    pub(crate) gates_prev_relu: bool,
    /// A max pooling whose backward the convolution after it does in its col2im.
    pub(crate) pool_in_next_col2im: bool,
    /// A convolution after a max pooling whose col2im does the pooling's backward: it writes
    /// the pooling's input gradient, `grads[i - 1]`.
    pub(crate) col2im_into_pool: bool,
}

impl LayerPlan {
    /// Every layer on its own.
    pub(crate) const UNFUSED: LayerPlan = LayerPlan {
        runs_next_relu: false,
        writes_mask_of: None,
        relu_forward: ReluForward::OwnPass,
        relu_backward: ReluBackward::OwnPass,
        pool_after_relu: false,
        grad_past_relu: false,
        block_relu_in_add: false,
        gates_prev_relu: false,
        pool_in_next_col2im: false,
        col2im_into_pool: false,
    };
}

/// Whether a ReLU followed by `after` keeps a bit mask for its backward: not when the next
/// layer is a max-pooling, which does that backward, or keeps the ReLU's output as its own
/// f32 input (an FP32 Linear, or FP32 convolution with implicit GEMMs), which the backward
/// then reads. A quantized layer keeps int8, which cannot tell small positives from 0.
pub(crate) fn needs_relu_mask(after: &[Layer]) -> bool {
    match after.iter().find(|l| !matches!(l, Layer::Flatten)) {
        Some(Layer::MaxPool(..)) => false,
        Some(Layer::Linear(l)) => l.is_quantized(),
        Some(Layer::Conv(c)) => !c.keeps_f32_input(),
        _ => true,
    }
}

/// The plan of each layer of `layers` (ReLU masks already allocated).
pub(crate) fn plan(layers: &[Layer]) -> Vec<LayerPlan> {
    let f = Fusions(layers);
    (0..layers.len())
        .map(|i| LayerPlan {
            runs_next_relu: f.relu_in_producer(i + 1),
            writes_mask_of: f.mask_written_by(i),
            relu_forward: if f.relu_in_producer(i) {
                ReluForward::InProducer
            } else {
                ReluForward::OwnPass
            },
            relu_backward: if f.relu_in_pool(i) {
                ReluBackward::InPool
            } else if f.relu_in_next_gemm(i) {
                ReluBackward::InNextGemm
            } else {
                ReluBackward::OwnPass
            },
            pool_after_relu: i > 0 && f.relu_in_pool(i - 1),
            grad_past_relu: f.relu_in_pool(i + 1),
            block_relu_in_add: f.block_masked_by_next(i),
            gates_prev_relu: i > 0 && f.relu_in_next_gemm(i - 1),
            pool_in_next_col2im: f.pool_in_next_col2im(i),
            col2im_into_pool: i > 0 && f.pool_in_next_col2im(i - 1),
        })
        .collect()
}

/// The fusion rules, asked of a model's layers.
struct Fusions<'a>(&'a [Layer]);

impl Fusions<'_> {
    /// Whether layer `i` is a ReLU that the layer before it can apply to its output (a GEMM
    /// layer in its epilogue, a batch norm): one without a mask to write, or whose mask the
    /// layer after it writes as it quantizes.
    fn relu_in_producer(&self, i: usize) -> bool {
        let relu = match self.0.get(i) {
            Some(Layer::Relu(None)) => true,
            Some(Layer::Relu(Some(_))) => self.mask_written_after(i),
            _ => false,
        };
        relu && i > 0
            && matches!(
                self.0[i - 1],
                Layer::Linear(_) | Layer::Conv(_) | Layer::BatchNorm(_)
            )
    }

    /// Whether layer `i` is a ReLU with a mask that the next layer (past a Flatten) can write
    /// as it quantizes the ReLU's output ([`Linear::marks_relu`], [`Conv2d::marks_relu`],
    /// [`BasicBlock::marks_relu`]).
    ///
    /// [`Linear::marks_relu`]: crate::nn::Linear::marks_relu
    /// [`Conv2d::marks_relu`]: crate::nn::Conv2d::marks_relu
    /// [`BasicBlock::marks_relu`]: crate::nn::BasicBlock::marks_relu
    fn mask_written_after(&self, i: usize) -> bool {
        let Some(Layer::Relu(Some(_))) = self.0.get(i) else {
            return false;
        };
        match self.0[i + 1..]
            .iter()
            .find(|l| !matches!(l, Layer::Flatten))
        {
            Some(Layer::Linear(l)) => l.marks_relu(),
            Some(Layer::Conv(c)) => c.marks_relu(),
            Some(Layer::Block(b)) => b.marks_relu(),
            _ => false,
        }
    }

    /// Whether block `i`'s last ReLU runs in its residual add, its mask written by the next
    /// layer: a block that can ([`BasicBlock::marks_relu`](crate::nn::BasicBlock::marks_relu)).
    fn block_masked_by_next(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(Layer::Block(_)))
            && matches!(self.0.get(i + 1), Some(Layer::Block(b)) if b.marks_relu())
    }

    /// The layer whose mask layer `i` (a GEMM layer or a block) writes as it quantizes its
    /// input: the ReLU before it (past a Flatten) when the ReLU ran in the layer before that,
    /// or the block before it, for its last ReLU.
    fn mask_written_by(&self, i: usize) -> Option<usize> {
        let r = (0..i)
            .rev()
            .find(|&k| !matches!(self.0[k], Layer::Flatten))?;
        let writes = match &self.0[r] {
            Layer::Block(_) => self.block_masked_by_next(r),
            _ => self.relu_in_producer(r) && self.mask_written_after(r),
        };
        writes.then_some(r)
    }

    /// Whether layer `i` is a ReLU (not the first layer, so its input gradient is wanted) whose
    /// backward the Linear right after it can do in its input-gradient GEMM's epilogue: one whose
    /// outputs (that GEMM's K) fit one split-K chunk, for the gated kernels take K whole.
    fn relu_in_next_gemm(&self, i: usize) -> bool {
        i > 0
            && matches!(self.0.get(i), Some(Layer::Relu(_)))
            && matches!(self.0.get(i + 1), Some(Layer::Linear(l)) if l.outputs <= F32_K_CHUNK)
    }

    /// Whether layer `i` is a max pooling (not the first layer, so its input gradient is wanted)
    /// whose backward the convolution right after it can do in its col2im.
    fn pool_in_next_col2im(&self, i: usize) -> bool {
        i > 0
            && matches!(self.0.get(i), Some(Layer::MaxPool(..)))
            && matches!(self.0.get(i + 1), Some(Layer::Conv(_)))
    }

    /// Whether layer `i` is a ReLU whose backward the max-pooling after it can do.
    fn relu_in_pool(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(Layer::Relu(_)))
            && matches!(self.0.get(i + 1), Some(Layer::MaxPool(..)))
    }
}
