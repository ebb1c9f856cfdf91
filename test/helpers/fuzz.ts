// Fuzzing every Engine API route of the reference spec against a real daemon
// (test/integration/fuzz.test.ts runs it briefly, bench/fuzz.ts at length).
//
// Each path+method of docker-engine-api.yaml is one fast-check property. A
// case is one request: path parameters (real and missing objects, `..`,
// `%2e%2e`, percent-encoded NUL, bad escapes, unicode, very long), query
// strings (declared parameters with fitting and wrong types, huge values,
// unknown ones), a body from the route's schema or a mutation of one (wrong
// types, huge strings, deep nesting, invalid UTF-8, truncated JSON, not
// JSON), odd headers (Content-Type, X-Registry-Auth/-Config), another method,
// malformed HTTP on a raw socket, and clients that go away (mid-body, right
// after sending, after the response head).
//
// Properties: every complete request is answered (streaming routes: the head
// arrives); no 5xx, and a 4xx carries a message; the daemon's pid lives on;
// the containers, images, networks and volumes it lists are the same after each case
// (after each case that is not a plain GET/HEAD, and after each route's last).
//
// What keeps the last property honest while the fuzz may not change state:
// - Routes that change or remove an object get real object ids only when a
//   parameter that the daemon must refuse first is forced bad (kill with a
//   bogus signal, rename to an invalid name, stop/restart with a non-numeric
//   timeout, container delete with link=1); otherwise only missing or
//   garbage ids. A daemon that acts before it validates shows as a change.
// - A case sent with another method than its route's (but GET/HEAD) never
//   names a real object: GET /networks/{id} as DELETE would remove it.
// - Prune routes always carry a label filter nothing has.
// - Routes that create (container/network create, commit, tag, import, load,
//   build) may succeed: what a 2xx answer added is removed again, after it is
//   checked that the route said so; anything a 4xx left behind is a failure
//   (partial state). Clients of these routes only go away mid-body, so the
//   state cannot change after the check.
// - The daemon runs in a network namespace of its own with only loopback: a
//   pull, push, login, search or URL context fails fast and stays local.
import fc from 'fast-check';
import { Agent, METHODS, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { makeTar } from './tar.ts';
import type { TestDaemon } from './daemon.ts';

export const SPEC = '/work/shared/reference/docker-engine-api.yaml';

// ---------- the spec ----------

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  allOf?: Schema[];
  enum?: unknown[];
  example?: unknown;
  minimum?: number;
  maximum?: number;
}

export interface Param { name: string; in: 'path' | 'query' | 'header' | 'body' | 'formData'; type?: string; schema?: Schema; enum?: unknown[]; items?: Schema }

export interface Route {
  method: string;
  /** The spec's template, e.g. /containers/{id}/json. */
  path: string;
  params: Param[];
  body?: Schema;
  /** The body is a tar or other bytes, not JSON. */
  binaryBody: boolean;
  key: string;
}

type Definitions = Record<string, Schema>;

export function loadRoutes(specPath = SPEC): { routes: Route[]; definitions: Definitions } {
  const spec = parseYaml(readFileSync(specPath, 'utf8')) as { paths: Record<string, Record<string, unknown>>; definitions: Definitions };
  const routes: Route[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    const shared = (item.parameters as Param[] | undefined) ?? [];
    for (const method of ['get', 'post', 'put', 'delete', 'head']) {
      const op = item[method] as { parameters?: Param[]; consumes?: string[] } | undefined;
      if (!op) continue;
      const params = [...shared, ...(op.parameters ?? [])];
      const bodyParam = params.find((p) => p.in === 'body');
      const binaryBody = (bodyParam?.schema?.type === 'string') || (op.consumes ?? []).some((c) => /tar|octet/.test(c)) && !(op.consumes ?? []).includes('application/json');
      const m = method.toUpperCase();
      routes.push({ method: m, path, params, body: bodyParam?.schema, binaryBody, key: `${m} ${path}` });
    }
  }
  return { routes, definitions: spec.definitions };
}

function resolve(s: Schema | undefined, defs: Definitions): Schema {
  if (!s) return {};
  if (s.$ref) return resolve(defs[s.$ref.replace('#/definitions/', '')], defs);
  if (s.allOf) {
    const merged: Schema = { type: 'object', properties: {} };
    for (const part of s.allOf) Object.assign(merged.properties!, resolve(part, defs).properties ?? {});
    return merged;
  }
  return s;
}

// ---------- what the fuzz knows of the daemon ----------

export interface Fixtures {
  containers: string[];
  images: string[];
  networks: string[];
  volumes: string[];
  execs: string[];
  /** Names and ids any string field may take, so bodies name real objects too. */
  anyReal: string[];
}

/** How the fuzz may treat a route without changing what the daemon lists (see the header). */
export interface Policy {
  /** Real object ids in the path. */
  realIds: boolean;
  /** With a real id: query parameters forced to values the daemon must refuse before acting. */
  forceBad?: Record<string, string[]>;
  /** A 2xx may add objects (removed again by the fuzz). */
  creates: boolean;
  /** The answer is a stream that may not end on its own: the head is enough. */
  streaming: boolean;
  /** Clients may go away at any point (not only mid-body). */
  anyDisconnect: boolean;
  /** Prune: a filter nothing matches is always added. */
  prune: boolean;
}

/** Routes where a client going away is another helper's open bug (FileHandle closed during GC). */
export const STREAM_ABORT_ROUTES = new Set(['GET /containers/{id}/export', 'GET /containers/{id}/archive', 'HEAD /containers/{id}/archive', 'GET /containers/{id}/logs', 'GET /images/{name}/get', 'GET /images/get']);

