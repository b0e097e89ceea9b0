/**
 * Errors with stable machine codes. Every failure cordon itself reports is a
 * CordonError: a code an agent or a script can match on, a one-line message
 * that says what is wrong and how to fix it, and the underlying cause.
 */

export type CordonErrorCode =
  | 'CORDON_ERR_USAGE'
  | 'CORDON_ERR_SETTINGS_MISSING'
  | 'CORDON_ERR_SETTINGS_UNREADABLE'
  | 'CORDON_ERR_SETTINGS_INVALID'
  /** A project settings file (.cordon/settings.json) asks for more than the user's settings allow, and the user has not trusted it. */
  | 'CORDON_ERR_PROJECT_WIDENS'
  /** A command's policy overlay (the library's spawn/exec `policy`) would widen its handle's policy, and `widen: true` was not given. */
  | 'CORDON_ERR_OVERLAY_WIDENS'
  | 'CORDON_ERR_PATH'
  | 'CORDON_ERR_UNSUPPORTED_PLATFORM'
  | 'CORDON_ERR_MISSING_DEPENDENCY'
  | 'CORDON_ERR_KERNEL_FEATURE'
  | 'CORDON_ERR_LAUNCH'
  | 'CORDON_ERR_AFTER_RUN'
  | 'CORDON_ERR_HELD_MOUNT'
  | 'CORDON_ERR_POLICY'
  | 'CORDON_ERR_INTERNAL';

export class CordonError extends Error {
  readonly code: CordonErrorCode;
  constructor(code: CordonErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CordonError';
    this.code = code;
  }
}

/** A settings value failed validation: names the key path, the expectation and the value. */
export class SettingsError extends CordonError {
  readonly keyPath: string;
  readonly file: string;
  constructor(file: string, keyPath: string, expected: string, found: unknown, options?: { cause?: unknown }) {
    super('CORDON_ERR_SETTINGS_INVALID', `${file}: ${keyPath || '(root)'}: expected ${expected}, found ${describe(found)}`, options);
    this.name = 'SettingsError';
    this.keyPath = keyPath;
    this.file = file;
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'object') return `an object (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'string') return `the string ${truncate(JSON.stringify(value))}`;
  return `${typeof value} ${truncate(String(value))}`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
