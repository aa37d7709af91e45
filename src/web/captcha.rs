//! The verification code ("Mã xác nhận"): six digits drawn as a noisy PNG, and a text
//! alternative for people who cannot see the picture (the digits spelled out in Vietnamese,
//! as a separate challenge). Challenges live in the database, are bound to the session, expire
//! after ten minutes and are consumed by the first attempt. The code is a speed bump for bots;
//! the rate limits are the real brake.

use rand::Rng;

pub const DIGITS: usize = 6;
pub const TTL_MS: i64 = 10 * 60 * 1000;

/// 5×7 bitmaps of the digits 0–9 (one row per byte, low 5 bits, MSB on the left).
const FONT: [[u8; 7]; 10] = [
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
];

const WORDS: [&str; 10] = [
    "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
];

pub fn new_answer() -> String {
    let mut rng = rand::rng();
    (0..DIGITS)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The digits spelled out: "bốn, bảy, hai, chín, năm, ba".
pub fn spelled(answer: &str) -> String {
    answer
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| WORDS[d as usize])
        .collect::<Vec<_>>()
        .join(", ")
}

/// Normalises what the person typed: keeps digits only (spaces and dashes are forgiven).
pub fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(16)
        .collect()
}

/// Draws the digits as a 200×70 grayscale PNG with jitter, shear and noise.
pub fn render_png(answer: &str) -> Vec<u8> {
    const W: usize = 200;
    const H: usize = 70;
    let mut rng = rand::rng();
    let mut px = vec![245u8; W * H];
    // Background speckle.
    for p in px.iter_mut() {
        if rng.random_range(0..100) < 12 {
            *p = rng.random_range(170..230);
        }
    }
    let scale = 4usize;
    for (i, c) in answer.chars().enumerate() {
        let Some(d) = c.to_digit(10) else { continue };
        let glyph = FONT[d as usize];
        let x0 = 14 + i * 30 + rng.random_range(0..6);
        let y0 = 10 + rng.random_range(0..16);
        let shear: i32 = rng.random_range(-2..=2);
        let ink: u8 = rng.random_range(10..70);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let y = y0 + row * scale + dy;
                        let offset = shear * (row as i32 - 3) / 2;
                        let x = (x0 + col * scale + dx) as i32 + offset;
                        if (0..W as i32).contains(&x) && y < H {
                            px[y * W + x as usize] = ink;
                        }
                    }
                }
            }
        }
    }
    // Crossing lines.
    for _ in 0..3 {
        let (mut x, mut y) = (0f32, rng.random_range(10.0..60.0f32));
        let slope: f32 = rng.random_range(-0.3..0.3);
        while (x as usize) < W {
            let yi = y as usize;
            if yi < H {
                px[yi * W + x as usize] = 90;
            }
            x += 1.0;
            y += slope;
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, W as u32, H as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let written = enc.write_header().and_then(|mut w| w.write_image_data(&px));
        if let Err(e) = written {
            tracing::error!(error = %e, "captcha PNG encoding failed");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_words() {
        let a = new_answer();
        assert_eq!(a.len(), DIGITS);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(spelled("4729"), "bốn, bảy, hai, chín");
        assert_eq!(normalise(" 47-29 53 "), "472953");
    }

    #[test]
    fn png_is_valid() {
        let png = render_png("123456");
        assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
        assert!(png.len() > 500);
    }
}
