import type pg from 'pg';
import type { GateRequest } from '@stepgate/contracts';
import { KillSwitchesRepository, killSwitchCovering, type KillSwitch } from '@stepgate/store';

/** How long a tenant's engaged switches are used before they are read again (a lost notice's cost). */
export const KILL_SWITCH_MAX_AGE_MS = 5_000;

/**
 * Each tenant's engaged kill switches, read from Postgres (so a restarted evaluator honours them) and
 * dropped on any notice for the tenant (so an engaged switch applies within about a second). A read
 * that fails throws: the batch waits for Postgres, nothing is decided without the switches (fail closed).
 */
export class KillSwitchStore {
  private readonly loaded = new Map<string, { switches: Promise<KillSwitch[]>; at: number }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxAgeMs = KILL_SWITCH_MAX_AGE_MS,
  ) {}

  /** The first engaged switch covering the request's agent, workflow and tool, if any. */
  async covering(tenantId: string, request: GateRequest): Promise<KillSwitch | undefined> {
    return killSwitchCovering(await this.engaged(tenantId), {
      agentId: request.agent_id,
      workflowId: request.workflow_id,
      toolName: request.tool_context?.tool_name,
    });
  }

  invalidate(tenantId: string): void {
    this.loaded.delete(tenantId);
  }

  private engaged(tenantId: string): Promise<KillSwitch[]> {
    const entry = this.loaded.get(tenantId);
    if (entry && Date.now() - entry.at < this.maxAgeMs) return entry.switches;
    const switches = new KillSwitchesRepository(this.pool).engaged(tenantId);
    this.loaded.set(tenantId, { switches, at: Date.now() });
    switches.catch(() => this.loaded.delete(tenantId));
    return switches;
  }
}
