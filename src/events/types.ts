/**
 * cordon's one event stream: every decision cordon makes about a command
 * (its start and end, each connection allowed or refused, each refused
 * request and filesystem operation, each action of the step after the run)
 * is one value of the `CordonEvent` union. The same values go to every sink:
 * the JSONL audit log (`--audit-log`), the library (`onEvent`,
 * `events()`, `exec().violations`) and the CLI's summary. The schema is
 * versioned (`v`) and documented in docs/events.md; a change that removes or
 * retypes a field bumps `v`.
 *
 * Trust boundary: fields that the confined command chose (host names, paths,
 * argv) are attacker-controlled strings. They are data, never markup: sinks
 * write them as JSON strings, and messages quote them (see describe.ts).
 * `commandId` is chosen by cordon (128 random bits), never by the command.
 */

/** The schema version of every event this cordon writes. */
export const EVENT_VERSION = 1;

/** What every event carries. */
export interface EventBase<T extends string> {
  readonly v: typeof EVENT_VERSION;
  readonly type: T;
  /** When cordon saw it: ISO 8601, UTC, milliseconds. */
  readonly time: string;
  /** The command that caused it: 22 characters of base64url (128 random bits), one per command. */
  readonly commandId: string;
  /** One sentence for a person or an agent: what happened and, for a refusal, which setting would allow it. */
  readonly message: string;
}

/**
 * The setting that decided, as `key: value`: `network.allowedDomains: "example.com"`,
 * `filesystem.denyRead: "~/.ssh"`; or a built-in rule, `built-in: ...`.
 */
export type RuleText = string;

/**
 * What to change to allow it, for an agent to act on or to pass to its user:
 * `network.allowedDomains: add "example.com"`. null when no setting allows
 * it (a built-in protection, a malformed request).
 */
export type Fix = string | null;

export interface CommandStartEvent extends EventBase<'command.start'> {
  readonly argv: readonly string[];
  readonly cwd: string;
}

export interface CommandExitEvent extends EventBase<'command.exit'> {
  /** As the CLI exits: the command's status, 128+N when signal N ended it, 125 when cordon failed. */
  readonly exitCode: number;
  readonly signal: string | null;
  /** When cordon itself failed (exitCode 125): its error code and message. */
  readonly error?: { readonly code: string; readonly message: string };
}

/** Which of cordon's proxies the command reached: the HTTP proxy (plain requests and CONNECT) or SOCKS5. */
export type ProxyKind = 'http' | 'socks5';

interface NetFields {
  /** The host as the command asked for it (normalised when it parsed: `example.com`, `127.0.0.1`, `[::1]`). */
  readonly host: string;
  readonly port: number;
  readonly proxy: ProxyKind;
  /** `http` (absolute-form request, or plain HTTP inside a tunnel), `https` (a request inside a TLS-terminated tunnel), `connect` (CONNECT tunnel) or `socks5`. */
  readonly via: 'http' | 'https' | 'connect' | 'socks5';
  /** The address dialed (allowed) or the resolution that was judged (refused), when known. */
  readonly address?: string;
}

export interface NetAllowedEvent extends EventBase<'net.allowed'>, NetFields {
  readonly rule: RuleText;
  /** `terminated`: a CONNECT whose TLS cordon opens (network.tlsTerminate); absent: tunnelled as it is. */
  readonly tls?: 'terminated';
  /** A request into which cordon put brokered credentials: their variables' names (never a value). */
  readonly credentials?: readonly string[];
  /** Sent through this upstream proxy (network.parentProxy, or HTTPS_PROXY in cordon's environment), shown without its password, or `unix:PATH` (network.mitmProxy); `address` is then the proxy's. */
  readonly parentProxy?: string;
}

/**
 * An allowed connection or request is over: what it carried each way. A
 * tunnel (CONNECT not terminated, SOCKS5): every byte through it. A request
 * (plain HTTP, sent by the relay or the proxy; inside a terminated tunnel;
 * a WebSocket): its bodies, and the status the client got (absent when no
 * answer was sent).
 */
export interface NetDoneEvent extends EventBase<'net.done'>, NetFields {
  /** Bytes from the command: a request's body (as sent), or everything it sent through the tunnel. */
  readonly bytesUp: number;
  /** Bytes to the command: a response's body as the server sent it (before cordon decodes or scrubs it), or everything through the tunnel. */
  readonly bytesDown: number;
  readonly method?: string;
  /** The request target as sent. Attacker-controlled. */
  readonly url?: string;
  readonly status?: number;
}

