//! Enrollment QR codes as SVG (the `qrcode` crate; no image libraries, no JavaScript).

use crate::{Error, Result};

/// The QR code of `payload` as an SVG document (black on white, with the quiet zone),
/// at least 240 pixels wide: big enough for a phone camera on a tablet's screen.
pub fn svg(payload: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .map_err(|_| Error::Invalid("the payload does not fit in a QR code".into()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_invite_fits_in_an_svg_qr_code() {
        let p = omkijken_core::invite::EnrollmentInvite::new(
            "https://omkijken.school.example",
            "ABCD-EFGH-JKLM",
            Some("ab".repeat(32)),
        )
        .to_payload();
        let s = super::svg(&p).unwrap();
        assert!(s.starts_with("<?xml") && s.contains("<svg"), "{s}");
    }
}
