//! Whole base64 quanta decoded 32 symbols at a time with AVX2 (the vector method of Muła and
//! Lemire, "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018): each block
//! of 32 symbols is checked and translated with nibble lookups, and its 24 bytes packed with
//! two multiply-adds and two shuffles. A block holding anything but the 64 symbols (a line
//! break, `=`, noise) is left to the byte-by-byte decoder, which finds where it stops.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Decodes the leading blocks of 32 symbols of `raw` (those with nothing else in them),
/// appending their bytes to `out`; returns how many bytes of `raw` they took (a multiple of
/// 32, 0 when the first block is not whole symbols or the processor has no AVX2).
pub(super) fn blocks(raw: &[u8], out: &mut Vec<u8>) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && raw.len() >= 32 {
        // SAFETY: AVX2 is present.
        return unsafe { blocks_avx2(raw, out) };
    }
    let _ = (raw, out);
    0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blocks_avx2(raw: &[u8], out: &mut Vec<u8>) -> usize {
    let n = raw.len() / 32;
    let lanes = |a: [i8; 16]| {
        // SAFETY: reading 16 bytes from a 16-byte array twice.
        unsafe { _mm256_loadu2_m128i(a.as_ptr().cast(), a.as_ptr().cast()) }
    };
    // For each low nibble, the high nibbles that make no symbol (one bit per class of high
    // nibble in `hi_classes`); a byte is a symbol when its two lookups share no bit.
    let lo_forbidden =
        lanes([0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A]);
    let hi_classes =
        lanes([0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10]);
    // What to add to a symbol for its value, by high nibble ('/' has its own: index 1).
    let roll = lanes([0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0]);
    let nibble = _mm256_set1_epi8(0x0f);
    let slash = _mm256_set1_epi8(b'/' as i8);
    let pack_pairs = _mm256_set1_epi32(0x0140_0140);
    let pack_quads = _mm256_set1_epi32(0x0001_1000);
    let order = lanes([2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1]);
    let compact = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
    let mut done = 0;
    while done < n {
        // SAFETY: `done < n`, so 32 bytes from `done * 32` are inside `raw`.
        let input = unsafe { _mm256_loadu_si256(raw.as_ptr().add(done * 32).cast()) };
        let hi = _mm256_and_si256(_mm256_srli_epi32(input, 4), nibble);
        let lo = _mm256_and_si256(input, nibble);
        let forbidden = _mm256_shuffle_epi8(lo_forbidden, lo);
        let class = _mm256_shuffle_epi8(hi_classes, hi);
        if _mm256_testz_si256(forbidden, class) == 0 {
            break;
        }
        let is_slash = _mm256_cmpeq_epi8(input, slash);
        let values = _mm256_add_epi8(input, _mm256_shuffle_epi8(roll, _mm256_add_epi8(is_slash, hi)));
        let pairs = _mm256_maddubs_epi16(values, pack_pairs);
        let quads = _mm256_madd_epi16(pairs, pack_quads);
        let bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, order), compact);
        // 32 bytes are stored, the first 24 decoded: straight into `out` when it has room for 32,
        // never growing it for the 8 others.
        let len = out.len();
        if out.capacity() - len >= 32 {
            // SAFETY: `out` has room for 32 bytes after its `len`; the first 24 are set.
            unsafe {
                _mm256_storeu_si256(out.as_mut_ptr().add(len).cast(), bytes);
                out.set_len(len + 24);
            }
        } else {
            let mut block = [0u8; 32];
            // SAFETY: `block` has 32 bytes.
            unsafe { _mm256_storeu_si256(block.as_mut_ptr().cast(), bytes) };
            out.extend_from_slice(&block[..24]);
        }
        done += 1;
    }
    done * 32
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mime::transfer::tests::reference;

    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2");
        #[allow(unreachable_code)]
        false
    }

    #[test]
    fn every_symbol_in_every_place_decodes_as_one_at_a_time() {
        if !avx2() {
            eprintln!("no AVX2 here: the byte-by-byte decoder does it all");
            return;
        }
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for shift in 0..64 {
            let block: Vec<u8> = (0..64).map(|i| alphabet[(i * 7 + shift) % 64]).collect();
            let mut out = Vec::new();
            assert_eq!(blocks(&block, &mut out), 64);
            assert_eq!(out, reference(&block), "shift {shift}");
        }
    }

    #[test]
    fn a_block_with_any_other_byte_anywhere_is_left_alone() {
        if !avx2() {
            return;
        }
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for byte in 0..=255u8 {
            let symbol = alphabet.contains(&byte);
            for at in 0..32 {
                let mut raw: Vec<u8> = (0..96).map(|i| alphabet[(i * 5 + 3) % 64]).collect();
                raw[32 + at] = byte;
                let mut out = Vec::with_capacity(if at % 2 == 0 { 1 } else { 200 });
                out.push(9u8);
                let used = blocks(&raw, &mut out);
                if symbol {
                    assert_eq!(used, 96, "{byte:#04x} at {at}");
                    assert_eq!(out[1..], reference(&raw)[..]);
                } else {
                    assert_eq!(used, 32, "{byte:#04x} at {at}: only the block before it");
                    assert_eq!(out[1..], reference(&raw[..32])[..], "{byte:#04x} at {at}");
                }
                assert_eq!(out[0], 9, "what was in `out` stays");
            }
        }
    }

    #[test]
    fn fewer_than_32_bytes_are_left_alone() {
        let mut out = Vec::new();
        assert_eq!(blocks(b"QUJDREVGR0hJSktMTU5PUFFSU1RV", &mut out), 0);
        assert!(out.is_empty());
    }
}
