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

// A failed run's reason as an admin says it first; the agent's or server's own words
// follow below it. The first match wins.
const HUMAN_REASONS = [
  [/refused bind_dn's password|invalid credentials/i, 'The directory refused bind_dn’s password.'],
  [/cannot connect to the directory/i, 'The agent could not reach the directory.'],
  [/certificate/i, 'The directory’s certificate was not trusted.'],
  [/requires a secure connection/i, 'The directory requires a secure connection (ldaps:// or StartTLS).'],
  [/size limit/i, 'The directory stopped the read at its size limit; nobody was deleted.'],
  [/time limit|timed out/i, 'The directory took too long to answer; nobody was deleted.'],
  [/insufficient access/i, 'bind_dn may not read the directory.'],
  [/no such object/i, 'base_dn does not exist in the directory.'],
  [/read ended early|read stopped/i, 'The directory read ended early; nobody was deleted.'],
  [/sent nothing for this run/i, 'The agent stopped answering during the run.'],
  [/agent was stopped/i, 'The agent was stopped during the run.'],
  [/disconnect|connection (was )?(lost|closed)|went away/i, 'The agent’s connection dropped during the run.'],
  [/could not store/i, 'The server could not store the run’s changes (its database).'],
  [/restart|replica/i, 'The server restarted during the run.'],
];

/** `{ short, check }`: the human reason, and what to check when the detail says. */
export function humanReason(error) {
  const detail = error.replace(/^the agent reported: /, '');
  const found = HUMAN_REASONS.find(([re]) => re.test(detail));
  const first = detail.split(/[:;]/)[0].trim();
  const short = found ? found[1] : `${first.charAt(0).toUpperCase()}${first.slice(1)}.`;
  const check = detail.match(/;\s*check (.+)$/i);
  return { short, check: check ? check[1] : null };
}
