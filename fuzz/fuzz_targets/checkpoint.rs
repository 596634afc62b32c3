//! Checkpoint parsing (safetensors header, JSON metadata, tensors): a checkpoint or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    octet::fuzzing::checkpoint(data);
});
