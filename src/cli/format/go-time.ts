// Times as the docker CLI prints them (Go's time formatting).

/** Go's time.Time String(): `2026-11-22 15:41:01 +0000 UTC`. */
export function goTimeString(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC');
}
