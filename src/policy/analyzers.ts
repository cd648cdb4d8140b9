/**
 * Small static readers for the little languages some allowed tools embed: a sed
 * script can run commands (`e`, `s///e`) and write files (`w`), an awk program can
 * call `system()` or pipe to commands. They look only for those effects; anything
 * they cannot read is reported as an error so the caller fails closed.
 */

/** What a sed script does besides editing text. */
export interface SedEffects {
  readonly runsCommands: boolean;
  readonly writes: readonly string[];
  readonly reads: readonly string[];
  /** Set when the script could not be read; the caller treats it as unresolvable. */
  readonly error: string | null;
}

/** Scans a GNU sed script for `e`, `w`, `W`, `r`, `R` commands and the `e`/`w` flags of `s`. */
export function scanSed(script: string): SedEffects {
  const writes: string[] = [];
  const reads: string[] = [];
  let runsCommands = false;
  let i = 0;
  const n = script.length;
  const fail = (error: string): SedEffects => ({ runsCommands: true, writes, reads, error });
  const restOfLine = (): string => {
    let end = script.indexOf('\n', i);
    if (end < 0) end = n;
    const text = script.slice(i, end);
    i = end;
    return text.trim();
  };
  const skipRegex = (delim: string): boolean => {
    while (i < n) {
      const c = script[i];
      if (c === '\\') {
        i += 2;
        continue;
      }
      if (c === '\n') return false;
      i++;
      if (c === delim) return true;
    }
    return false;
  };
  const skipAddress = (): boolean => {
    const c = script[i];
    if (c === undefined) return true;
    if (c === '/') {
      i++;
      if (!skipRegex('/')) return false;
      while (script[i] === 'I' || script[i] === 'M') i++;
    } else if (c === '\\') {
      const d = script[i + 1];
      if (d === undefined) return false;
      i += 2;
      if (!skipRegex(d)) return false;
      while (script[i] === 'I' || script[i] === 'M') i++;
    } else if (c === '$') i++;
    else if (c >= '0' && c <= '9') {
      while (i < n && /[0-9~]/.test(script[i] as string)) i++;
    } else if (c === '+' || c === '~') {
      i++;
      while (i < n && /[0-9]/.test(script[i] as string)) i++;
    }
    return true;
  };
  while (i < n) {
    const c0 = script[i] as string;
    if (c0 === ' ' || c0 === '\t' || c0 === '\n' || c0 === ';' || c0 === '}') {
      i++;
      continue;
    }
    if (!skipAddress()) return fail('unterminated address');
    while (script[i] === ' ' || script[i] === '\t') i++;
    if (script[i] === ',') {
      i++;
      while (script[i] === ' ') i++;
      if (!skipAddress()) return fail('unterminated address');
    }
    while (script[i] === ' ' || script[i] === '\t' || script[i] === '!') i++;
    const cmd = script[i];
    if (cmd === undefined) break;
    i++;
    switch (cmd) {
      case '{':
      case '}':
      case '=':
      case 'd':
      case 'D':
      case 'g':
      case 'G':
      case 'h':
      case 'H':
      case 'n':
      case 'N':
      case 'p':
      case 'P':
      case 'x':
      case 'z':
      case 'F':
        break;
      case '#':
      case 'a':
      case 'i':
      case 'c': {
        // text runs to the end of the line, continued by a trailing backslash
        for (;;) {
          const line = restOfLine();
          if (!line.endsWith('\\') || i >= n) break;
          i++;
        }
        break;
      }
      case ':':
      case 'b':
      case 't':
      case 'T':
      case 'l':
      case 'L':
      case 'q':
      case 'Q':
      case 'v':
        while (i < n && script[i] !== ';' && script[i] !== '\n' && script[i] !== '}') i++;
        break;
      case 'r':
      case 'R':
        reads.push(restOfLine());
        break;
      case 'w':
      case 'W':
        writes.push(restOfLine());
        break;
      case 'e':
        runsCommands = true;
        restOfLine();
        break;
      case 's': {
        const delim = script[i];
        if (delim === undefined || delim === '\n' || delim === '\\') return fail('bad s command');
        i++;
        if (!skipRegex(delim)) return fail('unterminated s command');
        if (!skipRegex(delim)) return fail('unterminated s command');
        for (;;) {
          const f = script[i];
          if (f === undefined || f === ';' || f === '\n' || f === '}' || f === ' ') break;
          i++;
          if (f === 'e') runsCommands = true;
          else if (f === 'w') {
            writes.push(restOfLine());
            break;
          } else if (!/[gpiImM0-9]/.test(f)) return fail(`unknown s flag "${f}"`);
        }
        break;
      }
      case 'y': {
        const delim = script[i];
        if (delim === undefined) return fail('bad y command');
        i++;
        if (!skipRegex(delim) || !skipRegex(delim)) return fail('unterminated y command');
        break;
      }
      default:
        return fail(`unknown sed command "${cmd}"`);
    }
  }
  return { runsCommands, writes, reads, error: null };
}

