// Docker Hub's search response (GET /v1/search), which registries, the
// daemon's GET /images/search and the CLI all speak.

export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export interface SearchResponse {
  num_pages: number;
  num_results: number;
  results: SearchResult[];
  page_size: number;
  query: string;
  page: number;
}
