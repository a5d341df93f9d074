#![no_main]
//! Fuzz target: see voxdial::sip::fuzzing::sdp.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::sip::fuzzing::sdp(data);
});
