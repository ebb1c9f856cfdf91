// Strings in the order of their UTF-16 code units, as Go compares strings
// (dockerd's sorts). Not localeCompare: its first call makes an ICU collator,
// 2 MiB of ICU's data and code that a daemon then keeps resident.
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
