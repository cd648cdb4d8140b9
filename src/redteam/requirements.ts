/**
 * Requirements of the red-team part, by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const REDTEAM_REQUIREMENTS = {
  'redteam.bwrap': 'every attack case is contained on the bwrap backend (zero escapes, zero errors), through `airlock doctor --attack`',
  'redteam.gvisor': 'every attack case is contained on the gVisor backend where runsc is installed',
  'redteam.detects-escape': 'a deliberately weakened session (a canary visible inside, an allowed action expected denied) is reported as escaped',
  'redteam.held': 'code a build or test runner runs (allowed by design) cannot get a protected file into the project: the staged workspace holds it and the default apply refuses it; in a direct session the same case is reported as escaped',
  'redteam.exposure': '`airlock doctor --exposure` reports paths, environment, hosts, credentials, limits and isolation layers',
} as const;
