// `docker search`: GET /v1/search?q=&n= on the registry named in the term
// (`localhost:5000/busy` searches localhost:5000 for "busy"; a bare term goes
// to Docker Hub), filtered by stars and is-official as dockerd filters.
// undici's request, not fetch: fetch refuses the browsers' "bad ports" (6000, 10080…), which a registry may well use.
import { InvalidArgumentError, SystemError } from '../../errors.ts';
import { DEFAULT_DOMAIN } from '../../api/reference.ts';
import { type Credentials, causeOf } from './auth.ts';
import { basicHeader } from './challenge.ts';
import type { RegistryHosts } from './hosts.ts';
import { loadUndici } from './undici.ts';
// Docker Hub's v1 search entry: the shape berth's registry serves and GET /images/search passes on.
import type { SearchResult } from '../../api/search.ts';


export interface SearchFilters {
  stars?: number;
  isOfficial?: boolean;
  isAutomated?: boolean;
}

const HUB_INDEX = 'index.docker.io';

function splitTerm(term: string): { domain: string; query: string } {
  const slash = term.indexOf('/');
  if (slash > 0) {
    const first = term.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') return { domain: first, query: term.slice(slash + 1) };
  }
  return { domain: DEFAULT_DOMAIN, query: term };
}

export function parseSearchFilters(filters: Record<string, string[]>): SearchFilters {
  const out: SearchFilters = {};
  for (const [k, values] of Object.entries(filters)) {
    const v = values[values.length - 1];
    if (k === 'stars') {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new InvalidArgumentError(`invalid filter 'stars=${v}'`);
      out.stars = n;
    } else if (k === 'is-official' || k === 'is-automated') {
      if (v !== 'true' && v !== 'false') throw new InvalidArgumentError(`invalid filter '${k}=${v}'`);
      if (k === 'is-official') out.isOfficial = v === 'true';
      else out.isAutomated = v === 'true';
    } else {
      throw new InvalidArgumentError(`invalid filter '${k}'`);
    }
  }
  return out;
}

export async function searchRegistry(
  hosts: RegistryHosts, term: string, limit: number, filters: SearchFilters, creds: Credentials,
): Promise<SearchResult[]> {
  if (!term) throw new InvalidArgumentError('search term cannot be empty');
  if (limit < 1 || limit > 100) throw new InvalidArgumentError(`limit ${limit} is outside the range of [1, 100]`);
  const { domain, query } = splitTerm(term);
  const eps = domain === DEFAULT_DOMAIN ? hosts.endpoints(HUB_INDEX) : hosts.endpoints(domain);
  let lastError: Error | undefined;
  for (const ep of eps.filter((e) => !e.mirror)) {
    const url = `${ep.base}/v1/search?q=${encodeURIComponent(query)}&n=${limit}`;
    const header = basicHeader(creds);
    let res;
    try {
      const { request } = await loadUndici();
      res = await request(url, { dispatcher: await ep.dispatcher(), headers: header ? { Authorization: header } : {} });
    } catch (err) {
      lastError = new SystemError(`Get "${url}": ${causeOf(err)}`);
      continue;
    }
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) throw new SystemError(`Unexpected status code ${res.statusCode}`);
    let body: { results?: unknown };
    try {
      body = JSON.parse(text) as { results?: unknown };
    } catch {
      throw new SystemError(`invalid search response from ${domain}`);
    }
    const results = (Array.isArray(body.results) ? body.results : []) as SearchResult[];
    return results.filter((r) => (filters.stars === undefined || r.star_count >= filters.stars)
      && (filters.isOfficial === undefined || r.is_official === filters.isOfficial)
      && (filters.isAutomated === undefined || r.is_automated === filters.isAutomated)).slice(0, limit);
  }
  throw lastError ?? new SystemError(`no endpoint for ${domain}`);
}
