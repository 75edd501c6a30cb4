//! Charts drawn on the server as SVG, inline in the page: no chart library, no
//! script. Colours come from the stylesheet (classes), so the dark scheme applies.

use std::fmt::Write;

use super::html::esc;

// In the units of the viewBox; the stylesheet's 13px axis text is read at about
// that size where a chart is about 400 pixels wide (two on a desktop row, one on a
// phone).
const WIDTH: f64 = 400.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// A bar chart of one value per label (oldest first); None draws no bar (nothing to
/// measure that week). `fmt` writes a value for the axis and the tooltips.
pub fn bars(
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
    fmt: fn(f64) -> String,
) -> String {
    let mut out = String::with_capacity(2048 + values.len() * 160);
    let _ = write!(
        out,
        "<svg class=\"bars\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\""
    );
    esc(&mut out, title);
    out.push_str("\"><title>");
    esc(&mut out, title);
    out.push_str("</title>");
    let n = values.len().max(1);
    let top = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let scale = nice(top);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let base = TOP + plot_h;
    // Grid lines at 0, half and the top of the scale, with their values.
    for frac in [0.0, 0.5, 1.0] {
        let y = base - plot_h * frac;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
        esc(&mut out, &fmt(scale * frac));
        out.push_str("</text>");
    }
    let step = plot_w / n as f64;
    let bar = (step * 0.7).max(1.0);
    for (i, value) in values.iter().enumerate() {
        let x = LEFT + step * i as f64 + (step - bar) / 2.0;
        let label = labels.get(i).map(String::as_str).unwrap_or("");
        match value.filter(|v| v.is_finite()) {
            Some(v) => {
                let h = if scale > 0.0 {
                    (v / scale * plot_h).clamp(0.0, plot_h)
                } else {
                    0.0
                };
                // A zero still shows as a hairline, unlike a week with nothing to measure.
                let h = h.max(1.0);
                let _ = write!(
                    out,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\"><title>",
                    base - h
                );
                esc(&mut out, label);
                out.push_str(": ");
                esc(&mut out, &fmt(v));
                out.push_str("</title></rect>");
            }
            None => {
                let _ = write!(
                    out,
                    "<rect class=\"bar none\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"1\"><title>",
                    base - 1.0
                );
                esc(&mut out, label);
                out.push_str(": nothing to measure</title></rect>");
            }
        }
    }
    // The first, middle and last labels: enough to read the weeks on a phone.
    let mut shown = vec![0, n / 2, n.saturating_sub(1)];
    shown.dedup();
    for i in shown {
        let Some(label) = labels.get(i) else { continue };
        let x = LEFT + step * i as f64 + step / 2.0;
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">",
            HEIGHT - 6.0
        );
        esc(&mut out, label);
        out.push_str("</text>");
    }
    out.push_str("</svg>");
    out
}

/// The top of a scale that holds `max`: 1, 2 or 5 times a power of ten.
fn nice(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if max <= m * power {
            return m * power;
        }
    }
    10.0 * power
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(12.0), 20.0);
        assert_eq!(nice(100.0), 100.0);
    }

    #[test]
    fn bars_for_values_and_gaps() {
        let labels = vec!["11-02".to_string(), "11-09".to_string()];
        let svg = bars("Deploys <per> week", &labels, &[Some(3.0), None], |v| {
            format!("{v:.0}")
        });
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Deploys &lt;per&gt; week"));
        assert!(svg.contains("11-02: 3"));
        assert!(svg.contains("11-09: nothing to measure"));
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
