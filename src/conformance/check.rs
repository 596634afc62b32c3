//! The comparison every case ends in: GPU output against the twin's, exactly or within a
//! tolerance, keeping the first mismatch and the worst error relative to the tolerance.

use super::CaseResult;

/// What one case has found so far.
pub(super) struct Check {
    /// Worst deviation so far as a fraction of its tolerance.
    pub(super) max_error: f64,
    /// The first mismatch (empty while there is none).
    detail: String,
}

impl Check {
    /// A case with nothing found yet.
    pub(super) fn new() -> Self {
        Check {
            max_error: 0.0,
            detail: String::new(),
        }
    }

    /// Records a mismatch; only the first is reported.
    pub(super) fn fail(&mut self, what: String) {
        if self.detail.is_empty() {
            self.detail = what;
        }
    }

    /// Every element equal.
    pub(super) fn exact<T: PartialEq + std::fmt::Debug>(
        &mut self,
        name: &str,
        gpu: &[T],
        twin: &[T],
    ) {
        if let Some(i) = (0..gpu.len().min(twin.len())).find(|&i| gpu[i] != twin[i]) {
            self.fail(format!(
                "{name}[{i}]: gpu {:?} != twin {:?}",
                gpu[i], twin[i]
            ));
        }
    }

    /// Every float the same bits (NaN payloads and signed zeros included).
    pub(super) fn exact_f32(&mut self, name: &str, gpu: &[f32], twin: &[f32]) {
        let g: Vec<u32> = gpu.iter().map(|v| v.to_bits()).collect();
        let t: Vec<u32> = twin.iter().map(|v| v.to_bits()).collect();
        if let Some(i) = (0..g.len().min(t.len())).find(|&i| g[i] != t[i]) {
            self.fail(format!(
                "{name}[{i}]: gpu {:e} != twin {:e} (bits)",
                gpu[i], twin[i]
            ));
        }
    }

    /// |gpu − twin| ≤ tol · scale[i] for every i; records the worst |gpu − twin| / (tol · scale).
    pub(super) fn close(&mut self, name: &str, gpu: &[f32], twin: &[f32], scale: &[f32], tol: f64) {
        for i in 0..gpu.len().min(twin.len()) {
            let (g, t) = (gpu[i] as f64, twin[i] as f64);
            let s = (scale[i] as f64).max(f64::MIN_POSITIVE);
            let err = if g.to_bits() == t.to_bits() {
                0.0
            } else {
                (g - t).abs() / s
            };
            if err.is_nan() || err > tol {
                self.fail(format!(
                    "{name}[{i}]: gpu {g:e} vs twin {t:e} (tolerance {tol:e} × {s:e})"
                ));
            } else {
                self.max_error = self.max_error.max(err / tol);
            }
        }
    }

    /// Appends the case's result.
    pub(super) fn finish(self, kernel: &'static str, case: String, out: &mut Vec<CaseResult>) {
        out.push(CaseResult {
            kernel,
            case,
            passed: self.detail.is_empty(),
            max_error: self.max_error,
            detail: self.detail,
        });
    }
}
