/**
 * Canonical JSON (in the spirit of RFC 8785, JCS): object keys sorted by UTF-16 code
 * units, no whitespace, strings and numbers as ECMAScript serializes them. The same value
 * always encodes to the same bytes, so a hash over it does not depend on who wrote the
 * JSON or how they spaced it.
 */

/** Thrown for values JSON cannot carry faithfully (undefined in an array, NaN, a Date). */
export class CanonicalJsonError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'CanonicalJsonError';
  }
}

/** Encodes `value` canonically. Throws {@link CanonicalJsonError} for a non-JSON value. */
export function canonicalJson(value: unknown): string {
  const out = encode(value);
  // Errors are rare: the path to the bad value is only worked out then, so the common
  // case builds no path strings.
  if (out === undefined) throw locate(value, '$') ?? new CanonicalJsonError('$', 'not a JSON value');
  return out;
}

/** The canonical text, or undefined when something in `value` is not JSON. */
function encode(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item = encode(value[i]);
          if (item === undefined) return undefined;
          out += i === 0 ? item : `,${item}`;
        }
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return undefined;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      if (!isSorted(keys)) keys.sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const raw = record[key];
        // Absent and undefined are the same thing for an optional field.
        if (raw === undefined) continue;
        const item = encode(raw);
        if (item === undefined) return undefined;
        out += `${first ? '' : ','}${JSON.stringify(key)}:${item}`;
        first = false;
      }
      return `${out}}`;
    }
    case 'undefined':
    case 'bigint':
    case 'symbol':
    case 'function':
      return undefined;
  }
}

function isSorted(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if ((keys[i - 1] ?? '') > (keys[i] ?? '')) return false;
  return true;
}

/** Finds the first value that is not JSON, with its path. */
function locate(value: unknown, path: string): CanonicalJsonError | null {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : new CanonicalJsonError(path, `${value} is not a JSON number`);
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined)
            return new CanonicalJsonError(`${path}[${i}]`, 'undefined is not a JSON value');
          const bad = locate(item, `${path}[${i}]`);
          if (bad !== null) return bad;
        }
        return null;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        // A Date, Map or class instance would encode as something other than what the caller sees.
        return new CanonicalJsonError(path, 'only plain objects, arrays and primitives can be recorded');
      }
      for (const [key, item] of Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      )) {
        if (item === undefined) continue;
        const bad = locate(item, `${path}.${key}`);
        if (bad !== null) return bad;
      }
      return null;
    }
    case 'undefined':
    case 'bigint':
    case 'symbol':
    case 'function':
      return new CanonicalJsonError(path, `a ${typeof value} is not a JSON value`);
  }
}
