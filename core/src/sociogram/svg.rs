//! The sociogram as a picture (SVG), shown by the app as it is.
//!
//! Pupils are circles on one big circle (a deterministic layout: sub-groups side by side,
//! then the others in member order, clockwise from the top), with their first name outside
//! them and the number of choices received inside. A choice is a grey arrow, a mutual
//! choice a thick green line, a rejection a dashed red arrow; an arrow and the one back
//! run side by side, not on top of each other. Isolated pupils are orange, rejected ones
//! red, popular ones have a green ring. A legend at the bottom says so, in Dutch or
//! English.
//!
//! Self-contained: no script, no external fonts, images or links (the generic `sans-serif`
//! family), every name escaped. First names only: the first word of a display name.

use super::analysis::{Analysis, Member};
/// Escape text for SVG content and attribute values.
pub use crate::markup::xml_escape;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const WIDTH: f64 = 800.0;
const CIRCLE: f64 = 720.0;
const LEGEND: f64 = 96.0;
const RADIUS: f64 = 250.0;

const CHOICE: &str = "#6b7280";
const MUTUAL: &str = "#2a9d8f";
const REJECTION: &str = "#d62828";
const ISOLATED: &str = "#f4a261";
const NODE: &str = "#e9f1fb";
const NODE_STROKE: &str = "#1f6feb";

/// The texts of the picture in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    /// The picture's title.
    pub title: &'static str,
    /// Legend: a choice.
    pub choice: &'static str,
    /// Legend: a mutual choice.
    pub mutual: &'static str,
    /// Legend: a rejection.
    pub rejection: &'static str,
    /// Legend: isolated.
    pub isolated: &'static str,
    /// Legend: rejected.
    pub rejected: &'static str,
    /// Legend: popular.
    pub popular: &'static str,
    /// Legend: the number in a circle.
    pub received: &'static str,
}

/// The labels for `lang` ("nl", else English).
pub fn labels(lang: &str) -> Labels {
    if lang == "nl" {
        Labels {
            title: "Sociogram",
            choice: "kiest",
            mutual: "wederzijdse keuze",
            rejection: "wijst af",
            isolated: "geïsoleerd",
            rejected: "afgewezen",
            popular: "populair",
            received: "keer gekozen",
        }
    } else {
        Labels {
            title: "Sociogram",
            choice: "chooses",
            mutual: "mutual choice",
            rejection: "rejects",
            isolated: "isolated",
            rejected: "rejected",
            popular: "popular",
            received: "times chosen",
        }
    }
}

/// The first name of a display name (its first word), at most 14 characters.
pub fn first_name(name: &str) -> String {
    let first = name.split_whitespace().next().unwrap_or("?");
    let mut s: String = first.chars().take(14).collect();
    if first.chars().count() > 14 {
        s.push('…');
    }
    s
}

