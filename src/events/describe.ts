/**
 * The sentences of the event stream: one per event, made from its fields,
 * written for an agent to act on (what was refused, by which rule, which
 * setting would allow it). Pure. Attacker-chosen strings (paths, hosts,
 * argv) are quoted with JSON.stringify, so a name cannot forge a line of
 * the summary or pass for cordon's own words.
 */
import type { CordonEvent, EventPayload, Violation } from './types.js';

/** The one-line message of an event; a `message` the producer gave is kept. */
export function describe(e: EventPayload | CordonEvent): string {
  if (e.message !== undefined) return e.message;
  const allow = (fix: string | null) => (fix ? `to allow it: ${fix}` : 'no setting allows it');
  switch (e.type) {
    case 'command.start':
      return `started ${e.argv.map((a) => JSON.stringify(a)).join(' ')} in ${JSON.stringify(e.cwd)}`;
    case 'command.exit':
      return e.error ? `cordon failed (${e.error.code}): ${e.error.message}` : e.signal ? `ended by ${e.signal} (exit status ${e.exitCode})` : `exited with status ${e.exitCode}`;
    case 'net.allowed':
      return `connection to ${hostPort(e.host, e.port)} allowed by ${e.rule}${e.address ? ` (dialed ${e.address})` : ''}`;
    case 'net.done':
      return `${e.method !== undefined ? `${JSON.stringify(e.method)} request for ${JSON.stringify(e.url)} to ${hostPort(e.host, e.port)} ${e.status !== undefined ? `answered ${e.status}` : 'not answered'}` : `tunnel to ${hostPort(e.host, e.port)} closed`}: ${e.bytesUp} bytes sent, ${e.bytesDown} received`;
    case 'net.refused':
      return `connection to ${hostPort(e.host, e.port)} refused (${e.reason}) by ${e.rule}; ${allow(e.fix)}`;
    case 'request.refused':
      return `${JSON.stringify(e.method)} request for ${JSON.stringify(e.url)} to ${hostPort(e.host, e.port)} refused (${e.reason}) by ${e.rule}; ${allow(e.fix)}`;
    case 'fs.refused':
      return `${e.op} of ${JSON.stringify(e.path)}${e.pid !== undefined ? ` by pid ${e.pid}` : ''} refused by ${e.rule}; ${allow(e.fix)}`;
    case 'after-run.set-aside':
      return e.action === 'failed'
        ? `the command created ${JSON.stringify(e.path)} (${e.why}), and it could not be moved aside: read it before anything on the host uses it`
        : `the command created ${JSON.stringify(e.path)} (${e.why}); ${e.action === 'relinked' ? 'the link was made again' : 'it was moved'}${e.movedTo ? ` to ${JSON.stringify(e.movedTo)}` : ''}. Read it before using it`;
    case 'after-run.warning':
      return 'the step after the run said nothing more';
  }
}

function hostPort(host: string, port: number): string {
  const h = /^[A-Za-z0-9.\-[\]:_]+$/.test(host) ? host : JSON.stringify(host);
  return `${h}:${port}`;
}

/**
 * A message as the terminal gets it: C0 and C1 control characters and DEL
 * (a name or header from the sandbox may carry ESC or CSI sequences) shown
 * as \u escapes.
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** printable() line by line: a message of several lines keeps its line breaks and tabs, nothing else. */
export function printableLines(s: string): string {
  return s.split('\n').map((l) => l.split('\t').map(printable).join('\t')).join('\n');
}

/** At most this many distinct refusals are listed one by one in the summary. */
export const SUMMARY_LINES = 20;

/**
 * The CLI's summary on stderr when the command ends: nothing when nothing
 * was refused; else a count and one line per distinct refusal (identical
 * ones counted, not repeated), the first SUMMARY_LINES of them; and how
 * many refusals past the kept ones (`dropped`) are in no list.
 */
export function summary(violations: readonly Violation[], dropped = 0): string {
  if (violations.length === 0) return '';
  const counts = new Map<string, number>();
  for (const v of violations) counts.set(v.message, (counts.get(v.message) ?? 0) + 1);
  const total = violations.length + dropped;
  const lines = [`cordon: ${total} operation${total === 1 ? ' was' : 's were'} refused:`];
  let shown = 0;
  for (const [message, n] of counts) {
    if (shown++ === SUMMARY_LINES) break;
    lines.push(`  ${printable(message.replace(/^cordon: /, ''))}${n > 1 ? ` (${n} times)` : ''}`);
  }
  if (counts.size > SUMMARY_LINES) lines.push(`  and ${counts.size - SUMMARY_LINES} more distinct refusals (--violations-json FILE lists ${dropped > 0 ? `the first ${violations.length}` : 'them all'})`);
  // A command can make decoy refusals first: what came after the kept ones is said to exist, and where it is.
  if (dropped > 0) lines.push(`  and ${dropped} more after the first ${violations.length}, not kept here (--audit-log FILE records every one)`);
  return `${lines.join('\n')}\n`;
}