const CREATES = new Set(['POST /containers/create', 'POST /networks/create', 'POST /commit', 'POST /images/{name}/tag', 'POST /images/create', 'POST /images/load', 'POST /build', 'POST /containers/{id}/exec', 'POST /volumes/create', 'POST /plugins/create', 'POST /plugins/pull', 'POST /secrets/create', 'POST /configs/create', 'POST /services/create', 'POST /swarm/init']);
const STREAMING = new Set(['GET /events', 'GET /containers/{id}/logs', 'POST /containers/{id}/attach', 'GET /containers/{id}/attach/ws', 'POST /containers/{id}/wait', 'POST /exec/{id}/start', 'GET /containers/{id}/stats', 'POST /session', 'GET /services/{id}/logs', 'GET /tasks/{id}/logs']);
/** Not GETs, yet they change nothing ps/images/network ls show. */
const HARMLESS_POSTS = new Set(['POST /containers/{id}/wait', 'POST /containers/{id}/attach', 'POST /containers/{id}/exec', 'POST /exec/{id}/start', 'POST /exec/{id}/resize', 'POST /containers/{id}/resize', 'POST /images/{name}/push', 'POST /images/{name}/tag', 'POST /auth', 'POST /commit']);
const FORCE_BAD: Record<string, Record<string, string[]>> = {
  'POST /containers/{id}/kill': { signal: ['SIGBOGUS', '99999', '-1', 'SIG', 'KILL9', '1.5', '0x9'] },
  'POST /containers/{id}/rename': { name: ['', '-bad', 'a', 'x/y', 'two words', '../up', '%00'] },
  'POST /containers/{id}/stop': { t: ['abc', '1e999', 'NaN', '--1'] },
  'POST /containers/{id}/restart': { t: ['abc', '1e999', 'NaN', '--1'] },
  'DELETE /containers/{id}': { link: ['1', 'true'] },
};

export function policyOf(route: Route): Policy {
  const forceBad = FORCE_BAD[route.key];
  const readOnly = route.method === 'GET' || route.method === 'HEAD' || HARMLESS_POSTS.has(route.key);
  const creates = CREATES.has(route.key);
  return {
    realIds: readOnly || forceBad !== undefined,
    forceBad,
    creates,
    streaming: STREAMING.has(route.key),
    anyDisconnect: !creates,
    prune: route.path.endsWith('/prune'),
  };
}

// ---------- cases ----------

export type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; hex: string }
  | { kind: 'huge'; base: unknown; key: string; size: number }
  | { kind: 'deep'; key: string | null; depth: number; open: '[' | '{"a":' }
  | { kind: 'badUtf8'; key: string }
  | { kind: 'truncated'; value: unknown; at: number }
  | { kind: 'tar'; dockerfile: string; files: [string, string][] };

export type Disconnect = 'none' | 'midBody' | 'afterSend' | 'afterHead';

export interface Case {
  method: string;
  /** Already encoded: what goes on the request line. */
  url: string;
  headers: Record<string, string>;
  body: BodySpec;
  disconnect: Disconnect;
  /** A malformed request sent as is on a raw socket ({URL} and {METHOD} filled in). */
  raw?: string;
  /** The path used a real object. */
  real: boolean;
}

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });

/** Path segments as they go on the wire (already escaped). */
function segmentArb(real: string[]): fc.Arbitrary<{ seg: string; real: boolean }> {
  const missing = fc.oneof(hex(64), hex(12), fc.constantFrom('nosuch', 'berth-fuzz-missing', 'sha256:' + '0'.repeat(64)));
  const boundary = fc.constantFrom(
    '', ' ', '%20', '.', '..', '%2e%2e', '%2E%2E%2F%2E%2E', '..%2f..%2fetc%2fpasswd', '%2f', '%00', 'a%00b', '%', '%zz', '%E0%A4%A', '%ff%fe',
    '%0d%0aX-Injected:%201', '-', '--help', 'a:b@c', '%3F%23', 'null', 'undefined', '__proto__', 'constructor', 'busybox:latest%2Fjson',
  );
  const long = fc.constantFrom(300, 4096, 20000).map((n) => 'a'.repeat(n));
  const unicode = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '?')));
  const garbage = fc.oneof(missing, boundary, long, unicode).map((seg) => ({ seg, real: false }));
  if (real.length === 0) return garbage;
  return fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...real).map((r) => ({ seg: encodeURI(r), real: true })) }, { weight: 3, arbitrary: garbage });
}

function realFor(route: Route, name: string, fx: Fixtures): string[] {
  if (route.path.startsWith('/containers/')) return fx.containers;
  if (route.path.startsWith('/images/')) return fx.images;
  if (route.path.startsWith('/networks/')) return fx.networks;
  if (route.path.startsWith('/volumes/')) return fx.volumes;
  if (route.path.startsWith('/exec/')) return fx.execs;
  return name === 'id' || name === 'name' ? fx.anyReal.slice(0, 2) : [];
}

function queryValueArb(p: Param, fx: Fixtures): fc.Arbitrary<string> {
  const typed: fc.Arbitrary<string>[] = [];
  const t = p.type ?? 'string';
  if (t === 'boolean') typed.push(fc.constantFrom('1', '0', 'true', 'false', 'True', 'yes'));
  if (t === 'integer' || t === 'number') typed.push(fc.integer({ min: -5, max: 100 }).map(String), fc.constantFrom('-1', '0', '2147483648', '9007199254740993', '1e308', '1e309', '-0', '0x10', '1.5'));
  if (p.enum) typed.push(fc.constantFrom(...p.enum.map(String)));
  if (p.name === 'filters') typed.push(filtersArb(fx));
  if (/since|until/.test(p.name)) typed.push(fc.constantFrom('0', '1', '-1', '10m', '2006-01-02T15:04:05Z', '1e12', '99999999999999999999', '1.123456789', 'x', '2006-13-45'));
  const wrong = fc.constantFrom('', 'abc', '{}', '[]', '%00', '\u0000', '\u{1F980}', 'NaN', 'Infinity', '-', '=', '&', 'null');
  const huge = fc.constantFrom(1000, 10000).map((n) => '9'.repeat(n));
  const str = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom(...fx.anyReal));
  return fc.oneof({ weight: 4, arbitrary: typed.length ? fc.oneof(...typed) : str }, { weight: 2, arbitrary: wrong }, { weight: 1, arbitrary: huge }, { weight: 1, arbitrary: str });
}

