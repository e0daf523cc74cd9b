#include "controller/store/statements.h"

#include <pqxx/pqxx>

namespace gantry::store {
namespace {

// Timestamps travel as Unix milliseconds; NULL becomes 0.
#define MS(col) "coalesce((extract(epoch from " col ") * 1000)::bigint, 0)"

// Column lists are macros so that each statement stays one literal. The
// order is the one RunFromRow, StageFromRow and JobFromRow in tx.cc read.
#define RUN_COLUMNS                                                    \
  "id, pipeline, counter, label, state, config_revision, cause_kind, " \
  "trigger_user, cause_message, " MS("created_at") ", " MS("finished_at")

#define STAGE_COLUMNS                                                          \
  "id, run_id, name, stage_index, counter, state, approval, approved_by, " MS( \
      "created_at") ", " MS("finished_at") ", pipeline, coalesce(config_revision, 0), rerun_failed_jobs"

#define JOB_COLUMNS \
  "id, stage_run_id, name, config_job, state, agent_id, reason, " MS("scheduled_at") \
  ", " MS("assigned_at") ", " MS("started_at") ", " MS("finished_at")                \
  ", console_bytes, last_sequence, cancel_reason, pinned_agent, console_truncated, " \
  "coalesce(copied_from, 0)"

// The order PipelineFromRow in tx_rows.cc reads.
#define PIPELINE_COLUMNS                                                             \
  "name, last_counter, paused, pause_reason, paused_by, " MS("paused_at")           \
  ", locked_by, waiting_upstream_pipeline, waiting_upstream_counter, "                \
  "waiting_upstream_stage, waiting_upstream_stage_counter, waiting_user, waiting_message"

constexpr Statement kStatements[] = {
    // --- batched writes: one statement applies a whole WriteBatch, each
    // table's rows a data-modifying CTE over the arrays (one element per row;
    // an empty array writes nothing). Foreign keys are checked at the end of
    // the statement, so parents and children go in together.
    {kApplyWrites,
     "WITH c AS (INSERT INTO pipelines (name, last_counter) SELECT * FROM unnest($1::text[], "
     "$2::bigint[]) ON CONFLICT (name) DO UPDATE SET last_counter = "
     "greatest(pipelines.last_counter, EXCLUDED.last_counter)), r AS (INSERT INTO "
     "pipeline_runs (id, pipeline, counter, label, state, config_revision, cause_kind, "
     "trigger_user, cause_message, created_at, finished_at) SELECT u.id, u.pipeline, "
     "u.counter, u.label, u.state, u.rev, u.kind, u.usr, u.msg, to_timestamp(u.created / "
     "1000.0), CASE WHEN u.fin = 0 THEN NULL ELSE to_timestamp(u.fin / 1000.0) END FROM "
     "unnest($3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], "
     "$9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[]) AS u(id, pipeline, "
     "counter, label, state, rev, kind, usr, msg, created, fin)), m AS (INSERT INTO "
     "run_materials (run_id, material, type, revision, upstream_pipeline, upstream_counter, "
     "upstream_stage, upstream_stage_counter) SELECT * FROM unnest($14::bigint[], $15::text[],"
     " $16::text[], $17::text[], $18::text[], $19::bigint[], $20::text[], $21::int[])), v AS "
     "(INSERT INTO run_variables (run_id, position, name, value, secure) SELECT * FROM "
     "unnest($22::bigint[], $23::int[], $24::text[], $25::text[], $26::boolean[])), s AS "
     "(INSERT INTO stage_runs (id, run_id, pipeline, name, stage_index, counter, state, "
     "approval, approved_by, created_at, finished_at) SELECT u.id, u.run, u.pipeline, u.name, "
     "u.idx, u.counter, u.state, u.approval, u.approver, to_timestamp(u.created / 1000.0), "
     "CASE WHEN u.fin = 0 THEN NULL ELSE to_timestamp(u.fin / 1000.0) END FROM "
     "unnest($27::bigint[], $28::bigint[], $29::text[], $30::text[], $31::int[], $32::int[], "
     "$33::text[], $34::text[], $35::text[], $36::bigint[], $37::bigint[]) AS u(id, run, "
     "pipeline, name, idx, counter, state, approval, approver, created, fin)), j AS (INSERT "
     "INTO job_runs (id, stage_run_id, name, config_job, state, agent_id, reason, "
     "scheduled_at, assigned_at, started_at, finished_at, cancel_reason, pinned_agent) SELECT "
     "u.id, u.stage, u.name, u.cfg, u.state, u.agent, u.reason, to_timestamp(u.sched / "
     "1000.0), CASE WHEN u.asg = 0 THEN NULL ELSE to_timestamp(u.asg / 1000.0) END, CASE WHEN "
     "u.st = 0 THEN NULL ELSE to_timestamp(u.st / 1000.0) END, CASE WHEN u.fin = 0 THEN NULL "
     "ELSE to_timestamp(u.fin / 1000.0) END, u.cancel, u.pin FROM unnest($38::bigint[], "
     "$39::bigint[], $40::text[], $41::text[], $42::text[], $43::text[], $44::text[], "
     "$45::bigint[], $46::bigint[], $47::bigint[], $48::bigint[], $49::text[], $50::text[]) AS"
     " u(id, stage, name, cfg, state, agent, reason, sched, asg, st, fin, cancel, pin)), ur AS"
     " (UPDATE pipeline_runs r SET state = u.state, finished_at = CASE WHEN u.fin = 0 THEN "
     "NULL ELSE to_timestamp(u.fin / 1000.0) END FROM unnest($51::bigint[], $52::text[], "
     "$53::bigint[]) AS u(id, state, fin) WHERE r.id = u.id), us AS (UPDATE stage_runs s SET "
     "state = u.state, approved_by = u.approver, finished_at = CASE WHEN u.fin = 0 THEN NULL "
     "ELSE to_timestamp(u.fin / 1000.0) END FROM unnest($54::bigint[], $55::text[], "
     "$56::text[], $57::bigint[]) AS u(id, state, approver, fin) WHERE s.id = u.id), uj AS "
     "(UPDATE job_runs j SET state = u.state, agent_id = u.agent, reason = u.reason, "
     "assigned_at = CASE WHEN u.asg = 0 THEN NULL ELSE to_timestamp(u.asg / 1000.0) END, "
     "started_at = CASE WHEN u.st = 0 THEN NULL ELSE to_timestamp(u.st / 1000.0) END, "
     "finished_at = CASE WHEN u.fin = 0 THEN NULL ELSE to_timestamp(u.fin / 1000.0) END, "
     "cancel_reason = u.cancel, console_bytes = u.bytes, last_sequence = u.seq, "
     "console_truncated = u.trunc FROM unnest($58::bigint[], $59::text[], $60::text[], "
     "$61::text[], $62::bigint[], $63::bigint[], $64::bigint[], $65::text[], $66::bigint[], "
     "$67::bigint[], $68::boolean[]) AS u(id, state, agent, reason, asg, st, fin, cancel, "
     "bytes, seq, trunc) WHERE j.id = u.id), k AS (INSERT INTO console_chunks (job_run_id, "
     "sequence, start_offset, data) SELECT u.job, u.seq, u.start, decode(u.hex, 'hex') FROM "
     "unnest($69::bigint[], $70::bigint[], $71::bigint[], $72::text[]) AS u(job, seq, start, "
     "hex) ON CONFLICT DO NOTHING), a AS (INSERT INTO stage_approvals (stage_run_id, "
     "user_name, at, comment, run_id, stage_name) SELECT NULLIF(u.stage, 0), u.usr, "
     "to_timestamp(u.at / 1000.0), u.comment, u.run, u.sname FROM unnest($73::bigint[], "
     "$74::text[], $75::bigint[], $76::text[], $77::bigint[], $78::text[]) AS u(stage, usr, at, "
     "comment, run, sname)) SELECT 1"},
    {kReserveIds, "SELECT nextval($1::regclass) FROM generate_series(1, $2)"},

    // --- loads of unfinished runs (tx_batch.cc)
    {kPipelineCounters, "SELECT name, last_counter FROM pipelines"},
    {kUnfinishedRunIds,
     "SELECT id FROM pipeline_runs WHERE state IN ('building', 'awaiting_approval') "
     "UNION SELECT run_id FROM stage_runs WHERE state IN ('queued', 'building') "
     "UNION SELECT s.run_id FROM job_runs j JOIN stage_runs s ON s.id = j.stage_run_id "
     "WHERE j.state IN ('scheduled', 'assigned', 'running')"},
    {kRunsByIds, "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE id = ANY($1::bigint[]) "
                 "ORDER BY id"},
    {kStagesOfRuns, "SELECT " STAGE_COLUMNS " FROM stage_runs WHERE run_id = ANY($1::bigint[]) "
                    "ORDER BY id"},
    {kJobsOfRuns, "SELECT " JOB_COLUMNS " FROM job_runs WHERE stage_run_id IN "
                  "(SELECT id FROM stage_runs WHERE run_id = ANY($1::bigint[])) ORDER BY id"},
    {kMaterialsOfRuns,
     "SELECT run_id, material, type, revision, upstream_pipeline, upstream_counter, "
     "upstream_stage, upstream_stage_counter FROM run_materials "
     "WHERE run_id = ANY($1::bigint[]) ORDER BY run_id, material"},
    {kVariablesOfRuns,
     "SELECT run_id, name, value, secure FROM run_variables WHERE run_id = ANY($1::bigint[]) "
     "ORDER BY run_id, position"},
    {kApprovalsOfRuns, "SELECT COALESCE(a.stage_run_id, 0), a.user_name, " MS(
                           "a.at") ", a.comment, a.run_id, "
                                   "a.stage_name FROM stage_approvals a WHERE a.run_id = "
                                   "ANY($1::bigint[]) ORDER BY a.id"},
    {kRunOfJob,
     "SELECT s.run_id FROM job_runs j JOIN stage_runs s ON s.id = j.stage_run_id "
     "WHERE j.id = $1"},

    // --- the environment deploy lock, as the runs say (tx_env_lock.cc;
    // the same rule as controller/planner/env_lock.h)
    {kEnvLockHolder,
     "SELECT r.pipeline, r.counter FROM pipeline_runs r WHERE r.pipeline = ANY($1::text[]) "
     "AND r.state = 'building' AND (SELECT s.state FROM stage_runs s WHERE s.run_id = r.id "
     "ORDER BY s.id DESC LIMIT 1) <> 'queued' ORDER BY r.id LIMIT 1"},
    {kEnvLockQueue,
     "SELECT r.pipeline, r.counter, s.name, " MS(
         "s.created_at") " FROM pipeline_runs r "
                         "JOIN stage_runs s ON s.run_id = r.id WHERE r.pipeline = ANY($1::text[]) "
                         "AND r.state = 'building' AND s.state = 'queued' "
                         "AND s.id = (SELECT max(id) FROM stage_runs WHERE run_id = r.id) "
                         "ORDER BY s.created_at, s.id"},

// --- what is deployed where (tx_deployments.cc; docs/rollback.md). $1 the
// pipelines, $2 each one's deploy stage ('' = the run passing counts).
#define DEPLOYS                                                                          \
  "WITH d AS (SELECT r.id AS run_id, r.pipeline, r.counter, r.label, r.trigger_user, "   \
  "s.id AS stage_run_id, s.name AS stage, s.counter AS stage_counter, "                  \
  "COALESCE(s.finished_at, r.finished_at) AS at "                                        \
  "FROM unnest($1::text[], $2::text[]) AS ds(pipeline, stage) "                          \
  "JOIN pipeline_runs r ON r.pipeline = ds.pipeline "                                    \
  "JOIN stage_runs s ON s.run_id = r.id AND s.state = 'passed' "                         \
  "WHERE (ds.stage <> '' AND s.name = ds.stage) OR (ds.stage = '' AND r.state = 'passed' " \
  "AND s.id = (SELECT max(id) FROM stage_runs WHERE run_id = r.id))) "
#define DEPLOY_COLUMNS \
  "pipeline, counter, label, stage, stage_counter, trigger_user, " MS("at") ", run_id, stage_run_id"
    {kDeployments,
     DEPLOYS "SELECT " DEPLOY_COLUMNS " FROM d ORDER BY at DESC, stage_run_id DESC LIMIT $3"},
    {kCurrentDeployments, DEPLOYS "SELECT DISTINCT ON (pipeline) " DEPLOY_COLUMNS
                                  " FROM d ORDER BY pipeline, at DESC, stage_run_id DESC"},
#undef DEPLOYS
#undef DEPLOY_COLUMNS
    {kDeployedMaterials,
     "SELECT m.run_id, m.material, m.revision, m.upstream_pipeline, m.upstream_counter, "
     "COALESCE(u.label, '') FROM run_materials m LEFT JOIN pipeline_runs u ON "
     "u.pipeline = m.upstream_pipeline AND u.counter = m.upstream_counter "
     "WHERE m.run_id = ANY($1::bigint[]) ORDER BY m.run_id, m.material"},

    // --- settings and tokens
    {kGetSetting, "SELECT value FROM settings WHERE key = $1"},
    {kSetSetting,
     "INSERT INTO settings (key, value) VALUES ($1, $2) "
     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"},

    // --- identity: tokens and the audit log
    {kInsertApiToken,
     "INSERT INTO api_tokens (user_name, name, token_hash, created_by, expires_at) VALUES ($1, "
     "$2, $3, $4, CASE WHEN $5::bigint = 0 THEN NULL ELSE to_timestamp($5 / 1000.0) END) "
     "RETURNING id, " MS("created_at")},
    {kApiTokens, "SELECT id, user_name, name, token_hash, created_by, " MS("created_at") ", " MS(
                     "expires_at") " FROM api_tokens WHERE revoked_at IS NULL ORDER BY id"},
    {kRevokeApiToken,
     "UPDATE api_tokens SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS "
     "NULL RETURNING id, user_name, name, token_hash, created_by, " MS("created_at") ", " MS(
         "expires_at")},
    {kAppendAudit,
     "INSERT INTO audit_log (at, actor, source, action, target, outcome, reason) SELECT "
     "to_timestamp(u.at / 1000.0), u.actor, u.source, u.action, u.target, u.outcome, u.reason "
     "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
     "$7::text[]) AS u(at, actor, source, action, target, outcome, reason)"},
    {kReadAudit, "SELECT * FROM (SELECT id, " MS(
                     "at") ", actor, source, action, target, outcome, reason "
                           "FROM audit_log WHERE at >= to_timestamp($1 / 1000.0) AND ($2 = '' OR "
                           "actor = $2) AND "
                           "($3 = '' OR target = $3 OR left(target, length($3) + 1) = $3 || '/') "
                           "ORDER BY id DESC LIMIT $4) newest ORDER BY id"},

    // --- config revisions
    {kCurrentConfigRevision, "SELECT coalesce(max(revision), 0) FROM config_revisions"},
    {kGetConfigRevision,
     "SELECT revision, author, " MS("created_at") ", content_hash, diff "
                                                  "FROM config_revisions WHERE revision = $1"},
    {kGetConfigRevisionFiles,
     "SELECT path, content FROM config_files WHERE revision = $1 ORDER BY position"},
    {kInsertConfigRevision,
     "INSERT INTO config_revisions (author, content_hash, diff) "
     "VALUES ($1, $2, $3) RETURNING revision"},
    {kInsertConfigRevisionFile,
     "INSERT INTO config_files (revision, position, path, content) VALUES ($1, $2, $3, $4)"},

    // --- pipelines
    {kEnsurePipeline, "INSERT INTO pipelines (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"},
    {kGetPipeline, "SELECT " PIPELINE_COLUMNS " FROM pipelines WHERE name = $1"},
    // A pipeline new to the controller whose config says `paused: true`.
    {kEnsurePipelinePaused,
     "INSERT INTO pipelines (name, paused, paused_by, paused_at, pause_reason) "
     "VALUES ($1, true, $2, now(), 'paused: true in config') ON CONFLICT (name) DO NOTHING"},
    {kPipelineControls, "SELECT " PIPELINE_COLUMNS " FROM pipelines ORDER BY name"},
    {kApplyPipelineControls,
     "INSERT INTO pipelines (name, paused, paused_by, paused_at, pause_reason, locked_by, "
     "waiting_upstream_pipeline, waiting_upstream_counter, waiting_upstream_stage, "
     "waiting_upstream_stage_counter, waiting_user, waiting_message) SELECT u.name, u.paused, "
     "u.by, CASE WHEN u.at = 0 THEN NULL ELSE to_timestamp(u.at / 1000.0) END, u.reason, "
     "u.locked, u.up, u.upc, u.ups, u.upsc, u.usr, u.msg FROM unnest($1::text[], "
     "$2::boolean[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], "
     "$8::bigint[], $9::text[], $10::int[], $11::text[], $12::text[]) AS u(name, paused, by, "
     "at, reason, locked, up, upc, ups, upsc, usr, msg) ON CONFLICT (name) DO UPDATE SET "
     "paused = EXCLUDED.paused, paused_by = EXCLUDED.paused_by, paused_at = "
     "EXCLUDED.paused_at, pause_reason = EXCLUDED.pause_reason, locked_by = "
     "EXCLUDED.locked_by, waiting_upstream_pipeline = EXCLUDED.waiting_upstream_pipeline, "
     "waiting_upstream_counter = EXCLUDED.waiting_upstream_counter, waiting_upstream_stage = "
     "EXCLUDED.waiting_upstream_stage, waiting_upstream_stage_counter = "
     "EXCLUDED.waiting_upstream_stage_counter, waiting_user = EXCLUDED.waiting_user, "
     "waiting_message = EXCLUDED.waiting_message"},

    // --- pipeline runs
    {kFindPipelineRunByCounter,
     "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE pipeline = $1 AND counter = $2"},
    {kFindPipelineRunNewest, "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE pipeline = $1 "
                             "ORDER BY counter DESC LIMIT 1"},
    {kGetPipelineRun, "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE id = $1"},
    {kPipelineHistory,
     "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE pipeline = $1 ORDER BY counter DESC "
     "LIMIT $2"},
    {kRunVariables,
     "SELECT name, value, secure FROM run_variables WHERE run_id = $1 ORDER BY position"},
    {kRunMaterials,
     "SELECT material, type, revision, upstream_pipeline, "
     "upstream_counter, upstream_stage, upstream_stage_counter "
     "FROM run_materials WHERE run_id = $1 ORDER BY material"},
    // The runs whose pipeline materials name run $1/$2 (`pipeline vsm`).
    {kDownstreamRuns,
     "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE id IN (SELECT run_id FROM run_materials "
     "WHERE type = 'pipeline' AND upstream_pipeline = $1 AND upstream_counter = $2) "
     "ORDER BY pipeline, counter"},
    {kLatestPassedStage,
     "SELECT s.id FROM stage_runs s JOIN pipeline_runs p ON p.id = s.run_id "
     "WHERE p.pipeline = $1 AND s.name = $2 AND s.state = 'passed' "
     "ORDER BY p.counter DESC, s.counter DESC LIMIT 1"},

    // --- stage runs
    {kStageRuns,
     "SELECT " STAGE_COLUMNS " FROM stage_runs WHERE run_id = $1 ORDER BY stage_index, counter"},
    {kGetStageRun, "SELECT " STAGE_COLUMNS " FROM stage_runs WHERE id = $1"},

    // --- job runs
    {kJobRunsOfStage, "SELECT " JOB_COLUMNS " FROM job_runs WHERE stage_run_id = $1 ORDER BY id"},
    {kGetJobRun, "SELECT " JOB_COLUMNS " FROM job_runs WHERE id = $1"},
    {kGetJobRunForUpdate, "SELECT " JOB_COLUMNS " FROM job_runs WHERE id = $1 FOR UPDATE"},

    // --- console
    {kReadConsole,
     "SELECT start_offset, data FROM console_chunks WHERE job_run_id = $1 "
     "AND start_offset + length(data) > $2 ORDER BY sequence"},

    // --- artifacts
    {kRecordArtifactHeld,
     "SELECT 1 FROM job_runs WHERE id = $1 AND agent_id = $2 "
     "AND state IN ('assigned', 'running') FOR UPDATE"},
    {kRecordArtifact,
     "INSERT INTO artifacts (job_run_id, path, kind, size, sha256, executable, xxh128) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_run_id, path) DO UPDATE "
     "SET kind = EXCLUDED.kind, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, "
     "executable = EXCLUDED.executable, xxh128 = EXCLUDED.xxh128, created_at = now()"},
    {kArtifacts,
     "SELECT path, kind, size, sha256, executable, xxh128 FROM artifacts "
     "WHERE job_run_id = $1 AND ($2 = '' OR path = $2 OR "
     "left(path, length($2) + 1) = $2 || '/') ORDER BY path"},
    {kEnabledAgentTokenHash, "SELECT token_hash FROM agents WHERE id = $1 AND state = 'enabled'"},

    // --- agents
    {kAgents,
     "SELECT id, name, hostname, token_hash, state, resources, "
     "environments, " MS("created_at") ", " MS(
         "last_contact") ", requested_resources, "
                         "requested_environments, allowed_resources, allowed_environments, "
                         "assigned_resources, "
                         "assigned_environments, register_key FROM agents ORDER BY name, id"},
    {kInsertAgent,
     "INSERT INTO agents (id, name, hostname, token_hash, state, resources, "
     "environments, requested_resources, requested_environments, allowed_resources, "
     "allowed_environments, register_key) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"},
    {kSetAgentState, "UPDATE agents SET state = $2 WHERE id = $1"},
    {kUpdateAgentInfo,
     "UPDATE agents SET hostname = $2, requested_resources = $3, requested_environments = $4, "
     "resources = $5, environments = $6, last_contact = now() WHERE id = $1"},
    // Ids and times as comma-separated lists: one statement for a fleet.
    {kRecordAgentContacts,
     "UPDATE agents SET last_contact = to_timestamp(c.ms / 1000.0) "
     "FROM unnest(string_to_array($1, ','), string_to_array($2, ',')::bigint[]) AS c(id, ms) "
     "WHERE agents.id = c.id AND (agents.last_contact IS NULL OR "
     "agents.last_contact < to_timestamp(c.ms / 1000.0))"},

    // --- agent admission (tx_agents.cc)
    {kSetAgentAssignment,
     "UPDATE agents SET assigned_resources = $2, assigned_environments = $3, resources = $4, "
     "environments = $5 WHERE id = $1"},
    {kDeleteAgent, "DELETE FROM agents WHERE id = $1"},
    {kInsertAgentKey,
     "WITH n AS (SELECT nextval('agent_keys_id_seq') AS id) "
     "INSERT INTO agent_keys (id, name, key_hash, resources, environments, created_by) "
     "SELECT n.id, CASE WHEN $1::text = '' THEN 'key-' || n.id ELSE $1::text END, $2, $3, $4, "
     "$5 FROM n RETURNING id, name, " MS("created_at")},
    {kAgentKeys,
     "SELECT id, name, key_hash, resources, environments, created_by, " MS("created_at") ", " MS(
         "revoked_at") ", revoked_by "
                       "FROM agent_keys WHERE $1::boolean OR revoked_at IS NULL ORDER BY id"},
    {kRevokeAgentKey,
     "UPDATE agent_keys SET revoked_at = now(), revoked_by = $2 "
     "WHERE id = $1 AND revoked_at IS NULL RETURNING id"},

    // --- retention (tx_retention.cc; controller/retention/). A run is
    // "finished" for retention when the run and every stage of it are final.
    {kRetentionKeptClosure,
     "WITH RECURSIVE keep(id) AS (SELECT unnest($1::bigint[]) UNION "
     "SELECT u.id FROM keep k JOIN run_materials m ON m.run_id = k.id "
     "AND m.upstream_pipeline <> '' JOIN pipeline_runs u ON u.pipeline = m.upstream_pipeline "
     "AND u.counter = m.upstream_counter) SELECT id FROM keep"},
    // $1 newest runs kept per pipeline (0: rule off), $2 seconds a finished
    // run is kept (0: rule off), $3 runs never picked, $4 at most.
    {kRetentionCandidates,
     "WITH cut AS (SELECT p.name, (SELECT x.counter FROM pipeline_runs x WHERE x.pipeline = "
     "p.name ORDER BY x.counter DESC OFFSET GREATEST($1::int - 1, 0) LIMIT 1) AS counter "
     "FROM pipelines p) "
     "SELECT r.id FROM pipeline_runs r JOIN cut ON cut.name = r.pipeline "
     "WHERE r.files_removed_at IS NULL AND r.state IN ('passed', 'failed', 'cancelled') "
     "AND ($1::int = 0 OR r.counter < cut.counter) "
     "AND ($2::bigint = 0 OR COALESCE(r.finished_at, r.created_at) < "
     "now() - make_interval(secs => $2::bigint)) "
     "AND NOT (r.id = ANY($3::bigint[])) "
     "AND NOT EXISTS (SELECT 1 FROM stage_runs s WHERE s.run_id = r.id "
     "AND s.state IN ('queued', 'building')) ORDER BY r.id LIMIT $4"},
    // Checks again what may have changed since the candidates were read.
    {kRetentionMark,
     "WITH picked AS (UPDATE pipeline_runs r SET files_removed_at = now() "
     "WHERE r.id = ANY($1::bigint[]) AND r.files_removed_at IS NULL "
     "AND r.state IN ('passed', 'failed', 'cancelled') AND NOT EXISTS (SELECT 1 FROM "
     "stage_runs s WHERE s.run_id = r.id AND s.state IN ('queued', 'building')) RETURNING r.id) "
     "INSERT INTO retention_queue (run_id) SELECT id FROM picked RETURNING run_id"},
    {kRetentionQueue, "SELECT run_id FROM retention_queue ORDER BY run_id LIMIT $1"},
    {kRetentionDeleteArtifacts,
     "WITH doomed AS (SELECT a.job_run_id, a.path FROM artifacts a "
     "JOIN job_runs j ON j.id = a.job_run_id JOIN stage_runs s ON s.id = j.stage_run_id "
     "WHERE s.run_id = $1 LIMIT $2) DELETE FROM artifacts a USING doomed d "
     "WHERE a.job_run_id = d.job_run_id AND a.path = d.path RETURNING a.sha256, a.size"},
    {kRetentionDeleteConsole,
     "WITH doomed AS (SELECT c.job_run_id, c.sequence FROM console_chunks c "
     "JOIN job_runs j ON j.id = c.job_run_id JOIN stage_runs s ON s.id = j.stage_run_id "
     "WHERE s.run_id = $1 LIMIT $2) DELETE FROM console_chunks c USING doomed d "
     "WHERE c.job_run_id = d.job_run_id AND c.sequence = d.sequence"},
    {kRetentionDone, "DELETE FROM retention_queue WHERE run_id = $1"},
    {kReferencedDigests, "SELECT DISTINCT sha256 FROM artifacts WHERE sha256 = ANY($1::text[])"},
    {kFilesRemovedAt, "SELECT " MS("files_removed_at") " FROM pipeline_runs WHERE id = $1 "
                                                       "AND files_removed_at IS NOT NULL"},
};

}  // namespace

absl::Span<const Statement> AllStatements() { return kStatements; }

void PrepareStatements(pqxx::connection_base& conn) {
  for (const Statement& s : kStatements) conn.prepare(s.name, s.sql);
}

}  // namespace gantry::store
