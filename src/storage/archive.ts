// Layer tars in and out. Every tar from outside is hostile: entries are placed
// with chroot-like resolution (rootpath.ts), so no name, symlink or hard link
// can make us write or read outside the layer directory. The work is split:
//
//   compression.ts     magic-byte detection and decompression
//   layer-apply.ts     applyLayer (extraction): the tar stream and its PAX records
//   layer-entry.ts     its options, validated headers, whiteout names, small fs checks
//   layer-extractor.ts placing each entry inside the root (or a copy's scope)
//   layer-deferred.ts  device nodes, fifos, whiteouts and xattrs made in batches
//   files/file-writes.ts  regular files written by worker threads, in batches
//   tar-write.ts       createTar and createLayerDiff
//   tarutil.ts         ArchiveError, PAX records, device numbers, external tools
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { decompress } from '../files/compression.ts';

export { ArchiveError } from './tarutil.ts';
export { applyLayer, type ApplyOptions, type ApplyResult } from './layer-apply.ts';
export { createTar, createLayerDiff, writeTar, type CreateTarOptions } from './tar-write.ts';
export { decompress, detectCompression, type Compression, type Decompressed } from '../files/compression.ts';

/** `sha256:<hex>` of a whole stream, as is. */
export async function computeDigest(input: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of input) hash.update(chunk as Buffer);
  return 'sha256:' + hash.digest('hex');
}

/** The diff ID of a layer blob: sha256 of its uncompressed tar (any supported compression). */
export async function computeDiffId(input: Readable): Promise<string> {
  const dec = await decompress(input);
  try {
    const digest = await computeDigest(dec.stream);
    await dec.finished();
    return digest;
  } catch (err) {
    dec.abort(err as Error);
    throw err;
  }
}