function filtersArb(fx: Fixtures): fc.Arbitrary<string> {
  const keys = fc.constantFrom('label', 'label!', 'status', 'name', 'id', 'before', 'since', 'until', 'dangling', 'reference', 'type', 'driver', 'scope', 'event', 'container', 'exited', 'ancestor', 'network', 'health', 'is-official', 'stars', 'bogus');
  const vals = fc.oneof(fc.constantFrom('running', 'true', '1', '0', '(', '[', '*', '.*', '1h', 'a=b', ...fx.anyReal), fc.string({ maxLength: 10 }));
  const modern = fc.dictionary(keys, fc.array(vals, { maxLength: 3 }), { maxKeys: 3 }).map((d) => JSON.stringify(d));
  const legacy = fc.dictionary(keys, fc.dictionary(vals, fc.oneof(fc.boolean(), fc.integer(), fc.constant(null)), { maxKeys: 2 }), { maxKeys: 2 }).map((d) => JSON.stringify(d));
  const wrong = fc.constantFrom('{', '[]', '"x"', '1', 'null', '{"label":"x"}', '{"label":[1,{}]}', '{"label":null}', '{"__proto__":["x"]}');
  return fc.oneof(modern, legacy, wrong);
}

/** A JSON value after a schema; with `chaos`, any node may be of another type. */
function schemaArb(s: Schema | undefined, defs: Definitions, fx: Fixtures, depth: number, chaos: boolean): fc.Arbitrary<unknown> {
  const r = resolve(s, defs);
  const other = fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.boolean(), fc.string({ maxLength: 8 }), fc.constant([]), fc.constant({}), fc.constant(-1), fc.constant(2 ** 63));
  let own: fc.Arbitrary<unknown>;
  if (r.enum) own = fc.constantFrom(...r.enum);
  else if (depth <= 0) own = fc.constant(null);
  else if (r.type === 'object' || r.properties) {
    const props = Object.fromEntries(Object.entries(r.properties ?? {}).map(([k, v]) => [k, schemaArb(v, defs, fx, depth - 1, chaos)]));
    const known = Object.keys(props).length ? fc.record(props, { requiredKeys: [] }) : fc.constant({});
    const extra = r.additionalProperties && typeof r.additionalProperties === 'object'
      ? fc.dictionary(fc.string({ maxLength: 10 }), schemaArb(r.additionalProperties, defs, fx, depth - 1, chaos), { maxKeys: 2 })
      : fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 1 });
    own = fc.tuple(known, extra).map(([a, b]) => ({ ...b, ...(a as object) }));
  } else if (r.type === 'array') own = fc.array(schemaArb(r.items, defs, fx, depth - 1, chaos), { maxLength: 3 });
  else if (r.type === 'integer') own = fc.oneof(fc.integer({ min: -2, max: 1000 }), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, -(2 ** 63)), ...(r.example !== undefined ? [fc.constant(r.example)] : []));
  else if (r.type === 'number') own = fc.oneof(fc.double(), fc.constantFrom(0, 1e308, -1));
  else if (r.type === 'boolean') own = fc.boolean();
  else own = fc.oneof(fc.string({ maxLength: 16 }), fc.constantFrom(...fx.anyReal, '', '..', '/', '0.0.0.0/0', '127.0.0.1', 'busybox', 'host', 'none', 'bridge', 'SIGKILL', '10.99.0.0/16'), ...(r.example !== undefined ? [fc.constant(r.example)] : []));
  return chaos ? fc.oneof({ weight: 5, arbitrary: own }, { weight: 1, arbitrary: other }) : own;
}

function bodyArb(route: Route, defs: Definitions, fx: Fixtures): fc.Arbitrary<BodySpec> {
  const schema = route.body ? resolve(route.body, defs) : undefined;
  const keys = Object.keys(schema?.properties ?? {});
  const key = keys.length ? fc.constantFrom(...keys) : fc.constant('x');
  const valid = schemaArb(route.body, defs, fx, 4, false);
  const chaotic = schemaArb(route.body, defs, fx, 4, true);
  const literal = fc.constantFrom('', ' ', 'null', '[]', '{}', '"x"', '0', 'true', '{"":""}', '\u0000', '{}{}', '{"a":1,}');
  const common: fc.Arbitrary<BodySpec>[] = [
    literal.map((text) => ({ kind: 'text', text })),
    fc.string({ maxLength: 40 }).map((text) => ({ kind: 'text', text })),
    fc.uint8Array({ maxLength: 64 }).map((b) => ({ kind: 'bytes', hex: Buffer.from(b).toString('hex') })),
    fc.record({ key: fc.option(key, { nil: null }), depth: fc.constantFrom(100, 5000, 200000), open: fc.constantFrom('[' as const, '{"a":' as const) }).map((d) => ({ kind: 'deep', ...d })),
    key.map((k) => ({ kind: 'badUtf8', key: k })),
  ];
  if (route.binaryBody) {
    const line = fc.oneof(
      fc.constantFrom('FROM busybox', 'FROM scratch', 'FROM nosuch:1', 'FROM', 'RUN true', 'RUN exit 3', 'COPY . /', 'COPY nosuch /x', 'ADD http://127.0.0.1:1/x /', 'ENV A', 'LABEL', 'ARG', 'WORKDIR', 'USER nosuch', 'EXPOSE abc', 'HEALTHCHECK CMD', 'ONBUILD ONBUILD RUN x', 'FROM busybox AS a\nFROM a AS a', 'COPY --from=nosuch / /', '# syntax=x', '\\', 'RUN --mount=type=bogus true'),
      fc.string({ maxLength: 20 }),
    );
    const tar = fc.record({
      dockerfile: fc.array(line, { maxLength: 4 }).map((ls) => ls.join('\n')),
      files: fc.array(fc.tuple(fc.constantFrom('a', 'dir/b', '../x', '/abs', '.dockerignore', 'Dockerfile', 'manifest.json', 'repositories', 'index.json', 'oci-layout'), fc.string({ maxLength: 30 })), { maxLength: 3 }),
    }).map((t) => ({ kind: 'tar' as const, ...t }));
    return fc.oneof({ weight: 4, arbitrary: tar }, { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) }, ...common);
  }
  if (!route.body) return fc.oneof({ weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) }, ...common);
  return fc.oneof(
    { weight: 4, arbitrary: valid.map((value) => ({ kind: 'json' as const, value })) },
    { weight: 4, arbitrary: chaotic.map((value) => ({ kind: 'json' as const, value })) },
    { weight: 1, arbitrary: fc.record({ base: valid, key, size: fc.constantFrom(70_000, 1 << 20, 8 << 20) }).map((h) => ({ kind: 'huge' as const, ...h })) },
    { weight: 1, arbitrary: fc.record({ value: valid, at: fc.nat() }).map((t) => ({ kind: 'truncated' as const, ...t })) },
    ...common.map((arbitrary) => ({ weight: 1, arbitrary })),
  );
}

