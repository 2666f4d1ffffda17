//! Real PNG images for the IMAGE and IMAGE_OPTIONS challenges, drawn in code so the sandbox
//! stays offline and deterministic: a captcha rendered with a tiny hand-made bitmap font, and
//! solid colour squares.
//!
//! The images never change, so each is encoded once per process and cached (this is constant
//! data, not per-connection state).

use base64::Engine as _;
use std::sync::OnceLock;

/// The code the captcha shows (and the answer the captcha bank expects).
pub const CAPTCHA_CODE: &str = "abc123";

/// Glyph size of the bitmap font, in font cells.
const GLYPH_WIDTH: usize = 5;
const GLYPH_HEIGHT: usize = 7;
/// Empty cells between two glyphs.
const GLYPH_SPACING: usize = 1;
/// Empty cells around the text.
const MARGIN: usize = 3;
/// Pixels per font cell.
const SCALE: usize = 5;

const INK: [u8; 3] = [28, 32, 64];
const PAPER: [u8; 3] = [246, 244, 236];
/// Faint speckles behind the text, light enough never to be mistaken for ink.
const SPECKLE: [u8; 3] = [214, 216, 228];

/// Side of the colour squares, in pixels.
const SQUARE_SIDE: usize = 48;
const SQUARE_BORDER: usize = 3;

/// One colour square of the picture-choice challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColourSquare {
    /// The value sent back when chosen.
    pub value: &'static str,
    /// The alt text shown to the user.
    pub label: &'static str,
    pub rgb: [u8; 3],
}

/// The squares offered by the picture-choice bank, in display order.
pub const COLOUR_SQUARES: [ColourSquare; 3] = [
    ColourSquare {
        value: "red",
        label: "Red",
        rgb: [214, 39, 40],
    },
    ColourSquare {
        value: "green",
        label: "Green",
        rgb: [44, 160, 44],
    },
    ColourSquare {
        value: "blue",
        label: "Blue",
        rgb: [31, 87, 214],
    },
];

/// A 5×7 glyph, one string per row, `#` for ink.
type Glyph = [&'static str; GLYPH_HEIGHT];

/// The hand-made font: only the characters the sandbox draws.
fn glyph(c: char) -> Option<Glyph> {
    let rows = match c {
        'a' => [
            ".....", ".....", ".###.", "....#", ".####", "#...#", ".####",
        ],
        'b' => [
            "#....", "#....", "####.", "#...#", "#...#", "#...#", "####.",
        ],
        'c' => [
            ".....", ".....", ".####", "#....", "#....", "#....", ".####",
        ],
        '1' => [
            "..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###.",
        ],
        '2' => [
            ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####",
        ],
        '3' => [
            "####.", "....#", "....#", ".###.", "....#", "....#", "####.",
        ],
        _ => return None,
    };
    Some(rows)
}

/// Why an image could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the sandbox font has no glyph for {0:?}")]
    MissingGlyph(char),
    #[error("PNG encoding failed: {0}")]
    Encoding(String),
}

/// A raw RGB image.
struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn filled(width: usize, height: usize, colour: [u8; 3]) -> Self {
        Canvas {
            width,
            height,
            rgb: colour.repeat(width * height),
        }
    }

    fn set(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < self.width && y < self.height {
            let at = (y * self.width + x) * 3;
            self.rgb[at..at + 3].copy_from_slice(&colour);
        }
    }

    fn fill_rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, colour: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.set(x, y, colour);
            }
        }
    }

    fn to_png(&self) -> Result<Vec<u8>, ImageError> {
        let encoding = |e: png::EncodingError| ImageError::Encoding(e.to_string());
        let width = u32::try_from(self.width).map_err(|e| ImageError::Encoding(e.to_string()))?;
        let height = u32::try_from(self.height).map_err(|e| ImageError::Encoding(e.to_string()))?;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(encoding)?;
        writer.write_image_data(&self.rgb).map_err(encoding)?;
        writer.finish().map_err(encoding)?;
        Ok(out)
    }
}

/// Draws `text` with the bitmap font, scaled up, dark on light, and encodes it as PNG.
pub fn render_text_png(text: &str) -> Result<Vec<u8>, ImageError> {
    let glyphs = text
        .chars()
        .map(|c| glyph(c).ok_or(ImageError::MissingGlyph(c)))
        .collect::<Result<Vec<_>, _>>()?;
    let text_cells = glyphs.len() * (GLYPH_WIDTH + GLYPH_SPACING) - GLYPH_SPACING.min(glyphs.len());
    let width = (2 * MARGIN + text_cells) * SCALE;
    let height = (2 * MARGIN + GLYPH_HEIGHT) * SCALE;
    let mut canvas = Canvas::filled(width, height, PAPER);
    // A fixed speckle pattern, so the image looks like a captcha and stays deterministic.
    for y in 0..height {
        for x in 0..width {
            if (x * 7 + y * 13) % 29 == 0 {
                canvas.set(x, y, SPECKLE);
            }
        }
    }
    for (index, rows) in glyphs.iter().enumerate() {
        let cell_x0 = MARGIN + index * (GLYPH_WIDTH + GLYPH_SPACING);
        for (row, bits) in rows.iter().enumerate() {
            for (col, bit) in bits.bytes().enumerate() {
                if bit == b'#' {
                    canvas.fill_rect(
                        (cell_x0 + col) * SCALE,
                        (MARGIN + row) * SCALE,
                        SCALE,
                        SCALE,
                        INK,
                    );
                }
            }
        }
    }
    canvas.to_png()
}