/**
 * True when an awk program may run commands, write or read files beyond its input
 * (`system`, pipes, `>` redirection, `getline`, extensions). Comparisons with `>`
 * are flagged too: telling them from redirection needs a full awk parser, and
 * erring toward a prompt is the safe side.
 */
export function awkMayEscape(program: string): string | null {
  let code = '';
  for (let k = 0; k < program.length; k++) {
    const c = program[k] as string;
    if (c === '"') {
      // string literals cannot run anything by themselves
      k++;
      while (k < program.length && program[k] !== '"') {
        if (program[k] === '\\') k++;
        k++;
      }
      code += '""';
      continue;
    }
    code += c;
  }
  if (/\bsystem\s*\(/.test(code)) return 'calls system()';
  if (/\bgetline\b/.test(code)) return 'uses getline, which reads files or command output';
  if (/(^|[^|])\|(?!\|)/.test(code)) return 'pipes to or from a command';
  if (/>(?!=)/.test(code)) return 'may redirect output to a file ("print > file")';
  if (code.includes('@')) return 'uses a gawk directive (@load, @include)';
  return null;
}

/** Normalizes an absolute path lexically: `//`, `.` and `..` are resolved (never above `/`). */
export function normalizePath(path: string): string {
  // fast path: already absolute and clean (no "//", "/./", "/../", trailing "/")
  if (
    path.startsWith('/') &&
    !path.includes('//') &&
    !path.includes('/.') &&
    (path.length === 1 || !path.endsWith('/'))
  )
    return path;
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Joins a possibly relative path onto a directory and normalizes it. */
export function resolvePath(base: string, p: string): string {
  return normalizePath(p.startsWith('/') ? p : `${base}/${p}`);
}

/**
 * Follows `/proc/<pid>/root` aliases to the path they name. Returns null for
 * aliases that name a run-time location (`/proc/<pid>/cwd`, `/proc/<pid>/fd/N`,
 * `/dev/fd/N` beyond the standard streams).
 */
export function unaliasProcPath(path: string): string | null {
  if (!path.startsWith('/proc/') && !path.startsWith('/dev/fd/')) return path;
  let p = path;
  for (let guard = 0; guard < 16; guard++) {
    const segs = p.split('/');
    // ['', 'proc', pid, kind, ...]
    if (segs[1] === 'proc' && segs.length >= 4) {
      let k = 3;
      if (segs[3] === 'task' && segs.length >= 6) k = 5;
      const kind = segs[k];
      if (kind === 'root') {
        p = normalizePath(`/${segs.slice(k + 1).join('/')}`);
        continue;
      }
      if (kind === 'cwd' || kind === 'fd' || kind === 'map_files' || kind === 'exe' || kind === 'fdinfo')
        return null;
    }
    if (segs[1] === 'dev' && segs[2] === 'fd' && segs.length >= 4 && !['0', '1', '2'].includes(segs[3] ?? ''))
      return null;
    return p;
  }
  return null;
}

/** Quotes a word for display the way a shell user would read it back. */
export function shellQuote(s: string): string {
  let plain = s.length > 0;
  for (let k = 0; plain && k < s.length; k++) {
    const c = s.charCodeAt(k);
    plain =
      (c >= 97 && c <= 122) ||
      (c >= 65 && c <= 90) ||
      (c >= 48 && c <= 57) ||
      '_@%+=:,./-'.includes(s[k] as string);
  }
  return plain ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
