/**
 * Every red-team case, in report order.
 */
import type { AttackCase } from '../types.js';
import { AUDIT_CASES } from './audit.js';
import { FILESYSTEM_CASES, SECRETS_CASES } from './filesystem.js';
import { NETWORK_CASES } from './network.js';
import { PERSISTENCE_CASES } from './persistence.js';
import { POLICY_CASES } from './policy.js';
import { PROXIED_NETWORK_CASES, PROXIED_SECRETS_CASES } from './proxied.js';
import { PRIVILEGE_CASES, RESOURCE_CASES } from './privilege.js';
import { SSRF_CASES } from './ssrf.js';

/** All cases. */
export const ALL_CASES: readonly AttackCase[] = [
  ...FILESYSTEM_CASES,
  ...SECRETS_CASES,
  ...PROXIED_SECRETS_CASES,
  ...NETWORK_CASES,
  ...PROXIED_NETWORK_CASES,
  ...SSRF_CASES,
  ...PRIVILEGE_CASES,
  ...RESOURCE_CASES,
  ...PERSISTENCE_CASES,
  ...POLICY_CASES,
  ...AUDIT_CASES,
];
