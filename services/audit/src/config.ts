import { serviceEnv, type ServiceEnv } from '@stepgate/runtime';
import type { Threshold, WindowedRule } from './alert-rules.js';

export interface AuditConfig extends ServiceEnv {
  partitionsConcurrently: number;
  /** The alerts consumer's group (it reads the audit stream on its own). */
  alertsGroupId: string;
  /** Default alert thresholds; tenants override them in `alert_thresholds`. */
  alertDefaults?: Partial<Record<WindowedRule, Threshold>>;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  const base = serviceEnv('audit', env);
  return {
    ...base,
    partitionsConcurrently: Number(env.STEPGATE_PARTITIONS_CONCURRENTLY ?? 6),
    alertsGroupId: env.STEPGATE_ALERTS_GROUP ?? `${base.groupId}-alerts`,
  };
}
