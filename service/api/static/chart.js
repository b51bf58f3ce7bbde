// Line charts in plain SVG: one panel per group of series, redrawn when points arrive.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

function svgElement(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (parent) parent.appendChild(element);
  return element;
}

class Chart {
  // `series`: name -> Map(step -> value); a step logged again (a resumed job) keeps its last value.
  constructor(container, title, width = 460, height = 240) {
    this.title = title;
    this.width = width;
    this.height = height;
    this.series = new Map();
    this.svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", "data-title": title });
    container.appendChild(this.svg);
    this.pending = false;
  }

  add(name, step, value) {
    if (!this.series.has(name)) this.series.set(name, new Map());
    this.series.get(name).set(step, value);
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }
  }

  draw() {
    const { width, height } = this;
    const pad = { left: 48, right: 10, top: 22, bottom: 26 };
    this.svg.replaceChildren();
    svgElement("text", { x: pad.left, y: 14, class: "chart-title" }, this.svg).textContent = this.title;
    const all = [...this.series.values()].flatMap((points) => [...points]);
    if (all.length === 0) {
      svgElement("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, this.svg)
        .textContent = "no points yet";
      return;
    }
    const steps = all.map(([step]) => step);
    const values = all.map(([, value]) => value);
    const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
    let [y0, y1] = [Math.min(...values), Math.max(...values)];
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    const x = (step) => pad.left + ((step - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
    const y = (value) => height - pad.bottom - ((value - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
    svgElement("rect", { x: pad.left, y: pad.top, width: width - pad.left - pad.right,
      height: height - pad.top - pad.bottom, class: "frame" }, this.svg);
    const label = (text, attributes) => { svgElement("text", { class: "tick", ...attributes }, this.svg).textContent = text; };
    label(Number(y1.toPrecision(3)), { x: pad.left - 4, y: pad.top + 8, "text-anchor": "end" });
    label(Number(y0.toPrecision(3)), { x: pad.left - 4, y: height - pad.bottom, "text-anchor": "end" });
    label(x0, { x: pad.left, y: height - 8 });
    label(`step ${x1}`, { x: width - pad.right, y: height - 8, "text-anchor": "end" });
    [...this.series.entries()].forEach(([name, points], index) => {
      const sorted = [...points].sort((a, b) => a[0] - b[0]);
      const color = COLORS[index % COLORS.length];
      svgElement("polyline", {
        points: sorted.map(([step, value]) => `${x(step).toFixed(1)},${y(value).toFixed(1)}`).join(" "),
        stroke: color, fill: "none", "stroke-width": 1.5, "data-series": name, "data-points": sorted.length,
      }, this.svg);
      const legend = svgElement("text", { x: width - pad.right - 4, y: pad.top + 14 + 13 * index,
        "text-anchor": "end", style: `fill: ${color}`, class: "legend" }, this.svg);
      legend.textContent = name;
    });
  }
}