function headersArb(route: Route): fc.Arbitrary<Record<string, string>> {
  const ct = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-tar', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', 'garbage', '');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const auth = fc.oneof(
    fc.constantFrom(undefined, '', '!!!not-base64!!!', b64('not json'), b64('[]'), b64('null'), b64('{"username":1,"password":{}}'), b64('{"auths":5}'), 'e30', b64('{"identitytoken":"' + 'x'.repeat(100) + '"}'), b64('\u0000\uffff'), 'x'.repeat(6000)),
    fc.jsonValue({ maxDepth: 2 }).map((v) => b64(JSON.stringify(v))),
  );
  return fc.record({ ct, auth, config: fc.constantFrom(undefined, 'e30', '%%%', Buffer.from('{"a":{"username":[]}}').toString('base64')) }).map(({ ct: c, auth: a, config }) => {
    const h: Record<string, string> = {};
    if (c !== undefined) h['Content-Type'] = c;
    else if (route.binaryBody) h['Content-Type'] = 'application/x-tar';
    if (a !== undefined) h['X-Registry-Auth'] = a;
    if (config !== undefined) h['X-Registry-Config'] = config;
    return h;
  });
}

/** Malformed HTTP for the raw socket. {METHOD} and {URL} are the case's. */
const RAW_TEMPLATES = [
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":',
  '{METHOD} {URL} HTTP/9.9\r\nHost: x\r\n\r\n',
  '{METHOD} {URL} HTTP/1.0\r\n\r\n',
  '{METHOD} {URL}\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nNoColonHeader\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n',
  '{METHOD} http://[ HTTP/1.1\r\nHost: x\r\n\r\n',
  '{METHOD} http://berth{URL} HTTP/1.1\r\nHost: x\r\n\r\n',
  '{METHOD} //x{URL} HTTP/1.1\r\nHost: x\r\n\r\n',
  '{METHOD} * HTTP/1.1\r\nHost: x\r\n\r\n',
  '{METHOD} ?a=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n{}',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 99\r\n\r\n{}',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
  '{METHOD} {URL} HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'b'.repeat(70_000) + '\r\n\r\n',
];

const OTHER_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'TRACE', 'FOO', 'CONNECT'];

export function caseArb(route: Route, defs: Definitions, fx: Fixtures, opts: { streamAborts: boolean }): fc.Arbitrary<Case> {
  const pol = policyOf(route);
  const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const segs = fc.tuple(...pathParams.map((n) => segmentArb(pol.realIds ? realFor(route, n, fx) : [])));
  const declared = route.params.filter((p) => p.in === 'query');
  const query = fc.tuple(
    fc.subarray(declared).chain((ps) => fc.tuple(...ps.map((p) => queryValueArb(p, fx).map((v) => [p.name, v] as [string, string])))),
    fc.array(fc.tuple(fc.constantFrom('bogus', 'v', '', '__proto__', 'filters', 'all', 'x'.repeat(3000)), fc.string({ maxLength: 10 })), { maxLength: 2 }),
    fc.boolean(),
  );
  const version = fc.constantFrom('', '', '', '/v1.51', '/v1.24', '/v1.99', '/v1.12', '/v1', '/v1.x', '/v99999999999999999999.1');
  const method = fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) });
  // Without streamAborts, no client leaves export/archive/logs/get early: not mid-body, not after the head, not a raw one.
  const calm = !opts.streamAborts && STREAM_ABORT_ROUTES.has(route.key);
  const disconnect = fc.oneof(
    { weight: 12, arbitrary: fc.constant<Disconnect>('none') },
    { weight: calm ? 0 : 1, arbitrary: fc.constant<Disconnect>('midBody') },
    { weight: pol.anyDisconnect && !calm ? 2 : 0, arbitrary: fc.constantFrom<Disconnect>('afterSend', 'afterHead') },
  );
  const raw = fc.oneof({ weight: 14, arbitrary: fc.constant(undefined) }, { weight: calm ? 0 : 1, arbitrary: fc.constantFrom(...RAW_TEMPLATES) });
  return fc.record({ segs, query, version, method, body: bodyArb(route, defs, fx), headers: headersArb(route), disconnect, raw, forced: fc.nat() }).map((c) => {
    // Another method is another route (GET /networks/{id} as DELETE removes it): never with a real object.
    const otherMethod = c.method !== route.method && c.method !== 'GET' && c.method !== 'HEAD';
    const segs = c.segs.map((s) => (s.real && otherMethod ? { seg: 'berth-fuzz-missing', real: false } : s));
    let path = route.path;
    pathParams.forEach((n, i) => { path = path.replace(`{${n}}`, segs[i].seg); });
    const real = segs.some((s) => s.real);
    const [declaredPairs, unknown, dup] = c.query;
    let pairs: [string, string][] = [...declaredPairs, ...unknown];
    if (dup && pairs.length) pairs.push(pairs[0]);
    if (real && pol.forceBad) {
      for (const [k, vals] of Object.entries(pol.forceBad)) {
        pairs = pairs.filter(([n]) => n !== k);
        pairs.push([k, vals[c.forced % vals.length]]);
      }
    }
    if (pol.prune) pairs = neutralisePrune(pairs);
    const qs = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const disc = !pol.anyDisconnect && c.disconnect !== 'none' ? 'midBody' : c.disconnect;
    return { method: c.method, url: `${c.version}${path}${qs ? '?' + qs : ''}`, headers: c.headers, body: c.body, disconnect: disc, raw: c.raw, real };
  });
}

