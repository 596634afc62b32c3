//! CIFAR-10 batch parsing: any bytes give records or a typed error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    octet::fuzzing::cifar(data);
});
