// How times, durations and statuses read on the page.

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function ago(iso) {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function bytes(n) {
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export const SETTINGS = [
  ['dry-run', 'Plan only: every change is computed and reported, nothing is applied.'],
  ['no-update', 'Existing users are not modified.'],
  ['no-create', 'Users new in the directory are not created.'],
  ['no-delete', 'Users gone from the directory are neither deleted nor disabled.'],
  ['delete-disables', 'Users gone from the directory are disabled instead of deleted (no-delete wins).'],
  ['no-update-provider-mismatch', 'A cloud user with the same username but of another origin is left alone and reported as a conflict; when off, this synchronization takes it over.'],
  ['create-as-disabled', 'New users are created disabled.'],
];

export const STATUS_TEXT = {
  running: 'Running', succeeded: 'Succeeded', failed: 'Failed', held: 'Held', cancelled: 'Cancelled',
};
