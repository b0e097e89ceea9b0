/**
 * One command's events: its id, the stamping of what producers report
 * (version, time, id, message), the violations kept for `exec()` and the
 * CLI's summary, and a small async queue for the library's iterators.
 *
 * Trust boundary: producers run in cordon (proxies, the filesystem-refusal
 * monitor, the step after the run) and report what the confined command
 * did; a command cannot emit into any stream, so it cannot forge another
 * command's id or events. A consumer's callback that throws is reported as
 * a process warning and does not stop the stream or the producer.
 */
import { randomBytes } from 'node:crypto';
import { describe } from './describe.js';
import { EVENT_VERSION, isViolation, type CordonEvent, type EmitEvent, type EventPayload, type Violation } from './types.js';

/** 128 random bits, base64url: 22 characters, unguessable, one per command. */
export function newCommandId(): string {
  return randomBytes(16).toString('base64url');
}

export function stamp(commandId: string, p: EventPayload, time: Date = new Date()): CordonEvent {
  // The stream's own fields last: a producer cannot set the version, time or id.
  const { v: _v, time: _t, commandId: _c, ...fields } = p as EventPayload & { v?: unknown; time?: unknown; commandId?: unknown };
  return { v: EVENT_VERSION, ...fields, time: time.toISOString(), commandId, message: describe(p) } as CordonEvent;
}

/** A command that refuses without end (a loop of failed writes) keeps at most this many violations; the stream still carries all. */
export const MAX_KEPT_VIOLATIONS = 1000;

export interface CommandEvents {
  readonly id: string;
  /** Stamps and delivers one event. */
  readonly emit: EmitEvent;
  /** The command's refusals so far (the first MAX_KEPT_VIOLATIONS). */
  readonly violations: readonly Violation[];
  /** How many refusals were not kept in `violations`. */
  readonly violationsDropped: number;
}

export function commandEvents(deliver: (e: CordonEvent) => void, id: string = newCommandId()): CommandEvents {
  const violations: Violation[] = [];
  let dropped = 0;
  return {
    id,
    violations,
    get violationsDropped() { return dropped; },
    emit(p) {
      const e = stamp(id, p);
      if (isViolation(e)) {
        if (violations.length < MAX_KEPT_VIOLATIONS) violations.push(e);
        else dropped++;
      }
      deliver(e);
    },
  };
}

/** Calls a consumer's callback; what it throws becomes a process warning, never a failure of the producer. */
export function safely<T>(f: ((e: T) => void) | undefined, e: T): void {
  if (!f) return;
  try {
    f(e);
  } catch (err) {
    process.emitWarning(`cordon: an event callback threw: ${(err as Error)?.stack ?? String(err)}`, 'CordonEventCallbackWarning');
  }
}

/**
 * An async iterator over pushed events: buffers what the consumer has not
 * read yet, ends after end(). Returning early (break) unsubscribes.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffered: T[] = [];
  private readonly waiting: ((r: IteratorResult<T>) => void)[] = [];
  private ended = false;

  constructor(private readonly onReturn: () => void = () => {}) {}

  push(e: T): void {
    if (this.ended) return;
    const w = this.waiting.shift();
    if (w) w({ value: e, done: false });
    else this.buffered.push(e);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffered.length > 0) return Promise.resolve({ value: this.buffered.shift()!, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.buffered.length = 0;
    this.end();
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
