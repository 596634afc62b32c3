//! Training configuration (model, policy, optimizer settings as JSON, as checkpoints carry
//! them): validated into shapes and schedules, or refused.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    octet::fuzzing::config(data);
});