/// Draw the sociogram of `members` with their `analysis` (see the module docs).
pub fn render(members: &[Member], analysis: &Analysis, lang: &str) -> String {
    let l = labels(lang);
    let height = CIRCLE + LEGEND;
    let (cx, cy) = (WIDTH / 2.0, CIRCLE / 2.0);
    // Order on the circle: each sub-group together, then the others.
    let mut order: Vec<&str> = analysis
        .subgroups
        .iter()
        .flat_map(|g| g.iter().map(String::as_str))
        .collect();
    for m in members {
        if !order.contains(&m.id.as_str()) {
            order.push(&m.id);
        }
    }
    order.retain(|id| members.iter().any(|m| m.id == *id));
    let n = order.len();
    let node_r = if n == 0 {
        26.0
    } else {
        (std::f64::consts::TAU * RADIUS / n as f64 * 0.3).clamp(8.0, 26.0)
    };
    let angle = |i: usize| {
        -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / n.max(1) as f64
    };
    let at: BTreeMap<&str, (f64, f64)> = order
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let a = angle(i);
            (*id, (cx + RADIUS * a.cos(), cy + RADIUS * a.sin()))
        })
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" font-family=\"sans-serif\">\
         <title>{}</title>\
         <defs>{}{}</defs>\
         <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>",
        xml_escape(l.title),
        marker("arrow-choice", CHOICE),
        marker("arrow-rejection", REJECTION),
    );
    // Edges first, so the circles lie on top.
    let mutual: Vec<(&str, &str)> = analysis
        .mutual
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let is_mutual = |a: &str, b: &str| mutual.contains(&(a, b)) || mutual.contains(&(b, a));
    svg.push_str("<g id=\"rejections\">");
    for (a, b) in &analysis.rejections {
        if let (Some(&p), Some(&q)) = (at.get(a.as_str()), at.get(b.as_str())) {
            arrow(&mut svg, p, q, node_r, REJECTION, "arrow-rejection", true);
        }
    }
    svg.push_str("</g><g id=\"choices\">");
    for (a, b) in &analysis.choices {
        if is_mutual(a, b) {
            continue;
        }
        if let (Some(&p), Some(&q)) = (at.get(a.as_str()), at.get(b.as_str())) {
            arrow(&mut svg, p, q, node_r, CHOICE, "arrow-choice", false);
        }
    }
    svg.push_str("</g><g id=\"mutual\">");
    for (a, b) in &mutual {
        if let (Some(&(x1, y1)), Some(&(x2, y2))) = (at.get(a), at.get(b)) {
            let _ = write!(
                svg,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" \
                 stroke=\"{MUTUAL}\" stroke-width=\"4\"/>"
            );
        }
    }
    svg.push_str("</g><g id=\"pupils\">");
    for (i, id) in order.iter().enumerate() {
        let (Some(m), Some(p), Some(&(x, y))) = (
            members.iter().find(|m| m.id == *id),
            analysis.position(id),
            at.get(id),
        ) else {
            continue;
        };
        let (fill, text) = match (p.rejected, p.isolated) {
            (true, _) => (REJECTION, "#ffffff"),
            (false, true) => (ISOLATED, "#1f2937"),
            _ => (NODE, "#1f2937"),
        };
        let (stroke, width) = match (p.popular, p.rejected && p.isolated) {
            (true, _) => (MUTUAL, 5),
            (false, true) => (ISOLATED, 5),
            _ => (NODE_STROKE, 2),
        };
        let _ = write!(
            svg,
            "<g><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{node_r:.1}\" fill=\"{fill}\" \
             stroke=\"{stroke}\" stroke-width=\"{width}\"/>\
             <text x=\"{x:.1}\" y=\"{ty:.1}\" font-size=\"{fs:.0}\" text-anchor=\"middle\" \
             fill=\"{text}\" font-weight=\"bold\">{received}</text>\
             <text x=\"{nx:.1}\" y=\"{ny:.1}\" font-size=\"14\" text-anchor=\"{anchor}\" \
             stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\" \
             fill=\"#1f2937\">{name}</text></g>",
            ty = y + node_r * 0.3,
            fs = (node_r * 0.8).max(8.0),
            received = p.choices_received,
            nx = cx + (RADIUS + node_r + 8.0) * angle(i).cos(),
            ny =
                cy + (RADIUS + node_r + 8.0) * angle(i).sin() + 5.0 + 8.0 * angle(i).sin().max(0.0),
            anchor = match angle(i).cos() {
                c if c > 0.35 => "start",
                c if c < -0.35 => "end",
                _ => "middle",
            },
            name = xml_escape(&first_name(&m.name)),
        );
    }
    svg.push_str("</g>");
    legend(&mut svg, &l, CIRCLE);
    svg.push_str("</svg>");
    svg
}

fn marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/>\
         </marker>"
    )
}

