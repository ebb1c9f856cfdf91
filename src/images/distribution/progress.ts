// Docker's JSON progress messages (pkg/jsonmessage), as the Engine API streams
// them for pull and push.
export interface ProgressDetail {
  current?: number;
  total?: number;
}

export interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: ProgressDetail;
  progress?: string;
  error?: string;
  errorDetail?: { message: string };
  /** Extra data for the client: a push's `{Tag, Digest, Size}`. */
  aux?: Record<string, unknown>;
}

export type Emit = (m: JsonMessage) => void;

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** go-units HumanSize: decimal units, 3 significant digits. */
export function humanSizeSI(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${UNITS[i]}`;
}

/** The bar jsonmessage draws: `[=====>       ]  1.2MB/3.4MB`, 50 columns wide. */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSizeSI(current);
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = '='.repeat(filled) + (filled < width ? '>' : '') + ' '.repeat(Math.max(0, width - filled - 1));
  return `[${bar}]  ${humanSizeSI(current)}/${humanSizeSI(total)}`;
}

export function errorMessage(message: string): JsonMessage {
  return { errorDetail: { message }, error: message };
}

/** The 12-hex short form Docker uses as a layer's progress id. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