export interface NetRefusedEvent extends EventBase<'net.refused'>, NetFields {
  /** Machine-readable: `not-allowlisted`, `denied-by-rule`, `ip-literal-not-allowlisted`, `resolved-to-denied-address`, `resolve-failed`, `invalid-host`, `invalid-port`, `no-session-secret`. */
  readonly reason: string;
  /** The rule that refused it; `built-in: ...` for cordon's own rules, or the absence of an allow rule. */
  readonly rule: RuleText;
  readonly fix: Fix;
}

/**
 * A request refused inside an allowed connection: for the credentials it
 * carries (credentials.broker and .aws: `foreign-credential`,
 * `credential-to-unbound-host`, `credential-in-cleartext`,
 * `aws-not-resigned`), or by a request rule.
 */
export interface RequestRefusedEvent extends EventBase<'request.refused'> {
  readonly host: string;
  readonly port: number;
  readonly proxy: ProxyKind;
  readonly method: string;
  /** The request target as sent (path and query, or absolute URL). Attacker-controlled. */
  readonly url: string;
  readonly reason: string;
  readonly rule: RuleText;
  readonly fix: Fix;
}

/**
 * A filesystem operation the walls refused.
 * `read`: open for reading / read a link; `list`: read a directory;
 * `write`: open for writing, truncate, change metadata; `create`: make a
 * file, directory, link, socket or FIFO; `delete`: unlink or rmdir;
 * `rename`: rename or link into place (`refer`); `execute`: exec a file;
 * `other`: an operation none of these names (see `detail`).
 */
export type FsOperation = 'read' | 'list' | 'write' | 'create' | 'delete' | 'rename' | 'execute' | 'other';

export interface FsRefusedEvent extends EventBase<'fs.refused'> {
  readonly op: FsOperation;
  /** The path as the kernel or cordon saw it (absolute when known). Attacker-chosen. */
  readonly path: string;
  /** The process that tried it, as a pid inside the sandbox's PID namespace, when known. */
  readonly pid?: number;
  /** The refusing mechanism's own name for it when it has one (`landlock:fs.write_file`, `syscall:unlinkat`). */
  readonly detail?: string;
  /** The rule that refused it: `filesystem.denyWrite: ".env"`, `built-in: not writable (outside allowWrite)`. */
  readonly rule: RuleText;
  /** The setting that would allow it (`filesystem.allowWrite: add "/srv/data"`), or null when none may. */
  readonly fix: Fix;
}

/** The step after the run moved something the command created or replaced out of the way, or could not. */
export interface AfterRunSetAsideEvent extends EventBase<'after-run.set-aside'> {
  /** What was found: the path the command created or replaced. */
  readonly path: string;
  /** Where it went, when moved; absent when it could not be moved (`failed`). */
  readonly movedTo?: string;
  /** `moved`, `relinked` (a protected link made again), `failed` (left in place: read it before using it). */
  readonly action: 'moved' | 'relinked' | 'failed';
  /** Why: what the host would have done with it. */
  readonly why: string;
}

/** Any other sentence of the step after the run (a directory it could not read, a file it could not rewrite): its `message`. */
export type AfterRunWarningEvent = EventBase<'after-run.warning'>;

export type CordonEvent =
  | CommandStartEvent
  | CommandExitEvent
  | NetAllowedEvent
  | NetDoneEvent
  | NetRefusedEvent
  | RequestRefusedEvent
  | FsRefusedEvent
  | AfterRunSetAsideEvent
  | AfterRunWarningEvent;

export type CordonEventType = CordonEvent['type'];

/** The refusals: what `exec()` returns as `violations` and the CLI summarises. */
export type Violation = NetRefusedEvent | RequestRefusedEvent | FsRefusedEvent;

export const VIOLATION_TYPES: ReadonlySet<CordonEventType> = new Set(['net.refused', 'request.refused', 'fs.refused']);

export function isViolation(e: CordonEvent): e is Violation {
  return VIOLATION_TYPES.has(e.type);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * What a producer hands the stream: the event without `v`, `time` and
 * `commandId` (the stream stamps them); `message` may be left out, and is
 * then made from the fields (describe.ts), so every sink says the same thing.
 */
export type EventPayload = DistributiveOmit<CordonEvent, 'v' | 'time' | 'commandId' | 'message'> & { readonly message?: string };

/** How a producer (a proxy, the filesystem-refusal monitor, the step after the run) reports into one command's stream. */
export type EmitEvent = (e: EventPayload) => void;
