//! Success and precision plots for `trackflow analyze --report`, as SVG (for papers) and PNG
//! (for a quick look), drawn without a plotting library.

use std::fmt::Write;

use crate::base::draw::{Rgb, draw_glyphs, fill_rect};
use crate::base::image::Image;

/// One curve: a label and its y values over the x grid.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text (tracker name and its score).
    pub label: String,
    /// y values in [0, 1].
    pub y: Vec<f64>,
}

/// A plot: title, axis labels, x grid and curves.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Title.
    pub title: String,
    /// x axis label.
    pub x_label: String,
    /// y axis label.
    pub y_label: String,
    /// x values (shared by every series).
    pub x: Vec<f64>,
    /// Curves.
    pub series: Vec<Series>,
    /// Top of the y axis (the bottom is 0): 1 for success/precision plots.
    pub y_max: f64,
}

const COLOURS: [Rgb; 8] =
    [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127]];

const W: f64 = 640.0;
const H: f64 = 480.0;
// Margins: left, right, top, bottom.
const L: f64 = 70.0;
const R: f64 = 20.0;
const T: f64 = 40.0;
const B: f64 = 60.0;

impl Plot {
    fn to_px(&self, x: f64, y: f64) -> (f64, f64) {
        let (x0, x1) = (self.x[0], *self.x.last().unwrap_or(&1.0));
        let px = L + (x - x0) / (x1 - x0).max(1e-12) * (W - L - R);
        let py = H - B - (y / self.y_max.max(1e-12)).clamp(0.0, 1.0) * (H - T - B);
        (px, py)
    }

    /// The plot as an SVG document.
    pub fn svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(s, r#"<text x="{}" y="24" text-anchor="middle" font-size="16">{}</text>"#, W / 2.0, esc(&self.title));
        for k in 0..=5 {
            let v = k as f64 / 5.0;
            let (_, py) = self.to_px(self.x[0], v * self.y_max);
            let _ = writeln!(
                s,
                r##"<line x1="{L}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                W - R,
                L - 6.0,
                py + 4.0,
                tick(v * self.y_max)
            );
            let xv = self.x[0] + v * (self.x.last().unwrap_or(&1.0) - self.x[0]);
            let (px, _) = self.to_px(xv, 0.0);
            let _ = writeln!(s, r#"<text x="{px:.1}" y="{}" text-anchor="middle" font-size="11">{}</text>"#, H - B + 16.0, trim(xv));
        }
        let _ = writeln!(s, r#"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="black"/>"#, W - L - R, H - T - B);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            L + (W - L - R) / 2.0,
            H - 18.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text x="18" y="{}" text-anchor="middle" font-size="13" transform="rotate(-90 18 {})">{}</text>"#,
            T + (H - T - B) / 2.0,
            T + (H - T - B) / 2.0,
            esc(&self.y_label)
        );
        for (i, ser) in self.series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let pts: Vec<String> = self
                .x
                .iter()
                .zip(&ser.y)
                .map(|(&x, &y)| {
                    let (px, py) = self.to_px(x, y);
                    format!("{px:.1},{py:.1}")
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="rgb({},{},{})" stroke-width="2" points="{}"/>"#,
                c[0],
                c[1],
                c[2],
                pts.join(" ")
            );
            let ly = T + 18.0 + 18.0 * i as f64;
            let _ = writeln!(
                s,
                r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="rgb({},{},{})" stroke-width="3"/><text x="{}" y="{}" font-size="12">{}</text>"#,
                W - R - 230.0,
                W - R - 205.0,
                c[0],
                c[1],
                c[2],
                W - R - 200.0,
                ly + 4.0,
                esc(&ser.label)
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// The plot as an RGB image.
    pub fn png_image(&self) -> Image {
        let mut im = Image { width: W as usize, height: H as usize, channels: 3, data: vec![255; (W * H * 3.0) as usize] };
        let grey = [221, 221, 221];
        let black = [0, 0, 0];
        for k in 0..=5 {
            let v = k as f64 / 5.0;
            let (_, py) = self.to_px(self.x[0], v * self.y_max);
            fill_rect(&mut im, L as i64, py as i64, (W - R) as i64, py as i64 + 1, grey);
            let label = tick(v * self.y_max);
            draw_glyphs(&mut im, L as i64 - 6 - 6 * label.len() as i64, py as i64 - 3, &label, black, 1);
            let xv = self.x[0] + v * (self.x.last().unwrap_or(&1.0) - self.x[0]);
            let (px, _) = self.to_px(xv, 0.0);
            let label = trim(xv);
            draw_glyphs(&mut im, px as i64 - 3 * label.len() as i64, (H - B) as i64 + 8, &label, black, 1);
        }
        let (x0, y0, x1, y1) = (L as i64, T as i64, (W - R) as i64, (H - B) as i64);
        for (a, b, c, d) in [(x0, y0, x1, y0 + 1), (x0, y1, x1, y1 + 1), (x0, y0, x0 + 1, y1), (x1, y0, x1 + 1, y1 + 1)] {
            fill_rect(&mut im, a, b, c, d, [0, 0, 0]);
        }
        for (i, ser) in self.series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let pts: Vec<(f64, f64)> = self.x.iter().zip(&ser.y).map(|(&x, &y)| self.to_px(x, y)).collect();
            for w in pts.windows(2) {
                line(&mut im, w[0], w[1], c);
            }
            let ly = (T + 12.0 + 14.0 * i as f64) as i64;
            fill_rect(&mut im, (W - R - 230.0) as i64, ly + 3, (W - R - 205.0) as i64, ly + 6, c);
            draw_glyphs(&mut im, (W - R - 200.0) as i64, ly, &ser.label, c, 1);
        }
        draw_glyphs(&mut im, (W / 2.0 - 3.0 * self.title.len() as f64 * 2.0) as i64, 10, &self.title, black, 2);
        draw_glyphs(&mut im, (L + (W - L - R) / 2.0 - 3.0 * self.x_label.len() as f64) as i64, (H - 24.0) as i64, &self.x_label, black, 1);
        im
    }
}

/// A 2-px anti-alias-free line between two points.
fn line(im: &mut Image, a: (f64, f64), b: (f64, f64), c: Rgb) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for k in 0..=steps {
        let t = k as f64 / steps as f64;
        let (x, y) = ((a.0 + t * (b.0 - a.0)) as i64, (a.1 + t * (b.1 - a.1)) as i64);
        fill_rect(im, x, y, x + 2, y + 2, c);
    }
}

/// A y tick label: one decimal up to 10, whole numbers above.
fn tick(v: f64) -> String {
    if v >= 10.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
