// Compose files as YAML 1.2 documents: anchors, aliases and `<<` merge keys
// resolved by the `yaml` package, and compose's two merge tags kept as markers
// (`!reset` drops what earlier files said, `!override` replaces it whole).
import { parseAllDocuments, Scalar, visit, isNode, type Document, type Node, type ScalarTag, type Tags } from 'yaml';
import { ComposeError, isMapping, type Mapping } from './errors.ts';

/** `!reset`: the key takes its type's default (absent) in the merged model. */
export const RESET: unique symbol = Symbol('compose !reset');

/** `!override`: this value replaces the earlier file's instead of merging with it. */
export class Override {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
}

/**
 * `0440` is octal, as Go's yaml.v3 (and so compose) reads it: a file mode
 * written the usual way means what its author meant. YAML 1.2 alone would
 * read it as decimal 440.
 */
const LEADING_ZERO_OCTAL: ScalarTag = {
  identify: (v) => typeof v === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^0[0-7]+$/,
  resolve: (s: string) => parseInt(s, 8),
};
const withOctal = (tags: Tags): Tags => [LEADING_ZERO_OCTAL, ...tags];

/** Every YAML document of a compose file (compose merges them in order), each a mapping. */
export function parseComposeYaml(text: string, filename: string): Mapping[] {
  try {
    return parseDocs(text, filename);
  } catch (err) {
    if (err instanceof ComposeError) throw err;
    // The yaml package reports some faults (an unknown alias, too many aliases) only while building values.
    throw new ComposeError(`failed to parse ${filename}: yaml: ${(err as Error).message.split('\n')[0]}`);
  }
}

function parseDocs(text: string, filename: string): Mapping[] {
  // The `yaml` package's alias limit keeps an alias bomb from blowing up memory.
  const docs = parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: true, customTags: withOctal });
  // An empty stream is no document at all.
  return Array.isArray(docs) ? docs.map((doc) => toMapping(doc, filename)) : [];
}

function toMapping(doc: Document, filename: string): Mapping {
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e.linePos ? `line ${e.linePos[0].line}: ` : '';
    throw new ComposeError(`failed to parse ${filename}: yaml: ${at}${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  visit(doc, {
    Node(_key, node) {
      if (node.tag === '!reset') return new Scalar(RESET);
      // The override's content may use anchors defined elsewhere in the document.
      if (node.tag === '!override') return new Scalar(new Override((node as Node).toJS(doc)));
      return undefined;
    },
  });
  if (!isNode(doc.contents)) return {};
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) throw new ComposeError(`${filename}: top-level object must be a mapping`);
  return value;
}
