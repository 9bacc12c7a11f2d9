import { Command, CommanderError } from 'commander';
import { listAlertThresholds, setAlertThreshold, unsetAlertThreshold } from './commands/alerts.js';
import { applyCommand } from './commands/apply.js';
import { decideApproval, listApprovals, type DecideOptions } from './commands/approvals.js';
import { auditExport, auditRetention, auditVerify, type AuditExportOptions } from './commands/audit.js';
import { createCredential, linkIdentity, revokeCredential, unlinkIdentity } from './commands/credentials.js';
import { evalCommand } from './commands/eval.js';
import { explainCommand } from './commands/explain.js';
import {
  engageKillSwitch,
  listKillSwitches,
  releaseKillSwitch,
  type KillSwitchOptions,
} from './commands/killswitch.js';
import { policiesDiff, policiesHistory, policiesRollback, policiesShow } from './commands/policies.js';
import { replayCommand, type ReplayOptions } from './commands/replay.js';
import { dropShadow, promoteShadow, shadowReport } from './commands/shadow.js';
import { keygenCommand } from './commands/keygen.js';
import { lintCommand } from './commands/lint.js';
import { listTenants, setTenant, type SetTenantOptions } from './commands/tenants.js';
import { addWebhook, listWebhooks, removeWebhook, type AddWebhookOptions } from './commands/webhooks.js';
import { testCommand } from './commands/test.js';
import { verifyCommand } from './commands/verify.js';
import { SettingsError } from '@stepgate/runtime';
import { EXIT, InputError, processIo, terminalSafeIo, type Io } from './io.js';

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: readonly string[], rawIo: Io = processIo): Promise<number> {
  // Whatever a command prints (names, reasons, messages from the database or Temporal), a control
  // character in it is shown escaped, never sent to the terminal raw.
  const io = terminalSafeIo(rawIo);
  let code: number = EXIT.ok;
  const guard = (action: () => Promise<number>) => async () => {
    code = await action();
  };
  const program = new Command('stepgate')
    .description('Governance for AI-agent workflows: step gates, approvals and audit.')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  const context: CommandContext = { io, guard };
  for (const register of [
    registerOfflineCommands,
    registerCredentialCommands,
    registerPolicyCommands,
    registerPolicyLifecycleCommands,
    registerKillSwitchCommands,
    registerApprovalCommands,
    registerAuditCommands,
    registerTenantCommands,
    registerKeyCommands,
  ])
    register(program, context);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    if (err instanceof InputError) {
      io.err(`stepgate: ${err.message}\n${err.details.map((d) => `  ${d}\n`).join('')}`);
      return EXIT.invalid;
    }
    if (err instanceof SettingsError) {
      io.err(`${err.message}\n`);
      return EXIT.invalid;
    }
    throw err;
  }
}

/** What every command registration needs: the output, and the wrapper that records the exit code. */
interface CommandContext {
  io: Io;
  guard: (action: () => Promise<number>) => () => Promise<void>;
}

/** Offline policy tools: eval, lint, test. */
function registerOfflineCommands(program: Command, { io, guard }: CommandContext): void {
  program
    .command('eval')
    .description('decide one gate request offline against a bundle; prints the decision JSON')
    .requiredOption('--bundle <file>', 'tenant policy bundle (JSON or YAML)')
    .requiredOption('--request <file>', 'gate request (JSON or YAML)')
    .option('--now <iso>', 'evaluation time (default: the current time)')
    .option('--usage <file>', 'usage counters by key, for rate-limit, budget and delegation spend')
    .action((opts: { bundle: string; request: string; now?: string; usage?: string }) =>
      guard(() => evalCommand(opts, io))(),
    );

  program
    .command('lint')
    .description('validate a bundle and report every problem at once')
    .requiredOption('--bundle <file>', 'tenant policy bundle (JSON or YAML)')
    .action((opts: { bundle: string }) => guard(() => lintCommand(opts, io))());

  program
    .command('test')
    .description('run policy tests: *.test.json / *.test.yaml files of a bundle and cases with expected decisions')
    .argument('<dir>', 'folder with policy test files')
    .action((dir: string) => guard(() => testCommand(dir, io))());
}

