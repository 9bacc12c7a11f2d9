import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

/** What a kill switch covers: a null field covers every agent, workflow or tool. */
export interface KillSwitchScope {
  agent_id: string | null;
  workflow_id: string | null;
  tool_name: string | null;
}

export interface KillSwitch extends KillSwitchScope {
  switch_id: string;
  tenant_id: string;
  reason: string;
  engaged_by: string;
  engaged_at: Date;
  released_by: string | null;
  released_at: Date | null;
}

/**
 * What a switch is checked against. `toolName: 'unknown'` is a step whose tool is not known (an
 * approval outcome): a switch scoped to any tool then covers it (fail closed).
 */
export interface KillSwitchTarget {
  agentId: string | null | undefined;
  workflowId: string;
  toolName: string | undefined | { unknown: true };
}

/** The first of `switches` covering the target's agent, workflow and tool, if any: the evaluator's and the approvals' one rule. */
export function killSwitchCovering(switches: readonly KillSwitch[], target: KillSwitchTarget): KillSwitch | undefined {
  const workflow = target.workflowId.toLowerCase();
  const tool = target.toolName;
  return switches.find(
    (s) =>
      (s.agent_id === null || s.agent_id === target.agentId) &&
      (s.workflow_id === null || s.workflow_id === workflow) &&
      (s.tool_name === null || typeof tool === 'object' || s.tool_name === tool),
  );
}

/** How a kill switch's refusal reads, in a gate decision or an approval's outcome. */
export function killSwitchMessage(s: KillSwitch): string {
  return `kill switch engaged${s.engaged_by ? ` by ${s.engaged_by}` : ''}: ${s.reason}`;
}

/** Operators' kill switches (table kill_switches): engaged ones block every gate they cover. */
export class KillSwitchesRepository {
  constructor(private readonly db: Db) {}

  async engage(p: {
    tenantId: string;
    scope: KillSwitchScope;
    reason: string;
    engagedBy: string;
  }): Promise<KillSwitch> {
    const { rows } = await this.db.query<KillSwitch>(
      `insert into kill_switches (switch_id, tenant_id, agent_id, workflow_id, tool_name, reason, engaged_by)
       values ($1, $2, $3, $4, $5, $6, $7) returning *`,
      [
        randomUUID(),
        p.tenantId,
        p.scope.agent_id,
        p.scope.workflow_id?.toLowerCase() ?? null,
        p.scope.tool_name,
        p.reason,
        p.engagedBy,
      ],
    );
    return rows[0]!;
  }

  /**
   * Releases the tenant's engaged switches: the one with `switchId`, or every one whose scope is
   * exactly `scope`. Returns the released switches.
   */
  async release(p: {
    tenantId: string;
    switchId?: string;
    scope?: KillSwitchScope;
    releasedBy: string;
  }): Promise<KillSwitch[]> {
    const { rows } = await this.db.query<KillSwitch>(
      `update kill_switches set released_at = now(), released_by = $2
        where tenant_id = $1 and released_at is null
          and ($3::uuid is null or switch_id = $3::uuid)
          and ($4::boolean is false or (agent_id is not distinct from $5 and workflow_id is not distinct from $6 and tool_name is not distinct from $7))
        returning *`,
      [
        p.tenantId,
        p.releasedBy,
        p.switchId ?? null,
        p.scope !== undefined,
        p.scope?.agent_id ?? null,
        p.scope?.workflow_id?.toLowerCase() ?? null,
        p.scope?.tool_name ?? null,
      ],
    );
    return rows;
  }

  /** The tenant's engaged switches (all tenants' when tenantId is undefined), oldest first. */
  async engaged(tenantId?: string): Promise<KillSwitch[]> {
    const { rows } = await this.db.query<KillSwitch>(
      `select * from kill_switches where released_at is null and ($1::text is null or tenant_id = $1) order by engaged_at`,
      [tenantId ?? null],
    );
    return rows;
  }
}
