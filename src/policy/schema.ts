/**
 * A tiny validator for settings files. Settings are untrusted input (a project
 * directory is attacker-controlled, a user file may have typos), so every value
 * is checked against an explicit shape, unknown keys are errors (a typo must not
 * silently drop a rule), and every error names the key path, what was expected
 * and what was found. No dependency: the shapes we need are few and small.
 */
import { SettingsError } from '../errors.js';

export type Shape =
  | { kind: 'string' }
  | { kind: 'boolean' }
  | { kind: 'number'; integer?: boolean; min?: number; max?: number }
  | { kind: 'array'; of: Shape }
  | { kind: 'record'; of: Shape }
  | { kind: 'object'; fields: Record<string, Shape>; required?: readonly string[] }
  | { kind: 'oneOf'; options: readonly Shape[]; expected: string }
  | { kind: 'literal'; value: string | boolean | number }
  | { kind: 'any' };

export const str: Shape = { kind: 'string' };
export const bool: Shape = { kind: 'boolean' };
export const int = (min?: number, max?: number): Shape => ({ kind: 'number', integer: true, min, max });
export const arr = (of: Shape): Shape => ({ kind: 'array', of });
export const rec = (of: Shape): Shape => ({ kind: 'record', of });
export const obj = (fields: Record<string, Shape>, required?: readonly string[]): Shape => ({ kind: 'object', fields, required });
export const oneOf = (expected: string, ...options: Shape[]): Shape => ({ kind: 'oneOf', options, expected });
export const lit = (value: string | boolean | number): Shape => ({ kind: 'literal', value });
export const anyValue: Shape = { kind: 'any' };

export function expectedOf(shape: Shape): string {
  switch (shape.kind) {
    case 'string': return 'a string';
    case 'boolean': return 'true or false';
    case 'number': return shape.integer ? 'an integer' : 'a number';
    case 'array': return `an array of ${plural(expectedOf(shape.of))}`;
    case 'record': return `an object whose values are ${plural(expectedOf(shape.of))}`;
    case 'object': return `an object with keys ${Object.keys(shape.fields).join(', ')}`;
    case 'oneOf': return shape.expected;
    case 'literal': return JSON.stringify(shape.value);
    case 'any': return 'any value';
  }
}

function plural(s: string): string {
  return s.replace(/^an? /, '').replace(/^(string|integer|number)$/, '$1s');
}

/** Throws SettingsError on the first mismatch (depth-first, in key order). */
export function validate(value: unknown, shape: Shape, file: string, path = ''): void {
  const fail = (expected: string, found: unknown = value): never => {
    throw new SettingsError(file, path, expected, found);
  };
  switch (shape.kind) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') fail('a string');
      if ((value as string).includes('\0')) fail('a string without NUL bytes');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail('true or false');
      return;
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(expectedOf(shape));
      const n = value as number;
      if (shape.integer && !Number.isInteger(n)) fail('an integer');
      if (shape.min !== undefined && n < shape.min) fail(`a number ≥ ${shape.min}`);
      if (shape.max !== undefined && n > shape.max) fail(`a number ≤ ${shape.max}`);
      return;
    }
    case 'literal':
      if (value !== shape.value) fail(JSON.stringify(shape.value));
      return;
    case 'array':
      if (!Array.isArray(value)) fail(expectedOf(shape));
      (value as unknown[]).forEach((v, i) => validate(v, shape.of, file, `${path}[${i}]`));
      return;
    case 'record':
      if (!isPlainObject(value)) fail(expectedOf(shape));
      for (const [k, v] of Object.entries(value as object)) validate(v, shape.of, file, joinKey(path, k));
      return;
    case 'object': {
      if (!isPlainObject(value)) fail('an object');
      const o = value as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        if (!Object.hasOwn(shape.fields, k)) {
          const known = Object.keys(shape.fields);
          const hint = closest(k, known);
          throw new SettingsError(file, joinKey(path, k), `one of the known keys (${known.join(', ')})${hint ? `; did you mean "${hint}"?` : ''}`, 'an unknown key');
        }
      }
      for (const k of shape.required ?? []) {
        if (!Object.hasOwn(o, k)) throw new SettingsError(file, joinKey(path, k), expectedOf(shape.fields[k]!), undefined);
      }
      for (const [k, s] of Object.entries(shape.fields)) {
        if (Object.hasOwn(o, k)) validate(o[k], s, file, joinKey(path, k));
      }
      return;
    }
    case 'oneOf': {
      for (const option of shape.options) {
        try {
          validate(value, option, file, path);
          return;
        } catch (e) {
          if (!(e instanceof SettingsError)) throw e;
        }
      }
      fail(shape.expected);
    }
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A dotted key's value in a JSON object (`found` false when a key on the way is missing). */
export function at(json: Record<string, unknown>, key: string): { found: boolean; value?: unknown } {
  let v: unknown = json;
  for (const k of key.split('.')) {
    if (!isPlainObject(v) || !Object.hasOwn(v, k)) return { found: false };
    v = v[k];
  }
  return { found: true, value: v };
}

function joinKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}

/** Suggest the known key with the smallest edit distance (≤ 2), for typos. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) { best = k; bestD = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
