// The run-history chart: one bar per run, oldest on the left, under a time axis. A
// bar's height is its number of changes on a log scale, so a first run that created
// 20 000 users and later runs of 3 changes both read; its colours split it by kind.
// Dry runs are pale and dashed, failed runs marked ✕ and held ones !, each in the
// legend. Plain SVG built with DOM calls; every label is a text node.

const NS = 'http://www.w3.org/2000/svg';
export const SERIES = [
  ['created', 'Created'],
  ['updated', 'Updated'],
  ['deleted', 'Deleted'],
  ['disabled', 'Disabled'],
  ['conflicts', 'Conflicts'],
];

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const total = (r) => SERIES.reduce((n, [k]) => n + (r.counts[k] || 0), 0);

/** Heights on log10(1 + n): 0 stays at the baseline, 1 is visible, 10⁴ is not a wall. */
const scaled = (n) => Math.log10(1 + n);

function shortTime(iso, withDate) {
  const d = new Date(iso);
  const t = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return withDate ? `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${t}` : t;
}

/** What a mark means, for its tooltip and the chart's description. */
function describe(r) {
  const kind = r.status === 'failed' ? 'failed' : r.status === 'held' ? 'held' : r.dry_run ? 'dry run' : r.status;
  const parts = SERIES.map(([k, label]) => `${label} ${r.counts[k] || 0}`).join(', ');
  return `${new Date(r.started_at).toLocaleString()} — ${kind}: ${parts}`;
}

/** runs: newest first, as the API lists them. */
export function runChart(runs, onPick) {
  // A phone gets fewer runs on a narrower drawing, so its labels stay readable.
  const narrow = window.matchMedia('(max-width: 600px)').matches;
  const shown = runs.slice(0, narrow ? 12 : 30).reverse();
  const W = narrow ? 380 : 960;
  const H = narrow ? 230 : 240;
  const left = 46;
  const right = 8;
  const top = 20;
  const bottom = 34;
  const plotH = H - bottom - top;
  const max = Math.max(1, ...shown.map(total));
  // The scale's top is the next power of ten: gridlines at 1, 10, 100, …
  const decades = Math.max(1, Math.ceil(Math.log10(max + 1)));
  const topValue = 10 ** decades;
  const y = (n) => top + plotH - (scaled(n) / scaled(topValue)) * plotH;
  const slot = (W - left - right) / Math.max(shown.length, narrow ? 6 : 10);
  const barW = Math.max(4, Math.min(30, slot * 0.7));
  const failed = shown.filter((r) => r.status === 'failed').length;
  const svg = s('svg', {
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `Changes per run for the last ${shown.length} runs, on a log scale; ${failed} failed. The table below lists the same runs.`,
  });
  for (let d = 0; d <= decades; d += 1) {
    const v = d === 0 ? 0 : 10 ** d;
    const gy = d === 0 ? top + plotH : y(v);
    svg.append(s('line', { class: d === 0 ? 'axis' : 'grid', x1: left, y1: gy, x2: W - right, y2: gy }));
    svg.append(s('text', { x: left - 6, y: gy + 4, 'text-anchor': 'end' }, d === 0 ? '0' : v.toLocaleString()));
  }
  // The time axis: at most six labels, the date shown where it changes.
  const every = Math.max(1, Math.ceil(shown.length / (narrow ? 3 : 6)));
  let lastDay = null;
  shown.forEach((r, i) => {
    if (i % every !== 0 && i !== shown.length - 1) return;
    if (i !== shown.length - 1 && shown.length - 1 - i < every / 2 && i !== 0) return;
    const day = new Date(r.started_at).toDateString();
    const cx = left + i * slot + slot / 2;
    svg.append(s('line', { class: 'tick', x1: cx, y1: top + plotH, x2: cx, y2: top + plotH + 4 }));
    svg.append(s('text', { class: 'time', x: cx, y: top + plotH + 16, 'text-anchor': 'middle' }, shortTime(r.started_at, day !== lastDay)));
    lastDay = day;
  });
  svg.append(s('text', { class: 'axis-title', x: W - right, y: H - 2, 'text-anchor': 'end' }, 'run started →'));
  shown.forEach((r, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const cls = ['bar', r.dry_run ? 'dry' : null, r.status === 'failed' ? 'failed' : null].filter(Boolean).join(' ');
    const g = s('g', { class: cls, 'data-run': r.id });
    g.append(s('title', null, describe(r)));
    const n = total(r);
    const barTop = y(n);
    if (n > 0) {
      // The bar's height is the total's; its colours split it in proportion.
      let yy = top + plotH;
      for (const [k] of SERIES) {
        const v = r.counts[k] || 0;
        if (!v) continue;
        const hgt = Math.max(1, ((top + plotH - barTop) * v) / n);
        yy -= hgt;
        g.append(s('rect', { class: `seg ${k}`, x, y: yy, width: barW, height: hgt }));
      }
      if (r.dry_run) g.append(s('rect', { class: 'dry-outline', x, y: barTop, width: barW, height: top + plotH - barTop }));
    } else {
      g.append(s('rect', { class: 'none', x, y: top + plotH - 2, width: barW, height: 2 }));
    }
    const markY = Math.min(barTop, top + plotH - 2) - 5;
    if (r.status === 'failed') {
      g.append(s('text', { class: 'failure-mark', x: x + barW / 2, y: markY, 'text-anchor': 'middle' }, '✕'));
    } else if (r.status === 'held') {
      g.append(s('text', { class: 'held-mark', x: x + barW / 2, y: markY, 'text-anchor': 'middle' }, '!'));
    }
    g.append(s('rect', { class: 'bar-hit', x: left + i * slot, y: top, width: slot, height: plotH }));
    if (onPick) {
      g.style.cursor = 'pointer';
      g.addEventListener('click', () => onPick(r));
    }
    svg.append(g);
  });
  return svg;
}

export function legend() {
  const box = document.createElement('div');
  box.className = 'legend';
  const item = (swatch, label) => {
    const span = document.createElement('span');
    span.append(swatch, label);
    box.append(span);
  };
  for (const [k, label] of SERIES) {
    const sw = document.createElement('i');
    sw.className = k;
    item(sw, label);
  }
  const dry = document.createElement('i');
  dry.className = 'dry';
  item(dry, 'Dry run (planned, nothing applied)');
  for (const [cls, mark, label] of [['failure', '✕', 'Failed run'], ['held', '!', 'Held: deletions wait for a decision'], ['none', '▁', 'No change']]) {
    const b = document.createElement('b');
    b.className = `mark ${cls}`;
    b.textContent = mark;
    item(b, label);
  }
  const note = document.createElement('span');
  note.className = 'muted';
  note.textContent = 'Bar height: changes per run, log scale (each line is ten times the one below).';
  box.append(note);
  return box;
}