/** Prune requests always carry a label filter nothing has, whatever else they filter on. */
function neutralisePrune(pairs: [string, string][]): [string, string][] {
  const never = 'berth.fuzz.never=1';
  let filters: Record<string, unknown> = {};
  const given = pairs.find(([k]) => k === 'filters')?.[1];
  // An empty filters= is no filter at all: it gets the never-matching one like an absent one.
  if (given !== undefined && given !== '') {
    try {
      const v: unknown = JSON.parse(given);
      // Anything but an object is refused as a whole; keep it so that is tested.
      if (!v || typeof v !== 'object' || Array.isArray(v)) return [...pairs.filter(([k]) => k !== 'filters'), ['filters', given]];
      filters = v as Record<string, unknown>;
    } catch {
      return [...pairs.filter(([k]) => k !== 'filters'), ['filters', given]];
    }
  }
  filters.label = [never];
  return [...pairs.filter(([k]) => k !== 'filters'), ['filters', JSON.stringify(filters)]];
}

// ---------- sending ----------

export async function materialise(b: BodySpec): Promise<Buffer | undefined> {
  switch (b.kind) {
    case 'none': return undefined;
    case 'json': return Buffer.from(JSON.stringify(b.value) ?? 'null');
    case 'text': return Buffer.from(b.text);
    case 'bytes': return Buffer.from(b.hex, 'hex');
    case 'huge': {
      const base = b.base && typeof b.base === 'object' && !Array.isArray(b.base) ? b.base : {};
      return Buffer.from(JSON.stringify({ ...base, [b.key]: 'A'.repeat(b.size) }));
    }
    case 'deep': {
      const close = b.open === '[' ? ']' : '}';
      const inner = b.open.repeat(b.depth) + (b.open === '[' ? '' : '1') + close.repeat(b.depth);
      return Buffer.from(b.key === null ? inner : `{${JSON.stringify(b.key)}:${inner}}`);
    }
    case 'badUtf8': return Buffer.concat([Buffer.from(`{${JSON.stringify(b.key)}:"`), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    case 'truncated': {
      const s = JSON.stringify(b.value) ?? 'null';
      return Buffer.from(s.slice(0, s.length > 1 ? b.at % (s.length - 1) : 0));
    }
    case 'tar': {
      const entries = [{ name: 'Dockerfile', content: b.dockerfile }, ...b.files.map(([name, content]) => ({ name, content }))];
      return makeTar(entries);
    }
  }
}

export interface Outcome {
  /** Undefined when the client went away first, or no head came. */
  status?: number;
  headers?: IncomingHttpHeaders;
  body?: string;
  /** The head did not come within the timeout. */
  timedOut?: boolean;
  /** The request never left (node refused to send it): sent raw instead. */
  error?: string;
}

const HEAD_TIMEOUT = 20_000;
const BODY_TIMEOUT = 30_000;

/** Sends one case with node's http client (raw socket for what it refuses to send). */
export async function send(socketPath: string, c: Case, streaming: boolean, halfCloseRaw = true): Promise<Outcome> {
  const body = await materialise(c.body);
  if (c.raw) return sendRaw(socketPath, c.raw.replace('{METHOD}', c.method).replace('{URL}', c.url), c.disconnect, halfCloseRaw);
  // A head over node's 16 KiB limit is answered (431) and the connection closed before any body is read:
  // sent without one, so the answer is not lost to the client's EPIPE.
  // So is a method node's parser does not know (400, no body read).
  const headSize = c.url.length + Object.entries(c.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  const rawHead = () => `${c.method} ${c.url} HTTP/1.1\r\nHost: x\r\n` + Object.entries(c.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + 'Connection: close\r\n\r\n';
  if (headSize > 15_000 || !METHODS.includes(c.method)) return sendRaw(socketPath, rawHead(), c.disconnect, false);
  let req: ReturnType<typeof request>;
  // Keep-alive, as the docker CLI: a daemon answering before it read the body
  // then discards the rest instead of closing on a client still writing.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const headers: Record<string, string> = { ...c.headers };
    if (body && body.length) headers['Content-Length'] = String(body.length);
    req = request({ socketPath, method: c.method, path: c.url, headers, agent });
  } catch (err) {
    // The client library refuses the path or a header (unescaped characters): the raw socket does not.
    // The parser refuses such a request before any body, so none is sent (its EPIPE would hide the answer).
    agent.destroy();
    const out = await sendRaw(socketPath, rawHead(), c.disconnect, false);
    return { ...out, error: (err as Error).message };
  }
  return new Promise<Outcome>((resolvePromise) => {
    let settled = false;
    const done = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(headTimer);
      req.destroy();
      agent.destroy();
      resolvePromise(o);
    };
    const headTimer = setTimeout(() => done({ timedOut: true }), HEAD_TIMEOUT);
    req.on('error', (err) => done(c.disconnect === 'none' ? { error: err.message } : {}));
    // Node's client hands the answer to a CONNECT over as 'connect', whatever its status.
    req.on('connect', (res, socket) => {
      socket.on('error', () => {});
      socket.destroy();
      done({ status: res.statusCode, headers: res.headers });
    });
    req.on('response', (res) => {
      clearTimeout(headTimer);
      // An error answer is small and its message is checked: read whole even when the client is to leave after the head.
      if (c.disconnect === 'afterHead' && (res.statusCode ?? 0) < 300) return done({ status: res.statusCode, headers: res.headers });
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => { size += d.length; if (size < 1 << 20) chunks.push(d); });
      const finish = () => done({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('end', finish);
      res.on('error', finish);
      // A stream that may not end on its own is cut after a moment; any other body must end in time.
      setTimeout(() => (streaming ? finish() : done({ status: res.statusCode, headers: res.headers, timedOut: true })), streaming ? 300 : BODY_TIMEOUT).unref();
    });
    if (c.disconnect === 'midBody') {
      const b = body && body.length > 1 ? body : Buffer.from('{"Image":"busybox"}');
      req.setHeader('Content-Length', String(b.length));
      req.write(b.subarray(0, b.length >> 1));
      setTimeout(() => done({}), 20);
      return;
    }
    req.end(body);
    if (c.disconnect === 'afterSend') setTimeout(() => done({}), 5);
  });
}

/**
 * The answer after any interim `100 Continue` heads: the request is only
 * answered (and, for a create, done) with its final status.
 */
function finalResponse(text: string): string {
  while (/^HTTP\/1\.[01] 1\d\d /.test(text) && text.includes('\r\n\r\n')) text = text.slice(text.indexOf('\r\n\r\n') + 4);
  return text;
}

/**
 * `halfClose`: the client shuts its side after sending (the malformed
 * templates); node then aborts a request in flight, so well-formed ones
 * keep the socket open and ask for Connection: close instead.
 */
function sendRaw(socketPath: string, data: string | Buffer, disconnect: Disconnect, halfClose: boolean): Promise<Outcome> {
  return new Promise((resolvePromise) => {
    const s = connect(socketPath);
    const chunks: Buffer[] = [];
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      const text = finalResponse(Buffer.concat(chunks).toString('latin1'));
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const headerEnd = text.indexOf('\r\n\r\n');
      resolvePromise(m ? { status: Number(m[1]), body: headerEnd >= 0 ? text.slice(headerEnd + 4, headerEnd + 4 + 4096) : '' } : {});
    };
    // Malformed requests may get no answer at all (the client never finished): a few seconds is plenty.
    const timer = setTimeout(done, 3000);
    s.on('data', (d: Buffer) => { chunks.push(d); if (finalResponse(Buffer.concat(chunks).toString('latin1')).includes('\r\n\r\n')) setTimeout(done, 200); });
    s.on('error', done);
    s.on('close', done);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    // Mid-body means the request never arrives whole: a create route's client must
    // not leave a request behind that the daemon could finish after the check.
    s.write(disconnect === 'midBody' ? bytes.subarray(0, bytes.length >> 1) : bytes);
    if (disconnect === 'midBody' || disconnect === 'afterSend') setTimeout(done, 10);
    else if (halfClose) s.end();
  });
}

// ---------- checking ----------

export interface Snapshot { containers: string[]; images: string[]; networks: string[]; volumes: string[]; swarm: string[] }

async function getJson<T>(socketPath: string, path: string): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, path, agent: false }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => { data += d; });
      res.on('end', () => {
        try { resolvePromise(JSON.parse(data) as T); } catch (err) { reject(new Error(`GET ${path}: ${res.statusCode} ${data.slice(0, 300)} (${(err as Error).message})`)); }
      });
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export async function call(socketPath: string, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, method, path, agent: false, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode ?? 0));
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** What `ps -a`, `images -a`, `network ls` and `volume ls` show, as sorted id/name lines. */
export async function snapshot(socketPath: string): Promise<Snapshot> {
  const cs = await getJson<{ Id: string; Names: string[] }[]>(socketPath, '/containers/json?all=1');
  const is = await getJson<{ Id: string; RepoTags: string[] | null }[]>(socketPath, '/images/json?all=1');
  const ns = await getJson<{ Id: string; Name: string }[]>(socketPath, '/networks');
  const vs = await getJson<{ Volumes: { Name: string; Driver: string }[] }>(socketPath, '/volumes');
  const info = await getJson<{ Swarm: { LocalNodeState: string; NodeID: string } }>(socketPath, '/info');
  return {
    swarm: info.Swarm.LocalNodeState === 'inactive' ? [] : [`${info.Swarm.LocalNodeState} ${info.Swarm.NodeID}`],
    containers: cs.map((c) => `${c.Id} ${c.Names.join(',')}`).sort(),
    images: is.flatMap((i) => [i.Id, ...(i.RepoTags ?? []).map((t) => `${i.Id} ${t}`)]).sort(),
    networks: ns.map((n) => `${n.Id} ${n.Name}`).sort(),
    volumes: vs.Volumes.map((v) => `${v.Name} ${v.Driver}`).sort(),
  };
}

