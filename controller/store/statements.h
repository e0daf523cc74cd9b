// The SQL the store runs, as named prepared statements. Each constant below
// is the name a Tx method executes (`work_.exec_prepared(kGetSetting, ...)`);
// its SQL text is in statements.cc, next to the same name. A method that runs
// several statements, or one of several fixed variants, has one constant per
// statement, prefixed with the method's name.
//
// PostgreSQL keeps a prepared statement per session, so every connection that
// a Tx runs on must have had PrepareStatements called on it; Db does that each
// time it opens one.
#pragma once

#include "absl/types/span.h"

namespace pqxx {
class connection_base;
}

namespace gantry::store {

// --- settings and tokens
inline constexpr char kGetSetting[] = "GetSetting";
inline constexpr char kSetSetting[] = "SetSetting";

// --- identity: tokens and the audit log
inline constexpr char kInsertApiToken[] = "InsertApiToken";
inline constexpr char kApiTokens[] = "ApiTokens";
inline constexpr char kRevokeApiToken[] = "RevokeApiToken";
inline constexpr char kAppendAudit[] = "AppendAudit";
inline constexpr char kReadAudit[] = "ReadAudit";

// --- config revisions
inline constexpr char kCurrentConfigRevision[] = "CurrentConfigRevision";
inline constexpr char kGetConfigRevision[] = "GetConfigRevision";
inline constexpr char kGetConfigRevisionFiles[] = "GetConfigRevisionFiles";
inline constexpr char kInsertConfigRevision[] = "InsertConfigRevision";
inline constexpr char kInsertConfigRevisionFile[] = "InsertConfigRevisionFile";

// --- pipelines
inline constexpr char kEnsurePipeline[] = "EnsurePipeline";
inline constexpr char kGetPipeline[] = "GetPipeline";
inline constexpr char kEnsurePipelinePaused[] = "EnsurePipelinePaused";
// --- pause and locks (tx_batch.cc): every pipeline's row, and the changed ones
inline constexpr char kPipelineControls[] = "PipelineControls";
inline constexpr char kApplyPipelineControls[] = "ApplyPipelineControls";

// --- pipeline runs
inline constexpr char kFindPipelineRunByCounter[] = "FindPipelineRunByCounter";
inline constexpr char kFindPipelineRunNewest[] = "FindPipelineRunNewest";
inline constexpr char kGetPipelineRun[] = "GetPipelineRun";
inline constexpr char kPipelineHistory[] = "PipelineHistory";
inline constexpr char kRunVariables[] = "RunVariables";
inline constexpr char kRunMaterials[] = "RunMaterials";
inline constexpr char kLatestPassedStage[] = "LatestPassedStage";
inline constexpr char kDownstreamRuns[] = "DownstreamRuns";

// --- stage runs
inline constexpr char kStageRuns[] = "StageRuns";
inline constexpr char kGetStageRun[] = "GetStageRun";

// --- job runs
inline constexpr char kJobRunsOfStage[] = "JobRunsOfStage";
inline constexpr char kGetJobRun[] = "GetJobRun";
inline constexpr char kGetJobRunForUpdate[] = "GetJobRunForUpdate";

// --- console
inline constexpr char kReadConsole[] = "ReadConsole";

// --- artifacts
inline constexpr char kRecordArtifactHeld[] = "RecordArtifactHeld";
inline constexpr char kRecordArtifact[] = "RecordArtifact";
inline constexpr char kArtifacts[] = "Artifacts";
inline constexpr char kEnabledAgentTokenHash[] = "EnabledAgentTokenHash";

// --- agents
inline constexpr char kAgents[] = "Agents";
inline constexpr char kInsertAgent[] = "InsertAgent";
inline constexpr char kSetAgentState[] = "SetAgentState";
inline constexpr char kUpdateAgentInfo[] = "UpdateAgentInfo";
inline constexpr char kRecordAgentContacts[] = "RecordAgentContacts";
// --- agent admission (tx_agents.cc): assignments, deletion, register keys
inline constexpr char kSetAgentAssignment[] = "SetAgentAssignment";
inline constexpr char kDeleteAgent[] = "DeleteAgent";
inline constexpr char kInsertAgentKey[] = "InsertAgentKey";
inline constexpr char kAgentKeys[] = "AgentKeys";
inline constexpr char kRevokeAgentKey[] = "RevokeAgentKey";

// --- batched writes and loads (tx_batch.cc): arrays in, one statement per table
inline constexpr char kReserveIds[] = "ReserveIds";
inline constexpr char kApplyWrites[] = "ApplyWrites";
inline constexpr char kPipelineCounters[] = "PipelineCounters";
inline constexpr char kUnfinishedRunIds[] = "UnfinishedRunIds";
inline constexpr char kRunsByIds[] = "RunsByIds";
inline constexpr char kStagesOfRuns[] = "StagesOfRuns";
inline constexpr char kJobsOfRuns[] = "JobsOfRuns";
inline constexpr char kMaterialsOfRuns[] = "MaterialsOfRuns";
inline constexpr char kVariablesOfRuns[] = "VariablesOfRuns";
inline constexpr char kApprovalsOfRuns[] = "ApprovalsOfRuns";
inline constexpr char kRunOfJob[] = "RunOfJob";
inline constexpr char kEnvLockHolder[] = "EnvLockHolder";
inline constexpr char kEnvLockQueue[] = "EnvLockQueue";
inline constexpr char kDeployments[] = "Deployments";
inline constexpr char kCurrentDeployments[] = "CurrentDeployments";
inline constexpr char kDeployedMaterials[] = "DeployedMaterials";

// --- retention (tx_retention.cc; controller/retention/)
inline constexpr char kRetentionKeptClosure[] = "RetentionKeptClosure";
inline constexpr char kRetentionCandidates[] = "RetentionCandidates";
inline constexpr char kRetentionMark[] = "RetentionMark";
inline constexpr char kRetentionQueue[] = "RetentionQueue";
inline constexpr char kRetentionDeleteArtifacts[] = "RetentionDeleteArtifacts";
inline constexpr char kRetentionDeleteConsole[] = "RetentionDeleteConsole";
inline constexpr char kRetentionDone[] = "RetentionDone";
inline constexpr char kReferencedDigests[] = "ReferencedDigests";
inline constexpr char kFilesRemovedAt[] = "FilesRemovedAt";

// One named statement.
struct Statement {
  const char* name;
  const char* sql;
};

// Every statement above, each once.
absl::Span<const Statement> AllStatements();

// Defines every statement on `conn`. libpqxx sends each to the server on its
// first use on this connection, not here: Db connects before it migrates, and
// the tables the statements name may not exist yet. Throws nothing the server
// could cause.
void PrepareStatements(pqxx::connection_base& conn);

}  // namespace gantry::store
