#![no_main]
//! Fuzz target: see voxdial::sip::fuzzing::reason.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::sip::fuzzing::reason(data);
});
