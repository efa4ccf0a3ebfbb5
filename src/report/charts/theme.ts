/**
 * The look of every chart: one Vega-Lite config and one palette. Colours of data marks are
 * mid-tones that read on a white and on a near-black page; the text, axes and grid colours here
 * are only the fallback for an SVG seen outside the report — the report's CSS restyles them
 * through Vega's class names (role-axis-*, role-legend-*) for the light and the dark scheme.
 */

/** Experiment status → colour, the same in every chart and in the tables' badges. */
export const STATUS_COLORS: Record<string, string> = {
  keep: "#2f9e5b",
  discard: "#8c939d",
  crash: "#d9534f",
  invalid: "#9b59b6",
  skipped: "#b58a2e",
  running: "#3d8bd9",
  proposed: "#3d8bd9",
};

/** Org series colours (Tableau 10 without its darkest greys): distinct on both backgrounds. */
export const SERIES_COLORS = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
];

/** Estimates and their intervals (forest plots): a blue that holds on white and near-black. */
export const INTERVAL_COLOR = "#3d8bd9";

export const CHART_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";

export const CHART_CONFIG = {
  // Transparent: the page's own background (light or dark) shows through.
  background: null,
  font: CHART_FONT,
  padding: 8,
  view: { stroke: null },
  axis: {
    labelColor: "#555",
    titleColor: "#555",
    gridColor: "#dddddd",
    domainColor: "#999999",
    tickColor: "#999999",
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: 500,
  },
  // Shape-only legends draw their symbols in this mid grey (Vega's default is black, lost on dark).
  legend: {
    labelColor: "#555",
    titleColor: "#555",
    labelFontSize: 11,
    titleFontSize: 12,
    orient: "bottom",
    symbolBaseFillColor: "#8c939d",
    symbolBaseStrokeColor: "#8c939d",
  },
  title: { color: "#333", fontSize: 13 },
} as const;
