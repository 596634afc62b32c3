//! PyTorch `state_dict` import (safetensors header, names, dtypes, shapes): tensors or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    octet::fuzzing::weights(data);
});
