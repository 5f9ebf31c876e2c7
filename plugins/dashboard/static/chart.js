// Line charts drawn as SVG, sized to their box in CSS pixels (so text stays legible on a phone). Colours and
// strokes come from the stylesheet's classes; no style attribute is set (the page's CSP allows none inline).
import { svg } from "./core.js";

const HEIGHT = 160;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

// A ceiling for the axis: 1, 2, 2.5 or 5 times a power of ten, at least `max`.
function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((f) => f * power).find((v) => v >= max * 1.0001) ?? 10 * power;
}

function timeLabel(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// Consecutive runs of non-null points: a gap in the data is a gap in the line.
function runs(points) {
  const found = [];
  let run = [];
  for (const point of points) {
    if (point[1] === null || point[1] === undefined) {
      if (run.length) found.push(run);
      run = [];
    } else run.push(point);
  }
  if (run.length) found.push(run);
  return found;
}

// lines: [{name, value: bucket -> number | null}], the first filled below its line.
export function lineChart(box, buckets, lines, { format, bucket }) {
  const width = Math.max(box.clientWidth || 0, 260);
  const plotWidth = width - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const values = lines.flatMap((line) => buckets.map(line.value)).filter((v) => v !== null && v !== undefined);
  const top = niceMax(Math.max(0, ...values));
  const x = (i) => PAD.left + (buckets.length < 2 ? plotWidth / 2 : (plotWidth * i) / (buckets.length - 1));
  const y = (v) => PAD.top + plotHeight * (1 - v / top);
  const root = svg("svg", { class: "plot", width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: "img" });
  for (const f of [0, 0.5, 1]) {
    root.append(svg("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: y(top * f), y2: y(top * f) }));
    root.append(svg("text", { class: "tick", x: PAD.left - 6, y: y(top * f) + 4, "text-anchor": "end" }, format(top * f)));
  }
  if (buckets.length) {
    const marks = [[0, "start"], [Math.floor((buckets.length - 1) / 2), "middle"], [buckets.length - 1, "end"]];
    for (const [i, anchor] of marks) {
      const label = timeLabel(buckets[i].start + bucket);
      root.append(svg("text", { class: "tick", x: x(i), y: HEIGHT - 6, "text-anchor": anchor }, label));
    }
  }
  lines.forEach((line, n) => {
    for (const run of runs(buckets.map((b, i) => [x(i), line.value(b)]))) {
      const path = run.map(([px, v], i) => `${i ? "L" : "M"}${px.toFixed(1)},${y(v).toFixed(1)}`).join("");
      if (n === 0 && run.length > 1) {
        const base = y(0).toFixed(1);
        const area = `${path}L${run[run.length - 1][0].toFixed(1)},${base}L${run[0][0].toFixed(1)},${base}Z`;
        root.append(svg("path", { class: "area", d: area }));
      }
      root.append(svg("path", { class: `line line-${n}`, d: path }));
      if (run.length === 1) root.append(svg("circle", { class: `dot line-${n}`, cx: run[0][0], cy: y(run[0][1]), r: 2.5 }));
    }
  });
  // One invisible column per bucket whose title tells its values (the browser shows it on hover).
  const column = buckets.length > 1 ? plotWidth / (buckets.length - 1) : plotWidth;
  buckets.forEach((b, i) => {
    const told = lines.map((line) => `${line.name}: ${line.value(b) === null ? "—" : format(line.value(b))}`);
    const title = svg("title", {}, `${timeLabel(b.start)}  ${told.join(", ")}`);
    root.append(svg("rect", { class: "hover", x: x(i) - column / 2, y: PAD.top, width: column, height: plotHeight }, title));
  });
  box.replaceChildren(root);
}