/// A solid square of `rgb` with a slightly darker border, encoded as PNG.
pub fn render_square_png(rgb: [u8; 3]) -> Result<Vec<u8>, ImageError> {
    let border = rgb.map(|c| c / 2);
    let mut canvas = Canvas::filled(SQUARE_SIDE, SQUARE_SIDE, border);
    canvas.fill_rect(
        SQUARE_BORDER,
        SQUARE_BORDER,
        SQUARE_SIDE - 2 * SQUARE_BORDER,
        SQUARE_SIDE - 2 * SQUARE_BORDER,
        rgb,
    );
    canvas.to_png()
}

/// `data:image/png;base64,…`
pub fn png_data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// The captcha showing [`CAPTCHA_CODE`], as a data URI.
pub fn captcha_data_uri() -> Result<&'static str, ImageError> {
    static CAPTCHA: OnceLock<Result<String, ImageError>> = OnceLock::new();
    CAPTCHA
        .get_or_init(|| render_text_png(CAPTCHA_CODE).map(|png| png_data_uri(&png)))
        .as_deref()
        .map_err(Clone::clone)
}

/// The data URI of each of [`COLOUR_SQUARES`], in the same order.
pub fn colour_square_data_uris() -> Result<&'static [String], ImageError> {
    static SQUARES: OnceLock<Result<Vec<String>, ImageError>> = OnceLock::new();
    SQUARES
        .get_or_init(|| {
            COLOUR_SQUARES
                .iter()
                .map(|square| render_square_png(square.rgb).map(|png| png_data_uri(&png)))
                .collect()
        })
        .as_deref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG into (width, height, RGB bytes).
    fn decode(png_bytes: &[u8]) -> (usize, usize, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width as usize, info.height as usize, buf)
    }

    fn is_ink(rgb: &[u8], width: usize, x: usize, y: usize) -> bool {
        let at = (y * width + x) * 3;
        let luminance = (u32::from(rgb[at]) * 299
            + u32::from(rgb[at + 1]) * 587
            + u32::from(rgb[at + 2]) * 114)
            / 1000;
        luminance < 128
    }

    /// Reads the text back from the pixels by sampling the centre of every font cell and
    /// matching the sampled bitmaps against the font: proves the image shows the code.
    fn read_text(png_bytes: &[u8], candidates: &str) -> String {
        let (width, _height, rgb) = decode(png_bytes);
        let cells_wide = width / SCALE;
        let glyph_count = (cells_wide - 2 * MARGIN + GLYPH_SPACING) / (GLYPH_WIDTH + GLYPH_SPACING);
        (0..glyph_count)
            .map(|index| {
                let cell_x0 = MARGIN + index * (GLYPH_WIDTH + GLYPH_SPACING);
                let sampled: Vec<String> = (0..GLYPH_HEIGHT)
                    .map(|row| {
                        (0..GLYPH_WIDTH)
                            .map(|col| {
                                let x = (cell_x0 + col) * SCALE + SCALE / 2;
                                let y = (MARGIN + row) * SCALE + SCALE / 2;
                                if is_ink(&rgb, width, x, y) { '#' } else { '.' }
                            })
                            .collect()
                    })
                    .collect();
                candidates
                    .chars()
                    .find(|c| glyph(*c).is_some_and(|g| g.iter().eq(sampled.iter())))
                    .unwrap_or('?')
            })
            .collect()
    }

    #[test]
    fn captcha_is_a_real_png_that_shows_the_code() {
        let png_bytes = render_text_png(CAPTCHA_CODE).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (width, height, rgb) = decode(&png_bytes);
        assert!(width >= 100, "captcha is only {width} px wide");
        assert!(height >= 30);
        assert_eq!(read_text(&png_bytes, "abc123"), "abc123");
        // Dark on light: most pixels are light, and the corners are background.
        let ink = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .filter(|&(x, y)| is_ink(&rgb, width, x, y))
            .count();
        assert!(ink > 0 && ink < width * height / 3, "ink pixels: {ink}");
        assert!(!is_ink(&rgb, width, 0, 0));
    }

    #[test]
    fn other_texts_render_differently() {
        let png_bytes = render_text_png("cba321").unwrap();
        assert_eq!(read_text(&png_bytes, "abc123"), "cba321");
        assert_eq!(render_text_png("abz"), Err(ImageError::MissingGlyph('z')));
    }

    #[test]
    fn squares_are_real_pngs_of_their_colour() {
        for square in COLOUR_SQUARES {
            let (width, height, rgb) = decode(&render_square_png(square.rgb).unwrap());
            assert_eq!((width, height), (SQUARE_SIDE, SQUARE_SIDE));
            let centre = ((height / 2) * width + width / 2) * 3;
            assert_eq!(&rgb[centre..centre + 3], &square.rgb);
        }
    }

    #[test]
    fn data_uris_are_base64_png() {
        let uri = captcha_data_uri().unwrap();
        let payload = uri.strip_prefix("data:image/png;base64,").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        assert_eq!(read_text(&bytes, "abc123"), CAPTCHA_CODE);
        let squares = colour_square_data_uris().unwrap();
        assert_eq!(squares.len(), COLOUR_SQUARES.len());
        assert_ne!(squares[0], squares[1]);
    }
}