export function diff(a: Snapshot, b: Snapshot): string {
  const out: string[] = [];
  for (const k of ['containers', 'images', 'networks', 'volumes', 'swarm'] as const) {
    const added = b[k].filter((x) => !a[k].includes(x));
    const removed = a[k].filter((x) => !b[k].includes(x));
    if (added.length) out.push(`${k} added: ${added.join('; ')}`);
    if (removed.length) out.push(`${k} removed: ${removed.join('; ')}`);
  }
  return out.join('\n');
}

/** Removes what a successful create-type request added (a swarm, containers, networks, volumes, tags, images). */
export async function undo(socketPath: string, before: Snapshot, after: Snapshot): Promise<void> {
  if (after.swarm.length && !before.swarm.length) await call(socketPath, 'POST', '/swarm/leave?force=1');
  for (const line of after.containers.filter((x) => !before.containers.includes(x))) await call(socketPath, 'DELETE', `/containers/${line.split(' ')[0]}?force=1`);
  for (const line of after.networks.filter((x) => !before.networks.includes(x))) await call(socketPath, 'DELETE', `/networks/${line.split(' ')[0]}`);
  for (const line of after.volumes.filter((x) => !before.volumes.includes(x))) await call(socketPath, 'DELETE', `/volumes/${encodeURIComponent(line.split(' ')[0])}`);
  const beforeIds = new Set(before.images.filter((x) => !x.includes(' ')));
  for (const line of after.images.filter((x) => x.includes(' ') && !before.images.includes(x))) {
    const [id, tag] = line.split(' ');
    // Fully qualified, so a tag such as sha256:<hex> is not taken for an image ID.
    const first = tag.split('/')[0];
    const named = !tag.includes('/') ? `docker.io/library/${tag}` : /[.:]|^localhost$/.test(first) ? tag : `docker.io/${tag}`;
    if (beforeIds.has(id)) await call(socketPath, 'DELETE', `/images/${named}?noprune=1`);
  }
  for (const id of after.images.filter((x) => !x.includes(' ') && !beforeIds.has(x))) await call(socketPath, 'DELETE', `/images/${id}?force=1`);
}

