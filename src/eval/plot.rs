//! Success, precision and loss plots (`trackflow analyze --report`, `trackflow evaluate`, the
//! metrics node), drawn by plotters as SVG (for papers) and PNG (for a quick look), with the
//! bundled DejaVu Sans.

use plotters::coord::Shift;
use plotters::prelude::*;

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

const COLOURS: [(u8, u8, u8); 8] =
    [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127)];

const W: u32 = 640;
const H: u32 = 480;

/// Makes the bundled font plotters' `sans-serif`, once per process.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Only fails on a font that does not parse; the bundled one is checked by the tests.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, crate::base::draw::FONT_BYTES);
    });
}

impl Plot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let x0 = self.x.first().copied().unwrap_or(0.0);
        let x1 = self.x.last().copied().filter(|&v| v > x0).unwrap_or(x0 + 1.0);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(54)
            .build_cartesian_2d(x0..x1, 0.0..self.y_max.max(1e-12))?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(6)
            .y_labels(6)
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        for (i, ser) in self.series.iter().enumerate() {
            let (r, g, b) = COLOURS[i % COLOURS.len()];
            let colour = RGBColor(r, g, b);
            chart
                .draw_series(LineSeries::new(self.x.iter().copied().zip(ser.y.iter().copied()), colour.stroke_width(2)))?
                .label(&ser.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], colour.stroke_width(3)));
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()?;
        }
        root.present()
    }

    /// The plot as an SVG document.
    pub fn svg(&self) -> String {
        register_font();
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, (W, H)).into_drawing_area();
            // Drawing into a string cannot fail for I/O; a failure would be a plotters bug.
            if let Err(e) = self.draw(&root) {
                tracing::warn!("warning: plot `{}`: {e}", self.title);
            }
        }
        s
    }

    /// The plot as an RGB image.
    pub fn png_image(&self) -> Image {
        register_font();
        let mut data = vec![255u8; (W * H * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut data, (W, H)).into_drawing_area();
            if let Err(e) = self.draw(&root) {
                tracing::warn!("warning: plot `{}`: {e}", self.title);
            }
        }
        Image { width: W as usize, height: H as usize, channels: 3, data }
    }
}
