// Native memory the daemon freed goes back to the system once it is idle.
//
// glibc's malloc keeps what Node frees natively (HTTP parsers, socket and
// stream buffers, zlib, hashing) in its arenas and returns only a heap's free
// top: one live allocation near the top pins every free page below it. After
// the load bench that was most of the RSS that never came back (a 2-minute,
// 50-client run: [heap] 25.5 MB, 8.0 MB after a trim). malloc_trim(0) gives
// back the free pages wherever they lie.

type Trim = (pad: bigint) => number;
let trim: Trim | null | undefined;

/** Returns freed native memory to the system; false where that cannot be done (no node:ffi, or a libc without malloc_trim). */
export function trimNativeHeap(): boolean {
  trim ??= loadTrim();
  if (!trim) return false;
  trim(0n);
  return true;
}

function loadTrim(): Trim | null {
  try {
    // undefined when Node runs with --no-experimental-ffi
    const ffi = process.getBuiltinModule('node:ffi') as typeof import('node:ffi') | undefined;
    if (!ffi) return null;
    return ffi.dlopen(null, { malloc_trim: { arguments: ['u64'], return: 'i32' } }).functions.malloc_trim;
  } catch {
    return null; // musl and other libcs have no malloc_trim
  }
}
