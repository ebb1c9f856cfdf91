// A JSON value as a tree of <details>: objects and arrays fold, leaves show
// their value; the top levels start open.
type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function Leaf({ v }: { v: Json }) {
  return <span class={`json-${v === null ? 'null' : typeof v}`}>{JSON.stringify(v)}</span>;
}

function Node({ name, v, depth }: { name: string; v: Json; depth: number }) {
  if (v === null || typeof v !== 'object') return <li><span class="json-key">{name}</span>: <Leaf v={v} /></li>;
  const entries: [string, Json][] = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
  if (entries.length === 0) return <li><span class="json-key">{name}</span>: <Leaf v={v} /></li>;
  return (
    <li>
      <details open={depth < 1}>
        <summary><span class="json-key">{name}</span> <span class="muted">{Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`}</span></summary>
        <ul>{entries.map(([k, x]) => <Node key={k} name={k} v={x} depth={depth + 1} />)}</ul>
      </details>
    </li>
  );
}

export function JsonTree({ value, label }: { value: unknown; label: string }) {
  const v = value as Json;
  const entries: [string, Json][] = v !== null && typeof v === 'object' ? Object.entries(v) : [['value', v]];
  return <ul class="json-tree" aria-label={label}>{entries.map(([k, x]) => <Node key={k} name={k} v={x} depth={0} />)}</ul>;
}
