-- Agents' client certificates (docs/security.md, "Agent certificates"): the
-- controller's CA signs one from the agent's CSR at registration; from then
-- on the certificate is the agent's identity. A row outlives its agent (no
-- foreign key): who held which serial stays known after a delete.
CREATE TABLE agent_certificates (
  serial TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  not_after TIMESTAMPTZ NOT NULL,
  -- Set while the certificate is refused: 'agent disabled' (cleared by
  -- `agent enable`) or 'agent deleted' (for good).
  revoked_at TIMESTAMPTZ,
  revoked_reason TEXT
);
CREATE INDEX agent_certificates_agent ON agent_certificates (agent_id);
