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
      "created_at") ", " MS("finished_at")

#define JOB_COLUMNS \
  "id, stage_run_id, name, config_job, state, agent_id, reason, " MS("scheduled_at") \
  ", " MS("assigned_at") ", " MS("started_at") ", " MS("finished_at")                \
  ", console_bytes, last_sequence, cancel_reason, pinned_agent"

// TransitionJob's variants differ only in the timestamps they stamp.
#define TRANSITION_JOB(stamp)                                        \
  "UPDATE job_runs SET state = $2, agent_id = $3, reason = $4" stamp \
  " WHERE id = $1 AND state = ANY(string_to_array($5, ','))"

constexpr Statement kStatements[] = {
    // --- settings and tokens
    {kGetSetting, "SELECT value FROM settings WHERE key = $1"},
    {kSetSetting,
     "INSERT INTO settings (key, value) VALUES ($1, $2) "
     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"},
    {kInsertApiToken, "INSERT INTO api_tokens (user_name, role, token_hash) VALUES ($1, $2, $3)"},
    {kApiTokens, "SELECT id, user_name, role, token_hash FROM api_tokens"},

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
    {kGetPipeline,
     "SELECT name, last_counter, paused, pause_reason, paused_by "
     "FROM pipelines WHERE name = $1"},
    {kNextCounter,
     "UPDATE pipelines SET last_counter = last_counter + 1 WHERE name = $1 "
     "RETURNING last_counter"},

    // --- pipeline runs
    {kInsertPipelineRun,
     "INSERT INTO pipeline_runs (pipeline, counter, label, state, "
     "config_revision, cause_kind, trigger_user, cause_message) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"},
    {kSetPipelineRunState,
     "UPDATE pipeline_runs SET state = $2, finished_at = CASE WHEN $3 THEN "
     "now() ELSE NULL END WHERE id = $1"},
    {kFindPipelineRunByCounter,
     "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE pipeline = $1 AND counter = $2"},
    {kFindPipelineRunNewest, "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE pipeline = $1 "
                             "ORDER BY counter DESC LIMIT 1"},
    {kGetPipelineRun, "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE id = $1"},
    {kPipelineHistory,
     "SELECT " RUN_COLUMNS " FROM pipeline_runs WHERE pipeline = $1 ORDER BY counter DESC "
     "LIMIT $2"},
    {kInsertRunVariables,
     "INSERT INTO run_variables (run_id, position, name, value, secure) "
     "VALUES ($1, $2, $3, $4, $5)"},
    {kRunVariables,
     "SELECT name, value, secure FROM run_variables WHERE run_id = $1 ORDER BY position"},
    {kInsertRunMaterials,
     "INSERT INTO run_materials (run_id, material, type, revision, "
     "upstream_pipeline, upstream_counter, upstream_stage, "
     "upstream_stage_counter) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"},
    {kRunMaterials,
     "SELECT material, type, revision, upstream_pipeline, "
     "upstream_counter, upstream_stage, upstream_stage_counter "
     "FROM run_materials WHERE run_id = $1 ORDER BY material"},
    {kLatestPassedStage,
     "SELECT s.id FROM stage_runs s JOIN pipeline_runs p ON p.id = s.run_id "
     "WHERE p.pipeline = $1 AND s.name = $2 AND s.state = 'passed' "
     "ORDER BY p.counter DESC, s.counter DESC LIMIT 1"},

    // --- stage runs
    {kInsertStageRun,
     "INSERT INTO stage_runs (run_id, pipeline, name, stage_index, counter, state, "
     "approval, approved_by) VALUES ($1, (SELECT pipeline FROM pipeline_runs WHERE id = $1), "
     "$2, $3, $4, $5, $6, $7) RETURNING id"},
    {kSetStageRunState,
     "UPDATE stage_runs SET state = $2, finished_at = CASE WHEN $3 THEN now() "
     "ELSE NULL END WHERE id = $1"},
    {kSetStageApprovedBy, "UPDATE stage_runs SET approved_by = $2 WHERE id = $1"},
    {kStageRuns,
     "SELECT " STAGE_COLUMNS " FROM stage_runs WHERE run_id = $1 ORDER BY stage_index, counter"},
    {kGetStageRun, "SELECT " STAGE_COLUMNS " FROM stage_runs WHERE id = $1"},
    {kLatestStageCounter,
     "SELECT coalesce(max(counter), 0) FROM stage_runs WHERE run_id = $1 AND name = $2"},
    {kOtherRunBuildingStage,
     "SELECT 1 FROM stage_runs WHERE pipeline = $1 AND name = $2 AND state = 'building' AND "
     "run_id <> $3 LIMIT 1"},
    {kOldestQueuedStage,
     "SELECT s.id FROM stage_runs s JOIN pipeline_runs p ON p.id = s.run_id "
     "WHERE s.pipeline = $1 AND s.name = $2 AND s.state = 'queued' "
     "ORDER BY p.counter, s.counter LIMIT 1"},

    // --- job runs
    {kInsertJobRun,
     "INSERT INTO job_runs (stage_run_id, name, config_job, state, pinned_agent) "
     "VALUES ($1, $2, $3, 'scheduled', $4) RETURNING id"},
    {kJobRunsOfStage, "SELECT " JOB_COLUMNS " FROM job_runs WHERE stage_run_id = $1 ORDER BY id"},
    {kGetJobRun, "SELECT " JOB_COLUMNS " FROM job_runs WHERE id = $1"},
    {kGetJobRunForUpdate, "SELECT " JOB_COLUMNS " FROM job_runs WHERE id = $1 FOR UPDATE"},
    {kTransitionJobToAssigned, TRANSITION_JOB(", assigned_at = now(), started_at = NULL")},
    {kTransitionJobToRunning, TRANSITION_JOB(", started_at = now()")},
    {kTransitionJobToScheduled, TRANSITION_JOB(", assigned_at = NULL, started_at = NULL")},
    {kTransitionJobToFinished, TRANSITION_JOB(", finished_at = now()")},
    {kActiveJobRuns,
     "SELECT " JOB_COLUMNS
     " FROM job_runs WHERE state IN ('scheduled', 'assigned', 'running') ORDER BY id"},
    {kSetCancelReason, "UPDATE job_runs SET cancel_reason = $2 WHERE id = $1"},
    {kSetJobReason, "UPDATE job_runs SET reason = $2 WHERE id = $1"},

    // --- console
    {kAppendConsoleChunkClaim,
     "UPDATE job_runs SET last_sequence = $2 WHERE id = $1 AND last_sequence < $2 "
     "RETURNING console_bytes, console_truncated"},
    {kAppendConsoleChunkCount,
     "UPDATE job_runs SET console_bytes = console_bytes + $2, console_truncated = $3 "
     "WHERE id = $1"},
    {kAppendConsoleChunkInsert,
     "INSERT INTO console_chunks (job_run_id, sequence, start_offset, data) "
     "VALUES ($1, $2, $3, $4)"},
    {kReadConsole,
     "SELECT start_offset, data FROM console_chunks WHERE job_run_id = $1 "
     "AND start_offset + length(data) > $2 ORDER BY sequence"},

    // --- artifacts
    {kRecordArtifactHeld,
     "SELECT 1 FROM job_runs WHERE id = $1 AND agent_id = $2 "
     "AND state IN ('assigned', 'running') FOR UPDATE"},
    {kRecordArtifact,
     "INSERT INTO artifacts (job_run_id, path, kind, size, sha256, executable) "
     "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_run_id, path) DO UPDATE "
     "SET kind = EXCLUDED.kind, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, "
     "executable = EXCLUDED.executable, created_at = now()"},
    {kArtifacts,
     "SELECT path, kind, size, sha256, executable FROM artifacts "
     "WHERE job_run_id = $1 AND ($2 = '' OR path = $2 OR "
     "left(path, length($2) + 1) = $2 || '/') ORDER BY path"},
    {kEnabledAgentTokenHash, "SELECT token_hash FROM agents WHERE id = $1 AND state = 'enabled'"},

    // --- agents
    {kAgents,
     "SELECT id, name, hostname, token_hash, state, resources, "
     "environments, " MS("created_at") ", " MS("last_contact") " FROM agents ORDER BY name, id"},
    {kInsertAgent,
     "INSERT INTO agents (id, name, hostname, token_hash, state, resources, "
     "environments) VALUES ($1, $2, $3, $4, $5, $6, $7)"},
    {kSetAgentState, "UPDATE agents SET state = $2 WHERE id = $1"},
    {kUpdateAgentInfo,
     "UPDATE agents SET hostname = $2, resources = $3, environments = $4, "
     "last_contact = now() WHERE id = $1"},
    // Ids and times as comma-separated lists: one statement for a fleet.
    {kRecordAgentContacts,
     "UPDATE agents SET last_contact = to_timestamp(c.ms / 1000.0) "
     "FROM unnest(string_to_array($1, ','), string_to_array($2, ',')::bigint[]) AS c(id, ms) "
     "WHERE agents.id = c.id AND (agents.last_contact IS NULL OR "
     "agents.last_contact < to_timestamp(c.ms / 1000.0))"},
};

}  // namespace

absl::Span<const Statement> AllStatements() { return kStatements; }

void PrepareStatements(pqxx::connection_base& conn) {
  for (const Statement& s : kStatements) conn.prepare(s.name, s.sql);
}

}  // namespace gantry::store