/// An arrow from the edge of the circle at `p` to the edge of the one at `q`, moved a
/// little to its right so that an arrow back runs beside it.
fn arrow(
    svg: &mut String,
    (x1, y1): (f64, f64),
    (x2, y2): (f64, f64),
    r: f64,
    colour: &str,
    marker: &str,
    dashed: bool,
) {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 2.0 * r + 4.0 {
        return;
    }
    let (ux, uy) = (dx / len, dy / len);
    // Right of the direction of travel (y grows downwards).
    let (ox, oy) = (-uy * 4.0, ux * 4.0);
    let (sx, sy) = (x1 + ux * r + ox, y1 + uy * r + oy);
    let (ex, ey) = (x2 - ux * (r + 2.0) + ox, y2 - uy * (r + 2.0) + oy);
    let dash = if dashed {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let _ = write!(
        svg,
        "<line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{ex:.1}\" y2=\"{ey:.1}\" stroke=\"{colour}\" \
         stroke-width=\"1.6\"{dash} marker-end=\"url(#{marker})\"/>"
    );
}

fn legend(svg: &mut String, l: &Labels, top: f64) {
    let y = top + 30.0;
    let y2 = top + 70.0;
    let text = |svg: &mut String, x: f64, y: f64, s: &str| {
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"14\" fill=\"#1f2937\">{}</text>",
            y + 5.0,
            xml_escape(s)
        );
    };
    let _ = write!(svg, "<g id=\"legend\">");
    let _ = write!(
        svg,
        "<line x1=\"30\" y1=\"{y}\" x2=\"70\" y2=\"{y}\" stroke=\"{CHOICE}\" stroke-width=\"1.6\" \
         marker-end=\"url(#arrow-choice)\"/>"
    );
    text(svg, 78.0, y, l.choice);
    let _ = write!(
        svg,
        "<line x1=\"250\" y1=\"{y}\" x2=\"290\" y2=\"{y}\" stroke=\"{MUTUAL}\" stroke-width=\"4\"/>"
    );
    text(svg, 298.0, y, l.mutual);
    let _ = write!(
        svg,
        "<line x1=\"500\" y1=\"{y}\" x2=\"540\" y2=\"{y}\" stroke=\"{REJECTION}\" \
         stroke-width=\"1.6\" stroke-dasharray=\"6 4\" marker-end=\"url(#arrow-rejection)\"/>"
    );
    text(svg, 548.0, y, l.rejection);
    let dot = |svg: &mut String, x: f64, fill: &str, stroke: &str, w: u8| {
        let _ = write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y2:.1}\" r=\"9\" fill=\"{fill}\" stroke=\"{stroke}\" \
             stroke-width=\"{w}\"/>"
        );
    };
    dot(svg, 40.0, ISOLATED, NODE_STROKE, 2);
    text(svg, 56.0, y2, l.isolated);
    dot(svg, 200.0, REJECTION, NODE_STROKE, 2);
    text(svg, 216.0, y2, l.rejected);
    dot(svg, 360.0, NODE, MUTUAL, 5);
    text(svg, 376.0, y2, l.popular);
    let _ = write!(
        svg,
        "<text x=\"520\" y=\"{:.1}\" font-size=\"14\" font-weight=\"bold\" fill=\"#1f2937\">3</text>",
        y2 + 5.0
    );
    text(svg, 536.0, y2, l.received);
    svg.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sociogram::{analysis::analyse, fixture};

    #[test]
    fn names_are_escaped_and_first_names_only() {
        let members = vec![
            Member {
                id: "p1".into(),
                name: "<script>alert(1)</script> Jansen".into(),
            },
            Member {
                id: "p2".into(),
                name: "Zoë \"Z\" & co".into(),
            },
            Member {
                id: "p3".into(),
                name: "Sem Öztürk".into(),
            },
        ];
        let a = analyse(&[], &members, &Default::default());
        let svg = render(&members, &a, "nl");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains(">&lt;script&gt;alert(…<"), "{svg}");
        assert!(svg.contains(">Zoë<") && svg.contains(">Sem<"));
        assert!(!svg.contains("Öztürk") && !svg.contains("Jansen"));
    }

    #[test]
    fn the_fixed_class_draws_every_pupil_choice_and_highlight() {
        let (questions, members, answers) = fixture::groep_6b();
        let a = analyse(&questions, &members, &answers);
        let svg = render(&members, &a, "nl");
        // Self-contained: nothing fetched.
        for outside in [
            "href",
            "http://www.w3.org/1999/xlink",
            "<image",
            "@import",
            "url(http",
        ] {
            assert!(!svg.contains(outside), "{outside}");
        }
        assert_eq!(
            svg.matches("<circle").count(),
            members.len() + 3,
            "pupils + legend"
        );
        // Mutual choices once each; the other choices and every rejection as arrows.
        assert_eq!(
            svg.matches(&format!("stroke=\"{MUTUAL}\" stroke-width=\"4\"/>"))
                .count(),
            5 + 1
        );
        let choices = a.choices.len() - 2 * a.mutual.len();
        assert_eq!(svg.matches("url(#arrow-choice)").count(), choices + 1);
        assert_eq!(
            svg.matches("url(#arrow-rejection)").count(),
            a.rejections.len() + 1
        );
        // Bram red, Sem orange, Daan with the green ring.
        assert_eq!(
            svg.matches(&format!("fill=\"{REJECTION}\" stroke=\"{NODE_STROKE}\""))
                .count(),
            2
        );
        assert_eq!(svg.matches(&format!("fill=\"{ISOLATED}\"")).count(), 2);
        assert!(svg.contains(&format!("stroke=\"{MUTUAL}\" stroke-width=\"5\"")));
        for name in [
            "Anouk",
            "Chloé",
            "Fleur",
            "Inès",
            "Sem",
            "Zoë",
            "geïsoleerd",
        ] {
            assert!(svg.contains(&format!(">{name}<")), "{name}");
        }
        // Deterministic.
        assert_eq!(svg, render(&members, &a, "nl"));
        assert!(render(&members, &a, "en").contains(">isolated<"));
    }

    /// The committed sample (docs/sociogram-groep-6b.svg and .png) is what the code draws
    /// for the fixed class; `OMKIJKEN_UPDATE_SAMPLES=1` writes them again.
    fn sample_paths() -> (std::path::PathBuf, std::path::PathBuf) {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        (
            docs.join("sociogram-groep-6b.svg"),
            docs.join("sociogram-groep-6b.png"),
        )
    }

    /// rsvg-convert (Debian's librsvg2-bin) turns `svg` into PNG bytes.
    fn rasterise(svg: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("s.svg"), dir.path().join("s.png"));
        std::fs::write(&input, svg).unwrap();
        let status = std::process::Command::new("rsvg-convert")
            .arg("-o")
            .arg(&output)
            .arg(&input)
            .status()
            .expect("rsvg-convert (apt-get install librsvg2-bin) renders the sociogram");
        assert!(status.success(), "rsvg-convert failed");
        std::fs::read(&output).unwrap()
    }

    /// The pixels of an 8-bit RGB or RGBA, non-interlaced PNG: (width, height, RGBA).
    fn decode_png(png: &[u8]) -> (u32, u32, Vec<[u8; 4]>) {
        use std::io::Read;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        let (mut pos, mut idat) = (8, vec![]);
        let (mut w, mut h, mut channels) = (0u32, 0u32, 0usize);
        while pos + 8 <= png.len() {
            let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
            let kind = &png[pos + 4..pos + 8];
            let data = &png[pos + 8..pos + 8 + len];
            match kind {
                b"IHDR" => {
                    w = u32::from_be_bytes(data[0..4].try_into().unwrap());
                    h = u32::from_be_bytes(data[4..8].try_into().unwrap());
                    assert_eq!((data[8], data[12]), (8, 0), "8-bit, not interlaced");
                    channels = match data[9] {
                        6 => 4,
                        2 => 3,
                        t => panic!("colour type {t}"),
                    };
                }
                b"IDAT" => idat.extend_from_slice(data),
                _ => {}
            }
            pos += 12 + len;
        }
        let mut raw = vec![];
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .unwrap();
        let stride = w as usize * channels;
        assert_eq!(raw.len(), (stride + 1) * h as usize);
        let mut prev = vec![0u8; stride];
        let mut pixels = Vec::with_capacity((w * h) as usize);
        for row in raw.chunks(stride + 1) {
            let (filter, line) = (row[0], &row[1..]);
            let mut cur = vec![0u8; stride];
            for i in 0..stride {
                let a = if i >= channels { cur[i - channels] } else { 0 };
                let b = prev[i];
                let c = if i >= channels { prev[i - channels] } else { 0 };
                let pred = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    4 => {
                        let p = i16::from(a) + i16::from(b) - i16::from(c);
                        let (pa, pb, pc) = (
                            (p - i16::from(a)).abs(),
                            (p - i16::from(b)).abs(),
                            (p - i16::from(c)).abs(),
                        );
                        if pa <= pb && pa <= pc {
                            a
                        } else if pb <= pc {
                            b
                        } else {
                            c
                        }
                    }
                    f => panic!("filter {f}"),
                };
                cur[i] = line[i].wrapping_add(pred);
            }
            for px in cur.chunks(channels) {
                pixels.push([px[0], px[1], px[2], if channels == 4 { px[3] } else { 255 }]);
            }
            prev = cur;
        }
        (w, h, pixels)
    }

    #[test]
    fn the_fixed_class_renders_to_a_picture_that_is_not_blank() {
        let (questions, members, answers) = fixture::groep_6b();
        let svg = render(&members, &analyse(&questions, &members, &answers), "nl");
        let png = rasterise(&svg);
        let (w, h, pixels) = decode_png(&png);
        assert_eq!((w, h), (800, 816));
        let near =
            |p: &[u8; 4], rgb: [u8; 3]| p[3] > 200 && (0..3).all(|i| p[i].abs_diff(rgb[i]) < 24);
        let count = |rgb: [u8; 3]| pixels.iter().filter(|p| near(p, rgb)).count();
        let white = count([255, 255, 255]);
        let drawn = pixels.len() - white;
        // A blank picture (the background alone) draws nothing; this one about 4%.
        assert!(
            drawn * 33 > pixels.len(),
            "at least 3% drawn: {drawn} of {}",
            pixels.len()
        );
        // Each highlight shows: Bram red, Sem orange, the mutual choices green, the
        // pupils light blue (well beyond the legend's dots).
        assert!(
            count([0xd6, 0x28, 0x28]) > 1_500,
            "red: rejected and rejections"
        );
        assert!(count([0xf4, 0xa2, 0x61]) > 1_500, "orange: isolated");
        assert!(count([0x2a, 0x9d, 0x8f]) > 2_000, "green: mutual choices");
        assert!(
            count([0xe9, 0xf1, 0xfb]) > 10_000,
            "light blue: the other pupils"
        );
        let (svg_path, png_path) = sample_paths();
        if std::env::var_os("OMKIJKEN_UPDATE_SAMPLES").is_some() {
            std::fs::write(&svg_path, &svg).unwrap();
            std::fs::write(&png_path, &png).unwrap();
        }
        let committed = std::fs::read_to_string(&svg_path).unwrap_or_default();
        assert!(
            committed == svg,
            "docs/sociogram-groep-6b.svg is not what the code draws: run this test with \
             OMKIJKEN_UPDATE_SAMPLES=1"
        );
    }
}