/** Replays of a failure: the env vars and the fast-check parameters they set. */
export function fuzzParams(defaultRuns: number): { seed: number; runs: number; path?: string; route?: string } {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
  const runs = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : defaultRuns;
  return { seed, runs, path: process.env.FUZZ_PATH || undefined, route: process.env.FUZZ_ROUTE || undefined };
}

/** A case in a line or two (bodies summarised, long URLs cut). */
export function describeCase(c: Case): string {
  const url = c.url.length > 300 ? `${c.url.slice(0, 300)}…(${c.url.length} chars)` : c.url;
  const b = c.body;
  const body = b.kind === 'json' ? JSON.stringify(b.value)?.slice(0, 300) : b.kind === 'text' ? JSON.stringify(b.text.slice(0, 200)) : b.kind === 'huge' ? `huge ${b.key} ${b.size}` : b.kind === 'deep' ? `deep ${b.open} ${b.depth} under ${b.key}` : b.kind === 'tar' ? `tar Dockerfile=${JSON.stringify(b.dockerfile)} ${b.files.map((f) => f[0]).join(',')}` : b.kind;
  return `${c.method} ${url} headers=${JSON.stringify(c.headers).slice(0, 200)} body=${body} disconnect=${c.disconnect}${c.raw ? ` raw=${JSON.stringify(c.raw.slice(0, 80))}` : ''}`;
}

// ---------- running ----------


/** Objects the fuzz aims at: a created and a running container, busybox, a user network, an exec. */
export async function makeFixtures(d: TestDaemon): Promise<Fixtures> {
  const must = (args: string[]) => {
    const r = d.berth(args);
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const created = must(['create', '--name', 'fz-created', 'busybox', 'sleep', '1d']);
  const running = must(['run', '-d', '--name', 'fz-running', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exec sleep 1d']);
  const net = must(['network', 'create', 'fz-net']);
  must(['volume', 'create', '--label', 'fz=1', 'fz-vol']);
  const image = must(['image', 'inspect', '-f', '{{.Id}}', 'busybox']);
  const execId = await new Promise<string>((resolvePromise, reject) => {
    const req = request({ socketPath: d.socket, method: 'POST', path: '/containers/fz-running/exec', headers: { 'Content-Type': 'application/json' }, agent: false }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => { data += c; });
      res.on('end', () => (res.statusCode === 201 ? resolvePromise((JSON.parse(data) as { Id: string }).Id) : reject(new Error(data))));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ Cmd: ['true'] }));
  });
  const containers = [created, created.slice(0, 12), 'fz-created', running, 'fz-running', '/fz-running'];
  const images = ['busybox', 'busybox:latest', image, image.replace('sha256:', '').slice(0, 12), 'docker.io/library/busybox:latest'];
  const networks = [net, net.slice(0, 12), 'fz-net', 'bridge', 'host', 'none'];
  const volumes = ['fz-vol'];
  return { containers, images, networks, volumes, execs: [execId], anyReal: [...containers.slice(2), ...images.slice(0, 3), ...networks.slice(2), ...volumes, execId] };
}

/** What the CLI lists, to compare before and after a whole run. */
export function cliState(d: TestDaemon): string {
  const ps = d.berth(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}} {{.Image}}']).stdout;
  const images = d.berth(['images', '-a', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}']).stdout;
  const nets = d.berth(['network', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}} {{.Driver}}']).stdout;
  const vols = d.berth(['volume', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Labels}}']).stdout;
  return `ps -a:\n${ps.split('\n').sort().join('\n')}\nimages:\n${images.split('\n').sort().join('\n')}\nnetwork ls:\n${nets.split('\n').sort().join('\n')}\nvolume ls:\n${vols.split('\n').sort().join('\n')}`;
}

const REGISTRY_ROUTES = new Set(['POST /auth', 'GET /images/search', 'POST /images/create', 'POST /images/{name}/push', 'POST /build', 'POST /plugins/pull', 'GET /distribution/{name}/json']);

/**
 * 5xx answers that are right for valid input: a registry the daemon cannot
 * reach (here: none can be) is the daemon's failure, not the client's, and
 * dockerd answers 500 too; swarm routes answer 503 as dockerd's on a node in
 * no swarm; installing a plugin and reading attestations are 501s. Counted and reported per route, never hidden.
 */
