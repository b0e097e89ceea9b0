/**
 * The step after the run when the program that embeds cordon ends while
 * commands run. The CLI forwards its signals to the command and waits for
 * the step; a library host is a program of its own, which may call
 * `process.exit()` or die of a signal it does not handle with sandboxes
 * still going. Then, before the process is gone, each sandbox still running
 * is killed, and its step after the run is done from its journal, at once
 * and synchronously (finishKilledRun, as the next cordon would do it for a
 * cordon that was SIGKILLed): a repository the command planted is moved
 * aside now, not at some later run.
 *
 * - `process.on('exit')`: always, while some run is tracked (only
 *   synchronous work is possible there, which this is).
 * - SIGINT, SIGTERM, SIGHUP: only for runs that do not forward the host's
 *   signals (the library's), and only while the host has no handler of its
 *   own for that signal (then the host decides how it ends; a host that
 *   then exits comes through 'exit'). Ours does the same step, then takes
 *   itself away and raises the signal again, so the host still ends by it.
 *
 * This is process-wide by nature (a process has one 'exit' and one
 * disposition per signal): the set of runs in flight is the one piece of
 * module state, and it holds only runs between their journal and the end
 * of their step after the run (and the library's sandboxes started ahead,
 * until a launch takes them: a process left blocked otherwise).
 * Tests: test/integration/library/host-exit.test.ts.
 */
import { readFileSync, renameSync, writeSync } from 'node:fs';
import { finishKilledRun } from './after-run.js';
import { claimName, processStart, removeJournal, type Journal } from './journal.js';
import { releasePlaceholders, type Holds } from './placeholders.js';
import type { Held } from './ahead.js';
import type { SandboxProcess } from './sandbox-process.js';

/** A run between its journal and the end of its step after the run; or, with no journal, a sandbox started ahead that nothing ran in yet. */
export interface InFlight {
  readonly journal?: string;
  readonly helper?: string;
  readonly stateDir?: string;
  /** Kills the sandbox (bubblewrap and its PID 1) now; the pids to wait for. */
  killNow(): number[];
  readonly holds?: Holds;
  /** Whether the host's SIGINT/SIGTERM/SIGHUP should end it like an exit (the library's runs). */
  readonly onHostSignal: boolean;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How long a killed sandbox may take to be gone before its step runs anyway. */
const GONE_WAIT_MS = 5_000;

const inFlight = new Set<InFlight>();
const ours = new Map<NodeJS.Signals, () => void>();

/** Tracks a run until the returned function is called (its step after the run is done or taken over). */
export function trackRun(run: InFlight): () => void {
  inFlight.add(run);
  sync();
  return () => {
    inFlight.delete(run);
    sync();
  };
}

function sync(): void {
  // Once: process.on adds a listener again each time it is called.
  process.off('exit', onExit);
  if (inFlight.size > 0) process.on('exit', onExit);
  const signals = [...inFlight].some((r) => r.onHostSignal);
  for (const sig of SIGNALS) {
    const h = ours.get(sig);
    if (signals && !h && process.listenerCount(sig) === 0) {
      const handler = () => onSignal(sig);
      ours.set(sig, handler);
      process.on(sig, handler);
    } else if (!signals && h) {
      process.off(sig, h);
      ours.delete(sig);
    }
  }
}

function onExit(): void {
  finishAllNow();
}

function onSignal(sig: NodeJS.Signals): void {
  // The host added a handler of its own since: the signal is its to handle.
  if (process.listenerCount(sig) > 1) return;
  finishAllNow();
  for (const [s, h] of ours) process.off(s, h);
  ours.clear();
  process.kill(process.pid, sig);
}

/** Kills every run in flight, waits for each sandbox to be gone, then does each step after the run from its journal. */
function finishAllNow(): void {
  const runs = [...inFlight];
  inFlight.clear();
  process.off('exit', onExit);
  const pids = runs.flatMap((r) => { try { return r.killNow(); } catch { return []; } });
  const until = Date.now() + GONE_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (pids.some(running) && Date.now() < until) Atomics.wait(pause, 0, 0, 2);
  for (const r of runs) {
    if (!r.journal || !r.helper || !r.stateDir) continue;
    // Claimed as recoverJournals claims one: a cordon starting now does not handle it too.
    const claimed = claimName(r.journal);
    try { renameSync(r.journal, claimed); } catch { continue; }
    let j: Journal | undefined;
    try {
      j = JSON.parse(readFileSync(claimed, 'utf8')) as Journal;
      finishKilledRun(j, r.helper, r.stateDir, say);
    } catch (e) {
      say(`the step after the run could not finish (${(e as Error).message}): read what the command left in ${j?.writable.join(', ') ?? 'its writable paths'} before running git there`);
    } finally {
      removeJournal(claimed);
    }
    if (r.holds) try { releasePlaceholders(r.holds); } catch { /* the next run sweeps them */ }
  }
}

/** Alive and not yet a zombie (a zombie PID 1 means its whole PID namespace is gone). */
function running(pid: number): boolean {
  return processStart(pid) !== undefined;
}

function say(w: string): void {
  try { writeSync(2, `cordon: ${w}\n`); } catch { /* stderr closed */ }
}

/**
 * Holds a sandbox process the library started ahead (ahead.ts) until a
 * launch takes it: should the process end first, it is killed on the way
 * out like a run (nothing ran in it: there is no step after the run).
 */
export function heldUntilLaunch(start: () => SandboxProcess): Held {
  let mine: SandboxProcess | undefined = start();
  const untrack = trackRun({ killNow: () => mine?.killNow() ?? [], onHostSignal: true });
  return {
    take() {
      untrack();
      const q = mine;
      mine = undefined;
      return q;
    },
    peek: () => mine,
    stoppedBy: () => undefined,
  };
}
