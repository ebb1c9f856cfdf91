// GET /v1/search?q=...&n=...&page=... in Docker Hub's response shape, so
// `docker search registry:5000/word` works. Matches the query against
// repository names and the descriptions admins set (`berth registry meta`).
import type { SearchResponse, SearchResult } from '../api/search.ts';
import type { Storage } from './storage.ts';

const DEFAULT_PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 100;

function intParam(v: string | null, dflt: number, min: number, max: number): number {
  const n = v === null ? NaN : Number(v);
  if (!Number.isInteger(n)) return dflt;
  return Math.min(max, Math.max(min, n));
}

export async function search(storage: Storage, visible: (repo: string) => boolean, q: URLSearchParams): Promise<SearchResponse> {
  const query = (q.get('q') ?? '').slice(0, 256);
  const pageSize = intParam(q.get('n'), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
  const page = intParam(q.get('page'), 1, 1, 1_000_000);
  // "docker search host/word" sends only "word", but a client may send the
  // host too; a query is a list of words that must all match.
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  const matches: SearchResult[] = [];
  for (const name of await storage.listRepositories()) {
    if (!visible(name)) continue;
    const meta = await storage.getMeta(name);
    const hay = `${name} ${meta.description}`.toLowerCase();
    if (!terms.every((t) => hay.includes(t))) continue;
    matches.push({ name, description: meta.description, star_count: meta.stars, is_official: false, is_automated: false });
  }
  // Most starred first, then by name, like Hub's default ranking for equal relevance.
  matches.sort((a, b) => b.star_count - a.star_count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const start = (page - 1) * pageSize;
  return {
    num_pages: Math.max(1, Math.ceil(matches.length / pageSize)),
    num_results: matches.length,
    results: matches.slice(start, start + pageSize),
    page_size: pageSize,
    query,
    page,
  };
}