function acceptable5xx(route: Route, o: Outcome): boolean {
  if (o.status === 501 && PLUGIN_INSTALL_ROUTES.test(route.key)) return /berth does not support managed plugins/.test(o.body ?? '');
  // berth's store keeps no OCI indexes: dockerd's legacy store answers this 501 for any well-formed request.
  if (o.status === 501 && route.key === 'GET /images/{name}/attestations') return (o.body ?? '').trim() === '{"message":"the legacy image store does not support attestations"}';
  // PUT /volumes/{name} (also a PUT sent to another /volumes/x route) is for cluster
  // volumes only: a dockerd in no swarm answers this 503 before reading anything.
  if (o.status === 503 && route.key.includes(' /volumes/')) return (o.body ?? '').trim() === '{"message":"volume update only valid for cluster volumes, but swarm is unavailable"}';
  if (o.status === 503 && SWARM_ROUTES.test(route.key)) return /This node is not (part of a swarm|a swarm manager)|berth does not support swarm mode|berth cannot join a swarm yet/.test(o.body ?? '');
  return o.status === 500 && REGISTRY_ROUTES.has(route.key)
    && (/getaddrinfo|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ENETUNREACH|fetch failed|no such host|connection refused|network is unreachable/.test(o.body ?? '')
      // A registry request that failed on the way: `Get "<url>": <cause>`, with a URL as long as the fuzzed term.
      || /^\{"message":"Get \\"https?:\/\//.test(o.body ?? ''));
}

/** Installing a managed plugin, which berth does not have: 501, as dockerd's errdefs.NotImplemented. */
const PLUGIN_INSTALL_ROUTES = /^(GET \/plugins\/privileges|POST \/plugins\/(pull|create))$/;

/** Swarm routes on a node in no swarm answer dockerd's 503 (a swarm a fuzzed init makes is left at once). */
const SWARM_ROUTES = /^(GET|POST|DELETE) \/(swarm|nodes|services|tasks|secrets|configs)\b/;

export interface RouteRun { route: string; cases: number; failed: boolean; report: string; ms: number; accepted5xx: number; sample5xx?: string }

/** Fuzzes one route; a failure's report names the route, fast-check's seed and path, and the case. */
export async function fuzzRoute(d: TestDaemon, route: Route, defs: Definitions, fx: Fixtures, p: { seed: number; runs: number; path?: string; streamAborts: boolean }): Promise<RouteRun> {
  const pol = policyOf(route);
  const pid = d.pid;
  let cases = 0;
  let accepted5xx = 0;
  let sample5xx: string | undefined;
  let baseline = await snapshot(d.socket);
  const started = Date.now();
  const details = await fc.check(
    fc.asyncProperty(caseArb(route, defs, fx, { streamAborts: p.streamAborts }), async (c) => {
      cases++;
      // A create route's raw request keeps its socket open for the answer: a client that
      // half-closes goes away unanswered, and the daemon may still make the object after the check.
      const out = await send(d.socket, c, pol.streaming, pol.anyDisconnect);
      const problems: string[] = [];
      if (!c.raw && (c.disconnect === 'none' || c.disconnect === 'afterHead')) {
        if (out.timedOut) problems.push(out.status ? `answered ${out.status} but the body never ended` : 'no answer in time');
        else if (out.status === undefined) problems.push(`no answer: ${out.error ?? 'connection closed'}`);
      }
      if (out.status !== undefined && out.status >= 500) {
        if (!acceptable5xx(route, out)) problems.push(`answered ${out.status}: ${out.body?.slice(0, 500)}`);
        else { accepted5xx++; sample5xx ??= out.body?.trim(); }
      }
      if (out.status !== undefined && out.status >= 400 && out.status < 500 && out.headers?.['api-version'] && c.method !== 'HEAD' && out.body !== undefined) {
        let message: unknown;
        try { message = (JSON.parse(out.body) as { message?: unknown }).message; } catch { /* checked below */ }
        // Only the first MiB is kept: a message that long (an 8 MiB address echoed back) is cut.
        if (out.body.length >= 1 << 19 && out.body.startsWith('{"message":"')) message = out.body.slice(12, 100);
        if (typeof message !== 'string' || message === '') problems.push(`answered ${out.status} without a message: ${out.body.slice(0, 300)}`);
      }
      // A client that went away may leave the daemon busy for a moment; the answer to this ping waits behind nothing.
      if (c.disconnect !== 'none') await new Promise((r) => setTimeout(r, 50));
      if (d.pid !== pid || pid === undefined) problems.push(`the daemon exited; log tail:\n${d.log().slice(-3000)}`);
      // A GET or HEAD that changed the lists would still show, in the check after the route's last case.
      else if ((c.method !== 'GET' && c.method !== 'HEAD') || c.disconnect !== 'none' || c.raw) {
        const now = await snapshot(d.socket).catch((err: Error) => err);
        if (now instanceof Error) problems.push(`the daemon stopped answering: ${now.message}`);
        else {
          const changed = diff(baseline, now);
          if (changed) {
            const ok = pol.creates && out.status !== undefined && out.status < 300;
            if (!ok) problems.push(`the daemon's lists changed (status ${out.status ?? 'none'}):\n${changed}`);
            await undo(d.socket, baseline, now);
            const restored = await snapshot(d.socket);
            if (diff(baseline, restored)) {
              problems.push(`could not undo: ${diff(baseline, restored)}`);
              baseline = restored;
            }
          }
        }
      }
      if (problems.length) throw new Error(`${route.key}: ${problems.join('\n')}\n  case: ${describeCase(c)}`);
    }),
    { seed: p.seed, numRuns: p.runs, path: p.path, endOnFailure: false, markInterruptAsFailure: true, interruptAfterTimeLimit: 180_000 },
  );
  const changed = d.pid === pid ? diff(baseline, await snapshot(d.socket)) : '';
  if (changed && !details.failed) {
    return { route: route.key, cases, failed: true, report: `the lists changed over the route's GET/HEAD cases (replay with FUZZ_SEED=${p.seed}):\n${changed}`, ms: Date.now() - started, accepted5xx, sample5xx };
  }
  return { route: route.key, cases, failed: details.failed, report: details.failed ? `${(details.errorInstance as Error | null)?.message ?? ''}\n${fc.defaultReportMessage(details) ?? ''}` : '', ms: Date.now() - started, accepted5xx, sample5xx };
}
