//! Stacked bar charts as server-rendered SVG (no script): one bar per time bucket, its height
//! proportional to the recipients delivered in it (the tallest bar fills the plot), its
//! segments to each assurance level's share, a legend, and a `<title>` for the chart and for
//! every segment so that a screen reader and a pointer both get the numbers. Pure: values in,
//! markup out; every text is escaped here.

use std::fmt::Write as _;

/// The levels the delivery code records (`sekisho_policy::Assurance`), weakest first, and
/// attempts that recorded no evidence.
pub const LEVELS: [&str; 6] = ["none", "encrypted", "authenticated", "mta-sts", "dane", "unknown"];

/// Each level's colour, in the order of [`LEVELS`].
const COLOURS: [&str; 6] = ["#c0392b", "#e67e22", "#2e86c1", "#1e8449", "#0b4f2c", "#999999"];

const WIDTH: u32 = 720;
/// Room left and right of the bars for the axis' first and last labels.
const PAD: u32 = 20;
const PLOT_TOP: u32 = 10;
const PLOT_HEIGHT: u32 = 180;
const AXIS: u32 = 22;
const LEGEND: u32 = 24;
const HEIGHT: u32 = PLOT_TOP + PLOT_HEIGHT + AXIS + LEGEND;

/// One bucket: its label and the delivered recipients per level (in the order of [`LEVELS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// What the axis and the titles call the bucket ("10:00", "12-04").
    pub label: String,
    pub counts: [u64; 6],
}

