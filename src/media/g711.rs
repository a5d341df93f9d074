//! G.711 µ-law and A-law (ITU-T G.711), the two codecs every SIP trunk speaks.
//!
//! Samples are 16-bit linear PCM. The µ-law side follows G.711 Table 2 on the
//! 14-bit range (the 16-bit input is scaled by 1/4 and clipped at 8159); the A-law
//! side follows Table 1 on the 13-bit range (scaled by 1/8). Decoding returns the
//! segment mid-point scaled back to 16 bits, which is what the ITU reference
//! implementation (G.191 `g711.c`) returns, so our output is bit-exact with it.

/// µ-law segment end points on the 14-bit magnitude scale (after the 33 bias).
const MU_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// A-law segment end points on the 13-bit magnitude scale.
const A_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encode one 16-bit sample to µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 2;
    let mask = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    pcm = pcm.min(8159) + 33;
    let seg = MU_SEG_END.iter().position(|&e| pcm <= e).unwrap_or(8);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let uval = ((seg as i32) << 4) | ((pcm >> (seg + 1)) & 0xF);
    (uval ^ mask) as u8
}

/// Decode one µ-law byte to a 16-bit sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let t = ((i32::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    let v = if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 };
    v as i16
}

/// Encode one 16-bit sample to A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = A_SEG_END.iter().position(|&e| pcm <= e).unwrap_or(8);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = (seg as i32) << 4;
    aval |= if seg < 2 {
        (pcm >> 1) & 0xF
    } else {
        (pcm >> seg) & 0xF
    };
    (aval ^ mask) as u8
}

/// Decode one A-law byte to a 16-bit sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// The two G.711 laws, as negotiated in SDP (payload types 0 and 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum G711 {
    /// PCMU, payload type 0: North America and Japan.
    Ulaw,
    /// PCMA, payload type 8: the rest of the world, China included.
    Alaw,
}

impl G711 {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Ulaw => 0,
            G711::Alaw => 8,
        }
    }

    /// The SDP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            G711::Ulaw => "PCMU",
            G711::Alaw => "PCMA",
        }
    }

    /// Encode a block of samples, appending to `out`.
    pub fn encode(self, pcm: &[i16], out: &mut Vec<u8>) {
        match self {
            G711::Ulaw => out.extend(pcm.iter().map(|&s| linear_to_ulaw(s))),
            G711::Alaw => out.extend(pcm.iter().map(|&s| linear_to_alaw(s))),
        }
    }

    /// Decode a block of codes, appending to `out`.
    pub fn decode(self, codes: &[u8], out: &mut Vec<i16>) {
        match self {
            G711::Ulaw => out.extend(codes.iter().map(|&c| ULAW_TABLE[usize::from(c)])),
            G711::Alaw => out.extend(codes.iter().map(|&c| ALAW_TABLE[usize::from(c)])),
        }
    }

    /// The code for digital silence (what comfort fill sends).
    pub fn silence(self) -> u8 {
        match self {
            G711::Ulaw => 0xFF,
            G711::Alaw => 0xD5,
        }
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if alaw {
            let a = c ^ 0x55;
            let mut v = ((a & 0x0F) as i32) << 4;
            let seg = (a & 0x70) >> 4;
            if seg == 0 {
                v += 8;
            } else {
                v += 0x108;
                if seg > 1 {
                    v <<= seg - 1;
                }
            }
            (if a & 0x80 != 0 { v } else { -v }) as i16
        } else {
            let u = !c;
            let v = ((((u & 0x0F) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
            (if u & 0x80 != 0 { 0x84 - v } else { v - 0x84 }) as i16
        };
        i += 1;
    }
    t
}

/// Decode tables, built at compile time from the same formulas as the scalar decoders.
static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

#[cfg(test)]
mod tests {
    use super::*;

    // Reference points from ITU-T G.711 Tables 1 and 2 and the G.191 reference code:
    // (code, decoded 16-bit value).
    const ULAW_REF: [(u8, i16); 8] = [
        (0xFF, 0),
        (0x7F, 0),
        (0x80, 32124),
        (0x00, -32124),
        (0xFE, 8),
        (0xEF, 132),
        (0xDF, 396),
        (0x8F, 16764),
    ];
    const ALAW_REF: [(u8, i16); 8] = [
        (0xD5, 8),
        (0x55, -8),
        (0xAA, 32256),
        (0x2A, -32256),
        (0xD4, 24),
        (0xC5, 264),
        (0xF5, 528),
        (0x85, 4224),
    ];

    #[test]
    fn decoders_match_the_itu_reference_points() {
        for (c, v) in ULAW_REF {
            assert_eq!(ulaw_to_linear(c), v, "µ-law {c:#04x}");
        }
        for (c, v) in ALAW_REF {
            assert_eq!(alaw_to_linear(c), v, "A-law {c:#04x}");
        }
    }

    #[test]
    fn tables_equal_the_scalar_decoders() {
        for c in 0..=255u8 {
            assert_eq!(ULAW_TABLE[usize::from(c)], ulaw_to_linear(c));
            assert_eq!(ALAW_TABLE[usize::from(c)], alaw_to_linear(c));
        }
    }

    #[test]
    fn every_code_round_trips_through_its_decoded_value() {
        for c in 0..=255u8 {
            let v = ulaw_to_linear(c);
            // 0x7F and 0xFF are -0 and +0: both decode to 0, which encodes as +0.
            let want = if c == 0x7F { 0xFF } else { c };
            assert_eq!(linear_to_ulaw(v), want, "µ-law {c:#04x} -> {v}");
            let v = alaw_to_linear(c);
            assert_eq!(linear_to_alaw(v), c, "A-law {c:#04x} -> {v}");
        }
    }

    #[test]
    fn encoders_are_monotonic_and_clip_at_full_scale() {
        let mut last_u = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        let mut last_a = alaw_to_linear(linear_to_alaw(i16::MIN));
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            assert!(u >= last_u && a >= last_a, "not monotonic at {s}");
            // Quantisation error stays within half the widest step (1024 for µ-law at 16 bits).
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= 1024,
                "µ-law error at {s}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= 1024,
                "A-law error at {s}"
            );
            last_u = u;
            last_a = a;
        }
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }
}
