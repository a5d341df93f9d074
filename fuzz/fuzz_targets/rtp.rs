#![no_main]
//! Fuzz target: see voxdial::sip::fuzzing::rtp.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    voxdial::sip::fuzzing::rtp(data);
});
