//! PNG images (the handwritten signature, the seal) as PDF Image XObjects with a soft mask.

use std::io::Cursor;

use png::{ColorType, Decoder, Limits, Transformations};

use super::super::SigningError;
use super::pdf::{flate, stream};

/// Largest accepted width or height in pixels: bounds memory (64 MiB RGBA at most) and time.
pub const MAX_SIDE: u32 = 4096;

/// A decoded 8-bit image: colour samples and an optional alpha channel.
pub(crate) struct DecodedImage {
    pub width: u32,
    pub height: u32,
    /// `true`: one gray sample per pixel; `false`: RGB.
    pub gray: bool,
    pub color: Vec<u8>,
    /// One alpha sample per pixel; `None` when the image is fully opaque.
    pub alpha: Option<Vec<u8>>,
    /// Printed height in points from the PNG's `pHYs` chunk, when it gives pixels per metre.
    pub physical_height: Option<f64>,
}

impl DecodedImage {
    /// Width over height.
    pub(crate) fn aspect(&self) -> f64 {
        f64::from(self.width) / f64::from(self.height)
    }
}

/// Decodes a PNG of any standard colour type and depth to 8-bit gray or RGB plus alpha.
pub(crate) fn decode_png(what: &str, bytes: &[u8]) -> Result<DecodedImage, SigningError> {
    let bad = |e: png::DecodingError| {
        SigningError::Appearance(format!("the {what} is not a readable PNG: {e}"))
    };
    // Headroom over the largest accepted image for the decoder's own row buffers.
    let limits = Limits {
        bytes: (MAX_SIDE as usize) * (MAX_SIDE as usize) * 8 + (1 << 20),
    };
    let mut decoder = Decoder::new_with_limits(Cursor::new(bytes), limits);
    let (width, height) = decoder.read_header_info().map_err(bad)?.size();
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(SigningError::Appearance(format!(
            "the {what} is {width}×{height} pixels; at most {MAX_SIDE}×{MAX_SIDE} is accepted"
        )));
    }
    // Palette → RGB, tRNS → alpha, 1/2/4-bit → 8-bit, 16-bit → 8-bit.
    decoder.set_transformations(Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(bad)?;
    let physical_height = reader
        .info()
        .pixel_dims
        .filter(|d| d.unit == png::Unit::Meter && d.yppu > 0)
        // metres → points: 1 m = 72 / 0.0254 pt.
        .map(|d| f64::from(height) / f64::from(d.yppu) * 72.0 / 0.0254);
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| SigningError::Appearance(format!("the {what} is too large to decode")))?;
    let mut buffer = vec![0u8; size];
    let frame = reader.next_frame(&mut buffer).map_err(bad)?;
    buffer.truncate(frame.buffer_size());

    let channels = match frame.color_type {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => {
            return Err(SigningError::Appearance(format!(
                "the {what} kept its palette after expansion"
            )));
        }
    };
    let pixels = (width as usize) * (height as usize);
    // Rows are packed without padding at 8 bits per sample.
    if buffer.len() != pixels * channels {
        return Err(SigningError::Appearance(format!(
            "the {what} decoded to an unexpected size"
        )));
    }
    let color_channels = if channels <= 2 { 1 } else { 3 };
    let (color, alpha) = if channels == 2 || channels == 4 {
        let mut color = Vec::with_capacity(pixels * color_channels);
        let mut alpha = Vec::with_capacity(pixels);
        for px in buffer.chunks_exact(channels) {
            color.extend_from_slice(&px[..color_channels]);
            alpha.push(px[color_channels]);
        }
        // A fully opaque alpha channel needs no soft mask.
        let alpha = if alpha.iter().all(|a| *a == 255) {
            None
        } else {
            Some(alpha)
        };
        (color, alpha)
    } else {
        (buffer, None)
    };
    Ok(DecodedImage {
        width,
        height,
        gray: color_channels == 1,
        color,
        alpha,
        physical_height,
    })
}

/// Body of the soft mask (alpha as a gray image), if the image has transparency.
pub(crate) fn smask_object(image: &DecodedImage) -> Result<Option<Vec<u8>>, SigningError> {
    let Some(alpha) = &image.alpha else {
        return Ok(None);
    };
    let dict = format!(
        " /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceGray \
         /BitsPerComponent 8 /Filter /FlateDecode",
        image.width, image.height
    );
    Ok(Some(stream(&dict, &flate(alpha)?)))
}