/** Signing credentials: create, revoke. */
function registerCredentialCommands(program: Command, { io, guard }: CommandContext): void {
  const credentials = program
    .command('credentials')
    .description('signing credentials of orchestrators and approvers (DATABASE_URL, KAFKA_BROKERS)');
  credentials
    .command('create')
    .description('create an Ed25519 credential; only the public key is stored')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--principal <name>', 'who signs with it')
    .requiredOption('--out <file>', 'where to write the key id and private key (mode 0600)')
    .option('--roles <roles>', 'comma-separated roles of the principal, e.g. approver')
    .action((opts: { tenant: string; principal: string; out: string; roles?: string }) =>
      guard(() => createCredential(opts, io))(),
    );
  credentials
    .command('revoke')
    .argument('<key_id>')
    .description('revoke a credential: its messages are rejected from then on')
    .action((keyId: string) => guard(() => revokeCredential(keyId, io))());
  credentials
    .command('link-identity')
    .description('let a person of an OpenID Connect provider sign in to the control plane as a principal')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--principal <name>', 'the principal the person acts as')
    .requiredOption('--issuer <url>', "the provider's issuer URL (exactly as in its tokens' iss)")
    .requiredOption('--identity <value>', "the value of the control plane's OIDC_PRINCIPAL_CLAIM (e.g. the email)")
    .option('--roles <roles>', 'comma-separated roles of the principal: admin, approver, auditor, viewer')
    .option('--as <principal>', 'who links it (recorded and audited)')
    .action(
      (opts: { tenant: string; principal: string; issuer: string; identity: string; roles?: string; as?: string }) =>
        guard(() => linkIdentity(opts, io))(),
    );
  credentials
    .command('unlink-identity')
    .description("stop a person of an OpenID Connect provider signing in as the tenant's principal; ends its sessions")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--issuer <url>', "the provider's issuer URL (exactly as in its tokens' iss)")
    .requiredOption('--identity <value>', "the value of the control plane's OIDC_PRINCIPAL_CLAIM (e.g. the email)")
    .option('--as <principal>', 'who unlinks it (recorded and audited)')
    .action((opts: { tenant: string; issuer: string; identity: string; as?: string }) =>
      guard(() => unlinkIdentity(opts, io))(),
    );
}

/** Policy bundles: apply. */
function registerPolicyCommands(program: Command, { io, guard }: CommandContext): void {
  program
    .command('apply')
    .description("validate a bundle, store it as the tenant's next version and announce it to the evaluators")
    .requiredOption('--bundle <file>', 'tenant policy bundle (JSON or YAML)')
    .option('--as <principal>', 'who applies it (recorded and audited)')
    .option(
      '--shadow',
      'install it as the shadow bundle: evaluated beside the active one on every gate, never deciding',
    )
    .action((opts: { bundle: string; as?: string; shadow?: boolean }) => guard(() => applyCommand(opts, io))());
}

/** Versions, diff, rollback, what-if replay, shadow bundles and explain. */
function registerPolicyLifecycleCommands(program: Command, { io, guard }: CommandContext): void {
  const policies = program.command('policies').description("a tenant's bundle versions (DATABASE_URL, KAFKA_BROKERS)");
  policies
    .command('history')
    .description("the tenant's bundle versions, newest first")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--json', 'JSON instead of text')
    .action((opts: { tenant: string; json?: boolean }) => guard(() => policiesHistory(opts, io))());
  policies
    .command('show')
    .description('print a stored version of the bundle')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--version <n>', 'version number')
    .action((opts: { tenant: string; version: string }) => guard(() => policiesShow(opts, io))());
  policies
    .command('diff')
    .description('what changed from version A to version B, policy by policy and field by field')
    .argument('<from>', 'version A')
    .argument('<to>', 'version B')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--json', 'JSON instead of text')
    .action((from: string, to: string, opts: { tenant: string; json?: boolean }) =>
      guard(() => policiesDiff(from, to, opts, io))(),
    );
  policies
    .command('rollback')
    .description("apply version N's bundle again as a new version (audited; announced to the evaluators)")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--to <n>', 'the version to return to')
    .option('--as <principal>', 'who rolls back (recorded and audited)')
    .action((opts: { tenant: string; to: string; as?: string }) => guard(() => policiesRollback(opts, io))());

  program
    .command('replay')
    .description("what-if: re-evaluate a window of the tenant's recorded gates against a draft bundle")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--bundle <file>', 'the draft bundle (JSON or YAML)')
    .option('--from <date>', 'gates decided at or after this time (ISO)')
    .option('--to <date>', 'gates decided before this time (ISO)')
    .option('--workflow <id>', 'only this workflow')
    .option('--format <format>', 'text or json', 'text')
    .action((opts: ReplayOptions) => guard(() => replayCommand(opts, io))());

  program
    .command('explain')
    .argument('<request_id>')
    .description('every policy and condition a recorded decision was evaluated on, with the values seen')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--json', 'JSON instead of text')
    .action((id: string, opts: { tenant: string; json?: boolean }) => guard(() => explainCommand(id, opts, io))());

  const shadow = program.command('shadow').description('shadow bundles (install one with apply --shadow)');
  shadow
    .command('report')
    .description('how the shadow bundle would have decided the gates since it was installed')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--format <format>', 'text or json', 'text')
    .action((opts: { tenant: string; format?: string }) => guard(() => shadowReport(opts, io))());
  shadow
    .command('promote')
    .description("make the shadow bundle the tenant's next version")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--as <principal>', 'who promotes it (recorded and audited)')
    .action((opts: { tenant: string; as?: string }) => guard(() => promoteShadow(opts, io))());
  shadow
    .command('drop')
    .description('remove the shadow bundle')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--as <principal>', 'who drops it (recorded and audited)')
    .action((opts: { tenant: string; as?: string }) => guard(() => dropShadow(opts, io))());
}

/** Kill switches: engage, release, list. */
function registerKillSwitchCommands(program: Command, { io, guard }: CommandContext): void {
  const killswitch = program
    .command('killswitch')
    .description('block every matching gate at once, on every evaluator (DATABASE_URL, KAFKA_BROKERS)');
  const scoped = (cmd: Command) =>
    cmd
      .requiredOption('--tenant <tenant>', 'tenant id')
      .option('--agent <agent_id>', 'only this agent')
      .option('--workflow <workflow_id>', 'only this workflow')
      .option('--tool <tool_name>', 'only this tool')
      .option('--as <principal>', 'who does it (recorded and audited)');
  scoped(killswitch.command('engage').description('engage a kill switch (audited; raises a config_change alert)'))
    .requiredOption('--reason <text>', 'why (shown in every decision it blocks)')
    .action((opts: KillSwitchOptions) => guard(() => engageKillSwitch(opts, io))());
  scoped(killswitch.command('release').description('release the switches of exactly this scope, or --id'))
    .option('--id <switch_id>', 'release this switch')
    .action((opts: KillSwitchOptions) => guard(() => releaseKillSwitch(opts, io))());
  killswitch
    .command('list')
    .description('engaged kill switches')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--json', 'JSON instead of text')
    .action((opts: { tenant?: string; json?: boolean }) => guard(() => listKillSwitches(opts, io))());
}

/** Human approvals: list, approve, reject. */
function registerApprovalCommands(program: Command, { io, guard }: CommandContext): void {
  const approvals = program.command('approvals').description('human approvals (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)');
  approvals
    .command('list')
    .description('approvals with their step context, age and time left (from Temporal search attributes)')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--status <status>', 'pending, approved, rejected, expired or superseded')
    .option('--json', 'JSON instead of text')
    .action((opts: { tenant?: string; status?: string; json?: boolean }) => guard(() => listApprovals(opts, io))());
  approvals
    .command('approve')
    .argument('<approval_id>')
    .description('approve a pending step with a statement signed by an approver key of its tenant (not its requester)')
    .requiredOption('--key <file>', 'the approver credential file `stepgate credentials create` wrote')
    .requiredOption('--comment <text>', 'why (at least 10 characters)')
    .option('--digest <sha256>', "the action digest you reviewed (`approvals list`); default: the approval's")
    .option('--as <principal>', "deprecated: must equal the key's principal")
    .action((id: string, opts: DecideOptions) => guard(() => decideApproval('approve', id, opts, io))());
  approvals
    .command('reject')
    .argument('<approval_id>')
    .description('reject a pending step with a signed statement: it is blocked and its workflow aborted')
    .requiredOption('--key <file>', 'the approver credential file `stepgate credentials create` wrote')
    .requiredOption('--reason <text>', 'why (at least 10 characters)')
    .option('--digest <sha256>', "the action digest you reviewed (`approvals list`); default: the approval's")
    .option('--as <principal>', "deprecated: must equal the key's principal")
    .action((id: string, opts: DecideOptions) => guard(() => decideApproval('reject', id, opts, io))());
}

/** The audit trail: verify, export, retention. */
function registerAuditCommands(program: Command, { io, guard }: CommandContext): void {
  const audit = program.command('audit').description('the audit trail in Postgres (DATABASE_URL, STEPGATE_DB_SCHEMA)');
  audit
    .command('verify')
    .description("walk a tenant's hash chain and report the first broken link (exit 1)")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .action((opts: { tenant: string }) => guard(() => auditVerify(opts, io))());
  audit
    .command('export')
    .description('stream audit rows as CSV, JSON lines or CEF (progress on stderr)')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--format <format>', 'csv, jsonl or cef')
    .option('--from <date>', 'rows at or after this time (ISO)')
    .option('--to <date>', 'rows before this time (ISO)')
    .option('--action <action>', 'only this action, e.g. GateEvaluated')
    .option('--workflow <id>', 'only this workflow')
    .option('--out <file>', 'write here instead of stdout')
    .action((opts: AuditExportOptions) => guard(() => auditExport(opts, io))());
  audit
    .command('retention')
    .description(
      'drop monthly partitions older than --days (dry run unless --apply; never below STEPGATE_AUDIT_RETENTION_FLOOR_DAYS, default 30)',
    )
    .requiredOption('--days <n>', 'keep this many days')
    .option('--apply', 'really drop them')
    .action((opts: { days: string; apply?: boolean }) => guard(() => auditRetention(opts, io))());
}

/** Tenant settings and alert thresholds. */
function registerTenantCommands(program: Command, { io, guard }: CommandContext): void {
  const tenants = program.command('tenants').description('tenant settings (DATABASE_URL, KAFKA_BROKERS)');
  tenants
    .command('set')
    .description("change a tenant's settings (audited; raises a config_change alert)")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--display-name <name>', 'a name for people')
    .option(
      '--approval-timeout <seconds>',
      'how long approvals wait when the matching policy sets no timeout_seconds; "default" for the service default',
    )
    .option(
      '--reply-to-namespaces <list>',
      'Temporal namespaces gate requests may name in reply_to (comma-separated; "none": no reply_to)',
    )
    .option(
      '--reply-to-prefixes <list>',
      'workflow-id prefixes a reply_to workflow id must start with (comma-separated; "none": no reply_to)',
    )
    .option('--as <principal>', 'who changes it (recorded and audited)')
    .action((opts: SetTenantOptions) => guard(() => setTenant(opts, io))());
  tenants
    .command('list')
    .description('tenants and their settings')
    .option('--json', 'JSON instead of text')
    .action((opts: { json?: boolean }) => guard(() => listTenants(opts, io))());

  registerWebhookCommands(program, { io, guard });

  const alerts = program
    .command('alerts')
    .description("per-tenant alert thresholds, over the service's defaults (DATABASE_URL, KAFKA_BROKERS)");
  alerts
    .command('set')
    .description("set a tenant's threshold for a rule (audited; raises a config_change alert)")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--rule <rule>', 'block_spike, background_write_burst or approval_backlog')
    .requiredOption(
      '--threshold <n>',
      'events in the window (pending approvals for approval_backlog) that fire the alert',
    )
    .option('--window <seconds>', 'sliding window (the quiet time after an approval_backlog alert)', '60')
    .option('--as <principal>', 'who changes it (recorded and audited)')
    .action((opts: { tenant: string; rule: string; threshold: string; window?: string; as?: string }) =>
      guard(() => setAlertThreshold(opts, io))(),
    );
  alerts
    .command('unset')
    .description("return a tenant's rule to the service's default (audited)")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--rule <rule>', 'block_spike, background_write_burst or approval_backlog')
    .option('--as <principal>', 'who changes it (recorded and audited)')
    .action((opts: { tenant: string; rule: string; as?: string }) => guard(() => unsetAlertThreshold(opts, io))());
  alerts
    .command('list')
    .description('the thresholds tenants have set')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--json', 'JSON instead of text')
    .action((opts: { tenant?: string; json?: boolean }) => guard(() => listAlertThresholds(opts, io))());
}

/** Webhooks told about a tenant's approvals: add, list, remove. */
function registerWebhookCommands(program: Command, { io, guard }: CommandContext): void {
  const webhooks = program
    .command('webhooks')
    .description("a tenant's approval webhooks (DATABASE_URL, KAFKA_BROKERS)");
  webhooks
    .command('add')
    .description('POST approval events to a URL, signed with a new secret (audited)')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .requiredOption('--url <url>', 'https URL (http only to a loopback host with --allow-loopback-http, for dev)')
    .option('--format <format>', 'json or slack (a Block Kit message)', 'json')
    .option('--secret <secret>', 'the HMAC secret (16+ characters; default: generated and printed once)')
    .option('--allow-loopback-http', 'accept http://127.0.0.1 / localhost URLs (development only)')
    .option('--as <principal>', 'who changes it (recorded and audited)')
    .action((opts: AddWebhookOptions) => guard(() => addWebhook(opts, io))());
  webhooks
    .command('list')
    .description("a tenant's webhooks (secrets are never shown)")
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--json', 'JSON instead of text')
    .action((opts: { tenant: string; json?: boolean }) => guard(() => listWebhooks(opts, io))());
  webhooks
    .command('remove')
    .description("remove one of a tenant's webhooks (audited)")
    .argument('<webhook-id>', 'the id `webhooks add` printed')
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--as <principal>', 'who changes it (recorded and audited)')
    .action((id: string, opts: { tenant: string; as?: string }) => guard(() => removeWebhook(id, opts, io))());
}

/** Receipts and keys: verify, keygen. */
function registerKeyCommands(program: Command, { io, guard }: CommandContext): void {
  program
    .command('verify')
    .description("check a decision's signed receipt, or an approver's signed statement (an approval's evidence)")
    .argument('<decision>', 'decision JSON file, or an approval state / ApprovalGranted audit event with its evidence')
    .option('--public-key <pem>', "the evaluator's public key (PEM file)")
    .option('--keys-url <url>', 'the receipt keys a service publishes, e.g. http://evaluator:9464/receipt-keys')
    .action((file: string, opts: { publicKey?: string; keysUrl?: string }) =>
      guard(() => verifyCommand(file, opts, io))(),
    );

  program
    .command('keygen')
    .description('generate an Ed25519 key pair (e.g. the evaluator receipt key)')
    .requiredOption('--private <file>', 'PKCS#8 PEM private key (mode 0600)')
    .requiredOption('--public <file>', 'SPKI PEM public key')
    .action((opts: { private: string; public: string }) => guard(() => keygenCommand(opts, io))());
}