impl Bar {
    /// The bucket's total.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A chart to draw.
pub struct Chart<'a> {
    /// The `id` of the `<svg>` (and, with "-title", of its `<title>`).
    pub id: &'a str,
    /// What the chart shows, its `<title>`.
    pub title: &'a str,
    pub bars: &'a [Bar],
    /// The words of each level in the legend, in the order of [`LEVELS`].
    pub level_names: [&'a str; 6],
    /// Drawn in the middle of an empty window.
    pub no_mail: &'a str,
    /// Every how many bars the axis writes a label.
    pub label_every: usize,
}

/// `s` escaped for text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `part` of `whole` in percent, rounded.
pub fn percent(part: u64, whole: u64) -> u64 {
    (part * 100 + whole / 2).checked_div(whole).unwrap_or(0)
}

/// The height in pixels of `count` when `max` fills the plot.
fn height(count: u64, max: u64) -> f64 {
    if max == 0 { 0.0 } else { count as f64 * f64::from(PLOT_HEIGHT) / max as f64 }
}

/// The chart as an `<svg>` element.
pub fn svg(chart: &Chart) -> String {
    let id = escape(chart.id);
    let title = escape(chart.title);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"{id}\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title\"><title id=\"{id}-title\">{title}</title>"
    );
    let base = PLOT_TOP + PLOT_HEIGHT;
    let _ = write!(out, "<line x1=\"0\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\" stroke=\"#888\"/>");
    let max = chart.bars.iter().map(Bar::total).max().unwrap_or(0);
    if max == 0 {
        let _ = write!(
            out,
            "<text class=\"no-mail\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            WIDTH / 2,
            PLOT_TOP + PLOT_HEIGHT / 2,
            escape(chart.no_mail)
        );
    }
    let n = chart.bars.len().max(1);
    let slot = f64::from(WIDTH - 2 * PAD) / n as f64;
    let bar_width = (slot * 0.8).max(1.0);
    let every = chart.label_every.max(1);
    for (i, bar) in chart.bars.iter().enumerate() {
        let x = f64::from(PAD) + i as f64 * slot + (slot - bar_width) / 2.0;
        let total = bar.total();
        let label = escape(&bar.label);
        if total > 0 {
            let _ = write!(out, "<g class=\"bar\" data-bucket=\"{label}\" data-total=\"{total}\">");
            let mut y = f64::from(base);
            for (k, &count) in bar.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                let h = height(count, max);
                y -= h;
                let _ = write!(
                    out,
                    "<rect class=\"segment\" data-level=\"{}\" data-count=\"{count}\" x=\"{x:.2}\" y=\"{y:.2}\" \
                     width=\"{bar_width:.2}\" height=\"{h:.2}\" fill=\"{}\"><title>{label}: {} {count} ({}%)</title></rect>",
                    LEVELS[k],
                    COLOURS[k],
                    escape(chart.level_names[k]),
                    percent(count, total)
                );
            }
            out.push_str("</g>");
        }
        if i % every == 0 {
            let _ = write!(
                out,
                "<text class=\"axis\" x=\"{:.2}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{label}</text>",
                x + bar_width / 2.0,
                base + 15
            );
        }
    }
    let legend_y = base + AXIS;
    let step = (WIDTH - 2 * PAD) / LEVELS.len() as u32;
    for (k, name) in chart.level_names.iter().enumerate() {
        let x = PAD + k as u32 * step;
        let _ = write!(
            out,
            "<g class=\"legend\" data-level=\"{}\"><rect x=\"{x}\" y=\"{legend_y}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#222\">{}</text></g>",
            LEVELS[k],
            COLOURS[k],
            x + 16,
            legend_y + 11,
            escape(name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 6] = ["none", "encrypted", "authenticated", "MTA-STS", "DANE", "no record"];

    fn chart<'a>(bars: &'a [Bar]) -> Chart<'a> {
        Chart { id: "day", title: "Delivered <per> hour", bars, level_names: NAMES, no_mail: "no mail", label_every: 1 }
    }

    /// The `height` attributes of the segments of `level`, in order.
    fn heights(svg: &str, level: &str) -> Vec<f64> {
        svg.split("<rect class=\"segment\" ")
            .skip(1)
            .filter(|r| r.starts_with(&format!("data-level=\"{level}\"")))
            .map(|r| {
                let at = r.find(" height=\"").unwrap() + 9;
                r[at..at + r[at..].find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn bar_heights_are_proportional_to_the_counts_and_the_tallest_fills_the_plot() {
        let bars = [
            Bar { label: "09:00".into(), counts: [0, 0, 4, 0, 0, 0] },
            Bar { label: "10:00".into(), counts: [1, 0, 1, 0, 0, 0] },
            Bar { label: "11:00".into(), counts: [0, 0, 0, 0, 0, 0] },
        ];
        let svg = svg(&chart(&bars));
        assert_eq!(heights(&svg, "authenticated"), [f64::from(PLOT_HEIGHT), f64::from(PLOT_HEIGHT) / 4.0]);
        assert_eq!(heights(&svg, "none"), [f64::from(PLOT_HEIGHT) / 4.0]);
        assert_eq!(svg.matches("<g class=\"bar\"").count(), 2, "an empty bucket draws no bar: {svg}");
        assert!(svg.contains("<title>10:00: none 1 (50%)</title>"), "{svg}");
        assert!(!svg.contains("no-mail"), "{svg}");
        assert_eq!(svg.matches("<g class=\"legend\"").count(), 6);
        assert!(svg.contains("<title id=\"day-title\">Delivered &lt;per&gt; hour</title>"), "escaped: {svg}");
        assert!(svg.contains("role=\"img\" aria-labelledby=\"day-title\""));
    }

    #[test]
    fn an_empty_window_says_no_mail_and_draws_no_bar() {
        let bars = [Bar { label: "12-01".into(), counts: [0; 6] }, Bar { label: "12-02".into(), counts: [0; 6] }];
        let svg = svg(&chart(&bars));
        assert!(svg.contains(">no mail</text>"), "{svg}");
        assert!(!svg.contains("class=\"segment\""), "{svg}");
        assert!(svg.contains(">12-02</text>"), "the axis is still labelled: {svg}");
        assert!(super::svg(&chart(&[])).contains(">no mail</text>"));
    }

    #[test]
    fn labels_from_outside_are_escaped() {
        let bars = [Bar { label: "<script>".into(), counts: [1, 0, 0, 0, 0, 0] }];
        let svg = svg(&chart(&bars));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"), "{svg}");
    }

    #[test]
    fn percentages_round_to_the_nearest() {
        assert_eq!((percent(1, 3), percent(2, 3), percent(0, 0), percent(5, 5)), (33, 67, 0, 100));
    }
}
