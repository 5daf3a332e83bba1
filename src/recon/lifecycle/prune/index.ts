import { archivePruner } from './archive.js';
import { providerRowsPruner } from './provider-rows.js';
import type { Pruner } from './pruner.js';

export type { Pruner, PruneContext, PruneResult } from './pruner.js';

/** What `prune` removes, in this order. */
export const PRUNERS: readonly Pruner[] = [providerRowsPruner, archivePruner];
