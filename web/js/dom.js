// Building the page. Everything is made with createElement and text nodes: a value
// from the directory is always shown as the characters it is, never parsed as markup.

/** An element: h('a', { href: '#/', class: 'x', onclick: f }, 'text', child, [more]). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

/** Appends children: nodes as they are, anything else as text. */
export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces the content of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

let ids = 0;
export function uid(prefix = 'f') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled control: the label names the input for screen readers and clicks. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid();
  const hintEl = hint ? h('div', { class: 'hint', id: `${input.id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl);
}

/**
 * A table. On a phone each row becomes a card whose cells are labelled with their
 * column's header (`data-label`), so no column or button is ever off-screen.
 */
export function table(headers, rows, emptyText) {
  const labels = headers.map((x) => (typeof x === 'string' ? x : x.text));
  const head = h('tr', null, headers.map((x) =>
    typeof x === 'string' ? h('th', { scope: 'col' }, x) : h('th', { scope: 'col', class: x.class }, x.text)));
  const body = h('tbody');
  if (rows.length === 0) body.append(h('tr', { class: 'empty' }, h('td', { colspan: headers.length }, emptyText)));
  for (const r of rows) {
    [...r.children].forEach((td, i) => { if (labels[i] && !td.hasAttribute('data-label')) td.setAttribute('data-label', labels[i]); });
    body.append(r);
  }
  const wrap = h('div', { class: 'table-wrap' }, h('table', { class: 'cards' }, h('thead', null, head), body));
  scrollableByKeyboard(wrap);
  return wrap;
}

// A table (or a command) wider than its box scrolls sideways; then the box takes the
// focus, so the arrow keys scroll it too (only then: a box that does not scroll is no
// tab stop).
const watched = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    if (!target.isConnected) { watched.unobserve(target); continue; }
    const scrolls = target.scrollWidth > target.clientWidth + 1;
    if (scrolls === target.hasAttribute('tabindex')) continue;
    if (scrolls) {
      target.setAttribute('tabindex', '0');
      target.setAttribute('role', 'region');
      target.setAttribute('aria-label', `${target.dataset.scrollLabel || 'Table'} (scrolls sideways)`);
    } else {
      for (const a of ['tabindex', 'role', 'aria-label']) target.removeAttribute(a);
    }
  }
});

/** Makes `el` a tab stop while its content is wider than it; `label` names it then. */
export function scrollableByKeyboard(el, label) {
  if (label) el.dataset.scrollLabel = label;
  watched.observe(el);
  return el;
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** Copies text to the clipboard; works on plain-HTTP pages too. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h('textarea', { 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** A read-only value with a Copy button. */
export function copyRow(label, value) {
  const input = h('input', { type: 'text', readonly: true, value, spellcheck: 'false' });
  input.addEventListener('focus', () => input.select());
  const btn = h('button', { type: 'button', 'aria-label': `Copy ${label}` }, 'Copy');
  // The outcome is said beside the button: its name stays what it does.
  const said = h('span', { class: 'copy-said muted', role: 'status' });
  btn.addEventListener('click', async () => {
    const ok = await copyText(value);
    said.textContent = ok ? 'Copied' : 'Select the text and copy it';
    setTimeout(() => { said.textContent = ''; }, 2000);
  });
  if (!input.id) input.id = uid();
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), h('div', { class: 'copy-row' }, input, btn, said));
}

/**
 * A modal dialog. `build(close)` returns its content. The dialog is removed from the
 * page when it closes, however it closes — nothing it showed stays behind.
 */
export function modal(title, build) {
  const heading = h('h2', { id: uid('dlg') }, title);
  const dlg = h('dialog', { 'aria-labelledby': heading.id });
  return new Promise((resolve) => {
    let result;
    const close = (value) => { result = value; dlg.close(); };
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    dlg.append(heading, build(close, dlg));
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Asks before a consequential action; resolves true when confirmed. */
export function confirmAction(title, message, confirmLabel, danger = false, dismissLabel = 'Cancel') {
  return modal(title, (close) => h('div', null,
    [message].flat().map((m) => h('p', null, m)),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', onclick: () => close(false) }, dismissLabel),
      h('button', { type: 'button', class: danger ? 'danger solid' : 'primary', onclick: () => close(true) }, confirmLabel))))
    .then((v) => v === true);
}

/** Shows a secret once, with the warning, and forgets it when closed. */
export function showSecretOnce(title, rows, warning) {
  return modal(title, (close) => h('div', null,
    rows.map(([label, value]) => copyRow(label, value)),
    h('p', { class: 'warning', role: 'note' }, warning),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'primary', onclick: () => close(true) }, 'I have copied it — close'))));
}
