// In-root path resolution lives in the ground (files/rootpath.ts), where the
// CLI's cp extracts with it too; the storage layer's users import it here.
export { cleanInRoot, isWithin, PathEscapeError, resolveInRoot, ScopedRoot, type ScopeMount } from '../files/rootpath.ts';