/// Body of the Image XObject; `smask` is the object number of its soft mask, if any.
pub(crate) fn image_object(
    image: &DecodedImage,
    smask: Option<u32>,
) -> Result<Vec<u8>, SigningError> {
    let mut dict = format!(
        " /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /{} \
         /BitsPerComponent 8 /Filter /FlateDecode",
        image.width,
        image.height,
        if image.gray {
            "DeviceGray"
        } else {
            "DeviceRGB"
        }
    );
    if let Some(smask) = smask {
        dict.push_str(&format!(" /SMask {smask} 0 R"));
    }
    Ok(stream(&dict, &flate(&image.color)?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes a PNG for tests.
    pub(crate) fn encode(
        width: u32,
        height: u32,
        color: ColorType,
        data: &[u8],
        palette: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(color);
            encoder.set_depth(png::BitDepth::Eight);
            if let Some((plte, trns)) = palette {
                encoder.set_palette(plte.to_vec());
                encoder.set_trns(trns.to_vec());
            }
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(data).unwrap();
        }
        out
    }

    #[test]
    fn rgba_splits_into_rgb_and_alpha() {
        let png = encode(
            2,
            1,
            ColorType::Rgba,
            &[0, 0, 255, 255, 10, 20, 30, 0],
            None,
        );
        let image = decode_png("image", &png).unwrap();
        assert!(!image.gray);
        assert_eq!(image.color, vec![0, 0, 255, 10, 20, 30]);
        assert_eq!(image.alpha, Some(vec![255, 0]));
        let smask = smask_object(&image).unwrap().unwrap();
        assert!(String::from_utf8_lossy(&smask).contains("/ColorSpace /DeviceGray"));
        let body = String::from_utf8_lossy(&image_object(&image, Some(9)).unwrap()).into_owned();
        assert!(
            body.contains("/ColorSpace /DeviceRGB") && body.contains("/SMask 9 0 R"),
            "{body}"
        );
    }

    #[test]
    fn physical_size_comes_from_phys() {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, 4, 400);
            encoder.set_color(ColorType::Grayscale);
            // 400 px at 10,000 px/m = 40 mm, a seal's usual diameter: 113.4 pt.
            encoder.set_pixel_dims(Some(png::PixelDimensions {
                xppu: 10_000,
                yppu: 10_000,
                unit: png::Unit::Meter,
            }));
            encoder
                .write_header()
                .unwrap()
                .write_image_data(&[0; 1600])
                .unwrap();
        }
        let height = decode_png("seal", &out).unwrap().physical_height.unwrap();
        assert!((height - 113.386).abs() < 0.01, "{height}");
        let plain = encode(1, 1, ColorType::Grayscale, &[0], None);
        assert_eq!(decode_png("seal", &plain).unwrap().physical_height, None);
    }

    #[test]
    fn opaque_rgba_needs_no_mask() {
        let png = encode(1, 1, ColorType::Rgba, &[1, 2, 3, 255], None);
        let image = decode_png("image", &png).unwrap();
        assert!(image.alpha.is_none());
        assert!(smask_object(&image).unwrap().is_none());
    }

    #[test]
    fn palette_with_transparency_expands() {
        let png = encode(
            3,
            1,
            ColorType::Indexed,
            &[0, 1, 0],
            Some((&[255, 255, 255, 0, 0, 200], &[0, 255])),
        );
        let image = decode_png("image", &png).unwrap();
        assert!(!image.gray);
        assert_eq!(image.color, vec![255, 255, 255, 0, 0, 200, 255, 255, 255]);
        assert_eq!(image.alpha, Some(vec![0, 255, 0]));
    }

    #[test]
    fn gray_stays_gray() {
        let png = encode(2, 2, ColorType::Grayscale, &[0, 64, 128, 255], None);
        let image = decode_png("image", &png).unwrap();
        assert!(image.gray && image.alpha.is_none());
        assert_eq!(image.color.len(), 4);
        let png = encode(1, 1, ColorType::GrayscaleAlpha, &[7, 100], None);
        let image = decode_png("image", &png).unwrap();
        assert_eq!(
            (image.color.clone(), image.alpha.clone()),
            (vec![7], Some(vec![100]))
        );
    }

    #[test]
    fn corrupt_and_oversize_pngs_are_refused() {
        let err = decode_png("signature image", b"not a png")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("signature image is not a readable PNG"),
            "{err}"
        );

        let mut truncated = encode(4, 4, ColorType::Rgb, &[9; 48], None);
        truncated.truncate(truncated.len() - 20);
        assert!(decode_png("image", &truncated).is_err());

        let wide = encode(
            MAX_SIDE + 1,
            1,
            ColorType::Grayscale,
            &vec![0; MAX_SIDE as usize + 1],
            None,
        );
        let err = decode_png("image", &wide).err().unwrap().to_string();
        assert!(err.contains("4097×1 pixels; at most 4096×4096"), "{err}");
    }
}
