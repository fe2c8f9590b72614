// The run-history chart: one stacked bar per run, oldest on the left, failures marked.
// Plain SVG built with DOM calls; every label is a text node.

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

/** runs: newest first, as the API lists them. */
export function runChart(runs, onPick) {
  const shown = runs.slice(0, 30).reverse();
  const W = 640;
  const H = 220;
  const left = 44;
  const bottom = 22;
  const top = 18;
  const plotH = H - bottom - top;
  const total = (r) => SERIES.reduce((n, [k]) => n + (r.counts[k] || 0), 0);
  const max = Math.max(1, ...shown.map(total));
  const slot = (W - left - 8) / Math.max(shown.length, 10);
  const barW = Math.max(4, Math.min(28, slot * 0.7));
  const failed = shown.filter((r) => r.status === 'failed').length;
  const svg = s('svg', {
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `Changes per run for the last ${shown.length} runs; ${failed} failed.`,
  });
  svg.append(s('line', { class: 'axis', x1: left, y1: top + plotH, x2: W - 4, y2: top + plotH }));
  svg.append(s('line', { class: 'axis', x1: left, y1: top, x2: W - 4, y2: top }));
  svg.append(s('text', { x: left - 6, y: top + 4, 'text-anchor': 'end' }, String(max)));
  svg.append(s('text', { x: left - 6, y: top + plotH + 4, 'text-anchor': 'end' }, '0'));
  shown.forEach((r, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const g = s('g', { class: 'bar', 'data-run': r.id });
    const parts = SERIES.map(([k, label]) => `${label} ${r.counts[k] || 0}`).join(', ');
    g.append(s('title', null, `${new Date(r.started_at).toLocaleString()} — ${r.status}${r.dry_run ? ' (dry run)' : ''}: ${parts}`));
    if (r.status === 'failed') {
      g.append(s('rect', { class: 'failure-bg', x: x - 2, y: top, width: barW + 4, height: plotH }));
      g.append(s('text', { class: 'failure-mark', x: x + barW / 2, y: top - 4, 'text-anchor': 'middle' }, '✕'));
    } else if (r.status === 'held') {
      g.append(s('text', { class: 'held-mark', x: x + barW / 2, y: top - 4, 'text-anchor': 'middle' }, '!'));
    }
    let y = top + plotH;
    for (const [k] of SERIES) {
      const v = r.counts[k] || 0;
      if (!v) continue;
      const hgt = Math.max(1, (v / max) * plotH);
      y -= hgt;
      g.append(s('rect', { class: k, x, y, width: barW, height: hgt }));
    }
    const hit = s('rect', { class: 'bar-hit', x: left + i * slot, y: top, width: slot, height: plotH });
    g.append(hit);
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
  for (const [k, label] of [...SERIES, ['failure', 'Failed run (✕)']]) {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.className = k;
    item.append(sw, label);
    box.append(item);
  }
  return box;
}
