/**
 * The installation's Ed25519 checkpoint key. It lives on the host in the state directory
 * (never inside a sandbox), the private half readable by its owner only, as ssh insists
 * for its keys: a key anyone can read signs nothing trustworthy.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { AirlockError, isErrnoException } from '../errors/index.js';

/** A loaded signing key. */
export interface SigningKey {
  /** First 16 hex digits of SHA-256 over the raw public key. */
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A loaded verification key. */
export interface VerifyKey {
  keyId: string;
  publicKey: KeyObject;
}

function keyIdOf(publicKey: KeyObject): string {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  // The raw Ed25519 key is the last 32 bytes of its SPKI encoding.
  return createHash('sha256')
    .update(spki.subarray(spki.length - 32))
    .digest('hex')
    .slice(0, 16);
}

function keyError(message: string, hint: string, cause?: unknown): AirlockError {
  return new AirlockError('E_AUDIT_KEY', message, cause === undefined ? { hint } : { hint, cause });
}

/** Writes `data` to `path` only if it does not exist yet, atomically (tmp + link). */
function writeNew(path: string, data: string, mode: number): boolean {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    // link() fails if the target exists, so two processes creating a key at once agree on one.
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (isErrnoException(err) && err.code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** Loads the signing key at `privatePath`, creating it (and `publicPath`) on first use. */
export function loadOrCreateSigningKey(privatePath: string, publicPath: string): SigningKey {
  let created = false;
  try {
    statSync(privatePath);
  } catch (err) {
    if (!isErrnoException(err) || err.code !== 'ENOENT') {
      throw keyError(
        `cannot read the audit signing key ${privatePath}: ${String(err)}`,
        'Check the permissions of the state directory.',
        err,
      );
    }
    const pair = generateKeyPairSync('ed25519');
    const pem = pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    created = writeNew(privatePath, pem, 0o600);
  }
  const st = statSync(privatePath);
  if ((st.mode & 0o077) !== 0) {
    throw keyError(
      `the audit signing key ${privatePath} is readable by others (mode ${(st.mode & 0o777).toString(8)}); it must be 600.`,
      `Run: chmod 600 ${privatePath}`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(privatePath));
  } catch (err) {
    throw keyError(
      `the audit signing key ${privatePath} is not a valid private key.`,
      'Restore it from a backup; checkpoints it signed cannot be re-verified with another key.',
      err,
    );
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw keyError(
      `the audit signing key ${privatePath} is a ${String(privateKey.asymmetricKeyType)} key; it must be Ed25519.`,
      'Restore the original key file.',
    );
  }
  const publicKey = createPublicKey(privateKey);
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  if (created) {
    writeNew(publicPath, publicPem, 0o644);
  } else {
    // Recreate a deleted public file from the private key; never overwrite a different one silently.
    try {
      statSync(publicPath);
    } catch {
      writeNew(publicPath, publicPem, 0o644);
    }
  }
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/** Loads a public key (SPKI PEM) for verification. */
export function loadVerifyKey(publicPath: string): VerifyKey {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(readFileSync(publicPath));
  } catch (err) {
    throw keyError(
      `cannot load the audit public key ${publicPath}: ${err instanceof Error ? err.message : String(err)}`,
      'Pass --public-key with the key pinned when the log was written, or check the state directory.',
      err,
    );
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw keyError(
      `${publicPath} is a ${String(publicKey.asymmetricKeyType)} key; audit checkpoints are signed with Ed25519.`,
      'Pass the Ed25519 public key of the installation that wrote the log.',
    );
  }
  return { keyId: keyIdOf(publicKey), publicKey };
}

/** Signs `message` with the key. */
export function signMessage(key: SigningKey, message: Buffer): Buffer {
  return sign(null, message, key.privateKey);
}

/** True when `signature` is `key`'s signature of `message`. */
export function verifyMessage(key: VerifyKey, message: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, message, key.publicKey, signature);
  } catch {
    return false;
  }
}
